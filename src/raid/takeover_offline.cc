#include "raid/takeover_offline.h"

#include <sys/file.h>

#include <fmt/format.h>

#include "format/bitmap.h"
#include "io/sync_file.h"
#include "raid/assemble.h"
#include "raid/member_metadata.h"

namespace meshraid::raid {

Result<OfflineTakeover> TakeoverStoppedArray(const std::vector<std::string>& paths, int to_level,
                                             uint64_t chunk_sectors, uint64_t now_seconds) {
  std::vector<io::SyncFile> files;
  std::vector<MemberMetadata> md;
  for (const std::string& p : paths) {
    MESHRAID_ASSIGN_OR_RETURN(io::SyncFile f, io::SyncFile::Open(p, io::SyncFile::Mode::kReadWrite));
    if (::flock(f.fd(), LOCK_EX | LOCK_NB) != 0) {
      return Status::Busy(fmt::format(
          "{}: in use (a running array holds it; use `meshraid grow ARRAY --level=N` on it)", p));
    }
    MESHRAID_ASSIGN_OR_RETURN(MemberMetadata m, ReadMemberMetadata(f));
    md.push_back(std::move(m));
    files.push_back(std::move(f));
  }
  MESHRAID_ASSIGN_OR_RETURN(AssemblyPlan plan, PlanAssembly(md));
  TakeoverFacts facts;
  facts.reference = plan.reference;
  facts.degraded = plan.degraded;
  for (size_t i = 0; i < md.size(); ++i) {
    const MemberPlan& mp = plan.members[i];
    const format::Superblock& sb = md[i].sb;
    bool replacement = sb.Has(format::kFeatureReplacement);
    if (replacement && facts.replacement.empty()) facts.replacement = md[i].path;
    if (!replacement && facts.member_not_in_sync.empty() &&
        (mp.disposition == Disposition::kRecovering || mp.disposition == Disposition::kStale)) {
      facts.member_not_in_sync = fmt::format("{} ({})", md[i].path, DispositionName(mp.disposition));
    }
    if (mp.disposition == Disposition::kActive && (sb.devflags & format::kDevFlagWriteMostly) &&
        facts.write_mostly.empty()) {
      facts.write_mostly = md[i].path;
    }
    if (md[i].bitmap) facts.write_behind = std::max(facts.write_behind, md[i].bitmap->super.write_behind);
  }
  OfflineTakeover out;
  MESHRAID_ASSIGN_OR_RETURN(out.plan, PlanTakeover(facts, to_level, chunk_sectors));
  // A spare or faulty member would come out with fresh events but its own old view of the
  // roles: refuse rather than rewrite it.
  for (size_t i = 0; i < md.size(); ++i) {
    Disposition d = plan.members[i].disposition;
    if (d == Disposition::kSpare || d == Disposition::kFaulty) {
      return Status::FailedPrecondition(fmt::format(
          "{}: is {} in this array; give only the active members", md[i].path, DispositionName(d)));
    }
  }
  out.events = plan.events + 1;
  // Bitmap headers first (their events must never be older than the superblock's), then the
  // superblocks.
  for (size_t i = 0; i < md.size(); ++i) {
    uint64_t bytes = 0;
    MemberMetadata& m = md[i];
    if (m.bitmap && !format::BitmapStale(m.bitmap->super, m.sb)) {
      format::BitmapSuper b = m.bitmap->super;
      b.events = out.events;
      std::vector<uint8_t> enc = format::EncodeBitmapSuper(b);
      MESHRAID_RETURN_IF_ERROR(files[i].WriteAt(m.bitmap->sector * 512, enc));
      MESHRAID_RETURN_IF_ERROR(files[i].Sync());
      bytes += enc.size();
    }
    ApplyTakeover(out.plan, m.sb);
    m.sb.events = out.events;
    m.sb.utime = format::SbTime(now_seconds);
    std::vector<uint8_t> enc = format::Encode(m.sb);
    MESHRAID_RETURN_IF_ERROR(files[i].WriteAt(m.sb_sector * 512, enc));
    MESHRAID_RETURN_IF_ERROR(files[i].Sync());
    bytes += enc.size();
    out.bytes_written.push_back(bytes);
  }
  return out;
}

}  // namespace meshraid::raid
