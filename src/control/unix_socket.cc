#include "control/unix_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace meshraid::control {
namespace {

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument(
        fmt::format("{}: a socket path must have 1 to {} bytes", path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Waits for `events` on fd until the deadline; false on timeout.
Result<bool> WaitFor(int fd, short events, uint64_t deadline_ms) {
  for (;;) {
    uint64_t now = NowMs();
    if (now >= deadline_ms) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, int(std::min<uint64_t>(deadline_ms - now, 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return Status::FromErrno(errno, "poll");
  }
}

}  // namespace

void Fd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

uint64_t NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

Result<Fd> ConnectUnix(const std::string& path) {
  MESHRAID_ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Status::FromErrno(errno, "socket");
  // A Unix stream connect completes at once; EAGAIN means the backlog is full.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno(errno, fmt::format("connect {}", path));
  }
  return fd;
}

Result<Fd> ListenUnix(const std::string& path, mode_t mode, dev_t* dev, ino_t* ino,
                      const std::function<void(const std::string&)>& log) {
  MESHRAID_ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::FailedPrecondition(fmt::format("{} exists and is not a socket", path));
    }
    Result<Fd> probe = ConnectUnix(path);
    if (probe.ok()) {
      return Status::Busy(fmt::format("{} is live: the array is already running", path));
    }
    if (probe.status().err() != ECONNREFUSED) return probe.status();
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status::FromErrno(errno, fmt::format("remove stale socket {}", path));
    }
    if (log) log(fmt::format("replaced stale control socket {}", path));
  }
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return Status::FromErrno(errno, "socket");
  // Restrict the socket before anyone can connect: bind creates it, listen opens it.
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Status::FromErrno(errno, fmt::format("bind {}", path));
  }
  if (::chmod(path.c_str(), mode) != 0 || ::lstat(path.c_str(), &st) != 0) {
    Status s = Status::FromErrno(errno, fmt::format("chmod {}", path));
    ::unlink(path.c_str());
    return s;
  }
  *dev = st.st_dev;
  *ino = st.st_ino;
  if (::listen(fd.get(), 16) != 0) {
    Status s = Status::FromErrno(errno, fmt::format("listen {}", path));
    ::unlink(path.c_str());
    return s;
  }
  return fd;
}

Status WriteAll(int fd, std::string_view data, uint64_t deadline_ms) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return Status::FromErrno(errno, "send");
    MESHRAID_ASSIGN_OR_RETURN(bool ready, WaitFor(fd, POLLOUT, deadline_ms));
    if (!ready) return Status::TimedOut("send timed out");
  }
  return Status::Ok();
}

Result<std::string> ReadLine(int fd, uint64_t deadline_ms, size_t max_bytes) {
  std::string line;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      const char* nl = static_cast<const char*>(std::memchr(buf, '\n', size_t(n)));
      line.append(buf, nl ? size_t(nl - buf) : size_t(n));
      if (line.size() > max_bytes) return Status::InvalidArgument("line too long");
      if (nl) return line;
      continue;
    }
    if (n == 0) return Status::Unavailable("connection closed before a full line");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::FromErrno(errno, "recv");
    MESHRAID_ASSIGN_OR_RETURN(bool ready, WaitFor(fd, POLLIN, deadline_ms));
    if (!ready) return Status::TimedOut("no answer");
  }
}

}  // namespace meshraid::control
