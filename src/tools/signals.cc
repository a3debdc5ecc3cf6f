#include "tools/signals.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace meshraid::tools {

Result<StopSignals> StopSignals::Open() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) {
    return Status::FromErrno(errno, "blocking SIGINT/SIGTERM");
  }
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return Status::FromErrno(errno, "signalfd");
  return StopSignals(fd);
}

StopSignals::~StopSignals() {
  if (fd_ >= 0) ::close(fd_);
}

io::Task<std::string> StopSignals::Wait(io::Reactor& reactor) {
  for (;;) {
    io::OpResult r = co_await reactor.PollAdd(fd_, POLLIN);
    if (!r.ok()) co_return std::string("poll on signalfd failed");
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof(info)) == ssize_t(sizeof(info))) {
      co_return std::string(::strsignal(int(info.ssi_signo)));
    }
  }
}

}  // namespace meshraid::tools
