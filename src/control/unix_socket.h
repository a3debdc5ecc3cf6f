// Unix stream socket helpers for the control socket: an owning fd, a listener that replaces a
// stale socket file and refuses a live one, a non-blocking connect, and line I/O with a
// deadline. Errors keep their errno (Status::err()) so that callers can tell ENOENT (nothing
// there) from ECONNREFUSED (stale socket) from EACCES.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "util/result.h"

namespace meshraid::control {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset();

 private:
  int fd_ = -1;
};

// A listening, non-blocking socket bound at `path` with permissions `mode`. An existing socket
// file nobody listens on is removed first (logged); a live one is kBusy; any other file there
// is kFailedPrecondition. `*dev`/`*ino` identify the new socket file (to remove only our own).
Result<Fd> ListenUnix(const std::string& path, mode_t mode, dev_t* dev, ino_t* ino,
                      const std::function<void(const std::string&)>& log);

// A connected, non-blocking socket; errors carry the errno of socket/connect.
Result<Fd> ConnectUnix(const std::string& path);

// The monotonic clock in milliseconds, for deadlines.
uint64_t NowMs();

// Writes all of `data` before `deadline_ms` (kTimedOut otherwise).
Status WriteAll(int fd, std::string_view data, uint64_t deadline_ms);
// Reads up to and excluding the first '\n' before `deadline_ms`. kTimedOut, kUnavailable when
// the peer closes first, kInvalidArgument beyond `max_bytes`.
Result<std::string> ReadLine(int fd, uint64_t deadline_ms, size_t max_bytes);

}  // namespace meshraid::control
