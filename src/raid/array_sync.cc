// The array's sync thread (MD's md_do_sync): resync after an unclean shutdown, recovery of
// members being rebuilt, check and repair; and the write-intent bitmap's daemon. Each sync
// window raises the barrier of its 64 MiB bucket, so only writes to that bucket wait for it.
#include <algorithm>

#include <fmt/format.h>

#include "io/when_all.h"
#include "raid/array.h"

namespace meshraid::raid {

void Array::KickSync() {
  if (sync_running_ || closing_ || sync_frozen_ || broken_) return;
  if (!options_.sync.autostart && sync_requested_ == SyncAction::kIdle) return;
  sync_running_ = true;
  sync_interrupt_ = false;
  sync_idle_.Reset();
  io::Spawn(gate_, SyncThread());
}

Status Array::RequestSync(SyncAction a) {
  switch (a) {
    case SyncAction::kIdle:
      if (sync_running_) sync_interrupt_ = true;
      sync_requested_ = SyncAction::kIdle;
      return Status::Ok();
    case SyncAction::kCheck:
    case SyncAction::kRepair:
      if (sync_running_ && progress_.action != SyncAction::kIdle) {
        return Status::FailedPrecondition(fmt::format(
            "cannot start {}: {} is running", SyncActionName(a), SyncActionName(progress_.action)));
      }
      if (resync_offset_ != format::kMaxSector) {
        return Status::FailedPrecondition(
            fmt::format("cannot start {}: the array needs a resync first", SyncActionName(a)));
      }
      if (reshape_) {
        return Status::FailedPrecondition(fmt::format(
            "cannot start {}: a reshape is in progress (position {})", SyncActionName(a),
            reshape_pos_));
      }
      [[fallthrough]];
    case SyncAction::kResync:
    case SyncAction::kRecover:
    case SyncAction::kReshape:
      if (sync_frozen_) return Status::FailedPrecondition("sync is frozen (action idle unfreezes)");
      sync_requested_ = a;
      KickSync();
      return Status::Ok();
  }
  return Status::InvalidArgument("unknown sync action");
}

void Array::SetSyncFrozen(bool frozen) {
  sync_frozen_ = frozen;
  if (frozen && sync_running_) sync_interrupt_ = true;
  if (!frozen) KickSync();
}

SyncProgress Array::sync_progress() const {
  SyncProgress p = progress_;
  p.frozen = sync_frozen_;
  uint64_t dt = clock_.NowNs() - sync_marks_ns_[0];
  uint64_t dd = p.done_sectors - std::min(p.done_sectors, sync_marks_done_[0]);
  p.speed_kib_s = dt > 0 && p.action != SyncAction::kIdle ? dd * 512 / 1024 * 1'000'000'000 / dt : 0;
  return p;
}

io::Task<void> Array::WaitSyncIdle() { co_await sync_idle_.Wait(); }

// Picks the next action like MD: reshape before resync before recovery before a requested
// check/repair.
io::Task<void> Array::SyncThread() {
  for (;;) {
    sync_interrupt_ = false;
    Status s;
    if (options_.sync.autostart) {
      Status a = co_await ActivateSpares();
      if (!a.ok()) Log("spare activation failed: " + a.message());
    }
    bool recovering = false;
    for (const Member& m : members_) recovering |= m.state == MemberState::kRecovering;
    bool automatic = options_.sync.autostart || sync_requested_ == SyncAction::kResync ||
                     sync_requested_ == SyncAction::kRecover ||
                     sync_requested_ == SyncAction::kReshape;
    if (reshape_.has_value()) {  // nothing else runs during a reshape
      if (!automatic) break;
      s = co_await RunReshape();
    } else if (automatic && resync_offset_ != format::kMaxSector) {
      s = co_await RunResync(SyncAction::kResync);
    } else if (automatic && recovering) {
      s = co_await RunRecovery();
    } else if (sync_requested_ == SyncAction::kCheck || sync_requested_ == SyncAction::kRepair) {
      SyncAction a = std::exchange(sync_requested_, SyncAction::kIdle);
      s = co_await RunResync(a);
    } else {
      break;
    }
    if (sync_requested_ == SyncAction::kResync || sync_requested_ == SyncAction::kRecover ||
        sync_requested_ == SyncAction::kReshape) {
      sync_requested_ = SyncAction::kIdle;
    }
    if (!s.ok()) {
      Log(fmt::format("{} stopped: {}", SyncActionName(progress_.action), s.message()));
      break;
    }
    if (closing_ || sync_frozen_ || broken_) break;
  }
  progress_.action = SyncAction::kIdle;
  sync_running_ = false;
  sync_idle_.Set();
}

// MD's spare activation: a spare is rebuilt into each slot that no member holds or rebuilds
// (not during a reshape: recovery walks one layout).
io::Task<Status> Array::ActivateSpares() {
  if (reshape_ || broken_ || degraded() == 0) co_return Status::Ok();
  co_await md_lock_.Acquire();
  bool changed = false;
  for (size_t s = 0; s < slot_member_.size(); ++s) {
    if (slot_member_[s] >= 0 || !slot_writers_[s].empty()) continue;
    for (size_t i = 0; i < members_.size(); ++i) {
      Member& m = members_[i];
      if (m.state != MemberState::kSpare || !m.device || m.removed) continue;
      m.state = MemberState::kRecovering;
      m.slot = int(s);
      m.recovery_offset = 0;
      m.bitmap_recovery = false;
      RebuildSlots();
      changed = true;
      Log(fmt::format("spare {} takes slot {}", m.metadata.path, s));
      break;
    }
  }
  Status st;
  if (changed) st = co_await WriteSuperblocks();
  md_lock_.Release();
  co_return st;
}

// MD's upper speed limit, once per window: sleeps until issuing the next window keeps the sync
// at or below speed_max since the oldest mark. `sectors` is that window: it counts, so the limit
// is never overshot by a window per mark interval. (The lower limit's back-off under foreground
// I/O is ForegroundBackOff.)
io::Task<void> Array::Throttle(uint64_t sectors) {
  uint64_t now = clock_.NowNs();
  if (now - sync_marks_ns_[1] >= 1'000'000'000) {  // marks one second apart
    sync_marks_ns_[0] = sync_marks_ns_[1];
    sync_marks_done_[0] = sync_marks_done_[1];
    sync_marks_ns_[1] = now;
    sync_marks_done_[1] = progress_.done_sectors;
  }
  uint64_t kib = (progress_.done_sectors + sectors - sync_marks_done_[0]) / 2;
  uint64_t dt = std::max<uint64_t>(now - sync_marks_ns_[0], 1);
  uint64_t speed = kib * 1'000'000'000 / dt;
  if (speed > options_.sync.speed_max_kib && options_.sync.speed_max_kib > 0) {
    uint64_t want_ns = kib * 1'000'000'000 / options_.sync.speed_max_kib;
    if (want_ns > dt) co_await sleep_(want_ns - dt);
  }
}

// MD's back-off: above the minimum speed, while normal I/O has run since the last look, a sync
// with 2 MiB or more in flight waits for all of it to complete.
bool Array::ForegroundBackOff(uint64_t* seen_ios, uint64_t in_flight_sectors) {
  if (foreground_ios_ == *seen_ios) return false;
  *seen_ios = foreground_ios_;
  if (in_flight_sectors < 4096) return false;
  uint64_t kib = (progress_.done_sectors - std::min(progress_.done_sectors, sync_marks_done_[0])) / 2;
  uint64_t dt = std::max<uint64_t>(clock_.NowNs() - sync_marks_ns_[0], 1);
  return kib * 1'000'000'000 / dt > options_.sync.speed_min_kib;
}

namespace {

// Up to `depth` windows in flight; Drain() waits for all of them (before a checkpoint).
class Pipeline {
 public:
  Pipeline(io::Executor& ex, uint32_t depth) : slots_(ex, depth), gate_(ex), depth_(depth) {}
  io::Task<void> Add(io::Task<Status> window, uint64_t sectors) {
    co_await slots_.Acquire();
    in_flight_ += sectors;
    io::Spawn(gate_, Run(std::move(window), sectors));
  }
  uint64_t in_flight_sectors() const { return in_flight_; }
  io::Task<void> Drain() {
    for (uint32_t i = 0; i < depth_; ++i) co_await slots_.Acquire();
    for (uint32_t i = 0; i < depth_; ++i) slots_.Release();
  }
  io::Task<void> Close() {
    co_await Drain();
    co_await gate_.Close();
  }
  const Status& status() const { return status_; }

 private:
  io::Task<void> Run(io::Task<Status> window, uint64_t sectors) {
    Status s = co_await std::move(window);
    if (!s.ok() && status_.ok()) status_ = s;
    in_flight_ -= sectors;
    slots_.Release();
  }
  io::Semaphore slots_;
  io::Gate gate_;
  uint32_t depth_;
  uint64_t in_flight_ = 0;
  Status status_;
};

}  // namespace

// Resync, check or repair over the array's (virtual) sectors.
io::Task<Status> Array::RunResync(SyncAction action) {
  const uint64_t total = geometry_.ArraySectors();
  const bool resync = action == SyncAction::kResync;
  uint64_t next = resync && !bitmap_ ? std::min(resync_offset_, total) : 0;
  progress_.action = action;
  progress_.done_sectors = next;
  progress_.total_sectors = total;
  if (!resync) progress_.mismatch_sectors = 0;
  sync_marks_ns_[0] = sync_marks_ns_[1] = clock_.NowNs();
  sync_marks_done_[0] = sync_marks_done_[1] = next;
  Log(fmt::format("{} started at sector {} of {}", SyncActionName(action), next, total));
  Pipeline pipe(executor_, options_.sync.depth);
  uint64_t last_checkpoint = clock_.NowNs();
  uint64_t fg = foreground_ios_;
  const uint64_t cs = bitmap_ ? bitmap_->chunk_sectors() : 0;
  while (next < total && !SyncInterrupted() && pipe.status().ok()) {
    // A window never spans two copy groups (RAID10 chunks), so windows in flight spread over
    // the members instead of queueing behind one another.
    uint64_t n = std::min({options_.sync.window_sectors, total - next, Barrier::ToUnitEnd(next),
                           geometry_.ContiguousSectors(next)});
    if (cs) {
      uint64_t chunk_end = (next / cs + 1) * cs;
      n = std::min(n, chunk_end - next);
      // Only chunks that needed a sync when the array was assembled (MD's NEEDED): a chunk
      // dirtied by writes since then had every copy written.
      if (resync && !resync_chunks_[next / cs]) {  // nothing to copy
        uint64_t skip = std::min(chunk_end, total) - next;
        progress_.skipped_sectors += skip;
        progress_.done_sectors = next += skip;
        // Skipped sectors are not I/O: they move the speed marks too, so the speed limit
        // (and the speed shown) counts only what was copied, as MD's io_sectors does.
        // Otherwise a mostly clean bitmap would make the resync sleep for the skipped size.
        sync_marks_done_[0] += skip;
        sync_marks_done_[1] += skip;
        continue;
      }
    }
    co_await Throttle(n);
    if (ForegroundBackOff(&fg, pipe.in_flight_sectors())) co_await pipe.Drain();
    co_await pipe.Add(SyncWindow(action, next, n), n);
    progress_.done_sectors = next += n;
    bool chunk_done = cs && (next % cs == 0 || next == total);
    if (chunk_done || clock_.NowNs() - last_checkpoint >= options_.sync.checkpoint_ns) {
      co_await pipe.Drain();
      if (!pipe.status().ok()) break;
      // The copies of the whole chunk now agree (unless a member is missing: its bit stays).
      if (chunk_done && action != SyncAction::kCheck && degraded() == 0) {
        bitmap_->MarkSynced((next - 1) / cs);
        resync_chunks_[(next - 1) / cs] = false;
        StartBitmapDaemon();
      }
      if (clock_.NowNs() - last_checkpoint >= options_.sync.checkpoint_ns) {
        last_checkpoint = clock_.NowNs();
        if (resync) resync_offset_ = next;
        co_await md_lock_.Acquire();
        Status s = co_await WriteSuperblocks();
        md_lock_.Release();
        if (s.ok() && bitmap_) s = co_await bitmap_->Flush();
        if (!s.ok()) Log("sync checkpoint failed: " + s.message());
      }
    }
  }
  co_await pipe.Close();
  MESHRAID_CO_RETURN_IF_ERROR(pipe.status());
  bool finished = next >= total && !SyncInterrupted();
  if (resync) resync_offset_ = finished ? format::kMaxSector : next;
  if (resync || finished) {
    co_await md_lock_.Acquire();
    Status s = co_await WriteSuperblocks();
    md_lock_.Release();
    if (s.ok() && bitmap_) s = co_await bitmap_->Flush();
    MESHRAID_CO_RETURN_IF_ERROR(s);
  }
  if (finished) {
    std::string extra = action == SyncAction::kResync
                            ? fmt::format(", {} sectors skipped as clean", progress_.skipped_sectors)
                            : fmt::format(", {} mismatched sectors", progress_.mismatch_sectors);
    Log(fmt::format("{} done{}", SyncActionName(action), extra));
  } else {
    Log(fmt::format("{} interrupted at sector {}", SyncActionName(action), next));
  }
  co_return Status::Ok();
}

namespace {

constexpr uint64_t kMismatchBlock = 128;  // sectors: MD's RESYNC_BLOCK_SIZE

void MarkDifferingBlocks(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                         std::vector<bool>* differs) {
  const size_t block = kMismatchBlock * 512;
  differs->resize((a.size() + block - 1) / block, false);
  for (size_t i = 0; i < differs->size(); ++i) {
    size_t len = std::min(block, a.size() - i * block);
    if (!std::equal(a.begin() + long(i * block), a.begin() + long(i * block + len), b.begin() + long(i * block))) {
      (*differs)[i] = true;
    }
  }
}

}  // namespace

// One window of resync/check/repair, under its bucket's barrier. Resync reads the first readable
// in-sync copy and writes the others; check and repair read every copy and compare them with
// the first (repair rewrites the ones that differ, check only counts them).
io::Task<Status> Array::SyncWindow(SyncAction action, uint64_t sector, uint64_t sectors) {
  co_await barrier_.Raise(sector);
  Status out;
  uint64_t v = sector;
  while (v < sector + sectors && out.ok()) {
    uint64_t n = std::min(sector + sectors - v, geometry_.ContiguousSectors(v));
    std::vector<size_t> inputs;
    std::vector<uint64_t> at;  // member sectors
    for (const layout::Copy& c : geometry_.Map(v)) {
      int input = SlotMember(c.disk);
      if (input < 0) continue;
      inputs.push_back(size_t(input));
      at.push_back(c.sector);
    }
    if (inputs.size() >= 2) {
      const bool read_all = action != SyncAction::kResync;
      std::vector<std::vector<uint8_t>> data(inputs.size());
      std::vector<io::Task<Status>> reads;
      for (size_t k = 0; k < inputs.size(); ++k) {
        if (!read_all && k > 0) break;
        data[k].resize(n * 512);
        Member& m = members_[inputs[k]];
        reads.push_back(m.device->Read(MemberByteOffset(m, at[k]), data[k]));
      }
      std::vector<Status> got = co_await io::WhenAll(std::move(reads));
      // Resync: if the first copy failed, try the others one by one.
      size_t src = 0;
      while (src < got.size() && !got[src].ok()) ++src;
      for (size_t k = got.size(); !read_all && src == got.size() && k < inputs.size(); ++k) {
        data[k].resize(n * 512);
        Member& m = members_[inputs[k]];
        got.push_back(co_await m.device->Read(MemberByteOffset(m, at[k]), data[k]));
        if (got.back().ok()) src = k;
      }
      if (src >= got.size()) {
        out = Status::IoError(fmt::format("sync: no readable copy of array sectors {}+{}", v, n));
        break;
      }
      std::vector<size_t> targets;
      std::vector<bool> block_differs;  // per 64 KiB block: some readable copy differs there
      for (size_t k = 0; k < inputs.size(); ++k) {
        if (k == src) continue;
        bool differs = k >= got.size() ? !read_all : !got[k].ok() || data[k] != data[src];
        if (!differs) continue;
        if (read_all && k < got.size() && got[k].ok()) MarkDifferingBlocks(data[src], data[k], &block_differs);
        if (action != SyncAction::kCheck) targets.push_back(k);
      }
      // MD counts mismatches per 64 KiB resync block.
      for (size_t b = 0; b < block_differs.size(); ++b) {
        if (block_differs[b]) progress_.mismatch_sectors += std::min<uint64_t>(kMismatchBlock, n - b * kMismatchBlock);
      }
      std::vector<io::Task<Status>> writes;
      for (size_t k : targets) {
        Member& m = members_[inputs[k]];
        writes.push_back(m.device->Write(MemberByteOffset(m, at[k]), data[src]));
      }
      std::vector<Status> put = co_await io::WhenAll(std::move(writes));
      for (size_t j = 0; j < put.size(); ++j) {
        if (put[j].ok()) {
          progress_.copied_sectors += n;
          continue;
        }
        Status f = co_await FailMember(inputs[targets[j]], "sync write: " + put[j].message());
        if (!f.ok()) out = f;
      }
    }
    v += n;
  }
  barrier_.Lower(sector);
  co_return out;
}

// Recovery: every member in kRecovering is rebuilt from its device sector recovery_offset on,
// one after the other, from the in-sync copies (only the chunks the bitmap marks when the
// member was re-added after a recent failure).
io::Task<Status> Array::RunRecovery() {
  for (size_t t = 0; t < members_.size() && !SyncInterrupted(); ++t) {
    if (members_[t].state != MemberState::kRecovering) continue;
    const uint64_t used = geometry_.DeviceSectorsUsed();
    const int slot = members_[t].slot;
    uint64_t dev = members_[t].recovery_offset;
    progress_.action = SyncAction::kRecover;
    progress_.done_sectors = dev;
    progress_.total_sectors = used;
    sync_marks_ns_[0] = sync_marks_ns_[1] = clock_.NowNs();
    sync_marks_done_[0] = sync_marks_done_[1] = dev;
    Log(fmt::format("recovery of {} into slot {} started at sector {}{}",
                    members_[t].metadata.path, slot, dev,
                    members_[t].bitmap_recovery ? " (bitmap-guided)" : ""));
    uint64_t fg = foreground_ios_;
    Pipeline pipe(executor_, options_.sync.depth);
    uint64_t last_checkpoint = clock_.NowNs();
    const uint64_t cs = bitmap_ && members_[t].bitmap_recovery ? bitmap_->chunk_sectors() : 0;
    while (dev < used && !SyncInterrupted() && pipe.status().ok() &&
           members_[t].state == MemberState::kRecovering) {
      Result<uint64_t> v = geometry_.Unmap(slot, dev);
      if (!v.ok()) co_return v.status().WithPrefix("recovery");
      uint64_t n = std::min({options_.sync.window_sectors, used - dev,
                             geometry_.ContiguousSectors(*v), Barrier::ToUnitEnd(*v)});
      if (cs) {
        n = std::min(n, (*v / cs + 1) * cs - *v);
        if (!bitmap_->Dirty(*v / cs)) {
          progress_.skipped_sectors += n;
          progress_.done_sectors = dev += n;
          sync_marks_done_[0] += n;  // not I/O: see RunResync
          sync_marks_done_[1] += n;
          continue;
        }
      }
      co_await Throttle(n);
      if (ForegroundBackOff(&fg, pipe.in_flight_sectors())) co_await pipe.Drain();
      co_await pipe.Add(RecoverWindow(t, dev, n), n);
      progress_.done_sectors = dev += n;
      if (clock_.NowNs() - last_checkpoint >= options_.sync.checkpoint_ns) {
        co_await pipe.Drain();
        if (!pipe.status().ok()) break;
        last_checkpoint = clock_.NowNs();
        members_[t].recovery_offset = dev;
        co_await md_lock_.Acquire();
        Status s = co_await WriteSuperblocks();
        md_lock_.Release();
        if (!s.ok()) Log("recovery checkpoint failed: " + s.message());
      }
    }
    co_await pipe.Close();
    MESHRAID_CO_RETURN_IF_ERROR(pipe.status());
    if (members_[t].state != MemberState::kRecovering) continue;  // failed meanwhile
    if (dev < used) {
      // Like MD at the end of an interrupted md_do_sync: the position reached is recorded in
      // the superblock at once, not only at the next checkpoint, so a restart resumes here.
      members_[t].recovery_offset = dev;
      co_await md_lock_.Acquire();
      Status s = co_await WriteSuperblocks();
      md_lock_.Release();
      if (!s.ok()) Log("recovery checkpoint failed: " + s.message());
      Log(fmt::format("recovery of {} interrupted at sector {}", members_[t].metadata.path, dev));
      co_return Status::Ok();
    }
    MESHRAID_CO_RETURN_IF_ERROR(co_await FinishRecovery(t));
  }
  co_return Status::Ok();
}

// Copies `sectors` device sectors at `dev_sector` of member `target` from an in-sync copy.
io::Task<Status> Array::RecoverWindow(size_t target, uint64_t dev_sector, uint64_t sectors) {
  Member& t = members_[target];
  Result<uint64_t> v = geometry_.Unmap(t.slot, dev_sector);
  if (!v.ok()) co_return v.status();
  co_await barrier_.Raise(*v);
  std::vector<uint8_t> data(sectors * 512);
  Status got = Status::IoError(
      fmt::format("recovery: no in-sync copy of array sectors {}+{}", *v, sectors));
  for (const layout::Copy& c : geometry_.Map(*v)) {
    int input = SlotMember(c.disk);
    if (input < 0 || size_t(input) == target) continue;
    Member& m = members_[size_t(input)];
    Status s = co_await m.device->Read(MemberByteOffset(m, c.sector), data);
    if (s.ok()) {
      got = s;
      break;
    }
    if (s.scope() == Scope::kDevice) (void)co_await FailMember(size_t(input), "recovery read: " + s.message());
  }
  Status out = got;
  if (got.ok() && t.state == MemberState::kRecovering) {
    Status w = co_await t.device->Write(MemberByteOffset(t, dev_sector), data);
    if (w.ok()) {
      progress_.copied_sectors += sectors;
    } else {
      (void)co_await FailMember(target, "recovery write: " + w.message());
    }
  }
  barrier_.Lower(*v);
  co_return out;
}

// The rebuilt member becomes in sync; a replacement takes over its slot and the replaced
// member is failed.
io::Task<Status> Array::FinishRecovery(size_t target) {
  co_await md_lock_.Acquire();
  Member& t = members_[target];
  t.recovery_offset = 0;
  t.bitmap_recovery = false;
  t.state = MemberState::kInSync;
  if (t.replaces >= 0) {
    Member& old = members_[size_t(t.replaces)];
    old.state = MemberState::kFaulty;
    Log(fmt::format("{} replaced by {}", old.metadata.path, t.metadata.path));
    t.replaces = -1;
  }
  slot_member_[size_t(t.slot)] = int(target);
  ReadState& rs = read_state_[size_t(t.slot)];
  rs = ReadState{};
  rs.readable = true;
  rs.write_mostly = (t.metadata.sb.devflags & format::kDevFlagWriteMostly) != 0;
  RebuildSlots();
  Status w = co_await WriteSuperblocks();
  md_lock_.Release();
  if (w.ok()) Log(fmt::format("recovery of {} done: in sync in slot {}", t.metadata.path, t.slot));
  co_return w;
}

void Array::StartBitmapDaemon() {
  if (!bitmap_ || daemon_running_ || closing_ || bitmap_->DirtyCount() == 0) return;
  daemon_running_ = true;
  io::Spawn(gate_, BitmapDaemon());
}

// The bitmap daemon: every daemon_sleep, clear the bits of chunks idle for a whole period.
// Runs while bits are set; sleeps in short steps so that Close never waits long for it.
io::Task<void> Array::BitmapDaemon() {
  const uint64_t period = uint64_t(bitmap_->daemon_sleep_seconds()) * 1'000'000'000;
  const uint64_t step = std::min<uint64_t>(period, 100'000'000);
  while (!closing_ && bitmap_->DirtyCount() > 0) {
    for (uint64_t slept = 0; slept < period && !closing_; slept += step) co_await sleep_(step);
    if (closing_) break;
    auto cleared = co_await bitmap_->Sweep(degraded() > 0 || resync_offset_ != format::kMaxSector,
                                           events_);
    if (!cleared.ok()) Log("bitmap sweep failed: " + cleared.status().message());
  }
  daemon_running_ = false;
}

}  // namespace meshraid::raid
