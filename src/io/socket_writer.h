// SocketWriter: the sending half of one stream socket (an NBD or NVMe/TCP connection). Any
// number of coroutines queue byte sequences with Send(); one writer loop (Run) sends them in
// queue order with one SENDMSG in flight at a time (nbd-io.md §4.3), gathering everything
// queued into one iovec array and resubmitting the rest after a short send. A sequence is
// never interleaved with another.
#pragma once

#include <sys/uio.h>

#include <coroutine>
#include <cstddef>
#include <span>

#include "io/reactor.h"
#include "io/sync.h"
#include "io/task.h"
#include "util/status.h"

namespace meshraid::io {

class SocketWriter {
 public:
  SocketWriter(Reactor& reactor, int fd);
  SocketWriter(const SocketWriter&) = delete;
  SocketWriter& operator=(const SocketWriter&) = delete;

  struct Pending {
    std::span<const iovec> parts;
    std::coroutine_handle<> waiter;
    Status result;
    Pending* next = nullptr;
  };

  class [[nodiscard]] SendAwaiter {
   public:
    SendAwaiter(SocketWriter& w, std::span<const iovec> parts) : writer_(w) { node_.parts = parts; }
    bool await_ready() const noexcept { return !writer_.status_.ok() || writer_.finished_; }
    void await_suspend(std::coroutine_handle<> h) {
      node_.waiter = h;
      writer_.Push(&node_);
    }
    Status await_resume() const { return node_.waiter ? node_.result : writer_.Refusal(); }

   private:
    SocketWriter& writer_;
    Pending node_;
  };

  // Queues `parts` (which, with the bytes they point at, must stay valid until this
  // completes) and completes once all of them are on the socket, or with the error that
  // broke the connection (then nothing more is sent). Must be co_awaited at once.
  SendAwaiter Send(std::span<const iovec> parts) { return SendAwaiter(*this, parts); }

  // The writer loop: runs until Close() was called and the queue is empty, or until a send
  // fails (everything queued then completes with that error).
  Task<void> Run();
  // Lets Run() finish once everything queued so far is sent.
  void Close();

  // OK, or the error that broke the connection.
  const Status& status() const { return status_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t sendmsg_calls() const { return sendmsg_calls_; }

 private:
  static constexpr size_t kMaxIov = 256;

  void Push(Pending* p);
  Pending* Pop();
  void Complete(Pending* p, Status s);
  Status Refusal() const;
  Task<Status> SendAll(std::span<iovec> iov);

  Reactor& reactor_;
  int fd_;
  Pending* head_ = nullptr;
  Pending* tail_ = nullptr;
  Event wake_;
  bool closing_ = false;
  bool finished_ = false;  // Run() returned: Send fails at once
  Status status_;
  uint64_t bytes_sent_ = 0;
  uint64_t sendmsg_calls_ = 0;
};

}  // namespace meshraid::io
