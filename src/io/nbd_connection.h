// NbdConnection: one libnbd handle driven by the reactor (nbd-io §3.4), with per-request
// timeouts. NbdDevice builds on it; a reconnect is a new NbdConnection.
//
// How the handle is driven (no threads, no blocking calls):
//  - Two pump coroutines, one per direction. Each arms a one-shot PollAdd (POLLIN or POLLOUT)
//    on libnbd's fd while nbd_aio_get_direction() has its bit, calls nbd_aio_notify_read/_write
//    when the poll fires and the bit is still set, and re-arms. While the bit is clear the pump
//    waits on an Event that AfterCall() sets. One-shot re-arming is level-triggered.
//  - A POLLIN completion can be stale: seen under load on Unix sockets (bench/latency_swap.sh),
//    a PollAdd completed with POLLIN while poll(2) right after showed nothing to read (likely
//    io_uring reporting the waker's mask for a wake-up that came after we had read the data).
//    nbd_aio_notify_read on an empty socket in READY leaves libnbd 1.14 in REPLY.START
//    (a processing state), where nbd_aio_* only queue commands; with nothing in flight no reply
//    ever comes, so the next command is never sent and times out. So before notifying a read
//    the pump re-checks readiness with poll(2) (timeout 0) and simply re-arms if it is stale.
//  - After EVERY libnbd call (issue, notify, connect, disconnect) AfterCall() drains the
//    completion queue, checks for a dead/closed handle and wakes the pumps whose bit is set.
//  - Completion callbacks only push (request, error) onto completed_ and return 1 (auto-retire);
//    they run with the handle lock held, so they never call libnbd.
//  - A watchdog coroutine sleeps until the earliest deadline (connect, close, or the oldest
//    request: all requests share one timeout, so the oldest has the earliest deadline).
//
// Death (timeout, poll error, notify error, server hang-up, DEAD/CLOSED handle, Abort): Kill()
// marks the connection dead and cancels the polls and the timer; the pumps and the watchdog
// exit; only then is the handle nbd_close()d (libnbd stops touching request buffers when
// nbd_close returns and calls no more completion callbacks), and only then are the requests
// still in flight failed with the death status. So a caller's buffer is never freed while
// libnbd may still read or write it, and no request completes twice. Requests issued after the
// death fail at once with kUnavailable (device scope).
//
// Single reactor thread only. Every public coroutine must run on the reactor given to Connect.
#pragma once

#include <libnbd.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/clock.h"
#include "io/gate.h"
#include "io/reactor.h"
#include "io/sync.h"
#include "io/task.h"
#include "util/result.h"
#include "util/status.h"

namespace meshraid::io {

class NbdConnection {
 public:
  struct Options {
    std::string name;                  // for messages: the URI
    uint64_t connect_timeout_ns = 0;   // handshake bound; 0 = none
    uint64_t request_timeout_ns = 0;   // per request; 0 = none
    std::function<void(std::string_view)> log;  // connection deaths; may be empty
  };

  // Starts nbd_aio_connect_uri(uri) and completes once the handshake finished (the returned
  // connection is ready) or failed (kUnavailable/kTimedOut/..., the handle already closed).
  // `uri` must not need a blocking name lookup (NbdDevice checks that). `reactor` must
  // outlive the connection.
  static Task<Result<std::unique_ptr<NbdConnection>>> Connect(Reactor& reactor,
                                                              const std::string& uri,
                                                              Options options);
  NbdConnection(const NbdConnection&) = delete;
  NbdConnection& operator=(const NbdConnection&) = delete;
  // Precondition: finished() (Abort or Disconnect awaited, or Connect failed); aborts otherwise.
  ~NbdConnection();

  // The handle, for capability queries after Connect; nullptr once closed.
  nbd_handle* handle() const { return h_; }
  bool alive() const { return !dead_; }
  bool finished() const { return finished_; }
  // Why the connection died (OK while alive).
  const Status& death() const { return death_; }
  size_t in_flight() const { return in_flight_.size(); }
  // Tests only: makes the read pump handle a POLLIN completion although nothing may be
  // readable (what a stale io_uring poll completion looks like). No-op unless alive.
  void InjectStaleReadWakeForTest();
  // How many read-poll completions were found stale (nothing readable) and not notified.
  uint64_t stale_read_wakes() const { return stale_read_wakes_; }

  // One NBD command each; the caller splits and checks capabilities. Buffers must stay valid
  // until the Task completes. Errors: the server's errno (range scope for EIO), kTimedOut or
  // kUnavailable with device scope when the connection dies, libnbd's client-side checks.
  Task<Status> Pread(std::span<uint8_t> buf, uint64_t offset);
  Task<Status> Pwrite(std::span<const uint8_t> buf, uint64_t offset, uint32_t flags);
  Task<Status> Flush();
  Task<Status> Trim(uint64_t offset, uint64_t length);
  Task<Status> Zero(uint64_t offset, uint64_t length, uint32_t flags);

  // Sends NBD_CMD_DISC and waits (at most timeout_ns; 0 = no bound) until the server closed
  // the connection, then closes the handle. Requests still in flight complete first or are
  // failed. OK only for a clean close. Never blocks the thread (no nbd_shutdown).
  Task<Status> Disconnect(uint64_t timeout_ns);
  // Declares the connection dead with `err`/`reason` (see above) and waits until the handle is
  // closed and every request failed. No-op wait if already finished.
  Task<void> Abort(int err, std::string_view reason);

 private:
  struct Pending;
  struct Pump {
    explicit Pump(Executor& ex, unsigned bit, uint32_t mask) : bit(bit), mask(mask), wake(ex) {}
    unsigned bit;
    uint32_t mask;
    Event wake;
    CancelSlot slot;
    bool inject_ready = false;  // InjectStaleReadWakeForTest: treat the cancelled poll as fired
  };
  // One NBD command, as Issue() hands it to libnbd.
  struct Command {
    enum class Kind { kRead, kWrite, kFlush, kTrim, kZero };
    Kind kind;
    const char* op;  // for messages
    uint8_t* buf = nullptr;
    uint64_t count = 0;
    uint64_t offset = 0;
    uint32_t flags = 0;
  };

  NbdConnection(Reactor& reactor, Options options);

  static int OnComplete(void* user_data, int* error);
  Task<Status> Issue(Command cmd);
  int64_t Start(const Command& cmd, nbd_completion_callback cb);
  Task<void> Run();
  Task<void> RunPump(Pump& pump);
  Task<void> Watchdog();
  uint64_t NextDeadline() const;
  // Makes the watchdog account for a new deadline (wakes it or shortens its sleep).
  void NewDeadline(uint64_t deadline_ns);
  void AfterCall();
  void Drain();
  void Kill(int err, std::string reason);
  void NoteLibnbdError(const char* what);
  std::string Where(const char* op, uint64_t offset) const;

  Reactor& reactor_;
  Options options_;
  Clock& clock_;
  nbd_handle* h_ = nullptr;
  Gate gate_;
  Pump read_;
  Pump write_;
  Event watch_wake_;
  CancelSlot timer_slot_;
  uint64_t armed_deadline_ = 0;  // what the watchdog's timer waits for (0: not sleeping)
  Event ready_;  // set when the handshake finished or the connection died

  bool connecting_ = false;
  uint64_t connect_deadline_ = 0;
  bool disconnecting_ = false;
  uint64_t close_deadline_ = 0;
  bool dead_ = false;
  bool clean_close_ = false;
  bool finished_ = false;
  int death_err_ = 0;
  std::string death_reason_;
  Status death_;
  std::string last_error_;  // the last libnbd error message, for death reasons

  uint64_t stale_read_wakes_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending*> in_flight_;  // by id: issue order = deadline order
  std::vector<std::pair<Pending*, int>> completed_;  // filled by OnComplete
};

}  // namespace meshraid::io
