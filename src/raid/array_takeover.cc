// Online RAID1 <-> RAID10 takeover: drain the array, swap the geometry, rewrite the
// superblocks, let I/O go on. No data is read or written (raid/takeover.h).
#include <fmt/format.h>

#include "raid/array.h"
#include "raid/takeover.h"

namespace meshraid::raid {

TakeoverFacts Array::GatherTakeoverFacts() const {
  TakeoverFacts f;
  f.reference = reference_;
  f.reference.resync_offset = resync_offset_;
  f.degraded = degraded();
  for (const Member& m : members_) {
    if (m.removed) continue;
    if (m.state == MemberState::kRecovering && m.replaces >= 0 && f.replacement.empty()) {
      f.replacement = m.metadata.path;
    } else if (m.state == MemberState::kRecovering && f.member_not_in_sync.empty()) {
      f.member_not_in_sync = m.metadata.path;
    }
    if (m.state == MemberState::kInSync && (m.metadata.sb.devflags & format::kDevFlagWriteMostly) &&
        f.write_mostly.empty()) {
      f.write_mostly = m.metadata.path;
    }
  }
  f.write_behind = bitmap_ ? bitmap_->super().write_behind : 0;
  if (sync_running_) f.sync_running = std::string(SyncActionName(progress_.action));
  return f;
}

// With the array drained and md_lock_ held.
io::Task<Status> Array::TakeoverLocked(int to_level, uint64_t chunk_sectors) {
  MESHRAID_CO_ASSIGN_OR_RETURN(TakeoverPlan plan,
                               PlanTakeover(GatherTakeoverFacts(), to_level, chunk_sectors));
  MESHRAID_CO_ASSIGN_OR_RETURN(
      layout::Geometry g, layout::Geometry::FromSuperblock(plan.level, plan.layout, plan.chunk_sectors,
                                                           reference_.raid_disks, reference_.size));
  if (g.ArraySectors() != geometry_.ArraySectors()) {
    co_return Status::FailedPrecondition(fmt::format(
        "takeover would change the array size ({} -> {} sectors)", geometry_.ArraySectors(),
        g.ArraySectors()));
  }
  const int from = geometry_.level();
  geometry_ = g;
  ApplyTakeover(plan, reference_);
  for (Member& m : members_) ApplyTakeover(plan, m.metadata.sb);
  MESHRAID_CO_RETURN_IF_ERROR(co_await WriteSuperblocks());
  Log(fmt::format("takeover raid{} -> raid{} done (layout {:#x}, chunk {} KiB): superblocks "
                  "rewritten, no data moved", from, plan.level, plan.layout, plan.chunk_sectors / 2));
  co_return Status::Ok();
}

io::Task<Status> Array::Takeover(int to_level, uint64_t chunk_sectors) {
  MESHRAID_CO_RETURN_IF_ERROR(PlanTakeover(GatherTakeoverFacts(), to_level, chunk_sectors).status());
  // Nothing may start a sync while the array is drained.
  bool was_frozen = sync_frozen_;
  sync_frozen_ = true;
  co_await barrier_.Freeze();
  co_await md_lock_.Acquire();
  // The facts may have changed while in-flight I/O drained (a member failed...): plan again.
  Status s = co_await TakeoverLocked(to_level, chunk_sectors);
  md_lock_.Release();
  barrier_.Unfreeze();
  sync_frozen_ = was_frozen;
  KickSync();
  co_return s;
}

}  // namespace meshraid::raid
