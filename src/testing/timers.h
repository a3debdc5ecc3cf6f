// Timers: "wake me at time T" as an interface, so that code with timeouts and delays (the delay
// decorator, read-balancer latency tracking, the RAID safe-mode timer) runs on the reactor's
// real timers in production and end-to-end tests, and on a ManualClock in unit tests, where
// time moves only when the test says so and every run is the same.
#pragma once

#include <coroutine>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include "io/clock.h"
#include "io/reactor.h"
#include "io/task.h"

namespace meshraid::testing {

namespace detail {
struct ManualWaiter;
}

// Names one pending sleep so that another coroutine can cancel it with Timers::Cancel. A slot
// must outlive its sleep and holds at most one sleep at a time; it is cleared when the sleep
// completes (ReactorTimers: when its completion is reaped).
class TimerSlot {
 public:
  TimerSlot() = default;
  TimerSlot(const TimerSlot&) = delete;
  TimerSlot& operator=(const TimerSlot&) = delete;

  bool pending() const { return io_slot_.pending() || manual_ != nullptr; }

 private:
  friend class ReactorTimers;
  friend class ManualTimers;
  io::CancelSlot io_slot_;
  detail::ManualWaiter* manual_ = nullptr;
};

class Timers {
 public:
  virtual ~Timers() = default;

  // The clock deadlines are measured on (NowNs() is clock().NowNs()).
  virtual const io::Clock& clock() const = 0;
  uint64_t NowNs() const { return clock().NowNs(); }

  // Completes with true once clock().NowNs() >= deadline_ns, or with false if cancelled first
  // through `slot`. Resumption goes through the executor (never inline from the code that
  // fires or cancels the timer); a deadline already passed may complete at once. Runs on the
  // thread that owns the timers.
  io::Task<bool> SleepUntil(uint64_t deadline_ns, TimerSlot* slot = nullptr) {
    return DoSleepUntil(deadline_ns, slot);
  }
  // SleepUntil(NowNs() + ns), with NowNs() read at the call (not when first awaited).
  io::Task<bool> SleepFor(uint64_t ns, TimerSlot* slot = nullptr) {
    return DoSleepUntil(NowNs() + ns, slot);
  }
  // Cancels the sleep in `slot`, if any: it completes with false (unless it already fired).
  virtual void Cancel(TimerSlot& slot) = 0;

 protected:
  virtual io::Task<bool> DoSleepUntil(uint64_t deadline_ns, TimerSlot* slot) = 0;
};

// Real time: io_uring timeouts on CLOCK_MONOTONIC (io::SystemClock). The reactor must outlive
// this object and every sleep.
class ReactorTimers : public Timers {
 public:
  explicit ReactorTimers(io::Reactor& reactor) : reactor_(reactor) {}

  const io::Clock& clock() const override { return io::SystemClock::Get(); }
  void Cancel(TimerSlot& slot) override { reactor_.Cancel(slot.io_slot_); }

 protected:
  io::Task<bool> DoSleepUntil(uint64_t deadline_ns, TimerSlot* slot) override;

 private:
  io::Reactor& reactor_;
};

namespace detail {
// One suspended sleep; lives in the sleeping coroutine's frame.
struct ManualWaiter {
  std::coroutine_handle<> handle;
  TimerSlot* slot = nullptr;
  bool fired = false;
  std::multimap<uint64_t, ManualWaiter*>::iterator pos;
};
}  // namespace detail

// Virtual time: sleeps wait until the test moves the ManualClock forward through this object
// (AdvanceTo/AdvanceBy/FireDue). Due timers fire in deadline order, ties in the order the
// sleeps started. Firing only schedules the sleepers on `executor`; the test then runs the
// executor (see ManualLoop, which does both in the right order). Moving the clock directly does
// not fire anything until the next FireDue(). Sleeps still pending when this object is
// destroyed are never resumed (their owners must not be waiting on them any more).
class ManualTimers : public Timers {
 public:
  ManualTimers(io::Executor& executor, io::ManualClock& clock)
      : executor_(executor), clock_(clock) {}
  ManualTimers(const ManualTimers&) = delete;
  ManualTimers& operator=(const ManualTimers&) = delete;

  const io::Clock& clock() const override { return clock_; }
  io::ManualClock& manual_clock() { return clock_; }
  void Cancel(TimerSlot& slot) override;

  // Schedules every sleeper whose deadline is <= now. Returns how many fired.
  size_t FireDue();
  // Moves the clock to `t_ns` (never backwards), then FireDue().
  size_t AdvanceTo(uint64_t t_ns);
  size_t AdvanceBy(uint64_t delta_ns) { return AdvanceTo(clock_.NowNs() + delta_ns); }
  // Moves the clock to the earliest deadline (if later than now) and fires the timers due
  // then. Returns false, doing nothing, when no sleep is pending.
  bool AdvanceToNext();

  size_t pending() const { return waiters_.size(); }
  std::optional<uint64_t> next_deadline() const;

 protected:
  io::Task<bool> DoSleepUntil(uint64_t deadline_ns, TimerSlot* slot) override;

 private:
  io::Executor& executor_;
  io::ManualClock& clock_;
  std::multimap<uint64_t, detail::ManualWaiter*> waiters_;  // equal keys keep insertion order
};

// A plain "sleep for ns" function over `timers` (which must outlive it), for code that takes
// a std::function<io::Task<void>(uint64_t ns)> such as raid::SleepFn.
std::function<io::Task<void>(uint64_t)> MakeSleepFn(Timers& timers);

}  // namespace meshraid::testing
