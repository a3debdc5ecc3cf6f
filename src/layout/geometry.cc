// RAID1 / RAID10 geometry. The RAID10 mapping follows MD's: array chunks are laid out like
// RAID0 over "near" cells (each chunk fills `near` consecutive cells of a stripe, wrapping to
// the next stripe), and every near cell has far-1 rotated copies, either in later far regions
// of each member (far) or in the following stripes (offset). doc/raid10_geometry.md.
#include "layout/geometry.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <string>

namespace meshraid::layout {
namespace {

bool Bit(const std::vector<bool>& v, int i) {
  return i >= 0 && static_cast<size_t>(i) < v.size() && v[i];
}

}  // namespace

int Geometry::copies() const { return level_ == 1 ? raid_disks_ : r10_.Copies(); }

bool Geometry::IsRaid1Like() const { return level_ == 1 || r10_.near == raid_disks_; }

Result<Geometry> Geometry::Raid1(int raid_disks, uint64_t dev_sectors) {
  if (raid_disks < 1) {
    return Status::InvalidArgument("raid1 needs at least 1 member, got " +
                                   std::to_string(raid_disks));
  }
  Geometry g;
  g.level_ = 1;
  g.raid_disks_ = raid_disks;
  g.dev_sectors_ = dev_sectors;
  g.array_sectors_ = dev_sectors;
  g.dev_used_ = dev_sectors;
  return g;
}

Result<Geometry> Geometry::Raid10(int raid_disks, Raid10Layout layout, uint64_t chunk_sectors,
                                  uint64_t dev_sectors) {
  if (layout.near < 1 || layout.near > 255 || layout.far < 1 || layout.far > 255 ||
      layout.far_set_mode < 0 || layout.far_set_mode > 2) {
    return Status::InvalidArgument(
        "raid10 layout fields out of range (near " + std::to_string(layout.near) + ", far " +
        std::to_string(layout.far) + ", far-set mode " + std::to_string(layout.far_set_mode) + ")");
  }
  const std::string name = "raid10 layout " + layout.MdadmName();
  if (layout.Copies() < 2) return Status::InvalidArgument(name + " has fewer than 2 copies");
  if (layout.Copies() > raid_disks) {
    return Status::InvalidArgument(name + " needs " + std::to_string(layout.Copies()) +
                                   " members, array has " + std::to_string(raid_disks));
  }
  if (chunk_sectors < 8 || !std::has_single_bit(chunk_sectors)) {
    return Status::InvalidArgument("raid10 chunk of " + std::to_string(chunk_sectors) +
                                   " sectors is not a power of two >= 8");
  }
  Geometry g;
  g.level_ = 10;
  g.raid_disks_ = raid_disks;
  g.r10_ = layout;
  g.chunk_sectors_ = chunk_sectors;
  g.chunk_shift_ = std::countr_zero(chunk_sectors);
  g.dev_sectors_ = dev_sectors;
  g.far_set_size_ = layout.FarSetSize(raid_disks);
  MESHRAID_RETURN_IF_ERROR(g.CheckMdSafe());

  // MD's calc_sectors then raid10_size: array chunks from whole chunks per far region, member
  // chunks in use rounded up, far stride = one far region.
  const uint64_t n = static_cast<uint64_t>(raid_disks);
  const uint64_t nc = static_cast<uint64_t>(layout.near);
  const uint64_t fc = static_cast<uint64_t>(layout.far);
  const uint64_t array_chunks = (dev_sectors >> g.chunk_shift_) / fc * n / nc;
  const uint64_t dev_chunks = (array_chunks * nc * fc + n - 1) / n;
  g.dev_used_ = dev_chunks << g.chunk_shift_;
  g.far_stride_ = layout.offset ? chunk_sectors : (dev_chunks / fc) << g.chunk_shift_;
  g.array_sectors_ = (dev_chunks / fc * n / nc) << g.chunk_shift_;
  return g;
}

Result<Geometry> Geometry::FromSuperblock(int32_t level, uint32_t layout, uint32_t chunksize,
                                          uint32_t raid_disks, uint64_t size) {
  if (raid_disks > kMaxRaidDisks) {
    return Status::InvalidArgument("raid_disks " + std::to_string(raid_disks) + " is more than " +
                                   std::to_string(kMaxRaidDisks));
  }
  const int disks = static_cast<int>(raid_disks);
  if (level == 1) return Raid1(disks, size);
  if (level != 10) {
    return Status::NotSupported("raid level " + std::to_string(level) +
                                " is not supported (only 1 and 10)");
  }
  MESHRAID_ASSIGN_OR_RETURN(Raid10Layout l, Raid10Layout::FromWord(layout));
  return Raid10(disks, l, chunksize, size);
}

void Geometry::FarSetOf(int d, int* start, int* size) const {
  const int sets = raid_disks_ / far_set_size_;
  const int k = std::min(d / far_set_size_, sets - 1);
  *start = k * far_set_size_;
  *size = k == sets - 1 ? raid_disks_ - *start : far_set_size_;
}

int Geometry::FarNext(int d) const {
  int start, size;
  FarSetOf(d, &start, &size);
  return start + (d - start + r10_.near) % size;
}

int Geometry::FarPrev(int d) const {
  int start, size;
  FarSetOf(d, &start, &size);
  return start + (d - start + size - r10_.near % size) % size;
}

Status Geometry::CheckMdSafe() const {
  if (r10_.far == 1) return Status::Ok();
  const int nc = r10_.near;
  const int n = raid_disks_;
  const int fss = far_set_size_;
  const std::string what = "raid10 layout " + r10_.MdadmName() + " with far-set mode " +
                           std::to_string(r10_.far_set_mode) + " on " + std::to_string(n) +
                           " members";
  // Offset layouts: when a chunk's near copies wrap past the last member, MD puts the rest
  // one chunk further down, which is the rotated-copy stripe, not the next data stripe: the
  // wrapped copy overwrites another chunk's offset copy.
  if (r10_.offset && n % nc != 0) {
    return Status::NotSupported(what + " is unsafe in MD: wrapped near copies overlap " +
                                "offset copies");
  }
  // MD's own step to the next far device tests "past the start of the last set" *after*
  // adding near, so a device near the end of the second-to-last set can jump into the last
  // set. Where that differs from rotating within the set, two chunks share a member sector.
  const int last_start = (n / fss - 1) * fss;
  const int last_size = fss + n % fss;
  for (int d = 0; d < n; ++d) {
    const int set = d / fss;
    int md = d + nc;
    md = (n % fss != 0 && md > last_start) ? last_start + (md - last_start) % last_size
                                           : md % fss + fss * set;
    if (md != FarNext(d)) {
      return Status::NotSupported(what + " is unsafe in MD: two chunks share member " +
                                  std::to_string(md));
    }
  }
  // Every copy of a chunk must be on its own member.
  for (int dev = 0; dev < n; ++dev) {
    std::vector<bool> used(n, false);
    for (int k = 0; k < nc; ++k) {
      int d = (dev + k) % n;
      for (int f = 0; f < r10_.far; ++f, d = FarNext(d)) {
        if (used[d]) {
          return Status::NotSupported(what + " is unsafe: two copies land on member " +
                                      std::to_string(d));
        }
        used[d] = true;
      }
    }
  }
  return Status::Ok();
}

std::vector<Copy> Geometry::Map(uint64_t v) const {
  assert(v < array_sectors_);
  std::vector<Copy> out;
  out.reserve(static_cast<size_t>(copies()));
  if (level_ == 1) {
    for (int d = 0; d < raid_disks_; ++d) out.push_back({d, v});
    return out;
  }
  const uint64_t n = static_cast<uint64_t>(raid_disks_);
  const uint64_t cell = (v >> chunk_shift_) * static_cast<uint64_t>(r10_.near);
  int dev = static_cast<int>(cell % n);
  uint64_t stripe = cell / n;
  if (r10_.offset) stripe *= static_cast<uint64_t>(r10_.far);
  uint64_t base = (stripe << chunk_shift_) + (v & (chunk_sectors_ - 1));
  for (int k = 0; k < r10_.near; ++k) {
    int d = dev;
    uint64_t s = base;
    out.push_back({d, s});
    for (int f = 1; f < r10_.far; ++f) {
      d = FarNext(d);
      s += far_stride_;
      out.push_back({d, s});
    }
    if (++dev == raid_disks_) {  // the near copies wrap into the next stripe
      dev = 0;
      base += chunk_sectors_;
    }
  }
  return out;
}

uint64_t Geometry::ContiguousSectors(uint64_t v) const {
  if (v >= array_sectors_) return 0;
  if (IsRaid1Like()) return array_sectors_ - v;
  return chunk_sectors_ - (v & (chunk_sectors_ - 1));
}

Result<uint64_t> Geometry::Unmap(int disk, uint64_t sector) const {
  if (disk < 0 || disk >= raid_disks_) {
    return Status::InvalidArgument("member slot " + std::to_string(disk) + " is not in 0.." +
                                   std::to_string(raid_disks_ - 1));
  }
  auto not_found = [&] {
    return Status::NotFound("member " + std::to_string(disk) + " sector " + std::to_string(sector) +
                            " holds no array data");
  };
  if (sector >= dev_used_) return not_found();
  if (level_ == 1) return sector;
  const uint64_t fc = static_cast<uint64_t>(r10_.far);
  uint64_t far_index, stripe;
  if (r10_.offset) {
    far_index = (sector >> chunk_shift_) % fc;
    stripe = (sector >> chunk_shift_) / fc;
  } else {
    far_index = sector / far_stride_;
    if (far_index >= fc) return not_found();  // tail past the last far region
    stripe = (sector - far_index * far_stride_) >> chunk_shift_;
  }
  int d = disk;
  for (uint64_t f = 0; f < far_index; ++f) d = FarPrev(d);
  const uint64_t cell = stripe * static_cast<uint64_t>(raid_disks_) + static_cast<uint64_t>(d);
  const uint64_t v =
      ((cell / static_cast<uint64_t>(r10_.near)) << chunk_shift_) + (sector & (chunk_sectors_ - 1));
  if (v >= array_sectors_) return not_found();
  return v;
}

bool Geometry::Enough(const std::vector<bool>& in_sync) const {
  if (level_ == 1) {
    for (int d = 0; d < raid_disks_; ++d) {
      if (Bit(in_sync, d)) return true;
    }
    return false;
  }
  // MD's _enough: windows of `copies` consecutive slots, starting every `near` slots.
  int first = 0;
  do {
    bool any = false;
    for (int k = 0; k < copies() && !any; ++k) any = Bit(in_sync, (first + k) % raid_disks_);
    if (!any) return false;
    first = (first + r10_.near) % raid_disks_;
  } while (first != 0);
  return true;
}

bool Geometry::AllChunksReadable(const std::vector<bool>& in_sync) const {
  if (IsRaid1Like() || level_ == 1) return Enough(in_sync);
  // The members holding a chunk depend only on the member of its first copy, chunk × near
  // mod raid_disks, which repeats within raid_disks chunks.
  const uint64_t chunks =
      std::min<uint64_t>(array_sectors_ >> chunk_shift_, static_cast<uint64_t>(raid_disks_));
  for (uint64_t c = 0; c < chunks; ++c) {
    bool readable = false;
    for (const Copy& copy : Map(c << chunk_shift_)) readable = readable || Bit(in_sync, copy.disk);
    if (!readable) return false;
  }
  return true;
}

}  // namespace meshraid::layout
