// Creating a new array: mdadm's create-time choices (data offset, bitmap placement and chunk,
// bad-block log, max_dev, names) turned into the bytes each member gets. PlanCreate is pure;
// CreateArray validates every member first and writes only when all of them are acceptable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/superblock.h"
#include "layout/geometry.h"
#include "util/result.h"

namespace meshraid::raid {

enum class BitmapChoice { kDefault, kInternal, kNone };

struct CreateOptions {
  int level = 1;                          // 1 or 10
  layout::Raid10Layout raid10_layout{};   // RAID10 only (default n2)
  uint64_t chunk_sectors = 0;             // RAID10 only; 0 = mdadm's default 512 KiB
  int raid_devices = 0;
  BitmapChoice bitmap = BitmapChoice::kDefault;  // default: internal from 100 GiB up, as mdadm
  std::string name = "meshraid";
  std::string homehost;                   // set_name = "homehost:name" when it fits in 31 chars
  bool assume_clean = false;
  bool force = false;                     // overwrite members that hold an MD superblock
  uint64_t now_seconds = 0;               // ctime/utime
  format::Uuid set_uuid{};                // random in the tool, fixed in tests
  std::vector<format::Uuid> device_uuids;  // one per member
};

// What one member gets.
struct MemberWrite {
  format::Superblock sb;
  std::vector<uint8_t> sb_bytes;      // at sector 8
  uint64_t bitmap_sector = 0;         // absolute; 0 when no bitmap
  std::vector<uint8_t> bitmap_bytes;  // bitmap superblock + bits, padded to its reserved space
  uint64_t bblog_sector = 0;
  std::vector<uint8_t> bblog_bytes;
};

struct CreatePlan {
  uint64_t data_offset = 0;      // sectors, the same on every member
  uint64_t component_sectors = 0;
  layout::Geometry geometry;
  bool bitmap = false;
  std::vector<MemberWrite> members;
};

// mdadm's bitmap space reservation (sectors) for a device of `device_sectors`.
uint64_t BitmapSpaceSectors(uint64_t device_sectors);
// mdadm's default data offset (sectors) for v1.2 on a device of `device_sectors` with the given
// chunk (KiB, 0 for RAID1).
uint64_t DefaultDataOffset(uint64_t device_sectors, uint64_t chunk_kib);

struct CreateMember {
  std::string name;      // path, used in error messages
  uint64_t sectors = 0;  // device size
};

// The full plan for the given members. Refuses members too small to hold the metadata plus one
// chunk of data, naming the member.
Result<CreatePlan> PlanCreate(const CreateOptions& opts, const std::vector<CreateMember>& members);

// Opens every member read-write, refuses (touching nothing) a member that is missing, not
// writable, too small, given twice, or already holding an MD superblock (unless force), then
// writes the plan. Each error is one line naming the member.
Result<CreatePlan> CreateArray(const CreateOptions& opts, const std::vector<std::string>& paths);

}  // namespace meshraid::raid
