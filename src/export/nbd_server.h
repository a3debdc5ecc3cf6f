// NbdServer: serves one export over NBD (fixed newstyle, NOTLS) on a Unix or TCP listening
// socket. Connections are accepted on the reactor, each served by one NbdSession coroutine
// tracked in a Gate; Stop() stops accepting, lets every session finish the requests it has
// in flight, and closes them. The server does not flush the device on shutdown: durability
// of acknowledged writes is the device's (the array's) job. Reactor thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>

#include "export/listener.h"
#include "export/nbd_export.h"
#include "export/session.h"
#include "io/gate.h"
#include "io/reactor.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::exports {

struct ServerOptions {
  ListenAddress listen;     // default: a Unix socket; `path` must be set
  SessionOptions session;
  LogFn log;                // one line per connection open/close; null: stderr
};

class NbdServer {
 public:
  // Validates the export (a device, a name and description the wire can carry) and opens
  // the listening socket; nothing is accepted until Start().
  static Result<std::unique_ptr<NbdServer>> Create(io::Reactor& reactor, Export e,
                                                   ServerOptions options);
  // A server without a listening socket, fed by Adopt() (tests, inetd-style use).
  static Result<std::unique_ptr<NbdServer>> CreateUnbound(io::Reactor& reactor, Export e,
                                                          SessionOptions options, LogFn log);
  // Aborts if sessions are still live (Stop() must have completed); closes the listener.
  ~NbdServer();
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // Starts accepting connections.
  void Start();
  // Serves an already-connected stream socket, taking ownership of `fd`. False (fd closed)
  // once stopping.
  bool Adopt(int fd, std::string peer);
  // Stops accepting, asks every session to stop, and completes when all have closed. The
  // Unix socket file is removed. Idempotent.
  io::Task<void> Stop();

  // "unix:PATH" or "HOST:PORT" (the real port when 0 was asked for); "" when unbound.
  const std::string& address() const { return listener_.address; }
  const Export& exported() const { return export_; }
  const ExportParams& params() const { return params_; }
  size_t live_sessions() const { return sessions_.size(); }
  uint64_t connections() const { return connections_; }

 private:
  NbdServer(io::Reactor& reactor, Export e, SessionOptions session, LogFn log);
  io::Task<void> AcceptLoop();
  io::Task<void> RunSession(std::unique_ptr<NbdSession> s);
  void Log(std::string_view line) const;

  io::Reactor& reactor_;
  Export export_;
  ExportParams params_;
  SessionOptions session_options_;
  LogFn log_;
  Listener listener_;
  io::Gate gate_;
  io::CancelSlot accept_slot_;
  std::unordered_set<NbdSession*> sessions_;
  uint64_t connections_ = 0;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace meshraid::exports
