// NbdkitServer: a test-only helper that runs one nbdkit process (nbd-io §6.1). Always `-t 1`:
// nbdkit 1.32 aborts when a client hangs up with replies queued unless it serialises (§7.1),
// and our timeout path closes connections abruptly. `--exit-with-parent` ties the process to
// the spawning thread: start it from the test's main thread. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace meshraid::io {

class NbdkitServer {
 public:
  // `listen`: {"-U", SOCK} or {"-i", "127.0.0.1", "-p", PORT}; `args`: filters, plugin, params.
  NbdkitServer(std::string pidfile, std::vector<std::string> listen, std::vector<std::string> args)
      : pidfile_(std::move(pidfile)), listen_(std::move(listen)), args_(std::move(args)) {}
  NbdkitServer(const NbdkitServer&) = delete;
  NbdkitServer& operator=(const NbdkitServer&) = delete;
  ~NbdkitServer() { Kill(SIGKILL); }

  // Spawns nbdkit and waits (at most 10 s) until its pidfile exists, i.e. it accepts
  // connections. Removes a stale Unix socket and pidfile first. False on failure.
  bool Start() {
    if (listen_.size() == 2 && listen_[0] == "-U") ::unlink(listen_[1].c_str());
    ::unlink(pidfile_.c_str());
    std::vector<std::string> argv = {"nbdkit", "--exit-with-parent", "-f", "-t", "1",
                                     "-P",     pidfile_};
    argv.insert(argv.end(), listen_.begin(), listen_.end());
    argv.insert(argv.end(), args_.begin(), args_.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "nbdkit", nullptr, nullptr, cargv.data(), environ) != 0) {
      pid_ = -1;
      return false;
    }
    for (int i = 0; i < 1000; ++i) {
      struct stat st {};
      if (::stat(pidfile_.c_str(), &st) == 0 && st.st_size > 0) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited early (bad arguments?)
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Kill(SIGKILL);
    return false;
  }

  // Sends `sig` and reaps the process (SIGKILL: at once; others: at most 5 s, then SIGKILL).
  void Kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    for (int i = 0; i < 500 && sig != SIGKILL; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (sig != SIGKILL) ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // Sends `sig` without waiting (safe inside the reactor loop); Kill() or the destructor reaps.
  void Signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

 private:
  std::string pidfile_;
  std::vector<std::string> listen_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
};

// One request line of the nbdkit log filter ("... Write id=3 offset=0x0 count=0x200 fua=1").
struct Logged {
  uint64_t offset = 0;
  uint64_t count = 0;
  bool fua = false;
};

inline uint64_t HexField(const std::string& line, const std::string& field) {
  const size_t p = line.find(field);
  return p == std::string::npos ? 0 : std::stoull(line.substr(p + field.size()), nullptr, 16);
}

inline std::vector<Logged> LoggedRequests(const std::string& logfile, const std::string& action) {
  std::ifstream in(logfile);
  std::vector<Logged> out;
  const std::string key = " " + action + " id=";
  for (std::string line; std::getline(in, line);) {
    if (line.find(key) == std::string::npos) continue;
    out.push_back({HexField(line, "offset="), HexField(line, "count="),
                   line.find("fua=1") != std::string::npos});
  }
  return out;
}

// A port on 127.0.0.1 that was free a moment ago.
inline std::string FreeTcpPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return std::to_string(port);
}

}  // namespace meshraid::io
