// Reactor: one io_uring and one run queue, driven by one thread. Every operation is one SQE whose
// user_data points at a completion object inside the awaiting coroutine's frame; reaping the CQE
// stores the result and schedules that coroutine. Coroutines are only ever resumed from the run
// queue, never from inside a CQE scan or a wake-up call, so nothing recurses.
//
// Threading: create, run and issue operations on one thread (the ring is SINGLE_ISSUER);
// only Post() and Stop() may be called from other threads, and the reactor must not be
// destroyed while another thread may still be inside one of them (join or hand-shake first).
#pragma once

#include <liburing.h>
#include <linux/time_types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "io/gate.h"
#include "io/run_queue.h"
#include "io/task.h"
#include "util/result.h"
#include "util/status.h"

namespace meshraid::io {

class Reactor;

// The outcome of one operation: res >= 0 is the op's value (bytes, fd, poll revents),
// res < 0 is -errno. Turn errors into a Status with ToStatus (Status::FromErrno, the only
// errno conversion); nothing above io/ should look at err().
struct OpResult {
  int32_t res = 0;
  uint32_t flags = 0;  // CQE flags

  bool ok() const { return res >= 0; }
  uint32_t value() const { return res >= 0 ? uint32_t(res) : 0; }
  int err() const { return res < 0 ? -res : 0; }
  // OK, or the errno as a Status whose message starts with `context`.
  Status ToStatus(std::string_view context) const {
    return ok() ? Status::Ok() : Status::FromErrno(-res, context);
  }
};

// Describes one SQE; only Reactor turns it into one. Fields follow io_uring_prep_rw, and
// `op_flags` is the per-op flags word (rw_flags, fsync_flags, msg_flags, timeout_flags, ...).
struct IoRequest {
  uint8_t opcode = IORING_OP_NOP;
  int fd = -1;
  uint64_t addr = 0;
  uint32_t len = 0;
  uint64_t off = 0;
  uint32_t op_flags = 0;
};

class CancelSlot;

namespace detail {
struct Completion {
  enum class Kind : uint8_t { kUser, kInternal, kWake };
  std::coroutine_handle<> waiter;
  int32_t res = 0;
  uint32_t flags = 0;
  uint8_t opcode = 0;
  Kind kind = Kind::kUser;
  CancelSlot* slot = nullptr;
};
}  // namespace detail

// Names one pending operation so that another coroutine can cancel it with Reactor::Cancel.
// Pass it to the operation; it is cleared when the operation's CQE is reaped. A slot must
// outlive the operation and holds at most one operation at a time.
class CancelSlot {
 public:
  bool pending() const { return op_ != nullptr; }

 private:
  friend class Reactor;
  friend class OpAwaiter;
  detail::Completion* op_ = nullptr;
};

// Awaitable for one SQE; resumes with an OpResult. Must be awaited at once (it is the SQE's
// completion object, so it must not move after suspension; co_await guarantees that).
class [[nodiscard]] OpAwaiter {
 public:
  OpAwaiter(Reactor& r, IoRequest req, CancelSlot* slot) : reactor_(r), req_(req), slot_(slot) {}
  OpAwaiter(const OpAwaiter&) = delete;
  OpAwaiter& operator=(const OpAwaiter&) = delete;

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  OpResult await_resume() const noexcept { return {comp_.res, comp_.flags}; }

 protected:
  Reactor& reactor_;
  IoRequest req_;
  CancelSlot* slot_;
  __kernel_timespec ts_{};  // timers only: must live until submission
  detail::Completion comp_;
};

// Sleep/SleepUntil: resumes with true when the time passed, false when cancelled first.
class [[nodiscard]] TimerAwaiter : public OpAwaiter {
 public:
  TimerAwaiter(Reactor& r, uint64_t ns, bool absolute, CancelSlot* slot);
  bool await_resume() const noexcept { return comp_.res == -ETIME; }
};

class Reactor : public Executor {
 public:
  struct Options {
    unsigned sq_entries = 256;
    unsigned cq_entries = 0;  // 0: 8 × sq_entries (completions can outnumber submissions)
  };

  // Creates the ring with SINGLE_ISSUER|DEFER_TASKRUN, falling back to COOP_TASKRUN and then
  // to no flags on EINVAL (nbd-io §4.1), and checks that every opcode used here is supported.
  // Call it on the thread that will run the reactor: the kernel binds the ring to it.
  static Result<std::unique_ptr<Reactor>> Create(Options options);
  static Result<std::unique_ptr<Reactor>> Create() { return Create(Options{}); }

  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;
  // Operations still in flight are cancelled and reaped, but their coroutines are never
  // resumed (close Gates and await everything first). Queued coroutines are dropped.
  ~Reactor() override;

  // "defer_taskrun", "coop_taskrun" or "plain": which setup flags the kernel accepted.
  std::string_view setup_mode() const { return setup_mode_; }
  // User operations submitted and not yet reaped.
  size_t in_flight() const { return in_flight_; }
  Executor& executor() { return *this; }

  // --- Scheduling ---------------------------------------------------------------------------
  // Queues a ready coroutine; it is resumed from the loop. Reactor thread only.
  void Schedule(std::coroutine_handle<> h) override { run_queue_.Schedule(h); }
  // Runs `fn` on the reactor thread, soon. Thread-safe; wakes the reactor through an eventfd.
  void Post(std::function<void()> fn);
  // Makes Run() return after the current iteration. Thread-safe.
  void Stop();
  // Loops until Stop(); then clears the stop request.
  void Run();
  // One iteration: run posted functions and ready coroutines, submit, reap. Blocks for a
  // completion only if `wait`, nothing is runnable, no stop is requested and `*done` (if
  // given) is still false after running. Must not be called from inside the loop.
  void RunOnce(bool wait, const bool* done = nullptr);
  // Drives the loop until `task` completes and returns its value (tools and tests).
  template <typename T>
  T RunUntilComplete(Task<T> task);

  // --- Operations (each: one SQE; `slot` optional, for Cancel) --------------------------------
  // rw_flags: e.g. RWF_DSYNC for FUA writes. Results are byte counts; short counts happen.
  OpAwaiter Read(int fd, std::span<uint8_t> buf, uint64_t offset, int rw_flags = 0,
                 CancelSlot* slot = nullptr);
  OpAwaiter Write(int fd, std::span<const uint8_t> buf, uint64_t offset, int rw_flags = 0,
                  CancelSlot* slot = nullptr);
  // The iovec array must stay valid until the operation completes.
  OpAwaiter Readv(int fd, std::span<const iovec> iov, uint64_t offset, int rw_flags = 0);
  OpAwaiter Writev(int fd, std::span<const iovec> iov, uint64_t offset, int rw_flags = 0);
  // Not ordered after earlier writes in the ring: issue it after their completions.
  OpAwaiter Fsync(int fd, bool datasync);
  // fallocate(2) with 64-bit offset and length on every liburing version.
  OpAwaiter Fallocate(int fd, int mode, uint64_t offset, uint64_t length);
  // Sockets: keep at most one Recv and one Send/SendMsg in flight per socket (nbd-io §4.3).
  // MSG_NOSIGNAL is always added to sends.
  OpAwaiter Recv(int fd, std::span<uint8_t> buf, int flags = 0, CancelSlot* slot = nullptr);
  OpAwaiter Send(int fd, std::span<const uint8_t> buf, int flags = 0, CancelSlot* slot = nullptr);
  // `msg` (and what it points to) must stay valid until the operation completes.
  OpAwaiter SendMsg(int fd, const msghdr* msg, int flags = 0, CancelSlot* slot = nullptr);
  // Result: the new fd (opened with `flags`, e.g. SOCK_CLOEXEC).
  OpAwaiter Accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags = 0,
                   CancelSlot* slot = nullptr);
  // `addr` must stay valid until the operation completes.
  OpAwaiter Connect(int fd, const sockaddr* addr, socklen_t addrlen, CancelSlot* slot = nullptr);
  // One-shot poll; result: the revents mask.
  OpAwaiter PollAdd(int fd, uint32_t poll_mask, CancelSlot* slot = nullptr);
  OpAwaiter Nop();
  // Timers on CLOCK_MONOTONIC (the same scale as SystemClock).
  TimerAwaiter Sleep(uint64_t ns, CancelSlot* slot = nullptr);
  TimerAwaiter SleepUntil(uint64_t monotonic_ns, CancelSlot* slot = nullptr);
  // Asks the kernel to cancel the operation in `slot` (timers are removed; other operations
  // get ASYNC_CANCEL). No-op if nothing is pending. The operation still completes through its
  // awaiter, with -ECANCELED (timers: false) unless it finished first; block I/O usually can't
  // be cancelled. Submitted immediately, so a later reuse of the slot is never hit.
  void Cancel(CancelSlot& slot);

 private:
  friend class OpAwaiter;
  Reactor() = default;

  Status Init(const Options& options);
  // Queues `req` as an SQE completing into `comp` (submitting first if the SQ is full).
  void Enqueue(const IoRequest& req, detail::Completion* comp);
  io_uring_sqe* GetSqe();
  void SubmitAndReap(bool wait);
  void Reap();
  void ArmWakeRead();
  void Wake();
  void RunPosted();

  io_uring ring_{};
  bool ring_ok_ = false;
  std::string_view setup_mode_ = "none";
  RunQueue run_queue_;
  size_t in_flight_ = 0;
  size_t internal_in_flight_ = 0;
  bool in_loop_ = false;
  bool shutting_down_ = false;

  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;
  detail::Completion wake_comp_;
  detail::Completion internal_comp_;  // shared by fire-and-forget cancels
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> posts_ready_{false};
  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
};

namespace detail {
template <typename T>
Detached CaptureInto(Task<T> task, std::optional<T>* out, bool* done) {
  out->emplace(co_await std::move(task));
  *done = true;
}
inline Detached CaptureInto(Task<void> task, bool* done) {
  co_await std::move(task);
  *done = true;
}
}  // namespace detail

template <typename T>
T Reactor::RunUntilComplete(Task<T> task) {
  bool done = false;
  if constexpr (std::is_void_v<T>) {
    detail::CaptureInto(std::move(task), &done);
    while (!done) RunOnce(/*wait=*/true, &done);
  } else {
    std::optional<T> out;
    detail::CaptureInto(std::move(task), &out, &done);
    while (!done) RunOnce(/*wait=*/true, &done);
    return std::move(*out);
  }
}

}  // namespace meshraid::io
