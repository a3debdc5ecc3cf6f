// Barrier: MD's resync barriers, per 64 MiB bucket (RAID1's scheme, and meshraid's RAID10 port)
// or one global barrier for the whole array (stock RAID10, kept for comparison).
//
// Normal I/O enters before it is submitted to the members and exits when it completes. A sync
// window raises the barrier of its bucket: a write to that bucket waits until the barrier is
// lowered, a read does not (in global mode reads wait too, as in stock RAID10). I/O in any other
// bucket never waits. Normal I/O already waiting goes before a new barrier (MD's rule), and the
// sync engine asks HasWaiters() to yield to it. Freeze() drains the whole array (management
// operations); while frozen every new entry and raise waits.
//
// Every request handed to Enter*/Raise must lie inside one 64 MiB barrier unit (the array splits
// requests with ToUnitEnd). Runs on one reactor thread; waiters are resumed through the executor
// in FIFO order.
#pragma once

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/sync.h"
#include "io/task.h"

namespace meshraid::raid {

enum class BarrierMode { kBucket, kGlobal };

class Barrier {
 public:
  static constexpr uint64_t kUnitSectors = uint64_t{1} << 17;  // 64 MiB
  static constexpr size_t kBuckets = 1024;

  // MD's sector_to_idx: hash_64(sector >> 17, 10).
  static size_t BucketOf(uint64_t sector);
  // Sectors from `sector` to the end of its 64 MiB unit (at least 1).
  static uint64_t ToUnitEnd(uint64_t sector) { return kUnitSectors - sector % kUnitSectors; }

  explicit Barrier(io::Executor& executor, BarrierMode mode = BarrierMode::kBucket);
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;

  BarrierMode mode() const { return mode_; }
  // Only while nothing is entered, raised or waiting.
  void set_mode(BarrierMode m) { mode_ = m; }

  // Normal I/O. A write waits while its bucket's barrier is raised or the array is frozen; a
  // read waits only while frozen (in global mode, like a write). Exit() after completion.
  io::Task<void> EnterWrite(uint64_t sector);
  io::Task<void> EnterRead(uint64_t sector);
  void Exit(uint64_t sector);

  // Sync I/O. Raise waits until no normal I/O waits in the bucket, raises the barrier, then
  // waits until no normal I/O is pending in the bucket and the array is not frozen. Lower()
  // when the window's I/O is done. Several raises on one bucket may be held at once.
  io::Task<void> Raise(uint64_t sector);
  void Lower(uint64_t sector);
  // True when normal I/O waits on the bucket of `sector` (the sync engine yields to it).
  bool HasWaiters(uint64_t sector) const;

  // Blocks new entries and raises, then waits until every entered request has exited and every
  // raised barrier is lowered. Unfreeze() lets everything go on. Freezes do not nest.
  io::Task<void> Freeze();
  void Unfreeze();
  bool frozen() const { return frozen_; }

  struct Stats {
    uint64_t write_waits = 0;  // writes that had to wait (barrier or freeze)
    uint64_t read_waits = 0;   // reads that had to wait (freeze, or global barrier)
    uint64_t raises = 0;
  };
  const Stats& stats() const { return stats_; }
  uint64_t pending() const;  // normal I/O entered and not exited, all buckets

 private:
  struct Bucket {
    uint32_t pending = 0;  // normal I/O entered, not exited
    uint32_t waiting = 0;  // normal I/O waiting to enter
    uint32_t barrier = 0;  // raised sync windows
  };
  // EnterWrite/EnterRead: waits while frozen or (a write, or any I/O in global mode) while the
  // bucket's barrier is raised, then counts the I/O as pending.
  io::Task<void> Enter(uint64_t sector, bool read);
  size_t Index(uint64_t sector) const { return mode_ == BarrierMode::kGlobal ? 0 : BucketOf(sector); }
  // Re-evaluates every waiter (they re-check their condition when resumed).
  void WakeAll();
  // Suspends the caller until the next WakeAll().
  struct WaitAwaiter {
    Barrier& b;
    io::detail::WaitNode node;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      node.handle = h;
      b.waiters_.Push(&node);
    }
    void await_resume() const noexcept {}
  };
  WaitAwaiter Wait() { return WaitAwaiter{*this, {}}; }

  io::Executor& executor_;
  BarrierMode mode_;
  std::vector<Bucket> buckets_;
  uint32_t sync_pending_ = 0;  // raised barriers, all buckets
  bool frozen_ = false;
  Stats stats_;
  io::detail::WaitList waiters_;
};

}  // namespace meshraid::raid
