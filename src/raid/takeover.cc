#include "raid/takeover.h"

#include <fmt/format.h>

#include "layout/geometry.h"

namespace meshraid::raid {

uint32_t DefaultTakeoverChunk(uint64_t dev_sectors) {
  uint32_t chunk = 1024;  // 512 KiB, mdadm's default chunk
  while (chunk > 8 && dev_sectors % chunk != 0) chunk /= 2;
  return chunk;
}

Result<TakeoverPlan> PlanTakeover(const TakeoverFacts& f, int to_level, uint64_t chunk_sectors) {
  const format::Superblock& sb = f.reference;
  const int from = sb.level;
  const std::string prefix = fmt::format("raid{}->raid{} takeover refused: ", from, to_level);
  auto refuse = [&](const std::string& why) {
    return Status::FailedPrecondition(prefix + why);
  };
  if (from == to_level) return Status::InvalidArgument(fmt::format("the array is already raid{}", from));
  if (!((from == 1 && to_level == 10) || (from == 10 && to_level == 1))) {
    return Status::InvalidArgument(
        fmt::format("raid{} -> raid{} is not a takeover meshraid offers (raid1 <-> raid10 only)",
                    from, to_level));
  }
  const uint32_t n = sb.raid_disks;
  if (sb.major_version != 1) return refuse("not v1 metadata (v0.90 cannot record a raid10 layout)");
  if (sb.Has(format::kFeatureReshapeActive)) {
    return refuse(fmt::format("a reshape is in progress (reshape_position {})", sb.reshape_position));
  }
  if (n < 2) return refuse(fmt::format("{} member(s): a takeover needs at least 2", n));
  if (n > 255) return refuse(fmt::format("{} members: near copies are limited to 255", n));
  if (f.degraded > 0) return refuse(fmt::format("the array is degraded ({} of {} slots missing)", f.degraded, n));
  if (sb.resync_offset != format::kMaxSector) {
    return refuse(fmt::format("resync is not complete (resync_offset {})", sb.resync_offset));
  }
  if (!f.member_not_in_sync.empty()) return refuse(f.member_not_in_sync + " is not in sync");
  if (!f.write_mostly.empty()) return refuse(f.write_mostly + " is write-mostly");
  if (!f.replacement.empty()) return refuse("a replacement is in flight (" + f.replacement + ")");
  if (f.write_behind != 0) return refuse(fmt::format("write-behind is configured ({})", f.write_behind));
  if (!f.sync_running.empty()) return refuse("a sync action is running (" + f.sync_running + ")");
  TakeoverPlan plan;
  if (to_level == 10) {
    uint64_t chunk = chunk_sectors ? chunk_sectors : DefaultTakeoverChunk(sb.size);
    if (chunk < 8 || (chunk & (chunk - 1)) != 0) {
      return Status::InvalidArgument(fmt::format("chunk {} KiB: must be a power of two of at least 4 KiB", chunk / 2));
    }
    if (sb.size % chunk != 0) {
      return refuse(fmt::format("member size {} sectors is not a multiple of the {} KiB chunk: "
                                "the array would lose its tail", sb.size, chunk / 2));
    }
    plan.level = 10;
    plan.layout = layout::Raid10Layout{.near = int(n), .far = 1}.Word();
    plan.chunk_sectors = uint32_t(chunk);
  } else {
    auto l = layout::Raid10Layout::FromWord(sb.layout);
    if (!l.ok() || l->near != int(n) || l->far != 1 || l->offset) {
      return refuse(fmt::format("layout {} is not near={} (near copies must equal the member count)",
                                l.ok() ? l->MdadmName() : fmt::format("{:#x}", sb.layout), n));
    }
    if (chunk_sectors != 0) return Status::InvalidArgument("a raid1 has no chunk size");
    plan.level = 1;
    plan.layout = 0;
    plan.chunk_sectors = 0;
  }
  return plan;
}

void ApplyTakeover(const TakeoverPlan& plan, format::Superblock& sb) {
  sb.level = plan.level;
  sb.layout = plan.layout;
  sb.chunksize = plan.chunk_sectors;
}

}  // namespace meshraid::raid
