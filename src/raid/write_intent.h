// WriteIntent: MD's write-intent bitmap at run time, over the on-disk bitmap area (format/
// bitmap.h). One bit per chunk of array sectors ("copies may differ here").
//
// - StartWrite sets the bits of the chunks a write touches and returns once those bits are on
//   every member (the persist callback), so a crash can never leave an unmarked difference.
//   Concurrent writers share one bitmap write (MD's unplug).
// - EndWrite drops the chunk's in-flight count. Sweep(), run every daemon period, clears a bit
//   once its chunk has been idle for a whole period (so a bit is cleared one to two periods
//   after the last write, as in MD) and persists the cleared bits. While the array is degraded
//   no bit is cleared and events_cleared does not move, so that a failed member can later be
//   re-added with a recovery of only the chunks written meanwhile.
// - events/events_cleared: WriteHeader(events) is called before every superblock update (the
//   bitmap's events must never be older than the superblock's, or MD treats it as stale).
//   events_cleared becomes the array's events whenever a sweep clears a bit.
// - The sync engine asks Dirty(chunk) and, after copying a chunk, MarkSynced(chunk).
//
// Runs on one reactor thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "format/bitmap.h"
#include "io/sync.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::raid {

class WriteIntent {
 public:
  // Writes `bytes` at `offset` bytes into the bitmap area of every member that carries it.
  // `offset` and the size are multiples of the block size given to Load.
  using PersistFn = std::function<io::Task<Status>(uint64_t offset, std::span<const uint8_t> bytes)>;

  // `area` is the on-disk bitmap area as read from an in-sync member: the 256-byte bitmap
  // superblock, the bits, and the fill after them; at least TotalBytes() rounded up to `block`
  // (a power of two >= 512: the members' logical block size). `md_events` is the array's
  // events: a bitmap whose events are older, or marked stale, is loaded with every bit set
  // (MD's rule). Errors: the area does not decode or is too short.
  static Result<WriteIntent> Load(io::Executor& executor, std::vector<uint8_t> area,
                                  uint32_t block, uint64_t md_events, PersistFn persist);

  WriteIntent(WriteIntent&&) = default;

  const format::BitmapSuper& super() const { return super_; }
  uint64_t chunks() const { return super_.Chunks(); }
  uint64_t chunk_sectors() const { return super_.ChunkSectors(); }
  uint64_t ChunkOf(uint64_t sector) const { return sector / chunk_sectors(); }
  // Seconds between sweeps (bitmap daemon_sleep).
  uint32_t daemon_sleep_seconds() const { return super_.daemon_sleep; }

  // Marks the chunks of [sector, sector + sectors) dirty and waits until the bits are on disk.
  // An error means the bits may not be persisted: the write must not be submitted.
  io::Task<Status> StartWrite(uint64_t sector, uint64_t sectors);
  // The write of [sector, sector + sectors) completed (successfully or not).
  void EndWrite(uint64_t sector, uint64_t sectors);

  // One daemon pass: clears bits of chunks idle since the previous pass (none while
  // `degraded`), sets events_cleared = `md_events` if any bit was cleared, and persists what
  // changed. Returns the number of bits cleared.
  io::Task<Result<uint64_t>> Sweep(bool degraded, uint64_t md_events);

  // Sets the bitmap superblock's events and persists the first block (before a superblock
  // update).
  io::Task<Status> WriteHeader(uint64_t md_events);

  // Sync bookkeeping. Dirty: the chunk's bit is set (in memory). MarkSynced: the chunk was
  // copied and no write is in flight there; its bit is cleared at the next persist (a later
  // Sweep). SetAll: every chunk needs a sync (e.g. a stale bitmap, a new member).
  bool Dirty(uint64_t chunk) const { return bits_.Test(chunk); }
  void MarkSynced(uint64_t chunk);
  void SetAll();
  uint64_t DirtyCount() const { return bits_.CountSet(); }
  // The in-memory image of the whole bitmap area (written in full to a new or re-added member).
  const std::vector<uint8_t>& image() const { return area_; }
  // The array grew to `sync_size` sectors (a reshape completed): the bitmap covers them with
  // the same chunk size and the new chunks are dirty (their copies were never written alike;
  // MD resyncs new space too). Persisted by the next Flush. kNoSpace (nothing changed) when the
  // bitmap would need more than `max_bytes`. Only while no write is in flight.
  Status Grow(uint64_t sync_size, uint64_t max_bytes);
  // Bytes the bitmap needs for `sync_size` sectors with this chunk size (header included).
  uint64_t BytesFor(uint64_t sync_size) const;

  // Persists every changed block now (after MarkSynced calls, at a sync checkpoint).
  io::Task<Status> Flush();

  struct Stats {
    uint64_t persists = 0;       // calls of the persist callback
    uint64_t bytes_written = 0;  // bytes handed to it
    uint64_t bits_set = 0;
    uint64_t bits_cleared = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct PersistRun;  // one bitmap write in progress (write_intent.cc)

  WriteIntent(io::Executor& executor, uint32_t block, PersistFn persist);

  uint64_t BlockOf(uint64_t chunk) const { return (format::kBitmapHeaderSize + chunk / 8) / block_; }
  uint64_t MarkChanged(uint64_t block, bool sets_bits);
  void SetBit(uint64_t chunk);
  void ClearBit(uint64_t chunk);
  void EncodeHeader();
  // Returns once every change up to `need` is on disk (or a persist covering it failed).
  io::Task<Status> WaitDurable(uint64_t need);
  // Writes every changed block; only while no other persist runs.
  io::Task<Status> PersistChanged();

  io::Executor* executor_;
  uint32_t block_ = 512;
  PersistFn persist_;
  format::BitmapSuper super_;
  format::BitmapBits bits_{0};
  std::vector<uint8_t> area_;       // in-memory image of the area (header, bits, fill)
  std::vector<uint32_t> inflight_;  // per chunk: writes in flight
  std::vector<uint8_t> touched_;    // per chunk: written since the previous sweep
  std::vector<uint64_t> block_changed_;  // per block: change sequence not yet persisted (0: none)
  std::vector<uint64_t> block_set_seq_;  // per block: latest change that set a bit (0: none)
  uint64_t change_seq_ = 0;    // bumped by every in-memory change
  uint64_t durable_seq_ = 0;   // every change up to here is on disk
  std::shared_ptr<PersistRun> current_;  // the persist running now, if any; others wait for it
  Stats stats_;
};

}  // namespace meshraid::raid
