#include "raid/write_intent.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cassert>

namespace meshraid::raid {

// One persist: the change sequence it makes durable, and its outcome for the writers waiting
// on it. Shared, so that a waiter still reads the outcome after the next persist has started.
struct WriteIntent::PersistRun {
  PersistRun(io::Executor& executor, uint64_t snapshot) : done(executor), snapshot(snapshot) {}
  io::Event done;
  uint64_t snapshot;
  Status status;
};

namespace {
// Whether [sector, sector + sectors) lies within the sectors the bitmap covers.
bool Covers(const format::BitmapSuper& s, uint64_t sector, uint64_t sectors) {
  return sector < s.sync_size && sectors <= s.sync_size - sector;
}
}  // namespace

WriteIntent::WriteIntent(io::Executor& executor, uint32_t block, PersistFn persist)
    : executor_(&executor), block_(block), persist_(std::move(persist)) {}

Result<WriteIntent> WriteIntent::Load(io::Executor& executor, std::vector<uint8_t> area,
                                      uint32_t block, uint64_t md_events, PersistFn persist) {
  if (block < 512 || !std::has_single_bit(block)) {
    return Status::InvalidArgument(
        fmt::format("bitmap block size {} is not a power of two >= 512", block));
  }
  MESHRAID_ASSIGN_OR_RETURN(format::BitmapSuper super, format::DecodeBitmapSuper(area));
  super.state &= ~format::kBitmapRuntimeBits;
  const uint64_t size = (super.TotalBytes() + block - 1) / block * block;
  if (area.size() < size) {
    return Status::InvalidArgument(
        fmt::format("bitmap area is {} bytes, needs {} ({} bytes of bitmap in {}-byte blocks)",
                    area.size(), size, super.TotalBytes(), block));
  }
  area.resize(size);  // never write past the blocks that hold the bitmap
  MESHRAID_ASSIGN_OR_RETURN(
      format::BitmapBits bits,
      format::BitmapBits::Decode(std::span<const uint8_t>(area).subspan(format::kBitmapHeaderSize),
                                 super.Chunks()));

  WriteIntent wi(executor, block, std::move(persist));
  const uint64_t chunks = super.Chunks();
  wi.super_ = super;
  wi.bits_ = std::move(bits);
  wi.area_ = std::move(area);
  wi.inflight_.assign(chunks, 0);
  wi.touched_.assign(chunks, 0);
  wi.block_changed_.assign(size / block, 0);
  wi.block_set_seq_.assign(size / block, 0);
  wi.EncodeHeader();  // the runtime state bits are not written back
  if (wi.super_.events < md_events || (wi.super_.state & format::kBitmapStale) != 0) {
    // MD's rule: a stale bitmap says nothing, so every chunk needs a sync. The flag itself is
    // dropped: once the bits are all set and persisted, the bitmap is trustworthy again.
    wi.super_.state &= ~format::kBitmapStale;
    wi.EncodeHeader();
    wi.MarkChanged(0, false);
    wi.SetAll();
  }
  return wi;
}

uint64_t WriteIntent::BytesFor(uint64_t sync_size) const {
  format::BitmapSuper b = super_;
  b.sync_size = sync_size;
  return b.TotalBytes();
}

Status WriteIntent::Grow(uint64_t sync_size, uint64_t max_bytes) {
  const uint64_t old_chunks = chunks();
  if (sync_size <= super_.sync_size) return Status::Ok();
  const uint64_t size = (BytesFor(sync_size) + block_ - 1) / block_ * block_;
  if (size > max_bytes) {
    return Status::NoSpace(fmt::format(
        "the bitmap needs {} bytes for {} sectors in {}-sector chunks; its area holds {}",
        size, sync_size, chunk_sectors(), max_bytes));
  }
  super_.sync_size = sync_size;
  const uint64_t n = chunks();
  format::BitmapBits bits(n);
  for (uint64_t c = 0; c < old_chunks; ++c) {
    if (bits_.Test(c)) bits.Set(c);
  }
  bits_ = std::move(bits);
  area_.resize(std::max<uint64_t>(size, area_.size()), format::kBitmapFillByte);
  inflight_.resize(n, 0);
  touched_.resize(n, 0);
  block_changed_.resize(area_.size() / block_, 0);
  block_set_seq_.resize(area_.size() / block_, 0);
  EncodeHeader();
  MarkChanged(0, false);
  for (uint64_t c = old_chunks; c < n; ++c) SetBit(c);
  return Status::Ok();
}

uint64_t WriteIntent::MarkChanged(uint64_t block, bool sets_bits) {
  const uint64_t seq = ++change_seq_;
  block_changed_[block] = seq;
  if (sets_bits) block_set_seq_[block] = seq;
  return seq;
}

void WriteIntent::SetBit(uint64_t chunk) {
  bits_.Set(chunk);
  area_[format::kBitmapHeaderSize + chunk / 8] |= uint8_t(1u << (chunk % 8));
  MarkChanged(BlockOf(chunk), true);
  ++stats_.bits_set;
}

void WriteIntent::ClearBit(uint64_t chunk) {
  bits_.Clear(chunk);
  area_[format::kBitmapHeaderSize + chunk / 8] &= uint8_t(~(1u << (chunk % 8)));
  MarkChanged(BlockOf(chunk), false);
  ++stats_.bits_cleared;
}

void WriteIntent::EncodeHeader() {
  const std::vector<uint8_t> header = format::EncodeBitmapSuper(super_);
  std::copy(header.begin(), header.end(), area_.begin());
}

io::Task<Status> WriteIntent::StartWrite(uint64_t sector, uint64_t sectors) {
  if (sectors == 0) co_return Status::Ok();
  if (!Covers(super_, sector, sectors)) {  // not counted: EndWrite ignores it too
    co_return Status::InvalidArgument(fmt::format(
        "write of sectors [{}, {}) is past the bitmap's {} sectors", sector, sector + sectors,
        super_.sync_size));
  }
  const uint64_t first = ChunkOf(sector);
  const uint64_t last = ChunkOf(sector + sectors - 1);
  // The writer needs its own new bits on disk, and also bits another writer set but whose
  // persist has not finished yet (the write must not overtake them). Pending clears do not
  // matter to it, hence the separate set sequence.
  uint64_t need = 0;
  for (uint64_t c = first; c <= last; ++c) {
    ++inflight_[c];
    touched_[c] = 1;
    if (!bits_.Test(c)) SetBit(c);
    need = std::max(need, block_set_seq_[BlockOf(c)]);
  }
  if (need <= durable_seq_) co_return Status::Ok();  // fast path: all on disk already
  // On error the write stays counted in flight until the caller's EndWrite; its bits stay set
  // in memory and go out with the next persist.
  co_return co_await WaitDurable(need);
}

void WriteIntent::EndWrite(uint64_t sector, uint64_t sectors) {
  if (sectors == 0 || !Covers(super_, sector, sectors)) return;
  for (uint64_t c = ChunkOf(sector); c <= ChunkOf(sector + sectors - 1); ++c) {
    assert(inflight_[c] > 0 && "EndWrite without StartWrite");
    --inflight_[c];
  }
}

io::Task<Result<uint64_t>> WriteIntent::Sweep(bool degraded, uint64_t md_events) {
  uint64_t cleared = 0;
  for (uint64_t c = 0; c < chunks(); ++c) {
    if (inflight_[c] > 0) continue;  // stays touched: not idle for the coming period either
    // Idle for a whole period (untouched since the previous sweep). While degraded every bit
    // stays, for the re-add of the failed member (the caller also passes `degraded` while a
    // resync is pending, which keeps bits loaded from disk until they are copied).
    if (!degraded && !touched_[c] && bits_.Test(c)) {
      ClearBit(c);
      ++cleared;
    }
    touched_[c] = 0;
  }
  if (cleared > 0) {
    super_.events_cleared = md_events;
    EncodeHeader();
    MarkChanged(0, false);
  }
  Status st = co_await WaitDurable(change_seq_);
  if (!st.ok()) co_return st;
  co_return cleared;
}

io::Task<Status> WriteIntent::WriteHeader(uint64_t md_events) {
  super_.events = md_events;
  EncodeHeader();
  const uint64_t seq = MarkChanged(0, false);
  co_return co_await WaitDurable(seq);
}

void WriteIntent::MarkSynced(uint64_t chunk) {
  assert(chunk < chunks());
  // A write in flight may have raced with the copy: keep the bit.
  if (inflight_[chunk] == 0 && bits_.Test(chunk)) ClearBit(chunk);
}

void WriteIntent::SetAll() {
  for (uint64_t c = 0; c < chunks(); ++c) {
    if (!bits_.Test(c)) SetBit(c);
  }
}

io::Task<Status> WriteIntent::Flush() { co_return co_await WaitDurable(change_seq_); }

io::Task<Status> WriteIntent::WaitDurable(uint64_t need) {
  while (durable_seq_ < need) {
    if (!current_) {
      MESHRAID_CO_RETURN_IF_ERROR(co_await PersistChanged());
      continue;
    }
    // Whether or not that persist holds our changes, the next one may start only after it.
    std::shared_ptr<PersistRun> run = current_;
    co_await run->done.Wait();
    // It failed with our changes in it: we share its error. Changes made after its snapshot
    // get a persist of their own (which may well succeed).
    if (!run->status.ok() && need <= run->snapshot && durable_seq_ < need) co_return run->status;
  }
  co_return Status::Ok();
}

io::Task<Status> WriteIntent::PersistChanged() {
  assert(!current_);
  const uint64_t snapshot = change_seq_;
  struct BlockRun {
    uint64_t first, end;  // blocks
  };
  std::vector<BlockRun> runs;
  for (uint64_t b = 0; b < block_changed_.size(); ++b) {
    if (block_changed_[b] == 0) continue;
    if (!runs.empty() && runs.back().end == b) {
      ++runs.back().end;
    } else {
      runs.push_back(BlockRun{b, b + 1});
    }
  }
  if (runs.empty()) {  // every change is on disk already
    durable_seq_ = std::max(durable_seq_, snapshot);
    co_return Status::Ok();
  }

  auto run = std::make_shared<PersistRun>(*executor_, snapshot);
  current_ = run;
  // Write a copy taken now: bits changed while the members write must not reach some members
  // and not others, and what is written is exactly the state at `snapshot`.
  std::vector<uint8_t> copy;
  for (const BlockRun& r : runs) {
    copy.insert(copy.end(), area_.begin() + ptrdiff_t(r.first * block_),
                area_.begin() + ptrdiff_t(r.end * block_));
  }
  Status st;
  size_t pos = 0;
  for (const BlockRun& r : runs) {
    const size_t len = (r.end - r.first) * block_;
    const std::span<const uint8_t> bytes(copy.data() + pos, len);
    pos += len;
    ++stats_.persists;
    stats_.bytes_written += len;
    st = co_await persist_(r.first * block_, bytes);
    if (!st.ok()) break;
  }
  if (st.ok()) {
    // Blocks changed again after the snapshot stay changed for the next persist. (The set
    // sequences need no reset: one <= durable_seq_ is on disk.)
    for (const BlockRun& r : runs) {
      for (uint64_t b = r.first; b < r.end; ++b) {
        if (block_changed_[b] <= snapshot) block_changed_[b] = 0;
      }
    }
    durable_seq_ = std::max(durable_seq_, snapshot);
  }
  run->status = st;
  current_.reset();
  run->done.Set();
  co_return st;
}

}  // namespace meshraid::raid
