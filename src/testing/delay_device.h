// DelayDevice: adds latency to each operation, per op type, fixed or drawn from a seeded
// distribution, through a Timers facility: real io_uring timers (ReactorTimers) in end-to-end
// runs, virtual time (ManualTimers / ManualLoop) in unit tests. Latencies can be changed while
// I/O runs (e.g. swap two mirrors' speeds); every completed operation is recorded with its
// submit and completion times so a test can check what the layer above observed.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>

#include "io/block_device.h"
#include "io/task.h"
#include "testing/latency.h"
#include "testing/op.h"
#include "testing/timers.h"
#include "util/status.h"

namespace meshraid::testing {

class DelayDevice : public io::BlockDeviceWrapper {
 public:
  // Where the delay sits relative to the target's own work.
  enum class Point {
    kBeforeTarget,  // the op reaches the target only after the delay (a queueing delay)
    kAfterTarget,   // the op takes effect at once; its completion is delayed
  };
  struct Options {
    uint64_t seed = 1;
    Point point = Point::kBeforeTarget;
    size_t max_records = 1u << 16;  // the oldest records are dropped beyond this
  };
  // One completed operation. Times are on timers.clock().
  struct Record {
    Op op = Op::kNone;
    uint64_t offset = 0;
    uint64_t length = 0;
    uint64_t submit_ns = 0;    // when the op entered this device
    uint64_t delay_ns = 0;     // the latency sampled for it
    uint64_t complete_ns = 0;  // when it completed here (delay + the target's own time)
    bool ok = true;
    uint64_t latency_ns() const { return complete_ns - submit_ns; }
  };
  struct Stats {
    uint64_t count = 0;
    uint64_t total_ns = 0;  // sum of complete_ns - submit_ns
    uint64_t max_ns = 0;
  };

  // `timers` must outlive the device and every operation. All latencies start at zero.
  DelayDevice(std::unique_ptr<io::BlockDevice> target, Timers& timers, Options options);
  DelayDevice(std::unique_ptr<io::BlockDevice> target, Timers& timers)
      : DelayDevice(std::move(target), timers, Options{}) {}

  // Sets the latency of every op type in `ops`. Takes effect for operations submitted from
  // now on; operations already waiting keep the delay they drew.
  void SetLatency(Op ops, Latency latency);
  const Latency& latency(Op op) const { return latency_[OpIndex(op)]; }
  // Exchanges every op type's latency with `other` (two mirrors trade speeds).
  void SwapLatencies(DelayDevice& other) { latency_.swap(other.latency_); }
  // Restarts the generator: the same seed and op sequence give the same delays.
  void Reseed(uint64_t seed) { rng_.seed(seed); }

  // Completed operations, oldest first (at most Options::max_records).
  const std::deque<Record>& records() const { return records_; }
  // Totals per single op type since construction or ClearRecords().
  const Stats& stats(Op op) const { return stats_[OpIndex(op)]; }
  void ClearRecords();
  // Operations submitted and not yet completed.
  size_t in_flight() const { return in_flight_; }

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override;
  io::Task<Status> Flush() override;
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override;
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override;

 private:
  // Samples the delay for `op`, waits it out around `inner`, and records the outcome.
  io::Task<Status> Delayed(Op op, uint64_t offset, uint64_t length, io::Task<Status> inner);

  Timers& timers_;
  Options options_;
  Rng rng_;
  std::array<Latency, kOpTypes> latency_{};
  std::array<Stats, kOpTypes> stats_{};
  std::deque<Record> records_;
  size_t in_flight_ = 0;
};

}  // namespace meshraid::testing
