// ControlServer: one array's control socket, <run dir>/<name>.ctl (mode 0600), served on its
// own thread. Requests are JSON lines (protocol.h); each is executed on the array's reactor
// thread through ServerOptions::post, and the control thread waits for the answer (one request
// at a time: a manage request holds the others back until its I/O is done), so nothing
// touches the array from the control thread. A stale socket (nothing listening) is replaced;
// a live one means the array is already running and Start fails with kBusy.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "control/handler.h"
#include "util/result.h"

namespace meshraid::control {

struct ServerOptions {
  std::string run_dir;  // "" → RunDir(): $MESHRAID_RUN_DIR or /run/meshraid (created 0700)
  // Runs a function on the reactor thread, e.g. [&r](auto fn) { r.Post(std::move(fn)); }.
  // Unset: requests run on the control thread (tests with a thread-safe handler).
  std::function<void(std::function<void()>)> post;
  uint64_t request_timeout_ms = 10'000;  // an unanswered request gets a kTimedOut error
  uint64_t slow_request_timeout_ms = 120'000;  // the same for manage requests (they do I/O)
  uint64_t idle_timeout_ms = 60'000;     // a silent connection is closed
  size_t max_connections = 32;
  std::function<void(const std::string&)> log;  // socket replaced, odd clients
};

class ControlServer {
 public:
  static Result<std::unique_ptr<ControlServer>> Start(const std::string& name,
                                                      ControlHandler& handler,
                                                      ServerOptions options);
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;
  ~ControlServer();  // Stop()

  // Stops the thread, closes every connection and removes the socket (if it is still ours).
  // After it returns the handler is never called again, so call it before the handler (and
  // the array) go away. Call it on the reactor thread, or when the reactor no longer runs:
  // a request waiting for the reactor is abandoned, not awaited. Idempotent.
  void Stop();

  const std::string& path() const { return path_; }

 private:
  struct Shared;  // state shared with functions posted to the reactor
  class Loop;     // the control thread's poll loop

  ControlServer() = default;
  nlohmann::json Execute(const nlohmann::json& request);

  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  ControlHandler* handler_ = nullptr;
  ServerOptions options_;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace meshraid::control
