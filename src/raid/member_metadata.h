// Reading a member's MD metadata (superblock, bitmap superblock and bits, bad-block log) from a
// file or block device. Probes v1.2, then v1.1, then v1.0 locations, as mdadm does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "format/badblocks.h"
#include "format/bitmap.h"
#include "format/superblock.h"
#include "io/sync_file.h"
#include "util/result.h"

namespace meshraid::raid {

struct BitmapInfo {
  format::BitmapSuper super;
  format::BitmapBits bits{0};
  uint64_t sector = 0;  // absolute device sector of the bitmap superblock
};

struct MemberMetadata {
  std::string path;
  uint64_t device_sectors = 0;
  format::SbVersion version = format::SbVersion::k1_2;
  uint64_t sb_sector = 0;  // absolute sector of the superblock
  format::Superblock sb;
  std::optional<BitmapInfo> bitmap;              // when BITMAP_OFFSET is set
  std::vector<format::BadBlock> bad_blocks;      // when BAD_BLOCKS is set
  bool checksum_ok = true;                       // always true for a successful read

  uint16_t Role() const { return sb.ThisRole(); }
};

// Reads and validates the metadata of the member behind `file`. Every error is one line that
// starts with the member path, e.g. "/tmp/m1: bad checksum: expected 0x1234, found 0x5678".
Result<MemberMetadata> ReadMemberMetadata(const io::SyncFile& file);

// Opens `path` read-only and reads its metadata.
Result<MemberMetadata> ReadMemberMetadata(const std::string& path);

}  // namespace meshraid::raid
