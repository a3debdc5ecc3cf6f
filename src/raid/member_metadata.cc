#include "raid/member_metadata.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "util/endian.h"

namespace meshraid::raid {
namespace {

using format::SbVersion;

bool AllZero(std::span<const uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

const char* VersionName(SbVersion v) {
  switch (v) {
    case SbVersion::k1_0: return "1.0";
    case SbVersion::k1_1: return "1.1";
    case SbVersion::k1_2: return "1.2";
  }
  return "?";
}

Status ReadBitmap(const MetadataSource& file, MemberMetadata& m) {
  int64_t sector = int64_t(m.sb_sector) + m.sb.bitmap_offset;
  if (sector < 0 || uint64_t(sector) + 1 > m.device_sectors) {
    return Status::Corruption(
        fmt::format("{}: bitmap offset {} sectors from the superblock lies outside the device",
                    m.path, m.sb.bitmap_offset));
  }
  std::vector<uint8_t> head(format::kBitmapHeaderSize);
  MESHRAID_RETURN_IF_ERROR(file.ReadAt(uint64_t(sector) * 512, head));
  auto super = format::DecodeBitmapSuper(head);
  if (!super.ok()) return super.status().WithPrefix(m.path + ": bitmap");
  uint64_t bytes = (super->Chunks() + 7) / 8;
  uint64_t end = uint64_t(sector) * 512 + format::kBitmapHeaderSize + bytes;
  if (end > m.device_sectors * 512) {
    return Status::Corruption(fmt::format("{}: bitmap of {} chunks runs past the end of the device",
                                          m.path, super->Chunks()));
  }
  std::vector<uint8_t> raw(bytes);
  MESHRAID_RETURN_IF_ERROR(file.ReadAt(uint64_t(sector) * 512 + format::kBitmapHeaderSize, raw));
  auto bits = format::BitmapBits::Decode(raw, super->Chunks());
  if (!bits.ok()) return bits.status().WithPrefix(m.path + ": bitmap");
  m.bitmap = BitmapInfo{*super, std::move(bits).value(), uint64_t(sector)};
  return Status::Ok();
}

Status ReadBadBlocks(const MetadataSource& file, MemberMetadata& m) {
  int64_t sector = int64_t(m.sb_sector) + m.sb.bblog_offset;
  uint64_t sectors = std::min<uint64_t>(m.sb.bblog_size, 8);
  if (sector < 0 || uint64_t(sector) + sectors > m.device_sectors) {
    return Status::Corruption(
        fmt::format("{}: bad-block log offset {} sectors from the superblock lies outside the device",
                    m.path, m.sb.bblog_offset));
  }
  std::vector<uint8_t> raw(sectors * 512);
  MESHRAID_RETURN_IF_ERROR(file.ReadAt(uint64_t(sector) * 512, raw));
  auto bb = format::DecodeBadBlocks(raw, m.sb.bblog_shift);
  if (!bb.ok()) return bb.status().WithPrefix(m.path + ": bad-block log");
  m.bad_blocks = std::move(bb).value();
  return Status::Ok();
}

}  // namespace

Result<MemberMetadata> ReadMemberMetadata(const io::SyncFile& file) {
  return ReadMemberMetadata(FileSource(file));
}

Result<MemberMetadata> ReadMemberMetadata(const MetadataSource& file) {
  const std::string& path = file.path();
  uint64_t dev_sectors = file.size_sectors();
  std::array<uint8_t, format::kSbReadSize> block{};
  std::vector<uint8_t> first_block;  // the v1.2 location, for the "no superblock" message
  // Probe order: 1.2 (the default), 1.1, 1.0.
  for (SbVersion v : {SbVersion::k1_2, SbVersion::k1_1, SbVersion::k1_0}) {
    uint64_t sector = format::SuperblockSector(v, dev_sectors);
    if (dev_sectors < 16 || (sector + 8) > dev_sectors) continue;
    MESHRAID_RETURN_IF_ERROR(file.ReadAt(sector * 512, block));
    if (v == SbVersion::k1_2) first_block.assign(block.begin(), block.end());
    if (LoadLe32(block.data()) != format::kSbMagic) continue;
    auto sb = format::Decode(block, {.version = v, .device_sectors = dev_sectors});
    if (!sb.ok()) {
      return sb.status().WithPrefix(
          fmt::format("{}: v{} superblock at sector {}", path, VersionName(v), sector));
    }
    MemberMetadata m;
    m.path = path;
    m.device_sectors = dev_sectors;
    m.version = v;
    m.sb_sector = sector;
    m.sb = std::move(sb).value();
    if (m.sb.Has(format::kFeatureBitmapOffset)) MESHRAID_RETURN_IF_ERROR(ReadBitmap(file, m));
    if (m.sb.Has(format::kFeatureBadBlocks) && m.sb.bblog_offset != 0 && m.sb.bblog_size != 0) {
      MESHRAID_RETURN_IF_ERROR(ReadBadBlocks(file, m));
    }
    return m;
  }
  if (dev_sectors < 16) {
    return Status::NotFound(fmt::format("{}: no MD superblock: device is only {} bytes", path,
                                        file.size_bytes()));
  }
  if (!first_block.empty() && !AllZero(first_block)) {
    return Status::Corruption(fmt::format(
        "{}: no MD superblock: bad magic 0x{:08x} at sector 8 (expected 0x{:08x}); "
        "v1.1 and v1.0 locations hold none either",
        path, LoadLe32(first_block.data()), format::kSbMagic));
  }
  return Status::NotFound(
      fmt::format("{}: no MD superblock (checked v1.2 at sector 8, v1.1 at sector 0, v1.0 at "
                  "sector {})",
                  path, format::SuperblockSector(SbVersion::k1_0, dev_sectors)));
}

Result<MemberMetadata> ReadMemberMetadata(const std::string& path) {
  MESHRAID_ASSIGN_OR_RETURN(auto file, io::SyncFile::Open(path, io::SyncFile::Mode::kReadOnly));
  return ReadMemberMetadata(file);
}

}  // namespace meshraid::raid
