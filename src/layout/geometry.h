// RAID1 and RAID10 (near/far/offset, far sets) geometry: pure math mapping array (virtual)
// sectors to member sectors and back. Member sectors are relative to the member's data_offset.
// Facts: doc/raid10_geometry.md (MD's layout word and mapping, in our words).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
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

  // Rejects bits >= 19, far-set mode 3 and zero near or far copies (kInvalidArgument).
  static Result<Raid10Layout> FromWord(uint32_t word);
  uint32_t Word() const;
  int Copies() const { return near * far; }
  // mdadm's spelling: "near=2", "far=2", "offset=2" (and combinations like "near=2,far=2").
  std::string MdadmName() const;
  // Parses mdadm's --layout strings "n2", "f2", "o2" (and "near2", "far=2", "offset2"...).
  // Copies must be 1..255; whether they fit the member count is checked by Geometry::Raid10.
  static Result<Raid10Layout> Parse(std::string_view text);

  // Devices per far set: the whole array (mode 0), raid_disks / far (mode 1) or near × far
  // (mode 2). The last set also takes the remaining raid_disks % size devices.
  int FarSetSize(int raid_disks) const;

  bool operator==(const Raid10Layout&) const = default;
};

// One copy of an array sector: which member slot (raid role) and which sector on it.
struct Copy {
  int disk = 0;
  uint64_t sector = 0;  // relative to data_offset
  bool operator==(const Copy&) const = default;
};

class Geometry {
 public:
  // Largest member count FromSuperblock accepts (v1.x superblocks hold far fewer roles).
  static constexpr uint32_t kMaxRaidDisks = 65535;

  // RAID1 with `raid_disks` mirrors, each using `dev_sectors` sectors.
  static Result<Geometry> Raid1(int raid_disks, uint64_t dev_sectors);
  // RAID10. chunk_sectors must be a power of two >= 8; 2 <= copies <= raid_disks.
  // kNotSupported for layouts on which MD's own mapping is unsafe (two copies on one member,
  // or two chunks on one member sector): some far-set layouts, and offset layouts with
  // near > 1 on a member count that is not a multiple of near. doc/raid10_geometry.md.
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

  // Member sectors actually used by the layout (≤ dev_sectors): RAID1 dev_sectors; RAID10
  // MD's calc_sectors (chunks per member rounded up, whole chunks only).
  uint64_t DeviceSectorsUsed() const { return dev_used_; }

  // MD's "enough" rule: can every array sector be read when only members with
  // in_sync[disk] == true are present? RAID1: any in-sync member. RAID10: MD's _enough, every
  // run of copies() consecutive slots starting at 0, near, 2×near... (mod raid_disks) holds an
  // in-sync member. Entries past in_sync.size() count as not in sync.
  bool Enough(const std::vector<bool>& in_sync) const;

  // The exact answer: does every array chunk keep a copy on an in-sync member? Equals
  // Enough() for RAID1 and far-set mode 0; with far sets (modes 1, 2) MD's Enough() is
  // sometimes stricter and sometimes looser than this (doc/raid10_geometry.md).
  bool AllChunksReadable(const std::vector<bool>& in_sync) const;

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
  int far_set_size_ = 0;     // RAID10: devices per far set (raid_disks in mode 0)

  // The device holding the next far copy of a chunk copy on device d (rotation by near
  // within d's far set), and its inverse.
  int FarNext(int d) const;
  int FarPrev(int d) const;
  // Start and size of the far set that holds device d (the last set absorbs the remainder).
  void FarSetOf(int d, int* start, int* size) const;
  bool IsRaid1Like() const;
  // Refuses layouts on which MD's own mapping is unsafe (see Raid10).
  Status CheckMdSafe() const;
};

}  // namespace meshraid::layout
