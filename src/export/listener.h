// Where the NBD server listens: a Unix socket (the default; created with mode 0600) or a TCP
// address given explicitly as HOST:PORT. Opening replaces a stale socket file only when
// nothing answers on it, and never replaces a file that is not a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "io/reactor.h"
#include "io/task.h"

#include "util/result.h"

namespace meshraid::exports {

struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix
  std::string host;  // kTcp: a numeric address or a name; "[::1]" brackets are removed
  uint16_t port = 0;  // kTcp; 0 picks a free port

  static ListenAddress Unix(std::string path) { return {Kind::kUnix, std::move(path), "", 0}; }
  // Parses "HOST:PORT" or "[V6ADDR]:PORT". The host must be given: listening on every
  // interface is only done when asked for explicitly (0.0.0.0 or [::]).
  static Result<ListenAddress> ParseTcp(std::string_view text);

  std::string ToString() const;  // "unix:PATH" or "HOST:PORT"
};

struct Listener {
  int fd = -1;            // listening, close-on-exec
  std::string address;    // as bound: "unix:PATH" or "HOST:PORT" with the real port
  std::string unix_path;  // the socket file to unlink at shutdown ("" for TCP)
};

// Creates, binds and listens. Errors: kBusy if a server already answers on the Unix socket,
// kFailedPrecondition if the path exists and is not a socket, kInvalidArgument for a path
// too long for sockaddr_un or a host that does not resolve, else the bind/listen errno.
Result<Listener> OpenListener(const ListenAddress& addr);

// Closes the listening socket and removes its socket file (Unix).
void CloseListener(Listener& l);

// The peer of an accepted socket for logs: "HOST:PORT" for TCP, "local" for Unix sockets.
std::string DescribePeer(int fd);

// Best effort: TCP_NODELAY on an accepted TCP socket (no-op for Unix sockets).
void TuneAcceptedSocket(int fd);

// Accepts on `l` until `stopping` is true: each socket (close-on-exec, tuned) goes to
// adopt(fd, peer) with its DescribePeer; after EMFILE and friends it logs and retries a little
// later. Cancelling `slot` ends a pending accept (then `stopping` should be set).
io::Task<void> AcceptLoop(io::Reactor& reactor, const Listener& l, io::CancelSlot& slot, const bool& stopping,
                          std::function<void(int, std::string)> adopt,
                          std::function<void(std::string_view)> log);

}  // namespace meshraid::exports
