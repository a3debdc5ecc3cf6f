// Offline assembly: given the metadata of candidate members, decide the array — which members
// are fresh, which slot each fills, which are stale, spare or faulty — the way MD and mdadm do.
// Pure: no I/O (the metadata is read by ReadMemberMetadata).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <optional>

#include "layout/geometry.h"
#include "layout/reshape.h"
#include "raid/member_metadata.h"
#include "util/result.h"

namespace meshraid::raid {

enum class Disposition {
  kActive,      // in sync, serves reads
  kRecovering,  // holds a slot but is in sync only below recovery_offset
  kSpare,       // no slot
  kFaulty,      // marked faulty by the freshest superblock
  kStale,       // events more than one behind the freshest member: excluded
};
std::string_view DispositionName(Disposition d);

struct MemberPlan {
  size_t input = 0;  // index into the members given to PlanAssembly
  Disposition disposition = Disposition::kSpare;
  int slot = -1;                  // for kActive / kRecovering
  uint64_t recovery_offset = 0;   // for kRecovering
  // Where the member's data starts (the old layout's during a reshape). Differs from its
  // superblock's data_offset only for a member that missed the write ending a reshape.
  uint64_t data_offset = 0;
  std::string note;               // why, for stale/faulty/spare members
};

// A RAID10 grow (forward reshape) in progress, from RESHAPE_ACTIVE superblocks: array sectors
// below `position` are in the new layout at data_offset − offset_change, the rest in the old.
struct ReshapePlan {
  layout::ReshapeGeometry geometry;
  uint64_t position = 0;
};

struct AssemblyPlan {
  format::Superblock reference;  // the freshest superblock
  size_t reference_input = 0;
  layout::Geometry geometry;  // during a reshape: the new geometry (slots of the new layout)
  std::optional<ReshapePlan> reshape;
  uint64_t events = 0;
  std::vector<MemberPlan> members;  // one per input, same order
  std::vector<int> slot_member;     // slot -> input index of its in-sync member, or -1
  int degraded = 0;                 // slots without an in-sync member
  bool needs_resync = false;        // resync_offset != MaxSector in the freshest superblock

  // Inputs of in-sync members by slot (-1 where missing).
  bool SlotInSync(int slot) const { return slot_member[size_t(slot)] >= 0; }
};

// Decides the array from `members` (all successfully read). Errors, one line each, naming the
// member(s): a member of another array (set_uuid differs), two members claiming one slot,
// different geometry in two current superblocks, not enough in-sync members to read every
// sector, a role beyond raid_disks, a reshape meshraid cannot continue (shrinking, backwards,
// without a new data offset). A member one event behind that missed the superblock write
// starting or ending a reshape is current (its data is where the other members say).
Result<AssemblyPlan> PlanAssembly(const std::vector<MemberMetadata>& members);

}  // namespace meshraid::raid
