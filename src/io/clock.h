// Clock: monotonic time as an interface, so that timeouts, latency tracking and delay injection
// can run on a ManualClock in tests.
#pragma once

#include <cstdint>

namespace meshraid::io {

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds on a monotonic scale with an arbitrary origin; never decreases.
  virtual uint64_t NowNs() const = 0;
};

// CLOCK_MONOTONIC, the clock io_uring timeouts with IORING_TIMEOUT_ABS use.
class SystemClock : public Clock {
 public:
  uint64_t NowNs() const override;
  // A process-wide instance.
  static SystemClock& Get();
};

// Time moves only when a test says so.
class ManualClock : public Clock {
 public:
  explicit ManualClock(uint64_t start_ns = 0) : now_ns_(start_ns) {}
  uint64_t NowNs() const override { return now_ns_; }
  void AdvanceNs(uint64_t delta_ns) { now_ns_ += delta_ns; }
  // Moves to `t_ns`; going backwards is ignored (the clock is monotonic).
  void SetNs(uint64_t t_ns) {
    if (t_ns > now_ns_) now_ns_ = t_ns;
  }

 private:
  uint64_t now_ns_;
};

}  // namespace meshraid::io
