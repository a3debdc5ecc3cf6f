// Where the copies of an array sector are on the members, with or without a reshape in
// progress: one function for the running array and the offline reader.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "layout/geometry.h"
#include "raid/assemble.h"

namespace meshraid::raid {

struct Placement {
  std::vector<layout::Copy> copies;  // sectors relative to the data start below
  bool new_layout = false;           // true: relative to data_offset − offset_change
  uint64_t run = 0;                  // sectors from v on which the mapping stays contiguous
};

// Sectors from v on which the mapping stays contiguous in whichever layout serves v. During a
// reshape it fits both layouts: both end at chunk boundaries of the new layout or earlier, so a
// run never crosses the position (a multiple of the new chunk) and a piece split before the
// position moves stays contiguous after.
inline uint64_t PlacedRun(const layout::Geometry& geometry,
                          const std::optional<ReshapePlan>& reshape, uint64_t position,
                          uint64_t v) {
  if (!reshape) return geometry.ContiguousSectors(v);
  const layout::ReshapeGeometry& r = reshape->geometry;
  uint64_t run = r.new_geo.ContiguousSectors(v);
  if (v < r.old_geo.ArraySectors()) run = std::min(run, r.old_geo.ContiguousSectors(v));
  if (v >= position) run = std::min(run, r.MoveSectors() - v);
  return run;
}

// `geometry` is the array's (the new one during a reshape); `position` the reshape position.
inline Placement Place(const layout::Geometry& geometry, const std::optional<ReshapePlan>& reshape,
                       uint64_t position, uint64_t v) {
  Placement p;
  p.run = PlacedRun(geometry, reshape, position, v);
  if (!reshape) {
    p.copies = geometry.Map(v);
    return p;
  }
  p.new_layout = v < position;
  p.copies = (p.new_layout ? reshape->geometry.new_geo : reshape->geometry.old_geo).Map(v);
  return p;
}

// The byte offset on a member of copy sector `sector` of a placement.
inline uint64_t PlacedByteOffset(uint64_t data_offset, const std::optional<ReshapePlan>& reshape,
                                 bool new_layout, uint64_t sector) {
  const uint64_t start = new_layout ? data_offset - reshape->geometry.offset_change : data_offset;
  return (start + sector) * 512;
}

}  // namespace meshraid::raid
