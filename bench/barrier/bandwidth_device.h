// BandwidthDevice (benchmark-local): gives a member a finite transfer bandwidth, which
// testing::DelayDevice (a per-operation latency, with unlimited parallelism) does not model.
//
// The device has one data channel of `bytes_per_sec`. Every read or write moves its bytes over
// the channel in slices of at most `quantum_bytes`; a slice reserves the next free stretch of
// channel time, and an operation asks for its next slice only after its previous one ended. So
// concurrent operations share the channel round-robin (an approximation of processor sharing,
// the way an NVMe drive interleaves many queues), and a 4 KiB write that arrives while a 1 MiB
// sync read is being transferred waits for at most one slice per operation ahead of it, not for
// the whole megabyte. Reservations never overlap, so the device never moves more than
// `bytes_per_sec` however the timers wake. A wait shorter than `min_sleep_ns` is not slept (it
// still occupies the channel): this saves a timer for every small uncontended transfer (a 4 KiB
// transfer at 512 MiB/s is 7.6 µs), whose cost in a VM would otherwise dominate the benchmark.
//
// Stack it above a DelayDevice: transfer first, then the device's own latency.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>

#include "io/block_device.h"
#include "io/task.h"
#include "testing/timers.h"
#include "util/status.h"

namespace meshraid::bench {

class BandwidthDevice : public io::BlockDeviceWrapper {
 public:
  struct Options {
    uint64_t bytes_per_sec = uint64_t{1} << 30;
    uint64_t quantum_bytes = 64 * 1024;
    uint64_t min_sleep_ns = 10'000;
  };

  // `timers` must outlive the device and every operation.
  BandwidthDevice(std::unique_ptr<io::BlockDevice> target, testing::Timers& timers, Options o)
      : BlockDeviceWrapper(std::move(target)), timers_(timers), options_(o) {}

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    co_await Transfer(buf.size());
    co_return co_await target().Read(offset, buf);
  }
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override {
    co_await Transfer(buf.size());
    co_return co_await target().Write(offset, buf, flags);
  }

  uint64_t bytes_moved() const { return bytes_moved_; }

 private:
  io::Task<void> Transfer(uint64_t bytes) {
    bytes_moved_ += bytes;
    uint64_t now = timers_.NowNs();
    bool first = true;
    while (bytes > 0) {
      const uint64_t slice = std::min(bytes, options_.quantum_bytes);
      const uint64_t t = slice * 1'000'000'000 / options_.bytes_per_sec;
      // A new operation starts no earlier than now; a continuing one right where the channel
      // is free (which is never before the end of its own previous slice).
      const uint64_t start = first ? std::max(now, busy_until_) : busy_until_;
      first = false;
      busy_until_ = start + t;
      const uint64_t end = busy_until_;
      bytes -= slice;
      now = timers_.NowNs();
      if (end > now + options_.min_sleep_ns) {
        (void)co_await timers_.SleepUntil(end);
        now = timers_.NowNs();
      }
    }
  }

  testing::Timers& timers_;
  Options options_;
  uint64_t busy_until_ = 0;
  uint64_t bytes_moved_ = 0;
};

}  // namespace meshraid::bench
