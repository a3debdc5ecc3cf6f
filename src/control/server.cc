#include "control/server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "control/protocol.h"
#include "control/run_dir.h"
#include "control/unix_socket.h"

namespace meshraid::control {

using nlohmann::json;

// The answer slot between the control thread and functions posted to the reactor. Posted
// functions and reply callbacks hold it by shared_ptr, so they may run after the server is
// gone. `call_mu` is held while the handler is called, so Stop() waits for a call in progress;
// `stopping` (under both) keeps later calls from reaching the handler. `mu` guards the answer:
// only the answer to the request the control thread waits for is kept.
struct ControlServer::Shared {
  std::mutex call_mu;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  uint64_t waiting_id = 0;
  std::optional<json> answer;
};

// The control thread: a poll loop over the wake eventfd, the listener and the connections.
class ControlServer::Loop {
 public:
  explicit Loop(ControlServer& s) : s_(s) {}
  void Run();

 private:
  struct Conn {
    Fd fd;
    std::string in, out;
    uint64_t last_ms = 0;
    bool closing = false;  // close once `out` is sent
    bool discard = false;  // after an overlong line: answered, now drained until the peer closes
  };
  void Accept();
  // Reads what is there and answers every complete line; false when the connection is done.
  bool ReadFrom(Conn& c);
  bool WriteTo(Conn& c);
  void Log(const std::string& line) const {
    if (s_.options_.log) s_.options_.log(line);
  }

  ControlServer& s_;
  std::vector<Conn> conns_;
};

void ControlServer::Loop::Run() {
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({s_.wake_fd_, POLLIN, 0});
    fds.push_back({s_.listen_fd_, POLLIN, 0});
    for (const Conn& c : conns_) {
      short ev = short((c.closing ? 0 : POLLIN) | (c.out.empty() ? 0 : POLLOUT));
      fds.push_back({c.fd.get(), ev, 0});
    }
    int n = ::poll(fds.data(), fds.size(), 1000);
    if (n < 0 && errno != EINTR) {
      Log(fmt::format("control socket: poll: {}", std::strerror(errno)));
      return;
    }
    if (fds[0].revents != 0) return;  // Stop()
    uint64_t now = NowMs();
    std::vector<Conn> keep;
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      short re = fds[i + 2].revents;
      bool alive = true;
      if (re & (POLLIN | POLLHUP | POLLERR)) alive = ReadFrom(c);
      if (alive && !c.out.empty() && (re & POLLOUT)) alive = WriteTo(c);
      if (alive && c.closing && c.out.empty()) alive = false;
      if (alive && c.last_ms + s_.options_.idle_timeout_ms < now) alive = false;  // idle
      if (alive) keep.push_back(std::move(c));
    }
    conns_ = std::move(keep);
    if (fds[1].revents & POLLIN) Accept();
  }
}

void ControlServer::Loop::Accept() {
  for (;;) {
    Fd fd(::accept4(s_.listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.get() < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        Log(fmt::format("control socket: accept: {}", std::strerror(errno)));
      }
      return;
    }
    if (conns_.size() >= s_.options_.max_connections) continue;  // closed at once
    conns_.push_back(Conn{std::move(fd), {}, {}, NowMs(), false});
  }
}

bool ControlServer::Loop::ReadFrom(Conn& c) {
  char buf[4096];
  ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
  if (n == 0) {
    c.closing = true;  // answer what was asked, then close
    return !c.out.empty();
  }
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  c.last_ms = NowMs();
  // Input is drained rather than left unread: closing a Unix socket with unread data resets
  // the connection, and the peer would lose the error it was sent.
  if (c.discard) return WriteTo(c);
  c.in.append(buf, size_t(n));
  size_t nl;
  while ((nl = c.in.find('\n')) != std::string::npos) {
    std::string line = c.in.substr(0, nl);
    c.in.erase(0, nl + 1);
    json request = json::parse(line, nullptr, /*allow_exceptions=*/false);
    json response = request.is_discarded()
                        ? ErrorResponse(Status::InvalidArgument("request is not valid JSON"))
                        : s_.Execute(request);
    c.out += response.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  if (c.in.size() > kMaxLineBytes) {
    c.out += ErrorResponse(Status::InvalidArgument("request line too long")).dump() + "\n";
    c.in.clear();
    c.discard = true;
  }
  return WriteTo(c);
}

bool ControlServer::Loop::WriteTo(Conn& c) {
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;  // the peer is gone otherwise
  }
  if (c.discard) ::shutdown(c.fd.get(), SHUT_WR);  // the error is out: tell the peer we are done
  return true;
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& name,
                                                            ControlHandler& handler,
                                                            ServerOptions options) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return Status::InvalidArgument(fmt::format("'{}' cannot name a control socket", name));
  }
  std::string dir = RunDir(options.run_dir);
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) ::chmod(dir.c_str(), 0700);
  if (ec) return Status::FromErrno(ec.value(), fmt::format("cannot create {}", dir));

  std::unique_ptr<ControlServer> s(new ControlServer());
  s->path_ = SocketPath(dir, name);
  s->handler_ = &handler;
  s->options_ = std::move(options);
  s->shared_ = std::make_shared<Shared>();
  MESHRAID_ASSIGN_OR_RETURN(Fd listener,
                            ListenUnix(s->path_, 0600, &s->dev_, &s->ino_, s->options_.log));
  s->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd_ < 0) {
    ::unlink(s->path_.c_str());
    return Status::FromErrno(errno, "eventfd");
  }
  s->listen_fd_ = listener.Release();
  ControlServer* raw = s.get();
  s->thread_ = std::thread([raw] { Loop(*raw).Run(); });
  return s;
}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard<std::mutex> call(shared_->call_mu);  // waits for a handler call in progress
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stopping = true;
  }
  shared_->cv.notify_all();
  uint64_t one = 1;
  ssize_t w = ::write(wake_fd_, &one, sizeof(one));
  (void)w;
  if (thread_.joinable()) thread_.join();
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  ::close(listen_fd_);
  ::close(wake_fd_);
}

// On the control thread: runs the request on the reactor thread and waits for its answer
// (a manage request answers when its I/O is done).
json ControlServer::Execute(const json& request) {
  static std::atomic<uint64_t> next_id{0};
  uint64_t id = ++next_id;
  std::shared_ptr<Shared> shared = shared_;
  {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->waiting_id = id;
    shared->answer.reset();
  }
  auto respond = [shared, id](json response) {
    std::lock_guard<std::mutex> lock(shared->mu);
    if (shared->stopping || shared->waiting_id != id) return;  // abandoned
    shared->answer = std::move(response);
    shared->cv.notify_all();
  };
  ControlHandler* handler = handler_;
  auto call = [shared, handler, request, respond] {
    std::lock_guard<std::mutex> call_lock(shared->call_mu);
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->stopping) return;
    }
    Dispatch(*handler, request, respond);
  };
  if (options_.post) {
    options_.post(std::move(call));
  } else {
    call();
  }
  uint64_t timeout_ms =
      IsSlowRequest(request) ? options_.slow_request_timeout_ms : options_.request_timeout_ms;
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->cv.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return shared->stopping || shared->answer.has_value(); });
  shared->waiting_id = 0;
  if (shared->answer) return *std::exchange(shared->answer, std::nullopt);
  if (shared->stopping) return ErrorResponse(Status::Unavailable("the array is stopping"));
  return ErrorResponse(Status::TimedOut(fmt::format(
      "the array did not answer within {} ms (its reactor is busy)", timeout_ms)));
}

}  // namespace meshraid::control
