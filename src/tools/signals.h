// Waiting for SIGINT/SIGTERM on the reactor: the signals are blocked and read from a signalfd,
// so no work ever happens in a signal handler.
#pragma once

#include <string>

#include "io/reactor.h"
#include "util/result.h"

namespace meshraid::tools {

class StopSignals {
 public:
  // Blocks SIGINT, SIGTERM (and ignores SIGPIPE) in this thread and opens a signalfd.
  static Result<StopSignals> Open();
  StopSignals(StopSignals&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  StopSignals(const StopSignals&) = delete;
  ~StopSignals();

  // Completes with the signal's name when one arrives.
  io::Task<std::string> Wait(io::Reactor& reactor);

 private:
  explicit StopSignals(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace meshraid::tools
