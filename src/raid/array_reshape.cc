// Growing the stripe width of a running RAID10 near array (MD's forward reshape). doc/reshape.md.
//
// Start: spares take the new slots, every superblock records RESHAPE_ACTIVE at position 0 with
// the new layout, and each member's data is to move down by offset_change (NEW_OFFSET).
// The move (sync thread): window by window from array sector 0, each under its bucket's barrier,
// read one old-layout copy and write every new-layout copy. A window may only run as far as
// ReshapeGeometry::SafeEnd(checkpoint): before going further the position is checkpointed in
// the superblocks (after a flush of the moved data). A restart resumes from the checkpoint;
// sectors moved after it are moved again from their old copies, which are intact: nothing
// writes over them before a checkpoint passes them, and a foreground write to such a sector
// goes to both layouts. End: the members' data offsets move, the array takes the new geometry
// and size, and the new space is resynced.
#include <fmt/format.h>

#include <algorithm>

#include "io/when_all.h"
#include "raid/array.h"

namespace meshraid::raid {

void Array::ApplyReshapeFields(format::Superblock& sb) const {
  constexpr uint32_t kBits = format::kFeatureReshapeActive | format::kFeatureNewOffset;
  if (!reshape_) {
    sb.feature_map &= ~kBits;
    sb.reshape_position = 0;
    sb.delta_disks = 0;
    sb.new_level = 0;
    sb.new_layout = 0;
    sb.new_chunk = 0;
    sb.new_offset = 0;
    return;
  }
  const layout::ReshapeGeometry& r = reshape_->geometry;
  sb.feature_map |= kBits;
  sb.reshape_position = reshape_sb_position_;
  sb.level = r.old_geo.level();
  sb.layout = r.old_geo.raid10().Word();
  sb.chunksize = uint32_t(r.old_geo.chunk_sectors());
  sb.raid_disks = uint32_t(r.new_geo.raid_disks());
  sb.delta_disks = r.new_geo.raid_disks() - r.old_geo.raid_disks();
  sb.new_level = uint32_t(r.new_geo.level());
  sb.new_layout = r.new_geo.raid10().Word();
  sb.new_chunk = uint32_t(r.new_geo.chunk_sectors());
  sb.new_offset = -int32_t(r.offset_change);
}

uint64_t Array::LowestDataOffset(uint64_t array_sectors) const {
  uint64_t low = 0;
  for (const Member& m : members_) {
    if (!HasSuperblock(m)) continue;
    const format::Superblock& sb = m.metadata.sb;
    const int64_t start = int64_t(m.metadata.sb_sector);
    low = std::max<uint64_t>(low, uint64_t(start) + 72);  // MD's allow_new_offset floor
    if (bitmap_ && sb.Has(format::kFeatureBitmapOffset)) {
      const uint64_t bytes = bitmap_->BytesFor(array_sectors);
      low = std::max<uint64_t>(low, uint64_t(start + sb.bitmap_offset) + (bytes + 511) / 512);
    }
    if (sb.bblog_size > 0) {
      low = std::max<uint64_t>(low, uint64_t(start + sb.bblog_offset) + sb.bblog_size);
    }
  }
  return low;
}

io::Task<Status> Array::Reshape(int new_raid_disks, uint64_t new_chunk_sectors) {
  // Drain all I/O: the mapping and the slots change under no request.
  co_await barrier_.Freeze();
  co_await md_lock_.Acquire();
  Status s = co_await ReshapeLocked(new_raid_disks, new_chunk_sectors);
  md_lock_.Release();
  barrier_.Unfreeze();
  if (s.ok()) {
    sync_requested_ = SyncAction::kReshape;  // runs even when sync does not start by itself
    KickSync();
  }
  co_return s;
}

io::Task<Status> Array::ReshapeLocked(int new_raid_disks, uint64_t new_chunk_sectors) {
  const std::string what = fmt::format("reshape to {} members", new_raid_disks);
  auto refuse = [&what](std::string why) {
    return Status::FailedPrecondition(fmt::format("{} refused: {}", what, why));
  };
  if (broken_) co_return refuse("the array is broken");
  if (reshape_) {
    co_return refuse(fmt::format("a reshape is already in progress (position {})", reshape_pos_));
  }
  if (sync_running_ && progress_.action != SyncAction::kIdle) {
    co_return refuse(fmt::format("{} is running", SyncActionName(progress_.action)));
  }
  if (resync_offset_ != format::kMaxSector) co_return refuse("the array needs a resync first");
  if (degraded() > 0) co_return refuse(fmt::format("the array is degraded ({} slots missing)", degraded()));
  std::vector<size_t> spares;
  uint64_t data_offset = 0;
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& m = members_[i];
    if (m.state == MemberState::kRecovering) {
      co_return refuse(fmt::format("{} is being rebuilt", m.metadata.path));
    }
    if (!HasSuperblock(m)) continue;
    if (m.state == MemberState::kSpare) spares.push_back(i);
    if (data_offset == 0) data_offset = m.metadata.sb.data_offset;
    if (m.metadata.sb.data_offset != data_offset) {
      co_return refuse(fmt::format("members have different data offsets ({} and {} on {})",
                                   data_offset, m.metadata.sb.data_offset, m.metadata.path));
    }
  }
  const int add = new_raid_disks - geometry_.raid_disks();
  if (add > 0 && spares.size() < size_t(add)) {
    co_return refuse(fmt::format("{} more members are needed and the array has {} spare(s) (add "
                                 "them first: manage --add)",
                                 add, spares.size()));
  }
  // The planner needs the new size for the bitmap's room: plan once to learn it.
  auto first = layout::PlanGrow(geometry_, new_raid_disks, new_chunk_sectors, data_offset, 0);
  if (!first.ok()) co_return first.status();
  const uint64_t new_sectors = first->new_geo.ArraySectors();
  auto plan = layout::PlanGrow(geometry_, new_raid_disks, new_chunk_sectors, data_offset,
                               LowestDataOffset(new_sectors));
  if (!plan.ok()) co_return plan.status();
  if (bitmap_) {
    // The bitmap grows at the end into the room below the new data offset.
    const Member& m = members_[spares.empty() ? size_t(slot_member_[0]) : spares[0]];
    const int64_t bm = int64_t(m.metadata.sb_sector) + m.metadata.sb.bitmap_offset;
    const uint64_t room = (data_offset - plan->offset_change - uint64_t(bm)) * 512;
    if (bitmap_->BytesFor(new_sectors) > room) {
      co_return refuse(fmt::format("the bitmap would need {} bytes and has {} below the new data "
                                   "offset", bitmap_->BytesFor(new_sectors), room));
    }
  }
  if (plan->new_geo.chunk_sectors() > Barrier::kUnitSectors) {
    co_return refuse("the chunk is larger than a 64 MiB barrier unit");
  }

  // Commit: spares take the new slots (they hold no data of the old layout and receive the
  // new layout's by the move, so they are in sync from the start, as in MD).
  const int old_disks = geometry_.raid_disks();
  slot_member_.resize(size_t(new_raid_disks), -1);
  read_state_.resize(size_t(new_raid_disks));
  for (int slot = old_disks; slot < new_raid_disks; ++slot) {
    Member& m = members_[spares[size_t(slot - old_disks)]];
    m.slot = slot;
    m.state = MemberState::kInSync;
    slot_member_[size_t(slot)] = int(spares[size_t(slot - old_disks)]);
    read_state_[size_t(slot)].readable = true;
  }
  geometry_ = plan->new_geo;
  reshape_ = ReshapePlan{*plan, 0};
  reshape_pos_ = reshape_sb_position_ = 0;
  RebuildSlots();
  Status s = co_await WriteSuperblocks();
  if (!s.ok()) co_return s.WithPrefix(what);
  Log(fmt::format("{} started: chunk {} sectors, data offset moves down {} sectors, {} sectors "
                  "to move", what, plan->new_geo.chunk_sectors(), plan->offset_change,
                  plan->MoveSectors()));
  co_return Status::Ok();
}

// The windows in flight of a running reshape. They retire in order: a window that completes
// waits for its predecessor, then moves the live position to its end and lowers its barrier,
// so no write can reach the old copies of a window already copied.
struct Array::ReshapeFlight {
  ReshapeFlight(io::Executor& ex, uint32_t depth)
      : slots(ex, depth), gate(ex), turn(ex), depth(depth) {}
  io::Semaphore slots;
  io::Gate gate;
  io::Event turn;          // set whenever a window retires
  uint32_t depth;
  uint64_t next_ticket = 0;
  uint64_t retired = 0;    // windows retired, in ticket order
  uint64_t in_flight = 0;  // sectors
  Status failed;           // the first window error; the position stops before that window
  // Waits until every window in flight retired.
  io::Task<void> Drain() {
    for (uint32_t i = 0; i < depth; ++i) co_await slots.Acquire();
    for (uint32_t i = 0; i < depth; ++i) slots.Release();
  }
};

// The window's barrier is raised (by RunReshape, in window order).
io::Task<void> Array::ReshapeSlide(ReshapeFlight& f, uint64_t at, uint64_t n, uint64_t ticket) {
  Status s;  // (no co_await inside ?:, a GCC 12 bug)
  if (f.failed.ok()) s = co_await ReshapeWindow(at, n, ticket);
  while (f.retired != ticket) {
    f.turn.Reset();
    co_await f.turn.Wait();
  }
  if (!s.ok() && f.failed.ok()) f.failed = s;
  if (f.failed.ok()) progress_.done_sectors = reshape_pos_ = at + n;
  barrier_.Lower(at);
  ++f.retired;
  f.in_flight -= n;
  f.turn.Set();
  f.slots.Release();
}

io::Task<Status> Array::RunReshape() {
  const layout::ReshapeGeometry& r = reshape_->geometry;
  const uint64_t total = r.MoveSectors();
  const uint64_t chunk = r.new_geo.chunk_sectors();
  const uint64_t window = std::max(chunk, options_.sync.window_sectors / chunk * chunk);
  uint64_t pos = reshape_pos_;  // where the next window starts
  progress_.action = SyncAction::kReshape;
  progress_.done_sectors = pos;
  progress_.total_sectors = total;
  sync_marks_ns_[0] = sync_marks_ns_[1] = clock_.NowNs();
  sync_marks_done_[0] = sync_marks_done_[1] = pos;
  Log(fmt::format("reshape running from sector {} of {}", pos, total));
  uint64_t last_checkpoint = clock_.NowNs();
  uint64_t fg = foreground_ios_;
  ReshapeFlight flight(executor_, std::max<uint32_t>(options_.sync.depth, 1));
  Status s;
  while (pos < total && !SyncInterrupted() && flight.failed.ok()) {
    uint64_t n = std::min({window, total - pos, Barrier::ToUnitEnd(pos)});
    const bool due = clock_.NowNs() - last_checkpoint >= options_.sync.checkpoint_ns;
    // Beyond SafeEnd the position must be on disk first (at least one window fits after a
    // checkpoint: layout/reshape_test.cc).
    if (pos + n > r.SafeEnd(reshape_->position) || (due && pos > reshape_->position)) {
      co_await flight.Drain();
      if (!flight.failed.ok()) break;
      s = co_await ReshapeCheckpoint(reshape_pos_);
      if (!s.ok()) break;
      last_checkpoint = clock_.NowNs();
      n = std::min(n, r.SafeEnd(reshape_->position) - pos);
    }
    co_await Throttle(n);
    if (ForegroundBackOff(&fg, flight.in_flight)) co_await flight.Drain();
    co_await flight.slots.Acquire();
    // Raised here, in window order: a window raised before an older one would wait for its
    // turn while the older one's raise waits for the writes the younger holds back. Several
    // windows of one bucket may be raised at once; each raise lets the writes already waiting
    // go first (MD's rule), so a write waits for about one window.
    co_await barrier_.Raise(pos);
    flight.in_flight += n;
    io::Spawn(flight.gate, ReshapeSlide(flight, pos, n, flight.next_ticket++));
    pos += n;
  }
  co_await flight.Drain();
  co_await flight.gate.Close();
  if (!flight.failed.ok() || !s.ok()) {
    if (!s.ok()) co_return s;
    co_await ReshapeCheckpoint(reshape_pos_);  // keeps what was moved; the error is what counts
    co_return flight.failed.WithPrefix(fmt::format("reshape at array sector {}", reshape_pos_));
  }
  if (reshape_pos_ < total) {
    MESHRAID_CO_RETURN_IF_ERROR(co_await ReshapeCheckpoint(reshape_pos_));
    Log(fmt::format("reshape interrupted at sector {}", reshape_pos_));
    co_return Status::Ok();
  }
  co_return co_await FinishReshape();
}

// One window: read an old-layout copy (copy `index` mod copies first, so that windows in flight
// read from different members), write every new-layout copy. The caller holds the bucket's
// barrier (writes to the window wait; reads may go on reading the old copies).
io::Task<Status> Array::ReshapeWindow(uint64_t sector, uint64_t sectors, uint64_t index) {
  const layout::ReshapeGeometry& r = reshape_->geometry;
  std::vector<uint8_t> data(sectors * 512);
  Status out;
  for (uint64_t v = sector; v < sector + sectors && out.ok();) {
    const uint64_t n = std::min(sector + sectors - v, r.old_geo.ContiguousSectors(v));
    std::span<uint8_t> buf(data.data() + (v - sector) * 512, n * 512);
    out = Status::IoError(fmt::format("no readable old copy of array sectors {}+{}", v, n));
    std::vector<layout::Copy> copies = r.old_geo.Map(v);
    std::rotate(copies.begin(), copies.begin() + long(index % copies.size()), copies.end());
    for (const layout::Copy& c : copies) {
      const int input = SlotMember(c.disk);
      if (input < 0) continue;
      Member& m = members_[size_t(input)];
      Status s = co_await m.device->Read(MemberByteOffset(m, c.sector, false), buf);
      if (s.ok()) {
        out = Status::Ok();
        break;
      }
      Log(fmt::format("reshape: read of {} failed: {}", m.metadata.path, s.message()));
    }
    v += n;
  }
  if (out.ok()) {
    std::vector<io::Task<Status>> writes;
    std::vector<size_t> targets;
    for (uint64_t v = sector; v < sector + sectors;) {
      const uint64_t n = std::min(sector + sectors - v, r.new_geo.ContiguousSectors(v));
      std::span<const uint8_t> buf(data.data() + (v - sector) * 512, n * 512);
      for (const layout::Copy& c : r.new_geo.Map(v)) {
        for (size_t input : slot_writers_[size_t(c.disk)]) {
          Member& m = members_[input];
          writes.push_back(m.device->Write(MemberByteOffset(m, c.sector, true), buf));
          targets.push_back(input);
        }
      }
      v += n;
    }
    std::vector<Status> results = co_await io::WhenAll(std::move(writes));
    for (size_t k = 0; k < results.size(); ++k) {
      if (results[k].ok()) continue;
      out.Update(co_await FailMember(targets[k], "reshape write: " + results[k].message()));
    }
  }
  co_return out;
}

// Records `position` in the superblocks (the moved data is flushed first, by WriteSuperblocks),
// then waits for the writes that still went to old copies below it.
io::Task<Status> Array::ReshapeCheckpoint(uint64_t position) {
  co_await md_lock_.Acquire();
  reshape_sb_position_ = position;
  Status s = co_await WriteSuperblocks();
  if (s.ok()) reshape_->position = position;
  md_lock_.Release();
  if (!s.ok()) co_return s.WithPrefix("reshape checkpoint");
  const size_t gen = dual_gen_++ & 1;
  while (dual_in_flight_[gen] > 0) {
    dual_idle_.Reset();
    co_await dual_idle_.Wait();
  }
  co_return Status::Ok();
}

// Everything moved: the members' data now starts offset_change lower, the array takes the new
// geometry and size, and the new space needs a resync (its copies were never written alike).
io::Task<Status> Array::FinishReshape() {
  co_await barrier_.Freeze();
  co_await md_lock_.Acquire();
  const layout::ReshapeGeometry r = reshape_->geometry;
  for (Member& m : members_) {
    format::Superblock& sb = m.metadata.sb;
    sb.data_offset -= r.offset_change;
    if (sb.data_size != 0) sb.data_size += r.offset_change;
    sb.level = r.new_geo.level();
    sb.layout = r.new_geo.raid10().Word();
    sb.chunksize = uint32_t(r.new_geo.chunk_sectors());
    sb.raid_disks = uint32_t(r.new_geo.raid_disks());
  }
  reference_.level = r.new_geo.level();
  reference_.layout = r.new_geo.raid10().Word();
  reference_.chunksize = uint32_t(r.new_geo.chunk_sectors());
  reference_.raid_disks = uint32_t(r.new_geo.raid_disks());
  reshape_.reset();
  reshape_pos_ = 0;
  const uint64_t old_size = r.MoveSectors(), new_size = r.new_geo.ArraySectors();
  Status s;
  if (bitmap_) {
    // Room up to the new data offset (checked at the start, LowestDataOffset).
    uint64_t room = ~uint64_t{0};
    for (const Member& m : members_) {
      if (!HasSuperblock(m)) continue;
      const int64_t bm = int64_t(m.metadata.sb_sector) + m.metadata.sb.bitmap_offset;
      room = std::min(room, (m.metadata.sb.data_offset - uint64_t(bm)) * 512);
    }
    s = bitmap_->Grow(new_size, room);
    resync_chunks_.resize(bitmap_->chunks(), true);
  }
  resync_offset_ = std::min(resync_offset_, old_size);
  info_.size_bytes = new_size * 512;
  if (s.ok()) s = co_await WriteSuperblocks();
  if (s.ok() && bitmap_) s = co_await bitmap_->Flush();
  md_lock_.Release();
  barrier_.Unfreeze();
  MESHRAID_CO_RETURN_IF_ERROR(s.WithPrefix("reshape end"));
  Log(fmt::format("reshape done: {} members, array size {} sectors (was {}); the new space is "
                  "resynced", r.new_geo.raid_disks(), new_size, old_size));
  co_return Status::Ok();
}

}  // namespace meshraid::raid
