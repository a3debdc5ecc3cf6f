// Offline assembly: given the metadata of candidate members, decide the array — which members
// are fresh, which slot each fills, which are stale, spare or faulty — the way MD and mdadm do.
// Pure: no I/O (the metadata is read by ReadMemberMetadata).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layout/geometry.h"
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
  std::string note;               // why, for stale/faulty/spare members
};

struct AssemblyPlan {
  format::Superblock reference;  // the freshest superblock
  size_t reference_input = 0;
  layout::Geometry geometry;
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
// sector, a role beyond raid_disks.
Result<AssemblyPlan> PlanAssembly(const std::vector<MemberMetadata>& members);

}  // namespace meshraid::raid
