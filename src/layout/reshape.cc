#include "layout/reshape.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace meshraid::layout {
namespace {

bool IsNear(const Geometry& g) {
  return g.level() == 10 && g.raid10().far == 1 && !g.raid10().offset;
}

// Copy position p of a near layout (chunk k's copies are positions k·near .. k·near+near−1)
// lives on device p mod raid_disks in stripe p div raid_disks.
//
// The lowest sector (relative to the data offset) at which device `d` holds an old-layout copy
// of an array sector >= v; `none` when it holds none.
uint64_t OldLow(const Geometry& g, int d, uint64_t v, uint64_t none) {
  const uint64_t chunk = g.chunk_sectors(), near = uint64_t(g.raid10().near);
  const uint64_t n = uint64_t(g.raid_disks());
  uint64_t k = v / chunk;
  if (uint64_t(d) >= n) return none;
  uint64_t low = none;
  if (v % chunk != 0) {  // the rest of chunk k, on the devices of its copies
    for (uint64_t p = k * near; p < (k + 1) * near; ++p) {
      if (p % n == uint64_t(d)) low = std::min(low, p / n * chunk + v % chunk);
    }
    ++k;
  }
  // The first position at or after k·near on device d holds a later chunk from its start.
  const uint64_t first = k * near;
  const uint64_t p = first + (uint64_t(d) + n - first % n) % n;
  if (p / near * chunk < g.ArraySectors()) low = std::min(low, p / n * chunk);
  return low;
}

// The end (exclusive, relative to the new data offset) of the new-layout copies of array
// sectors [0, x) on device d, x a multiple of the chunk; 0 when there are none.
uint64_t NewHigh(const Geometry& g, int d, uint64_t x) {
  const uint64_t chunk = g.chunk_sectors(), near = uint64_t(g.raid10().near);
  const uint64_t n = uint64_t(g.raid_disks());
  if (x == 0) return 0;
  const uint64_t last = x / chunk * near - 1;  // the last position used
  if (last < uint64_t(d)) return 0;
  const uint64_t p = last - (last % n + n - uint64_t(d)) % n;  // last position on device d
  return (p / n + 1) * chunk;
}

}  // namespace

uint64_t MinOffsetChange(const Geometry& old_geo, const Geometry& new_geo) {
  return std::max(old_geo.chunk_sectors() * uint64_t(old_geo.raid10().far),
                  new_geo.chunk_sectors() * uint64_t(new_geo.raid10().far));
}

uint64_t ReshapeGeometry::SafeEnd(uint64_t checkpoint) const {
  const uint64_t end = MoveSectors();
  if (checkpoint >= end) return end;
  const uint64_t none = ~uint64_t{0};
  std::vector<uint64_t> limit;  // per device: the new layout must stay below this
  for (int d = 0; d < new_geo.raid_disks(); ++d) {
    const uint64_t low = OldLow(old_geo, d, checkpoint, none);
    limit.push_back(low == none ? none : low + offset_change);
  }
  auto fits = [&](uint64_t x) {
    for (int d = 0; d < new_geo.raid_disks(); ++d) {
      if (NewHigh(new_geo, d, x) > limit[size_t(d)]) return false;
    }
    return true;
  };
  // NewHigh grows with x: binary search over whole new chunks.
  const uint64_t chunk = new_geo.chunk_sectors();
  uint64_t lo = 0, hi = end / chunk;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid * chunk)) lo = mid; else hi = mid - 1;
  }
  return lo * chunk;
}

Result<ReshapeGeometry> PlanGrow(const Geometry& old_geo, int new_raid_disks,
                                 uint64_t new_chunk_sectors, uint64_t data_offset,
                                 uint64_t min_data_offset) {
  const std::string what = fmt::format("reshape to {} members", new_raid_disks);
  if (!IsNear(old_geo)) {
    return Status::NotSupported(fmt::format(
        "{}: only RAID10 near layouts can grow (this array is {}{}); take a RAID1 over to "
        "RAID10 first (grow --level=10)",
        what, old_geo.level() == 1 ? "raid1" : "raid10 ",
        old_geo.level() == 1 ? "" : old_geo.raid10().MdadmName()));
  }
  if (new_raid_disks <= old_geo.raid_disks()) {
    return Status::NotSupported(fmt::format(
        "{}: the array has {} members; only growing is supported", what, old_geo.raid_disks()));
  }
  if (new_raid_disks > 255) {
    return Status::InvalidArgument(fmt::format("{}: more than 255 members", what));
  }
  const uint64_t chunk = new_chunk_sectors != 0 ? new_chunk_sectors : old_geo.chunk_sectors();
  Raid10Layout layout = old_geo.raid10();
  Result<Geometry> new_geo = Geometry::Raid10(new_raid_disks, layout, chunk, old_geo.dev_sectors());
  if (!new_geo.ok()) return new_geo.status().WithPrefix(what);
  if (old_geo.ArraySectors() % chunk != 0) {
    return Status::InvalidArgument(
        fmt::format("{}: the array size ({} sectors) is not a multiple of the new chunk ({} "
                    "sectors)",
                    what, old_geo.ArraySectors(), chunk));
  }
  ReshapeGeometry r{old_geo, *new_geo, MinOffsetChange(old_geo, *new_geo)};
  if (data_offset < min_data_offset + r.offset_change) {
    return Status::FailedPrecondition(fmt::format(
        "{}: no room to move the data offset down by {} sectors (data offset {}, lowest "
        "allowed {})",
        what, r.offset_change, data_offset, min_data_offset));
  }
  if (r.SafeEnd(0) == 0) {
    return Status::FailedPrecondition(fmt::format("{}: the first section does not fit", what));
  }
  return r;
}

}  // namespace meshraid::layout
