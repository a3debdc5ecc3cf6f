#include "raid/offline_array.h"

#include <fmt/format.h>

namespace meshraid::raid {

Result<OfflineArray> OfflineArray::Open(const std::vector<std::string>& paths) {
  OfflineArray a;
  a.files_ = std::make_unique<std::vector<io::SyncFile>>();
  a.metadata_ = std::make_unique<std::vector<MemberMetadata>>();
  for (const std::string& p : paths) {
    MESHRAID_ASSIGN_OR_RETURN(io::SyncFile f, io::SyncFile::Open(p, io::SyncFile::Mode::kReadOnly));
    MESHRAID_ASSIGN_OR_RETURN(MemberMetadata md, ReadMemberMetadata(f));
    a.files_->push_back(std::move(f));
    a.metadata_->push_back(std::move(md));
  }
  MESHRAID_ASSIGN_OR_RETURN(AssemblyPlan plan, PlanAssembly(*a.metadata_));
  a.plan_ = std::make_unique<AssemblyPlan>(std::move(plan));
  a.reader_ = std::make_unique<OfflineReader>(*a.plan_, *a.files_);
  for (const MemberPlan& m : a.plan_->members) {
    if (m.disposition == Disposition::kActive) continue;
    a.warnings_.push_back(fmt::format("{}: {} ({})", (*a.metadata_)[m.input].path,
                                      DispositionName(m.disposition), m.note));
  }
  if (a.plan_->degraded > 0) {
    a.warnings_.push_back(fmt::format("array is degraded: {} of {} slots without an in-sync member",
                                      a.plan_->degraded, a.plan_->geometry.raid_disks()));
  }
  if (a.plan_->needs_resync) {
    a.warnings_.push_back(fmt::format(
        "array is not in sync (resync_offset {}: never synced or not cleanly stopped): copies "
        "may differ until a resync runs",
        a.plan_->reference.resync_offset));
  }
  return a;
}

}  // namespace meshraid::raid
