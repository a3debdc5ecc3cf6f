#include "io/nbd_connection.h"

#include <fmt/format.h>
#include <poll.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "io/when_all.h"

namespace meshraid::io {

// One issued command; lives in the frame of the coroutine awaiting it. libnbd holds a pointer
// to it (the callback's user_data) until the callback ran or nbd_close returned, and the frame
// is resumed only after one of the two, so the pointer never dangles.
struct NbdConnection::Pending {
  NbdConnection* conn = nullptr;
  uint64_t id = 0;
  const char* op = "";
  uint64_t offset = 0;
  uint64_t deadline_ns = 0;  // 0 = none
  bool done = false;
  Status status;
  std::coroutine_handle<> waiter;
};

namespace {

struct PendingAwaiter {
  bool* done;
  std::coroutine_handle<>* waiter;
  bool await_ready() const noexcept { return *done; }
  void await_suspend(std::coroutine_handle<> h) noexcept { *waiter = h; }
  void await_resume() const noexcept {}
};

uint64_t Ms(uint64_t ns) { return ns / 1'000'000; }

// Whether a read on `fd` would not block right now: data, end of stream or an error (all of
// which libnbd must see). poll(2) asks the socket itself, unlike a completed io_uring poll
// whose mask may come from a wake-up for data we have read since.
bool Readable(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n != 0;  // an error: let libnbd find out
}

}  // namespace

NbdConnection::NbdConnection(Reactor& reactor, Options options)
    : reactor_(reactor),
      options_(std::move(options)),
      clock_(SystemClock::Get()),
      gate_(reactor),
      read_(reactor, LIBNBD_AIO_DIRECTION_READ, POLLIN),
      write_(reactor, LIBNBD_AIO_DIRECTION_WRITE, POLLOUT),
      watch_wake_(reactor),
      ready_(reactor) {
  completed_.reserve(64);
}

NbdConnection::~NbdConnection() {
  if (gate_.live() != 0) {
    std::fprintf(stderr, "meshraid: NbdConnection %s destroyed while running (await Close)\n",
                 options_.name.c_str());
    std::abort();
  }
  if (h_ != nullptr) nbd_close(h_);
}

Task<Result<std::unique_ptr<NbdConnection>>> NbdConnection::Connect(Reactor& reactor,
                                                                    const std::string& uri,
                                                                    Options options) {
  std::unique_ptr<NbdConnection> c(new NbdConnection(reactor, std::move(options)));
  c->h_ = nbd_create();
  if (c->h_ == nullptr) {
    const int err = nbd_get_errno();
    co_return Status::FromErrno(err != 0 ? err : ENOMEM, "nbd_create");
  }
  if (nbd_aio_connect_uri(c->h_, uri.c_str()) == -1) {
    const int err = nbd_get_errno();
    c->NoteLibnbdError("connect");
    nbd_close(std::exchange(c->h_, nullptr));
    c->finished_ = true;
    co_return Status::FromErrno(err != 0 ? err : EINVAL, c->options_.name + ": " + c->last_error_);
  }
  c->connecting_ = true;
  if (c->options_.connect_timeout_ns != 0) {
    c->connect_deadline_ = c->clock_.NowNs() + c->options_.connect_timeout_ns;
  }
  Spawn(c->gate_, c->Run());
  c->AfterCall();
  co_await c->ready_.Wait();
  if (c->dead_) {
    Status why = c->death_;
    co_await c->gate_.Close();
    co_return why;
  }
  co_return std::move(c);
}

// --- Requests ---------------------------------------------------------------------------------

Task<Status> NbdConnection::Pread(std::span<uint8_t> buf, uint64_t offset) {
  return Issue({Command::Kind::kRead, "read", buf.data(), buf.size(), offset, 0});
}

Task<Status> NbdConnection::Pwrite(std::span<const uint8_t> buf, uint64_t offset,
                                   uint32_t flags) {
  // libnbd only reads from a write buffer; the cast serves the shared Command layout.
  return Issue({Command::Kind::kWrite, "write", const_cast<uint8_t*>(buf.data()), buf.size(),
                offset, flags});
}

Task<Status> NbdConnection::Flush() { return Issue({Command::Kind::kFlush, "flush"}); }

Task<Status> NbdConnection::Trim(uint64_t offset, uint64_t length) {
  return Issue({Command::Kind::kTrim, "discard", nullptr, length, offset, 0});
}

Task<Status> NbdConnection::Zero(uint64_t offset, uint64_t length, uint32_t flags) {
  return Issue({Command::Kind::kZero, "write zeroes", nullptr, length, offset, flags});
}

int64_t NbdConnection::Start(const Command& cmd, nbd_completion_callback cb) {
  switch (cmd.kind) {
    case Command::Kind::kRead:
      return nbd_aio_pread(h_, cmd.buf, cmd.count, cmd.offset, cb, 0);
    case Command::Kind::kWrite:
      return nbd_aio_pwrite(h_, cmd.buf, cmd.count, cmd.offset, cb, cmd.flags);
    case Command::Kind::kFlush:
      return nbd_aio_flush(h_, cb, 0);
    case Command::Kind::kTrim:
      return nbd_aio_trim(h_, cmd.count, cmd.offset, cb, cmd.flags);
    case Command::Kind::kZero:
      return nbd_aio_zero(h_, cmd.count, cmd.offset, cb, cmd.flags);
  }
  return -1;
}

int NbdConnection::OnComplete(void* user_data, int* error) {
  auto* p = static_cast<Pending*>(user_data);
  p->conn->completed_.emplace_back(p, *error);
  return 1;  // retire the command
}

Task<Status> NbdConnection::Issue(Command cmd) {
  if (dead_) {
    co_return Status::FromErrno(
        ENOTCONN, fmt::format("{}: not connected ({})", Where(cmd.op, cmd.offset), death_reason_));
  }
  const uint64_t timeout = options_.request_timeout_ns;
  Pending p;
  p.conn = this;
  p.id = next_id_++;
  p.op = cmd.op;
  p.offset = cmd.offset;
  p.deadline_ns = timeout != 0 ? clock_.NowNs() + timeout : 0;
  in_flight_.emplace(p.id, &p);
  NewDeadline(p.deadline_ns);
  const int64_t cookie = Start(cmd, {.callback = &OnComplete, .user_data = &p, .free = nullptr});
  if (cookie == -1) {  // refused before sending: the callback will never run
    const int err = nbd_get_errno();
    NoteLibnbdError(cmd.op);
    in_flight_.erase(p.id);
    AfterCall();
    co_return Status::FromErrno(dead_ ? ENOTCONN : (err != 0 ? err : EINVAL),
                                fmt::format("{}: {}", Where(cmd.op, cmd.offset), last_error_));
  }
  AfterCall();
  co_await PendingAwaiter{&p.done, &p.waiter};
  co_return std::move(p.status);
}

void NbdConnection::Drain() {
  if (completed_.empty()) return;
  const bool lost = h_ != nullptr && (nbd_aio_is_dead(h_) || nbd_aio_is_closed(h_));
  std::vector<std::pair<Pending*, int>> batch;
  batch.swap(completed_);
  for (auto [p, err] : batch) {
    if (in_flight_.erase(p->id) == 0) continue;
    if (err == 0) {
      p->status = Status::Ok();
    } else if (lost) {
      p->status = Status::FromErrno(ENOTCONN, Where(p->op, p->offset) + ": connection lost");
    } else {
      p->status = Status::FromErrno(err, Where(p->op, p->offset));
    }
    p->done = true;
    if (p->waiter) reactor_.Schedule(p->waiter);
  }
  batch.clear();
  if (completed_.empty()) completed_.swap(batch);  // keep the capacity
}

// --- Driving the handle -----------------------------------------------------------------------

void NbdConnection::AfterCall() {
  Drain();
  if (dead_ || h_ == nullptr) return;
  if (nbd_aio_is_closed(h_)) {
    clean_close_ = disconnecting_;
    Kill(disconnecting_ ? ESHUTDOWN : ENOTCONN,
         disconnecting_ ? "disconnected" : "connection closed by the server");
    return;
  }
  if (nbd_aio_is_dead(h_)) {
    Kill(ENOTCONN, last_error_.empty() ? "connection lost" : "connection lost: " + last_error_);
    return;
  }
  if (connecting_ && nbd_aio_is_ready(h_)) {
    connecting_ = false;
    ready_.Set();
  }
  const unsigned dir = nbd_aio_get_direction(h_);
  if (dir & LIBNBD_AIO_DIRECTION_READ) read_.wake.Set();
  if (dir & LIBNBD_AIO_DIRECTION_WRITE) write_.wake.Set();
}

void NbdConnection::Kill(int err, std::string reason) {
  if (dead_) return;
  dead_ = true;
  death_err_ = err;
  death_reason_ = std::move(reason);
  death_ = Status::FromErrno(err, fmt::format("{}: {}", options_.name, death_reason_));
  if (!clean_close_ && options_.log) options_.log(death_.ToString());
  reactor_.Cancel(read_.slot);
  reactor_.Cancel(write_.slot);
  reactor_.Cancel(timer_slot_);
  read_.wake.Set();
  write_.wake.Set();
  watch_wake_.Set();
  ready_.Set();
}

Task<void> NbdConnection::Run() {
  std::vector<Task<void>> parts;
  parts.push_back(RunPump(read_));
  parts.push_back(RunPump(write_));
  parts.push_back(Watchdog());
  co_await WhenAll(std::move(parts));  // all three exit only after Kill()
  Drain();
  // Polls are reaped; now libnbd may close the socket and forget our buffers.
  nbd_close(std::exchange(h_, nullptr));
  std::map<uint64_t, Pending*> left;
  left.swap(in_flight_);
  for (auto& [id, p] : left) {
    p->status = Status::FromErrno(
        death_err_, fmt::format("{}: {}", Where(p->op, p->offset), death_reason_));
    p->done = true;
    if (p->waiter) reactor_.Schedule(p->waiter);
  }
  finished_ = true;
}

Task<void> NbdConnection::RunPump(Pump& pump) {
  while (!dead_) {
    if ((nbd_aio_get_direction(h_) & pump.bit) == 0) {
      pump.wake.Reset();
      co_await pump.wake.Wait();
      continue;
    }
    const int fd = nbd_aio_get_fd(h_);
    if (fd < 0) {
      NoteLibnbdError("no socket");
      AfterCall();
      Kill(ENOTCONN, last_error_);
      break;
    }
    OpResult r = co_await reactor_.PollAdd(fd, pump.mask, &pump.slot);
    if (dead_) break;
    if (!r.ok() && r.err() == ECANCELED && std::exchange(pump.inject_ready, false)) {
      r.res = int32_t(pump.mask);  // a test's stand-in for a stale poll completion
    }
    if (!r.ok()) {
      if (r.err() == ECANCELED) continue;
      Kill(r.err(), "poll on the socket failed");
      break;
    }
    if ((nbd_aio_get_direction(h_) & pump.bit) == 0) continue;  // state moved on meanwhile
    if (pump.bit == LIBNBD_AIO_DIRECTION_READ && !Readable(fd)) {  // stale: see the header
      ++stale_read_wakes_;
      continue;
    }
    const int rc = pump.bit == LIBNBD_AIO_DIRECTION_READ ? nbd_aio_notify_read(h_)
                                                         : nbd_aio_notify_write(h_);
    if (rc == -1) NoteLibnbdError("notify");
    AfterCall();
    if (rc == -1) Kill(ENOTCONN, last_error_);
  }
}

uint64_t NbdConnection::NextDeadline() const {
  uint64_t d = 0;
  auto take = [&d](uint64_t x) {
    if (x != 0 && (d == 0 || x < d)) d = x;
  };
  if (connecting_) take(connect_deadline_);
  if (disconnecting_) take(close_deadline_);
  if (!in_flight_.empty()) take(in_flight_.begin()->second->deadline_ns);
  return d;
}

void NbdConnection::NewDeadline(uint64_t deadline_ns) {
  if (deadline_ns == 0) return;
  watch_wake_.Set();  // if the watchdog idles
  if (armed_deadline_ > deadline_ns) reactor_.Cancel(timer_slot_);  // it sleeps too long
}

Task<void> NbdConnection::Watchdog() {
  while (!dead_) {
    const uint64_t deadline = NextDeadline();
    if (deadline == 0) {
      watch_wake_.Reset();
      co_await watch_wake_.Wait();
      continue;
    }
    const uint64_t now = clock_.NowNs();
    if (now < deadline) {
      armed_deadline_ = deadline;
      static_cast<void>(co_await reactor_.SleepUntil(deadline, &timer_slot_));
      armed_deadline_ = 0;
      continue;
    }
    if (connecting_ && connect_deadline_ != 0 && now >= connect_deadline_) {
      Kill(ETIMEDOUT, fmt::format("no handshake within {} ms", Ms(options_.connect_timeout_ns)));
    } else if (disconnecting_ && close_deadline_ != 0 && now >= close_deadline_) {
      Kill(ETIMEDOUT, "the server did not close the connection after NBD_CMD_DISC");
    } else {
      const Pending* p = in_flight_.begin()->second;
      Kill(ETIMEDOUT, fmt::format("no reply within {} ms to {} at {}; connection closed",
                                  Ms(options_.request_timeout_ns), p->op, p->offset));
    }
  }
}

// --- Closing ----------------------------------------------------------------------------------

Task<Status> NbdConnection::Disconnect(uint64_t timeout_ns) {
  if (!dead_) {
    disconnecting_ = true;
    if (timeout_ns != 0) close_deadline_ = clock_.NowNs() + timeout_ns;
    if (nbd_aio_disconnect(h_, 0) == -1) {
      NoteLibnbdError("disconnect");
      Kill(ENOTCONN, last_error_);
    } else {
      NewDeadline(close_deadline_);
      AfterCall();
    }
  }
  co_await gate_.Close();
  co_return clean_close_ ? Status::Ok() : death_;
}

Task<void> NbdConnection::Abort(int err, std::string_view reason) {
  Kill(err, std::string(reason));
  co_await gate_.Close();
}

void NbdConnection::InjectStaleReadWakeForTest() {
  if (dead_ || !read_.slot.pending()) return;
  read_.inject_ready = true;
  reactor_.Cancel(read_.slot);
}

void NbdConnection::NoteLibnbdError(const char* what) {
  const char* e = nbd_get_error();
  last_error_ = fmt::format("{}: {}", what, e != nullptr ? e : "unknown libnbd error");
}

std::string NbdConnection::Where(const char* op, uint64_t offset) const {
  return fmt::format("{} {} at {}", op, options_.name, offset);
}

}  // namespace meshraid::io
