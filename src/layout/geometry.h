// RAID1 and RAID10 (near/far/offset, far sets) geometry: pure math mapping array (virtual)
// sectors to member sectors and back. Member sectors are relative to the member's data_offset.
// Facts: doc/raid10_geometry.md (MD's layout word and mapping, in our words).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/result.h"

namespace meshraid::layout {

// The RAID10 layout word, decoded: bits 0..7 near copies, 8..15 far copies, bit 16 offset
// ("far_offset"), bits 17..18 far-set mode (0 original, 1 buggy improved, 2 fixed improved).
struct Raid10Layout {
  int near = 2;
  int far = 1;
  bool offset = false;
  int far_set_mode = 0;

  static Result<Raid10Layout> FromWord(uint32_t word);  // rejects bits >= 19, zero copies
  uint32_t Word() const;
  int Copies() const { return near * far; }
  // mdadm's spelling: "near=2", "far=2", "offset=2" (and combinations like "near=2,far=2").
  std::string MdadmName() const;
  // Parses mdadm's --layout strings "n2", "f2", "o2" (and "near2"...).
  static Result<Raid10Layout> Parse(std::string_view text);
};

// One copy of an array sector: which member slot (raid role) and which sector on it.
struct Copy {
  int disk = 0;
  uint64_t sector = 0;  // relative to data_offset
  bool operator==(const Copy&) const = default;
};

class Geometry {
 public:
  // RAID1 with `raid_disks` mirrors, each using `dev_sectors` sectors.
  static Result<Geometry> Raid1(int raid_disks, uint64_t dev_sectors);
  // RAID10. chunk_sectors must be a power of two >= 8; 2 <= copies <= raid_disks.
  static Result<Geometry> Raid10(int raid_disks, Raid10Layout layout, uint64_t chunk_sectors,
                                 uint64_t dev_sectors);
  // From superblock fields (level 1 or 10; any other level is kNotSupported).
  static Result<Geometry> FromSuperblock(int32_t level, uint32_t layout, uint32_t chunksize,
                                         uint32_t raid_disks, uint64_t size);

  int level() const { return level_; }
  int raid_disks() const { return raid_disks_; }
  int copies() const;
  const Raid10Layout& raid10() const { return r10_; }
  uint64_t chunk_sectors() const { return chunk_sectors_; }
  uint64_t dev_sectors() const { return dev_sectors_; }

  // Array size in sectors (RAID1: dev_sectors; RAID10: MD's raid10_size).
  uint64_t ArraySectors() const { return array_sectors_; }

  // All copies of array sector v, in MD's slot order (copy 0 is the "first" copy).
  // Requires v < ArraySectors().
  std::vector<Copy> Map(uint64_t v) const;

  // Number of sectors from v on which the mapping stays contiguous (every copy advances by
  // one sector per array sector): up to the chunk end for RAID10 (near < raid_disks or far or
  // offset), to the array end for RAID1-like mappings.
  uint64_t ContiguousSectors(uint64_t v) const;

  // The inverse: the array sector stored at (disk, sector), or kNotFound if that member
  // sector holds no array data (beyond the used area).
  Result<uint64_t> Unmap(int disk, uint64_t sector) const;

  // Member sectors actually used by the layout (≤ dev_sectors).
  uint64_t DeviceSectorsUsed() const { return dev_used_; }

  // MD's "enough" rule: can every array sector be read when only members with
  // in_sync[disk] == true are present?
  bool Enough(const std::vector<bool>& in_sync) const;

  bool operator==(const Geometry&) const = default;

 private:
  int level_ = 1;
  int raid_disks_ = 0;
  Raid10Layout r10_{};
  uint64_t chunk_sectors_ = 0;
  int chunk_shift_ = 0;
  uint64_t dev_sectors_ = 0;
  uint64_t array_sectors_ = 0;
  uint64_t dev_used_ = 0;
  uint64_t far_stride_ = 0;  // sectors between far copies on one device
};

}  // namespace meshraid::layout
