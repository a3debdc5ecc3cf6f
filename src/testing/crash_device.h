// CrashDevice: a device with a volatile write cache, for power-loss tests. The target holds
// the durable image; writes (and discards and write-zeroes) since the last completed Flush are
// kept here, in order, and reads see them on top of the target. Flush writes them through
// and flushes the target; FUA writes go straight through. Crash() is the power cut: each
// unflushed write survives or not (optionally block by block: torn writes), decided by a
// seeded generator, and from then on the device fails every op until Restart(). What survived
// is the target's content: DurableImage(), or a copy in a fresh MemDevice (CopyToMemDevice),
// or the device itself after Restart().
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "io/block_device.h"
#include "io/sync.h"
#include "io/task.h"
#include "testing/latency.h"
#include "testing/op.h"
#include "util/status.h"

namespace meshraid::testing {

struct CrashOptions {
  uint64_t seed = 1;
  double keep_probability = 0.5;  // each unflushed write (or block, when tearing) survives
  bool tear = false;              // decide per block of `tear_block_bytes`, not per write
  uint32_t tear_block_bytes = 0;  // 0: the logical block size
};

struct CrashReport {
  uint64_t writes_kept = 0;     // survived whole
  uint64_t writes_torn = 0;     // survived in part (tearing only)
  uint64_t writes_dropped = 0;  // lost whole
  uint64_t bytes_kept = 0;
  uint64_t bytes_dropped = 0;
};

class CrashDevice : public io::BlockDeviceWrapper {
 public:
  // `executor` (normally the reactor) resumes cached writes; it must outlive the device.
  CrashDevice(std::unique_ptr<io::BlockDevice> target, io::Executor& executor);
  ~CrashDevice() override;

  // Reads return the target's data overlaid with the cached writes. A write or discard or
  // write-zeroes without FUA checks its range, yields once to the executor, enters the cache
  // and completes: it is volatile until a Flush issued after its completion completes.
  // A FUA write (or FUA write-zeroes) is written to the target and is durable on completion,
  // superseding the older cached data it overlaps. Discard caches zeroes. Flush writes the
  // cached writes that completed before it was called to the target, oldest first, then
  // flushes the target. Ops after Crash() and before Restart() fail with ENODEV.
  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override;
  io::Task<Status> Flush() override;
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override;
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override;

  // Power loss. Fails all later ops (and ops still running here) at once, waits for a running
  // flush to stop, then writes the surviving part of the cache to the target, oldest first,
  // and empties the cache. A write that a flush had already passed to the target survives
  // (it reached the medium). Same cache and same seed: same outcome.
  io::Task<Status> Crash(CrashOptions options = {});
  // Power back on after Crash() completed: ops work again, on the surviving image.
  void Restart();
  bool crashed() const { return crashed_; }
  const CrashReport& last_crash() const { return report_; }

  // The durable image: the target, which never holds more than what would survive a crash
  // right now (reading it bypasses the cache).
  io::BlockDevice& DurableImage() { return target(); }
  // Cached (unflushed) writes and their bytes.
  size_t unflushed_writes() const { return cache_.size(); }
  uint64_t unflushed_bytes() const;

 private:
  // A cached write, immutable once cached (readers and flushes share it). A FUA write
  // replaces the pieces it overlaps with their uncovered remainders.
  struct Piece {
    uint64_t seq = 0;  // cache order
    uint64_t offset = 0;
    uint64_t length = 0;
    std::shared_ptr<const std::vector<uint8_t>> data = nullptr;  // null: zeroes
    uint64_t data_offset = 0;                                    // where `offset` is in `data`
  };
  using PiecePtr = std::shared_ptr<const Piece>;

  Status CheckOp(const char* op, uint64_t offset, uint64_t length) const;
  Status Down(const char* op) const;
  // Caches a write of `length` bytes (zeroes if `data` is null) after one yield.
  io::Task<Status> Cache(const char* op, uint64_t offset, uint64_t length,
                         std::shared_ptr<const std::vector<uint8_t>> data);
  // Writes to the target with FUA, then drops older cached data it superseded.
  io::Task<Status> WriteThrough(uint64_t offset, uint64_t length, std::span<const uint8_t> data);
  io::Task<Status> WritePiece(const Piece& p, uint64_t offset, uint64_t length);
  // Cuts [offset, offset + length) out of the pieces cached before `seq`.
  void Punch(uint64_t offset, uint64_t length, uint64_t seq);
  // Writes the blocks of `p` that survive, per CrashOptions; updates report_.
  io::Task<Status> Survive(const Piece& p, const CrashOptions& options, Rng& rng);

  io::Executor& executor_;
  io::Semaphore target_writes_;  // one writer of the target at a time: keeps overlaps ordered
  std::vector<PiecePtr> cache_;  // in seq order
  uint64_t next_seq_ = 1;
  bool crashed_ = false;
  bool crash_running_ = false;
  CrashReport report_;
};

}  // namespace meshraid::testing
