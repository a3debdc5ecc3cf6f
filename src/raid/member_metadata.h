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

// Where metadata is read from: a local file or a running device (e.g. a remote NBD member).
class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  virtual const std::string& path() const = 0;
  virtual uint64_t size_bytes() const = 0;
  uint64_t size_sectors() const { return size_bytes() / 512; }
  // Reads exactly buf.size() bytes at `offset` (any alignment).
  virtual Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const = 0;
};

// A SyncFile as a metadata source.
class FileSource : public MetadataSource {
 public:
  explicit FileSource(const io::SyncFile& f) : file_(f) {}
  const std::string& path() const override { return file_.path(); }
  uint64_t size_bytes() const override { return file_.size_bytes(); }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    return file_.ReadAt(offset, buf);
  }

 private:
  const io::SyncFile& file_;
};

// Reads and validates the metadata of the member behind `source`. Every error is one line that
// starts with the member path, e.g. "/tmp/m1: bad checksum: expected 0x1234, found 0x5678".
Result<MemberMetadata> ReadMemberMetadata(const MetadataSource& source);
Result<MemberMetadata> ReadMemberMetadata(const io::SyncFile& file);

// Opens `path` read-only and reads its metadata.
Result<MemberMetadata> ReadMemberMetadata(const std::string& path);

}  // namespace meshraid::raid
