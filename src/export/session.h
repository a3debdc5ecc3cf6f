// NbdSession: one client connection, from greeting to close, as one coroutine. After the
// handshake the session reads requests one at a time (the only Recv on the socket), validates
// each with proto::ValidateRequest, reads or drains a WRITE's payload, and runs the command
// in its own coroutine; replies go through the SocketWriter in completion order (out of order
// with respect to requests). A Semaphore bounds the requests in flight, from reading the
// header until the reply is on the socket, so a client that stops reading replies stops
// being read from. The session closes its socket only after every command it started has
// finished, so no device I/O outlives its buffers (and, over TCP, once the client has the
// replies: SessionOptions::linger_ns).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "export/nbd_export.h"
#include "export/request_executor.h"
#include "io/reactor.h"
#include "io/socket_reader.h"
#include "io/socket_writer.h"
#include "io/sync.h"
#include "io/task.h"
#include "proto/nbd_request.h"

namespace meshraid::exports {

using LogFn = std::function<void(std::string_view line)>;

struct SessionOptions {
  size_t max_in_flight = 64;  // requests per connection
  uint32_t max_options = 64;  // negotiation budget
  // After RequestStop(), how long the connection may take to answer what it has in flight
  // before it is closed hard (shutdown(2)), so that a client that no longer reads its
  // replies, or stalls in the middle of a WRITE payload, cannot hold the server's stop
  // forever. Commands keep running on the device to their end either way. 0: no limit.
  uint64_t stop_grace_ns = 10'000'000'000;
  // TCP only: closing a socket with unread requests in its receive queue (a stop with requests
  // pipelined) resets the connection, which drops the replies still in the send queue. So the
  // end is orderly: FIN after the last reply (shutdown(SHUT_WR)), then whatever the client
  // still sends is read and dropped until it has acknowledged every reply or closed, for at
  // most this long. Not after a hard close. 0: close at once.
  uint64_t linger_ns = 2'000'000'000;
};

struct SessionStats {
  uint64_t requests = 0;  // commands answered (errors included)
  uint64_t errors = 0;    // answered with an error
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
};

class NbdSession {
 public:
  // Takes ownership of `fd` (a connected stream socket). `peer` names the client in logs.
  NbdSession(io::Reactor& reactor, int fd, const Export& e, const ExportParams& params,
             SessionOptions options, std::string peer, LogFn log);
  ~NbdSession();
  NbdSession(const NbdSession&) = delete;
  NbdSession& operator=(const NbdSession&) = delete;

  // Serves the connection until the client leaves, a protocol violation forces a hard close,
  // or RequestStop(); then waits for in-flight commands and their replies and closes the
  // socket. Logs one line when the connection opens and one when it closes.
  io::Task<void> Run();
  // Server shutdown: no new option or request is read (a pending read of the next header is
  // cancelled), commands in flight finish and are answered, then the connection closes. A
  // connection still not done stop_grace_ns later is closed hard: the replies not yet on the
  // socket are dropped (the commands still finish before Run() completes).
  void RequestStop();

  const SessionStats& stats() const { return stats_; }
  const std::string& peer() const { return peer_; }

 private:
  io::Task<void> Main();
  // The transmission phase; returns why it ended.
  io::Task<std::string> Transmit(bool structured_replies);
  using Buffer = std::unique_ptr<uint8_t, void (*)(void*)>;
  // Runs one command (unless `early` already holds its validation error), answers it and
  // returns its permit.
  io::Task<void> Serve(proto::Request r, Buffer buf, Outcome early);
  io::Task<void> SendReply(const proto::Request& r, const Outcome& o, std::span<uint8_t> data);
  void HardClose();
  // Waits for RequestStop(), then for the grace period; closes hard if Main() is still busy.
  io::Task<void> StopDeadline();
  // The orderly end of a TCP connection (SessionOptions::linger_ns).
  io::Task<void> Linger();

  io::Reactor& reactor_;
  int fd_;
  const Export& export_;
  const ExportParams params_;  // as described when the connection came (the size may grow)
  SessionOptions options_;
  std::string peer_;
  LogFn log_;
  io::SocketReader reader_;
  io::SocketWriter writer_;
  RequestExecutor executor_;
  io::Semaphore permits_;
  bool structured_ = false;
  bool stopping_ = false;
  bool in_transmission_ = false;
  bool awaiting_header_ = false;
  io::Event stop_requested_;  // also set when Main() ends, to release StopDeadline()
  io::CancelSlot deadline_slot_;
  bool main_done_ = false;
  bool deadline_hit_ = false;
  bool hard_closed_ = false;
  SessionStats stats_;
};

}  // namespace meshraid::exports
