// ManualLoop: a whole deterministic world for unit tests — a run queue as the executor, a
// ManualClock and ManualTimers on it. Nothing touches io_uring or wall time: when nothing is
// runnable, the loop jumps virtual time to the next timer deadline (a discrete-event
// simulation), so a test with 200 ms of injected latency runs in microseconds, and the same
// every time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <type_traits>
#include <utility>

#include "io/clock.h"
#include "io/run_queue.h"
#include "io/task.h"
#include "testing/started.h"
#include "testing/timers.h"

namespace meshraid::testing {

class ManualLoop {
 public:
  explicit ManualLoop(uint64_t start_ns = 0) : clock_(start_ns), timers_(queue_, clock_) {}
  ManualLoop(const ManualLoop&) = delete;
  ManualLoop& operator=(const ManualLoop&) = delete;

  io::Executor& executor() { return queue_; }
  io::ManualClock& clock() { return clock_; }
  ManualTimers& timers() { return timers_; }
  uint64_t NowNs() const { return clock_.NowNs(); }

  // Runs ready coroutines until none is left; time does not move. Returns how many ran.
  size_t RunReady() { return queue_.RunReady(); }

  // Runs everything that happens up to `t_ns`: ready coroutines, then each timer in deadline
  // order with the clock set to exactly that deadline (so recorded latencies are exact), then
  // leaves the clock at `t_ns`.
  void AdvanceTo(uint64_t t_ns);
  void AdvanceBy(uint64_t delta_ns) { AdvanceTo(clock_.NowNs() + delta_ns); }

  // Runs, jumping time from deadline to deadline, until `pred()` holds (checked whenever
  // nothing is runnable). Returns false when it can never hold: nothing runnable and no timer
  // pending (e.g. an operation hangs until the test releases it).
  bool RunUntil(const std::function<bool()>& pred);
  // Runs until every coroutine is blocked and no timer is pending.
  void RunUntilIdle() {
    (void)RunUntil([] { return false; });
  }

  // Starts `task` and runs until it completes; returns its value. Aborts if the task can
  // never complete (a test bug: use Start() and RunUntil() for operations meant to hang).
  template <typename T>
  T RunUntilComplete(io::Task<T> task) {
    Started<T> started = Start(std::move(task));
    if (!RunUntil([&] { return started.done(); })) {
      std::fprintf(stderr, "ManualLoop: task blocked forever (no runnable work, no timers)\n");
      std::abort();
    }
    if constexpr (!std::is_void_v<T>) return std::move(started.value());
  }

 private:
  io::RunQueue queue_;
  io::ManualClock clock_;
  ManualTimers timers_;
};

}  // namespace meshraid::testing
