// Growing a RAID10 near layout onto more members (MD's forward reshape): pure planning and the
// one safety rule the copy obeys. Facts: md-facts F.5; our design: doc/reshape.md.
//
// During the reshape every member holds the array twice over, at two data offsets: array
// sectors below the reshape position live in the new layout at new_offset = data_offset −
// offset_change, the rest still in the old layout at data_offset. Moving sections forward
// writes new-layout copies below the old data of sectors not yet moved, so the copy may only
// run ahead of the last persisted position (the checkpoint) as far as SafeEnd() allows: no
// new-layout write ever lands on an old-layout sector that a restart from the checkpoint would
// read again. Every sector keeps all its copies at every moment (old until moved, new after).
#pragma once

#include <cstdint>

#include "layout/geometry.h"
#include "util/result.h"

namespace meshraid::layout {

struct ReshapeGeometry {
  Geometry old_geo;
  Geometry new_geo;
  uint64_t offset_change = 0;  // sectors: new data offset = data offset − offset_change

  // Array sectors that hold data and are moved: the old array size.
  uint64_t MoveSectors() const { return old_geo.ArraySectors(); }

  // The largest array sector x (a multiple of the new chunk, ≤ MoveSectors()) such that
  // writing the new-layout copies of every array sector below x overwrites no old-layout copy
  // of any sector at or above `checkpoint`. Always > checkpoint while checkpoint <
  // MoveSectors() for a plan made by PlanGrow.
  uint64_t SafeEnd(uint64_t checkpoint) const;
};

// Plans growing `old_geo` (RAID10 near, far 1, not offset; RAID10 with near == raid_disks is
// the RAID1-like layout a takeover leaves) onto `new_raid_disks` members with chunk
// `new_chunk_sectors` (0: keep the chunk); `dev_sectors` stays. `data_offset` is the members'
// data offset now and `min_data_offset` the lowest one allowed (MD: superblock start + 72
// sectors, past the bitmap and bad-block log). Errors (kInvalidArgument / kNotSupported /
// kFailedPrecondition), one line each: not RAID10 near, fewer members than now, more than 255,
// chunk not a power of two >= 8 sectors, array size not a multiple of the new chunk, no room
// below the data offset for the move.
Result<ReshapeGeometry> PlanGrow(const Geometry& old_geo, int new_raid_disks,
                                 uint64_t new_chunk_sectors, uint64_t data_offset,
                                 uint64_t min_data_offset);

// MD's smallest data offset move for a near-layout reshape: the larger chunk.
uint64_t MinOffsetChange(const Geometry& old_geo, const Geometry& new_geo);

}  // namespace meshraid::layout
