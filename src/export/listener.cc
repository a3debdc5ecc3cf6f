// Listening sockets for the NBD server (see listener.h).
#include "export/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace meshraid::exports {

namespace {

constexpr int kBacklog = 128;

std::string SockaddrText(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return fmt::format("{}:{}", host, ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
  return fmt::format("[{}]:{}", host, ntohs(in6->sin6_port));
}

// True if a server accepts connections on the Unix socket at `path`.
bool SomeoneListens(const sockaddr_un& sun) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof(sun)) == 0;
  ::close(fd);
  return live;
}

Result<Listener> OpenUnix(const std::string& path) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sun.sun_path)) {
    return Status::InvalidArgument(fmt::format("socket path '{}': empty or longer than {} bytes",
                                               path, sizeof(sun.sun_path) - 1));
  }
  std::memcpy(sun.sun_path, path.data(), path.size());
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::FailedPrecondition(fmt::format("{} exists and is not a socket", path));
    }
    if (SomeoneListens(sun)) {
      return Status::Busy(fmt::format("{}: another server is listening on it", path));
    }
    ::unlink(path.c_str());  // stale: nobody answers
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket(AF_UNIX)");
  const mode_t old_mask = ::umask(0177);  // the socket file is born 0600
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof(sun));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0) {
    ::close(fd);
    return Status::FromErrno(bind_errno, "bind " + path);
  }
  ::chmod(path.c_str(), 0600);
  if (::listen(fd, kBacklog) != 0) {
    Status s = Status::FromErrno(errno, "listen on " + path);
    ::close(fd);
    ::unlink(path.c_str());
    return s;
  }
  return Listener{fd, "unix:" + path, path};
}

Result<Listener> OpenTcp(const ListenAddress& a) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(a.port);
  if (int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    return Status::InvalidArgument(fmt::format("{}: {}", a.ToString(), ::gai_strerror(rc)));
  }
  Status last = Status::InvalidArgument(a.ToString() + ": no address");
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Status::FromErrno(errno, "socket for " + a.ToString());
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, kBacklog) != 0) {
      last = Status::FromErrno(errno, "bind/listen " + a.ToString());
      ::close(fd);
      continue;
    }
    sockaddr_storage bound{};
    socklen_t len = sizeof(bound);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
    ::freeaddrinfo(res);
    return Listener{fd, SockaddrText(reinterpret_cast<sockaddr*>(&bound)), ""};
  }
  ::freeaddrinfo(res);
  return last;
}

}  // namespace

Result<ListenAddress> ListenAddress::ParseTcp(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::InvalidArgument(fmt::format("'{}': expected HOST:PORT", text));
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      return Status::InvalidArgument(fmt::format("'{}': unbalanced [ ] around the address", text));
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return Status::InvalidArgument(fmt::format("'{}': write IPv6 addresses as [ADDR]:PORT", text));
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return Status::InvalidArgument(fmt::format("'{}': bad port", text));
  }
  ListenAddress a;
  a.kind = Kind::kTcp;
  a.host = std::string(host);
  a.port = uint16_t(port);
  return a;
}

std::string ListenAddress::ToString() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<Listener> OpenListener(const ListenAddress& addr) {
  return addr.kind == ListenAddress::Kind::kUnix ? OpenUnix(addr.path) : OpenTcp(addr);
}

void CloseListener(Listener& l) {
  if (l.fd >= 0) ::close(l.fd);
  l.fd = -1;
  if (!l.unix_path.empty()) ::unlink(l.unix_path.c_str());
  l.unix_path.clear();
}

std::string DescribePeer(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return "local";
  return SockaddrText(reinterpret_cast<const sockaddr*>(&ss));
}

void TuneAcceptedSocket(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return;
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

io::Task<void> AcceptLoop(io::Reactor& reactor, const Listener& l, io::CancelSlot& slot, const bool& stopping,
                          std::function<void(int, std::string)> adopt,
                          std::function<void(std::string_view)> log) {
  constexpr uint64_t kAcceptRetryNs = 100'000'000;  // after EMFILE and friends
  while (!stopping) {
    io::OpResult r = co_await reactor.Accept(l.fd, nullptr, nullptr, SOCK_CLOEXEC, &slot);
    if (stopping) {
      if (r.ok()) ::close(int(r.res));
      break;
    }
    if (r.ok()) {
      const int fd = int(r.res);
      TuneAcceptedSocket(fd);
      adopt(fd, DescribePeer(fd));
      continue;
    }
    if (r.err() == EINTR || r.err() == ECONNABORTED || r.err() == EAGAIN) continue;
    // Out of descriptors or memory: existing connections go on; retry a little later.
    log(r.ToStatus("accept on " + l.address).message());
    (void)co_await reactor.Sleep(kAcceptRetryNs, &slot);
  }
}

}  // namespace meshraid::exports
