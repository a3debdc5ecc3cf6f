// Array set-up, member state, superblock updates and safe mode. The data paths are in
// array_io.cc.
#include "raid/array.h"

#include <ctime>

#include <fmt/format.h>

#include "format/superblock.h"
#include "io/when_all.h"

namespace meshraid::raid {

std::string_view MemberStateName(MemberState s) {
  switch (s) {
    case MemberState::kInSync: return "in_sync";
    case MemberState::kFaulty: return "faulty";
    case MemberState::kSpare: return "spare";
    case MemberState::kStale: return "stale";
    case MemberState::kRecovering: return "recovering";
    case MemberState::kMissing: return "missing";
  }
  return "?";
}

std::string_view SyncActionName(SyncAction a) {
  switch (a) {
    case SyncAction::kIdle: return "idle";
    case SyncAction::kResync: return "resync";
    case SyncAction::kRecover: return "recover";
    case SyncAction::kCheck: return "check";
    case SyncAction::kRepair: return "repair";
    case SyncAction::kReshape: return "reshape";
  }
  return "?";
}

SleepFn ReactorSleep(io::Reactor& reactor) {
  return [&reactor](uint64_t ns) -> io::Task<void> {
    return [](io::Reactor& r, uint64_t n) -> io::Task<void> { co_await r.Sleep(n); }(reactor, ns);
  };
}

Array::Array(io::Executor& executor, io::Clock& clock, SleepFn sleep, ArrayOptions options)
    : executor_(executor),
      clock_(clock),
      sleep_(std::move(sleep)),
      options_(std::move(options)),
      range_lock_(executor),
      md_lock_(executor, 1),
      gate_(executor),
      barrier_(executor, options_.barrier_mode),
      sync_idle_(executor),
      dual_idle_(executor) {
  sync_idle_.Set();
  if (!options_.wall_seconds) options_.wall_seconds = [] { return uint64_t(std::time(nullptr)); };
}

Array::~Array() = default;

Result<std::unique_ptr<Array>> Array::Create(io::Executor& executor, io::Clock& clock,
                                             SleepFn sleep, const AssemblyPlan& plan,
                                             std::vector<ArrayMember> members,
                                             ArrayOptions options) {
  if (members.size() != plan.members.size()) {
    return Status::InvalidArgument("member list does not match the assembly plan");
  }
  std::unique_ptr<Array> a(new Array(executor, clock, std::move(sleep), std::move(options)));
  a->geometry_ = plan.geometry;
  a->reshape_ = plan.reshape;
  if (plan.reshape) a->reshape_pos_ = a->reshape_sb_position_ = plan.reshape->position;
  a->reference_ = plan.reference;
  a->events_ = plan.events;
  a->resync_offset_ = plan.reference.resync_offset;
  a->balancer_.set_policy(a->options_.read_policy);
  a->slot_member_.assign(size_t(plan.geometry.raid_disks()), -1);
  a->read_state_.resize(size_t(plan.geometry.raid_disks()));
  uint32_t lbs = 512;
  for (size_t i = 0; i < members.size(); ++i) {
    Member m;
    m.device = std::move(members[i].device);
    m.metadata = std::move(members[i].metadata);
    m.stats.corrected_errors = m.metadata.sb.cnt_corrected_read;
    const MemberPlan& mp = plan.members[i];
    // A member that missed the superblock write ending a reshape: its data is where the
    // others say (the new offset); the next superblock write records it.
    if (m.metadata.sb.data_offset != mp.data_offset) {
      m.metadata.sb.data_size += m.metadata.sb.data_offset - mp.data_offset;
      m.metadata.sb.data_offset = mp.data_offset;
    }
    m.slot = mp.slot;
    m.recovery_offset = mp.recovery_offset;
    switch (mp.disposition) {
      case Disposition::kActive: m.state = MemberState::kInSync; break;
      case Disposition::kRecovering: m.state = MemberState::kRecovering; break;
      case Disposition::kSpare: m.state = MemberState::kSpare; break;
      case Disposition::kFaulty: m.state = MemberState::kFaulty; break;
      case Disposition::kStale: m.state = MemberState::kStale; break;
    }
    if (!m.device) m.state = MemberState::kMissing;
    if (m.state == MemberState::kInSync) {
      a->slot_member_[size_t(m.slot)] = int(i);
      ReadState& rs = a->read_state_[size_t(m.slot)];
      rs.readable = true;
      rs.write_mostly = (m.metadata.sb.devflags & format::kDevFlagWriteMostly) != 0;
    }
    if (a->HasSuperblock(m)) {
      const uint32_t mlbs = m.device->info().logical_block_size;
      const uint64_t unit = mlbs / 512;
      if (unit > 1 && (m.metadata.sb.data_offset % unit != 0 || m.metadata.sb_sector % unit != 0)) {
        return Status::FailedPrecondition(fmt::format(
            "{}: its logical block size is {} bytes but its superblock (sector {}) or data (sector {}) "
            "does not start on a multiple of it", m.metadata.path, mlbs, m.metadata.sb_sector,
            m.metadata.sb.data_offset));
      }
      lbs = std::max(lbs, mlbs);
    }
    a->members_.push_back(std::move(m));
  }
  a->RebuildSlots();
  if (!a->EnoughWithout(a->members_.size())) {
    return Status::FailedPrecondition("not enough in-sync members could be opened to run the array");
  }
  a->info_.name = plan.reference.Name();
  // During a reshape the array keeps its old size until the move completes.
  a->info_.size_bytes =
      (plan.reshape ? plan.reshape->geometry.MoveSectors() : a->geometry_.ArraySectors()) * 512;
  a->info_.logical_block_size = lbs;
  a->info_.physical_block_size = std::max<uint32_t>(4096, lbs);
  a->info_.max_io_bytes = 32u << 20;
  a->info_.can_fua = true;
  a->info_.can_flush = true;
  a->info_.can_discard = true;  // a zeroing discard (Array::Discard): copies stay the same
  a->info_.can_write_zeroes = true;
  MESHRAID_RETURN_IF_ERROR(a->LoadBitmap(plan));
  a->KickSync();
  a->StartBitmapDaemon();
  return a;
}

// The bitmap of the freshest member becomes the run-time write-intent bitmap.
Status Array::LoadBitmap(const AssemblyPlan& plan) {
  const MemberMetadata& ref = members_[plan.reference_input].metadata;
  if (!plan.reference.Has(format::kFeatureBitmapOffset)) return Status::Ok();
  if (!ref.bitmap) return Status::Corruption(ref.path + ": bitmap feature set but no bitmap read");
  const format::BitmapSuper& b = ref.bitmap->super;
  uint64_t area = (b.TotalBytes() + 4095) / 4096 * 4096;
  MESHRAID_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes,
                            format::EncodeBitmapArea(b, ref.bitmap->bits, area));
  WriteIntent::PersistFn persist = [this](uint64_t off, std::span<const uint8_t> data) {
    return PersistBitmap(off, data);
  };
  auto wi = WriteIntent::Load(executor_, std::move(bytes), 4096, events_, std::move(persist));
  if (!wi.ok()) return wi.status().WithPrefix(ref.path + ": bitmap");
  bitmap_ = std::make_unique<WriteIntent>(std::move(wi).value());
  // What the resync has to copy: the chunks dirty now (all of them for a stale bitmap). Bits
  // set later by writes need no resync, every copy having been written.
  resync_chunks_.assign(bitmap_->chunks(), false);
  for (uint64_t c = 0; c < bitmap_->chunks(); ++c) resync_chunks_[c] = bitmap_->Dirty(c);
  if (format::BitmapStale(b, plan.reference)) {
    Log(fmt::format("bitmap of {} is older than the superblock (events {} < {}): every chunk "
                    "will be resynced", ref.path, b.events, plan.reference.events));
  }
  return Status::Ok();
}

// Writes bitmap bytes to every member that carries the bitmap. A member that fails is failed
// (its superblock is updated in the background); the write fails only if none took it.
io::Task<Status> Array::PersistBitmap(uint64_t offset, std::span<const uint8_t> bytes) {
  std::vector<io::Task<Status>> writes;
  std::vector<size_t> targets;
  for (size_t i = 0; i < members_.size(); ++i) {
    Member& m = members_[i];
    if (!HasSuperblock(m)) continue;
    int64_t at = (int64_t(m.metadata.sb_sector) + m.metadata.sb.bitmap_offset) * 512 + int64_t(offset);
    // Flush first (MD writes bitmap pages with PREFLUSH|FUA): a bit is cleared only after the
    // writes of its chunk completed, but completed is not durable; without the flush a crash
    // could keep the cleared bit and lose the data on one copy, leaving copies that differ in
    // a chunk the next resync skips.
    writes.push_back([](io::BlockDevice& d, uint64_t off,
                        std::span<const uint8_t> b) -> io::Task<Status> {
      MESHRAID_CO_RETURN_IF_ERROR(co_await d.Flush());
      co_return co_await d.Write(off, b, io::WriteFlags::kFua);
    }(*m.device, uint64_t(at), bytes));
    targets.push_back(i);
  }
  std::vector<Status> results = co_await io::WhenAll(std::move(writes));
  Status out;
  size_t ok = 0;
  for (size_t k = 0; k < results.size(); ++k) {
    if (results[k].ok()) {
      ++ok;
      continue;
    }
    out = results[k].WithPrefix("bitmap write on " + members_[targets[k]].metadata.path);
    if (members_[targets[k]].state == MemberState::kRecovering) {
      MarkFaulty(targets[k], out.message());
    } else if (EnoughWithout(targets[k])) {
      MarkFaulty(targets[k], out.message());
      io::Spawn(gate_, [](Array* a) -> io::Task<void> {
        co_await a->md_lock_.Acquire();
        Status s = co_await a->WriteSuperblocks();
        a->md_lock_.Release();
        if (!s.ok()) a->Log("superblock update failed: " + s.message());
      }(this));
    }
  }
  if (ok > 0 && (ok == results.size() || !broken_)) co_return Status::Ok();
  co_return out;
}

void Array::RebuildSlots() {
  slot_writers_.assign(slot_member_.size(), {});
  for (size_t i = 0; i < members_.size(); ++i) {
    const Member& m = members_[i];
    if (m.slot >= 0 && HasSuperblock(m)) slot_writers_[size_t(m.slot)].push_back(i);
  }
}

int Array::FindMember(const std::string& path) const {
  for (size_t i = 0; i < members_.size(); ++i) {
    if (!members_[i].removed && members_[i].metadata.path == path) return int(i);
  }
  return -1;
}

int Array::degraded() const {
  int d = 0;
  for (int m : slot_member_) d += m < 0;
  return d;
}

void Array::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

io::Task<Status> Array::FailMember(size_t input, std::string why) {
  if (input >= members_.size()) co_return Status::InvalidArgument("no such member");
  co_await md_lock_.Acquire();
  Status s = co_await FailLocked(input, why);
  md_lock_.Release();
  co_return s;
}

// True when every array sector still has an in-sync copy without member `input` (during a
// reshape: in both layouts).
bool Array::EnoughWithout(size_t input) const {
  std::vector<bool> in_sync(slot_member_.size());
  for (size_t s = 0; s < in_sync.size(); ++s) {
    in_sync[s] = slot_member_[s] >= 0 && size_t(slot_member_[s]) != input;
  }
  if (!geometry_.Enough(in_sync)) return false;
  if (!reshape_) return true;
  const layout::Geometry& old_geo = reshape_->geometry.old_geo;
  in_sync.resize(size_t(old_geo.raid_disks()));
  return old_geo.Enough(in_sync);
}

void Array::MarkFaulty(size_t input, const std::string& why) {
  Member& m = members_[input];
  bool was_in_sync = m.state == MemberState::kInSync;
  m.state = MemberState::kFaulty;
  RebuildSlots();
  sync_interrupt_ = sync_running_;  // a sync re-plans without the member
  if (!was_in_sync) {
    Log(fmt::format("member {} failed ({}) while it was being rebuilt", m.metadata.path, why));
    return;
  }
  slot_member_[size_t(m.slot)] = -1;
  read_state_[size_t(m.slot)].readable = false;
  Log(fmt::format("member {} failed ({}); array degraded: {} of {} slots in sync", m.metadata.path,
                  why, geometry_.raid_disks() - degraded(), geometry_.raid_disks()));
}

// With md_lock_ held: fails `input` unless it holds the last copy of some data.
io::Task<Status> Array::FailLocked(size_t input, const std::string& why) {
  Member& m = members_[input];
  if (m.state == MemberState::kRecovering) {
    MarkFaulty(input, why);
    co_return co_await WriteSuperblocks();
  }
  if (m.state != MemberState::kInSync) co_return Status::Ok();  // already out of the array
  if (!EnoughWithout(input)) {
    if (!broken_) {
      broken_ = true;
      Log(fmt::format("array broken: {} holds the last copy of some data and is not failed ({})",
                      m.metadata.path, why));
    }
    co_return Status::IoError(fmt::format("array is broken: {} ({})", m.metadata.path, why));
  }
  MarkFaulty(input, why);
  Status s = co_await WriteSuperblocks();
  KickSync();  // a spare, if any, is rebuilt into the slot
  co_return s;
}

// With md_lock_ held: events + 1 and a new superblock on every in-sync member. Each member is
// flushed first so that the superblock never claims more than the data on it (MD's preflush),
// and the superblock is written with FUA. A member whose superblock write fails is failed too.
io::Task<Status> Array::WriteSuperblocks() {
  for (size_t round = 0; round <= members_.size(); ++round) {
    ++events_;
    // The bitmap's events are never older than the superblock's (MD writes it first).
    if (bitmap_) MESHRAID_CO_RETURN_IF_ERROR(co_await bitmap_->WriteHeader(events_));
    std::vector<uint16_t> roles = reference_.dev_roles;
    if (roles.size() < reference_.max_dev) roles.resize(reference_.max_dev, format::kRoleSpare);
    for (const Member& m : members_) {
      uint32_t dn = m.metadata.sb.dev_number;
      if (dn >= roles.size()) continue;
      if (m.state == MemberState::kFaulty) roles[dn] = format::kRoleFaulty;
      // A replacement in flight is recorded as a spare: after a crash it starts over.
      if (m.state == MemberState::kRecovering) {
        roles[dn] = m.replaces >= 0 ? format::kRoleSpare : uint16_t(m.slot);
      }
      if (m.state == MemberState::kInSync) roles[dn] = uint16_t(m.slot);
    }
    reference_.dev_roles = roles;
    ApplyReshapeFields(reference_);
    uint64_t now = format::SbTime(options_.wall_seconds());
    bool clean = !active_;
    reference_.events = events_;
    reference_.utime = now;
    reference_.resync_offset = clean ? resync_offset_ : 0;
    std::vector<io::Task<Status>> writes;
    std::vector<size_t> targets;
    for (size_t i = 0; i < members_.size(); ++i) {
      Member& m = members_[i];
      if (!HasSuperblock(m)) continue;
      format::Superblock& sb = m.metadata.sb;
      bool recovering = m.state == MemberState::kRecovering && m.replaces < 0;
      sb.feature_map = recovering ? (sb.feature_map | format::kFeatureRecoveryOffset)
                                  : (sb.feature_map & ~uint32_t{format::kFeatureRecoveryOffset});
      sb.recovery_offset = recovering ? m.recovery_offset : 0;
      sb.events = events_;
      sb.utime = now;
      sb.resync_offset = clean ? resync_offset_ : 0;
      sb.dev_roles = roles;
      sb.cnt_corrected_read = uint32_t(m.stats.corrected_errors);
      ApplyReshapeFields(sb);
      std::vector<uint8_t> bytes = format::Encode(sb);
      uint32_t lbs = m.device->info().logical_block_size;
      bytes.resize((bytes.size() + lbs - 1) / lbs * lbs, 0);
      uint64_t at = m.metadata.sb_sector * 512;
      writes.push_back([](io::BlockDevice& d, uint64_t off,
                          std::vector<uint8_t> b) -> io::Task<Status> {
        MESHRAID_CO_RETURN_IF_ERROR(co_await d.Flush());
        co_return co_await d.Write(off, b, io::WriteFlags::kFua);
      }(*m.device, at, std::move(bytes)));
      targets.push_back(i);
    }
    std::vector<Status> results = co_await io::WhenAll(std::move(writes));
    bool changed = false;
    for (size_t k = 0; k < results.size(); ++k) {
      if (results[k].ok()) continue;
      if (members_[targets[k]].state == MemberState::kInSync && !EnoughWithout(targets[k])) {
        broken_ = true;
        Log(fmt::format("array broken: superblock write failed on {}: {}",
                        members_[targets[k]].metadata.path, results[k].message()));
        co_return results[k];
      }
      MarkFaulty(targets[k], "superblock write: " + results[k].message());
      changed = true;
    }
    if (!changed) co_return Status::Ok();
  }
  co_return Status::IoError("superblock update did not settle");
}

// Before the first write after idle the superblocks must say "active" (resync_offset 0), so
// that a crash in the middle of the write is seen at the next assembly.
// Writers that arrive while that superblock write is still in flight wait for it too (MD's
// MD_SB_CHANGE_PENDING): `active_` is set before the write (WriteSuperblocks reads it), so it
// alone does not say that the superblocks on disk are "active" yet.
io::Task<Status> Array::EnsureActive() {
  if (active_ && !marking_active_) co_return Status::Ok();
  co_await md_lock_.Acquire();  // held by the writer that marks the array active
  Status s;
  if (!active_) {
    active_ = true;
    marking_active_ = true;
    s = co_await WriteSuperblocks();
    marking_active_ = false;
    if (s.ok()) {
      Log("array active");
    } else {
      active_ = false;  // not on disk: the next writer tries again
    }
  }
  md_lock_.Release();
  co_return s;
}

// Called when a write completes and none is left: arm the safe-mode timer.
void Array::WritesIdle() {
  last_write_done_ns_ = clock_.NowNs();
  if (timer_running_ || closing_) return;
  timer_running_ = true;
  io::Spawn(gate_, SafeModeTimer());
}

io::Task<void> Array::SafeModeTimer() {
  uint64_t wait = options_.safe_mode_delay_ns;
  for (;;) {
    co_await sleep_(wait);
    if (closing_ || pending_writes_ > 0 || !active_) break;
    uint64_t idle = clock_.NowNs() - last_write_done_ns_;
    if (idle < options_.safe_mode_delay_ns) {
      wait = options_.safe_mode_delay_ns - idle;
      continue;
    }
    co_await md_lock_.Acquire();
    Status s = co_await MarkCleanLocked();
    md_lock_.Release();
    if (!s.ok()) Log("marking the array clean failed: " + s.message());
    break;
  }
  timer_running_ = false;
  // A write that finished while the lock was held may need a new timer.
  if (active_ && pending_writes_ == 0 && !closing_) WritesIdle();
}

io::Task<Status> Array::MarkCleanLocked() {
  if (!active_ || pending_writes_ > 0 || broken_) co_return Status::Ok();
  active_ = false;
  Status s = co_await WriteSuperblocks();
  if (s.ok()) {
    Log(resync_offset_ == format::kMaxSector ? "array clean"
                                             : "array idle (still needs a resync)");
  }
  co_return s;
}

io::Task<Status> Array::Close() {
  if (closing_) co_return Status::Ok();
  closing_ = true;
  co_await sync_idle_.Wait();
  // Like MD's bitmap flush at stop: clear every bit that needs no sync.
  if (bitmap_ && degraded() == 0 && resync_offset_ == format::kMaxSector && !broken_) {
    for (int pass = 0; pass < 2; ++pass) {
      auto cleared = co_await bitmap_->Sweep(false, events_);
      if (!cleared.ok()) Log("bitmap sweep failed: " + cleared.status().message());
    }
  }
  co_await md_lock_.Acquire();
  Status s = co_await MarkCleanLocked();
  md_lock_.Release();
  co_await gate_.Close();
  for (Member& m : members_) {
    if (m.device) s.Update(co_await m.device->Close());
  }
  co_return s;
}

}  // namespace meshraid::raid
