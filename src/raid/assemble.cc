#include "raid/assemble.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace meshraid::raid {
namespace {

bool IsSlot(uint16_t role) { return role < format::kRoleMax; }

// The first geometry field in which two superblocks differ, or "" if none.
std::string GeometryDifference(const format::Superblock& a, const format::Superblock& b) {
  if (a.level != b.level) return fmt::format("level {} vs {}", a.level, b.level);
  if (a.layout != b.layout) return fmt::format("layout {} vs {}", a.layout, b.layout);
  if (a.chunksize != b.chunksize) {
    return fmt::format("chunk {} vs {} sectors", a.chunksize, b.chunksize);
  }
  if (a.raid_disks != b.raid_disks) {
    return fmt::format("raid_disks {} vs {}", a.raid_disks, b.raid_disks);
  }
  if (a.size != b.size) return fmt::format("component size {} vs {} sectors", a.size, b.size);
  return "";
}

// The geometry before a reshape (raid_disks − delta_disks, level/layout/chunk of the old
// layout) as a superblock would state it without the reshape.
format::Superblock WithoutReshape(const format::Superblock& sb) {
  format::Superblock old = sb;
  old.raid_disks = uint32_t(int64_t(sb.raid_disks) - sb.delta_disks);
  old.feature_map &= ~uint32_t{format::kFeatureReshapeActive | format::kFeatureNewOffset};
  return old;
}

// The geometry after the reshape completes.
format::Superblock AfterReshape(const format::Superblock& sb) {
  format::Superblock n = sb;
  n.level = int32_t(sb.new_level);
  n.layout = sb.new_layout;
  n.chunksize = sb.new_chunk;
  n.feature_map &= ~uint32_t{format::kFeatureReshapeActive | format::kFeatureNewOffset};
  return n;
}

// The reshape stated by the freshest superblock `rsb` (of member `path`), if any.
Result<std::optional<ReshapePlan>> ReshapeOf(const format::Superblock& rsb, const std::string& path) {
  if (!rsb.Has(format::kFeatureReshapeActive)) return std::optional<ReshapePlan>();
  const std::string what = fmt::format("{}: reshape in progress (position {})", path,
                                       rsb.reshape_position);
  if (rsb.delta_disks <= 0 || rsb.Has(format::kFeatureReshapeBackwards)) {
    return Status::NotSupported(fmt::format(
        "{}: it shrinks the array or moves data backwards (delta_disks {}); meshraid can only "
        "continue a grow", what, rsb.delta_disks));
  }
  if (!rsb.Has(format::kFeatureNewOffset) || rsb.new_offset >= 0) {
    return Status::NotSupported(fmt::format(
        "{}: the data does not move to a lower data offset (new_offset {}); meshraid cannot "
        "continue it", what, rsb.new_offset));
  }
  format::Superblock old = WithoutReshape(rsb), neu = AfterReshape(rsb);
  neu.raid_disks = rsb.raid_disks;
  auto og = layout::Geometry::FromSuperblock(old.level, old.layout, old.chunksize,
                                             old.raid_disks, old.size);
  if (!og.ok()) return og.status().WithPrefix(what + ": old layout");
  auto ng = layout::Geometry::FromSuperblock(neu.level, neu.layout, neu.chunksize,
                                             neu.raid_disks, neu.size);
  if (!ng.ok()) return ng.status().WithPrefix(what + ": new layout");
  ReshapePlan r{{*og, *ng, uint64_t(-int64_t(rsb.new_offset))}, rsb.reshape_position};
  if (og->level() != 10 || ng->level() != 10 || og->raid10().far != 1 ||
      og->raid10().offset || !(ng->raid10() == og->raid10())) {
    return Status::NotSupported(what + ": only a RAID10 near layout growing onto more members "
                                       "can be continued");
  }
  if (r.position > r.geometry.MoveSectors() || r.position % ng->chunk_sectors() != 0) {
    return Status::Corruption(fmt::format("{}: position beyond the array ({} sectors) or not on "
                                          "a chunk boundary", what, r.geometry.MoveSectors()));
  }
  return std::optional<ReshapePlan>(r);
}

// A member one event behind whose superblock predates the reshape start, or predates the
// reshape end, in the freshest superblock `rsb`: its geometry is the one before that write.
bool MissedReshapeStep(const format::Superblock& m, const format::Superblock& rsb) {
  if (m.events + 1 != rsb.events) return false;
  if (rsb.Has(format::kFeatureReshapeActive) && !m.Has(format::kFeatureReshapeActive)) {
    return GeometryDifference(m, WithoutReshape(rsb)).empty();
  }
  if (!rsb.Has(format::kFeatureReshapeActive) && m.Has(format::kFeatureReshapeActive)) {
    format::Superblock done = AfterReshape(m);
    return GeometryDifference(done, rsb).empty();
  }
  return false;
}

}  // namespace

std::string_view DispositionName(Disposition d) {
  switch (d) {
    case Disposition::kActive: return "active";
    case Disposition::kRecovering: return "recovering";
    case Disposition::kSpare: return "spare";
    case Disposition::kFaulty: return "faulty";
    case Disposition::kStale: return "stale";
  }
  return "?";
}

Result<AssemblyPlan> PlanAssembly(const std::vector<MemberMetadata>& members) {
  if (members.empty()) return Status::InvalidArgument("no members given");

  // The freshest member: highest events among members that hold a slot in their own superblock
  // (spares carry no authority), falling back to all members.
  size_t ref = members.size();
  for (size_t i = 0; i < members.size(); ++i) {
    if (!IsSlot(members[i].Role())) continue;
    if (ref == members.size() || members[i].sb.events > members[ref].sb.events) ref = i;
  }
  if (ref == members.size()) {
    ref = 0;
    for (size_t i = 1; i < members.size(); ++i) {
      if (members[i].sb.events > members[ref].sb.events) ref = i;
    }
  }
  const format::Superblock& rsb = members[ref].sb;
  const std::string& rpath = members[ref].path;

  AssemblyPlan plan;
  plan.reference = rsb;
  plan.reference_input = ref;
  plan.events = rsb.events;
  plan.needs_resync = !rsb.Clean();
  auto geo = layout::Geometry::FromSuperblock(rsb.level, rsb.layout, rsb.chunksize,
                                              rsb.raid_disks, rsb.size);
  if (!geo.ok()) return geo.status().WithPrefix(rpath);
  plan.geometry = std::move(geo).value();
  MESHRAID_ASSIGN_OR_RETURN(plan.reshape, ReshapeOf(rsb, rpath));
  if (plan.reshape) plan.geometry = plan.reshape->geometry.new_geo;
  int raid_disks = int(rsb.raid_disks);
  plan.slot_member.assign(size_t(raid_disks), -1);

  for (size_t i = 0; i < members.size(); ++i) {
    const MemberMetadata& m = members[i];
    MemberPlan mp;
    mp.input = i;
    mp.data_offset = m.sb.data_offset;
    if (!plan.reshape && m.sb.Has(format::kFeatureNewOffset)) {
      mp.data_offset = uint64_t(int64_t(m.sb.data_offset) + m.sb.new_offset);
    }
    if (m.sb.set_uuid != rsb.set_uuid) {
      return Status::InvalidArgument(fmt::format(
          "{}: member of another array (UUID {}), not of array {} (UUID {} from {})", m.path,
          format::UuidMdadm(m.sb.set_uuid), rsb.Name(), format::UuidMdadm(rsb.set_uuid), rpath));
    }
    for (size_t j = 0; j < i; ++j) {
      if (members[j].sb.dev_number == m.sb.dev_number &&
          members[j].sb.device_uuid == m.sb.device_uuid) {
        return Status::InvalidArgument(
            fmt::format("{} and {}: the same member given twice (dev_number {})", members[j].path,
                        m.path, m.sb.dev_number));
      }
    }
    bool stale = m.sb.events + 1 < rsb.events;
    std::string diff = GeometryDifference(m.sb, rsb);
    if (!stale && !diff.empty() && !MissedReshapeStep(m.sb, rsb)) {
      return Status::InvalidArgument(fmt::format(
          "{} and {}: different geometry in two current superblocks ({})", m.path, rpath, diff));
    }
    uint16_t role = m.sb.dev_number < rsb.dev_roles.size() ? rsb.dev_roles[m.sb.dev_number]
                                                           : format::kRoleSpare;
    if (stale) {
      mp.disposition = Disposition::kStale;
      mp.note = fmt::format("stale: events {} < {}", m.sb.events, rsb.events);
    } else if (role == format::kRoleFaulty) {
      mp.disposition = Disposition::kFaulty;
      mp.note = "marked faulty by the freshest superblock";
    } else if (!IsSlot(role)) {
      mp.disposition = Disposition::kSpare;
      mp.note = "spare";
    } else if (role >= rsb.raid_disks) {
      return Status::InvalidArgument(fmt::format("{}: role {} is beyond raid_disks {}", m.path,
                                                 role, rsb.raid_disks));
    } else {
      mp.slot = role;
      for (const MemberPlan& other : plan.members) {
        if (other.slot == mp.slot) {
          return Status::InvalidArgument(fmt::format("{} and {}: two members claim slot {}",
                                                     members[other.input].path, m.path, mp.slot));
        }
      }
      if (m.sb.Has(format::kFeatureRecoveryOffset)) {
        mp.disposition = Disposition::kRecovering;
        mp.recovery_offset = m.sb.recovery_offset;
      } else {
        mp.disposition = Disposition::kActive;
        plan.slot_member[size_t(role)] = int(i);
      }
    }
    plan.members.push_back(std::move(mp));
  }

  std::vector<bool> in_sync(size_t(raid_disks), false);
  std::vector<int> missing;
  for (int s = 0; s < raid_disks; ++s) {
    in_sync[size_t(s)] = plan.slot_member[size_t(s)] >= 0;
    if (!in_sync[size_t(s)]) missing.push_back(s);
  }
  plan.degraded = int(missing.size());
  bool enough = plan.geometry.Enough(in_sync);
  if (plan.reshape) {  // sectors not moved yet need the old layout's slots
    const layout::Geometry& old_geo = plan.reshape->geometry.old_geo;
    std::vector<bool> old_in_sync(in_sync.begin(), in_sync.begin() + old_geo.raid_disks());
    enough = enough && old_geo.Enough(old_in_sync);
  }
  if (!enough) {
    return Status::FailedPrecondition(fmt::format(
        "not enough in-sync members to read every sector of array {} (UUID {}): slot(s) {} "
        "missing of {}",
        rsb.Name(), format::UuidMdadm(rsb.set_uuid), fmt::join(missing, ","), raid_disks));
  }
  return plan;
}

}  // namespace meshraid::raid
