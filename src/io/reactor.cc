#include "io/reactor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace meshraid::io {

namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000u;

uint64_t Addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

[[noreturn]] void Fatal(const char* what, int err) {
  std::fprintf(stderr, "meshraid: reactor: %s failed: %s%s\n", what, std::strerror(err),
               err == EEXIST ? " (the ring is used from a thread other than its creator)" : "");
  std::abort();
}

}  // namespace

// --- Awaiters ---------------------------------------------------------------------------------

void OpAwaiter::await_suspend(std::coroutine_handle<> h) {
  comp_.waiter = h;
  comp_.opcode = req_.opcode;
  comp_.kind = detail::Completion::Kind::kUser;
  comp_.slot = slot_;
  if (slot_) slot_->op_ = &comp_;
  if (req_.opcode == IORING_OP_TIMEOUT) req_.addr = Addr(&ts_);
  reactor_.Enqueue(req_, &comp_);
  ++reactor_.in_flight_;
}

TimerAwaiter::TimerAwaiter(Reactor& r, uint64_t ns, bool absolute, CancelSlot* slot)
    : OpAwaiter(r,
                IoRequest{.opcode = IORING_OP_TIMEOUT,
                          .len = 1,
                          .op_flags = absolute ? unsigned(IORING_TIMEOUT_ABS) : 0u},
                slot) {
  ts_.tv_sec = int64_t(ns / kNsPerSec);
  ts_.tv_nsec = int64_t(ns % kNsPerSec);
}

// --- Setup and teardown -----------------------------------------------------------------------

Result<std::unique_ptr<Reactor>> Reactor::Create(Options options) {
  std::unique_ptr<Reactor> r(new Reactor());
  Status s = r->Init(options);
  if (!s.ok()) return s;
  return r;
}

Status Reactor::Init(const Options& options) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return Status::FromErrno(errno, "eventfd for the reactor");

  struct Mode {
    unsigned flags;
    const char* name;
  };
  const Mode modes[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
       "defer_taskrun"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
       "coop_taskrun"},
      {0, "plain"},
  };
  const unsigned cq = options.cq_entries ? options.cq_entries : 8 * options.sq_entries;
  int rc = -EINVAL;
  for (const Mode& m : modes) {
    io_uring_params p{};
    p.flags = m.flags | IORING_SETUP_CQSIZE;
    p.cq_entries = cq;
    rc = io_uring_queue_init_params(options.sq_entries, &ring_, &p);
    if (rc == 0) {
      setup_mode_ = m.name;
      break;
    }
    if (rc != -EINVAL) break;
  }
  if (rc != 0) return Status::FromErrno(-rc, "io_uring_setup");
  ring_ok_ = true;

  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (probe == nullptr) return Status::NotSupported("io_uring: cannot probe supported opcodes");
  const std::pair<int, const char*> needed[] = {
      {IORING_OP_READ, "READ"},
      {IORING_OP_WRITE, "WRITE"},
      {IORING_OP_READV, "READV"},
      {IORING_OP_WRITEV, "WRITEV"},
      {IORING_OP_FSYNC, "FSYNC"},
      {IORING_OP_FALLOCATE, "FALLOCATE"},
      {IORING_OP_RECV, "RECV"},
      {IORING_OP_SEND, "SEND"},
      {IORING_OP_SENDMSG, "SENDMSG"},
      {IORING_OP_ACCEPT, "ACCEPT"},
      {IORING_OP_CONNECT, "CONNECT"},
      {IORING_OP_POLL_ADD, "POLL_ADD"},
      {IORING_OP_TIMEOUT, "TIMEOUT"},
      {IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE"},
      {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
  };
  std::string missing;
  for (const auto& [op, name] : needed) {
    if (!io_uring_opcode_supported(probe, op))
      missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  io_uring_free_probe(probe);
  if (!missing.empty()) return Status::NotSupported("io_uring lacks opcodes: " + missing);

  io_uring_register_ring_fd(&ring_);  // an optimisation only; failure is harmless
  ArmWakeRead();
  return Status::Ok();
}

Reactor::~Reactor() {
  if (ring_ok_) {
    shutting_down_ = true;
    if (in_flight_ > 0) {
      std::fprintf(stderr, "meshraid: reactor destroyed with %zu operations in flight\n",
                   in_flight_);
    }
    // Cancel everything (user ops and the eventfd read) and reap, without resuming anyone.
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    internal_comp_.kind = detail::Completion::Kind::kInternal;
    io_uring_sqe_set_data(sqe, &internal_comp_);
    ++internal_in_flight_;
    while (in_flight_ + internal_in_flight_ > 0) {
      int rc = io_uring_submit_and_wait(&ring_, 1);
      if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) break;
      Reap();
    }
    io_uring_queue_exit(&ring_);
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

// --- Submission -------------------------------------------------------------------------------

io_uring_sqe* Reactor::GetSqe() {
  for (;;) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    // SQ full: hand the batch to the kernel and retry. EBUSY/EAGAIN mean the CQ (or kernel
    // resources) must drain first: reap (which only schedules waiters) and try again.
    int rc = io_uring_submit(&ring_);
    if (rc == -EBUSY || rc == -EAGAIN) {
      io_uring_get_events(&ring_);
      Reap();
    } else if (rc < 0 && rc != -EINTR) {
      Fatal("io_uring_submit", -rc);
    }
  }
}

void Reactor::Enqueue(const IoRequest& req, detail::Completion* comp) {
  io_uring_sqe* sqe = GetSqe();
  if (req.opcode == IORING_OP_POLL_ADD) {
    io_uring_prep_poll_add(sqe, req.fd, req.op_flags);
  } else {
    io_uring_prep_rw(req.opcode, sqe, req.fd, reinterpret_cast<const void*>(req.addr), req.len,
                     req.off);
    sqe->rw_flags = static_cast<__kernel_rwf_t>(req.op_flags);  // the per-op flags union
  }
  io_uring_sqe_set_data(sqe, comp);
}

void Reactor::ArmWakeRead() {
  wake_comp_.kind = detail::Completion::Kind::kWake;
  Enqueue(IoRequest{.opcode = IORING_OP_READ, .fd = wake_fd_, .addr = Addr(&wake_buf_), .len = 8},
          &wake_comp_);
}

void Reactor::Cancel(CancelSlot& slot) {
  if (slot.op_ == nullptr) return;
  const bool timer = slot.op_->opcode == IORING_OP_TIMEOUT;
  internal_comp_.kind = detail::Completion::Kind::kInternal;
  Enqueue(IoRequest{.opcode = uint8_t(timer ? IORING_OP_TIMEOUT_REMOVE : IORING_OP_ASYNC_CANCEL),
                    .addr = Addr(slot.op_)},
          &internal_comp_);
  ++internal_in_flight_;
  io_uring_submit(&ring_);  // now, before the slot's completion object can be reused
}

// --- The loop ---------------------------------------------------------------------------------

void Reactor::Reap() {
  io_uring_cqe* cqe = nullptr;
  // One CQE at a time, marked seen before it is handled, so a nested Reap (from GetSqe while
  // re-arming) never sees it twice.
  while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
    auto* comp = static_cast<detail::Completion*>(io_uring_cqe_get_data(cqe));
    const int32_t res = cqe->res;
    const uint32_t flags = cqe->flags;
    io_uring_cqe_seen(&ring_, cqe);
    switch (comp->kind) {
      case detail::Completion::Kind::kUser:
        --in_flight_;
        comp->res = res;
        comp->flags = flags;
        if (comp->slot) comp->slot->op_ = nullptr;
        if (!shutting_down_) run_queue_.Schedule(comp->waiter);
        break;
      case detail::Completion::Kind::kInternal:
        --internal_in_flight_;
        break;
      case detail::Completion::Kind::kWake:
        if (shutting_down_) break;
        posts_ready_.store(true, std::memory_order_relaxed);
        ArmWakeRead();
        break;
    }
  }
}

void Reactor::SubmitAndReap(bool wait) {
  for (;;) {
    int rc = wait ? io_uring_submit_and_wait(&ring_, 1) : io_uring_submit_and_get_events(&ring_);
    if (rc >= 0) break;
    if (rc == -EINTR) {
      if (!wait) break;
      continue;
    }
    if (rc == -EBUSY || rc == -EAGAIN) {  // completions must be consumed first
      Reap();
      wait = false;
      continue;
    }
    Fatal("io_uring_enter", -rc);
  }
  Reap();
}

void Reactor::RunPosted() {
  posts_ready_.store(false, std::memory_order_relaxed);
  wake_pending_.store(false, std::memory_order_seq_cst);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void Reactor::RunOnce(bool wait, const bool* done) {
  if (in_loop_) {
    std::fprintf(stderr, "meshraid: Reactor::RunOnce called from inside the loop\n");
    std::abort();
  }
  in_loop_ = true;
  if (posts_ready_.load(std::memory_order_relaxed)) RunPosted();
  // Only what is queued now: coroutines that yield again run in the next iteration, after I/O.
  run_queue_.RunReady(run_queue_.size());
  const bool block = wait && run_queue_.empty() && !(done && *done) && !stop_requested_.load() &&
                     !posts_ready_.load(std::memory_order_relaxed);
  SubmitAndReap(block);
  in_loop_ = false;
}

void Reactor::Run() {
  while (!stop_requested_.load()) RunOnce(/*wait=*/true);
  stop_requested_.store(false);
}

void Reactor::Wake() {
  if (wake_pending_.exchange(true)) return;  // a wake-up is already on its way
  const uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake_fd_, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
  // EAGAIN means the counter is saturated: the reactor is certainly going to wake.
}

void Reactor::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(fn));
  }
  Wake();
}

void Reactor::Stop() {
  stop_requested_.store(true);
  // Not through Wake(): its dedup flag may be owned by a Post whose write already happened.
  const uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake_fd_, &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
}

// --- Operations -------------------------------------------------------------------------------

OpAwaiter Reactor::Read(int fd, std::span<uint8_t> buf, uint64_t offset, int rw_flags,
                        CancelSlot* slot) {
  return OpAwaiter(
      *this,
      {IORING_OP_READ, fd, Addr(buf.data()), uint32_t(buf.size()), offset, uint32_t(rw_flags)},
      slot);
}

OpAwaiter Reactor::Write(int fd, std::span<const uint8_t> buf, uint64_t offset, int rw_flags,
                         CancelSlot* slot) {
  return OpAwaiter(
      *this,
      {IORING_OP_WRITE, fd, Addr(buf.data()), uint32_t(buf.size()), offset, uint32_t(rw_flags)},
      slot);
}

OpAwaiter Reactor::Readv(int fd, std::span<const iovec> iov, uint64_t offset, int rw_flags) {
  return OpAwaiter(
      *this,
      {IORING_OP_READV, fd, Addr(iov.data()), uint32_t(iov.size()), offset, uint32_t(rw_flags)},
      nullptr);
}

OpAwaiter Reactor::Writev(int fd, std::span<const iovec> iov, uint64_t offset, int rw_flags) {
  return OpAwaiter(
      *this,
      {IORING_OP_WRITEV, fd, Addr(iov.data()), uint32_t(iov.size()), offset, uint32_t(rw_flags)},
      nullptr);
}

OpAwaiter Reactor::Fsync(int fd, bool datasync) {
  return OpAwaiter(*this,
                   {IORING_OP_FSYNC, fd, 0, 0, 0, datasync ? unsigned(IORING_FSYNC_DATASYNC) : 0u},
                   nullptr);
}

OpAwaiter Reactor::Fallocate(int fd, int mode, uint64_t offset, uint64_t length) {
  // The kernel reads the length from sqe->addr and the mode from sqe->len; liburing 2.4 changed
  // its helper's prototype, so fill the fields ourselves.
  return OpAwaiter(*this, {IORING_OP_FALLOCATE, fd, length, uint32_t(mode), offset, 0}, nullptr);
}

OpAwaiter Reactor::Recv(int fd, std::span<uint8_t> buf, int flags, CancelSlot* slot) {
  return OpAwaiter(*this,
                   {IORING_OP_RECV, fd, Addr(buf.data()), uint32_t(buf.size()), 0, uint32_t(flags)},
                   slot);
}

OpAwaiter Reactor::Send(int fd, std::span<const uint8_t> buf, int flags, CancelSlot* slot) {
  return OpAwaiter(*this,
                   {IORING_OP_SEND, fd, Addr(buf.data()), uint32_t(buf.size()), 0,
                    uint32_t(flags | MSG_NOSIGNAL)},
                   slot);
}

OpAwaiter Reactor::SendMsg(int fd, const msghdr* msg, int flags, CancelSlot* slot) {
  return OpAwaiter(*this, {IORING_OP_SENDMSG, fd, Addr(msg), 1, 0, uint32_t(flags | MSG_NOSIGNAL)},
                   slot);
}

OpAwaiter Reactor::Accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, CancelSlot* slot) {
  return OpAwaiter(*this, {IORING_OP_ACCEPT, fd, Addr(addr), 0, Addr(addrlen), uint32_t(flags)},
                   slot);
}

OpAwaiter Reactor::Connect(int fd, const sockaddr* addr, socklen_t addrlen, CancelSlot* slot) {
  return OpAwaiter(*this, {IORING_OP_CONNECT, fd, Addr(addr), 0, uint64_t(addrlen), 0}, slot);
}

OpAwaiter Reactor::PollAdd(int fd, uint32_t poll_mask, CancelSlot* slot) {
  return OpAwaiter(*this, {IORING_OP_POLL_ADD, fd, 0, 0, 0, poll_mask}, slot);
}

OpAwaiter Reactor::Nop() { return OpAwaiter(*this, {IORING_OP_NOP, -1, 0, 0, 0, 0}, nullptr); }

TimerAwaiter Reactor::Sleep(uint64_t ns, CancelSlot* slot) {
  return TimerAwaiter(*this, ns, /*absolute=*/false, slot);
}

TimerAwaiter Reactor::SleepUntil(uint64_t monotonic_ns, CancelSlot* slot) {
  return TimerAwaiter(*this, monotonic_ns, /*absolute=*/true, slot);
}

}  // namespace meshraid::io
