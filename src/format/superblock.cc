#include "format/superblock.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>

#include "format/raw_bytes.h"
#include "util/endian.h"

namespace meshraid::format {
namespace {

using raw::Bytes;
using raw::Le16;
using raw::Le32;
using raw::Le64;
using raw::Load;
using raw::Store;

// The first 256 bytes of the v1 superblock exactly as on disk (see doc/md_v1.2_format.md).
struct RawSb {
  Le32 magic;
  Le32 major_version;
  Le32 feature_map;
  Le32 pad0;
  Bytes<16> set_uuid;
  Bytes<32> set_name;
  Le64 ctime;
  Le32 level;
  Le32 layout;
  Le64 size;
  Le32 chunksize;
  Le32 raid_disks;
  Le32 bitmap_offset;
  Le32 new_level;
  Le64 reshape_position;
  Le32 delta_disks;
  Le32 new_layout;
  Le32 new_chunk;
  Le32 new_offset;
  Le64 data_offset;
  Le64 data_size;
  Le64 super_offset;
  Le64 recovery_offset;
  Le32 dev_number;
  Le32 cnt_corrected_read;
  Bytes<16> device_uuid;
  Bytes<1> devflags;
  Bytes<1> bblog_shift;
  Le16 bblog_size;
  Le32 bblog_offset;
  Le64 utime;
  Le64 events;
  Le64 resync_offset;
  Le32 sb_csum;
  Le32 max_dev;
  Le32 logical_block_size;
  Bytes<28> pad3;
};

static_assert(alignof(RawSb) == 1);
static_assert(sizeof(RawSb) == kSbBaseSize);
static_assert(offsetof(RawSb, magic) == 0);
static_assert(offsetof(RawSb, major_version) == 4);
static_assert(offsetof(RawSb, feature_map) == 8);
static_assert(offsetof(RawSb, pad0) == 12);
static_assert(offsetof(RawSb, set_uuid) == 16);
static_assert(offsetof(RawSb, set_name) == 32);
static_assert(offsetof(RawSb, ctime) == 64);
static_assert(offsetof(RawSb, level) == 72);
static_assert(offsetof(RawSb, layout) == 76);
static_assert(offsetof(RawSb, size) == 80);
static_assert(offsetof(RawSb, chunksize) == 88);
static_assert(offsetof(RawSb, raid_disks) == 92);
static_assert(offsetof(RawSb, bitmap_offset) == 96);
static_assert(offsetof(RawSb, new_level) == 100);
static_assert(offsetof(RawSb, reshape_position) == 104);
static_assert(offsetof(RawSb, delta_disks) == 112);
static_assert(offsetof(RawSb, new_layout) == 116);
static_assert(offsetof(RawSb, new_chunk) == 120);
static_assert(offsetof(RawSb, new_offset) == 124);
static_assert(offsetof(RawSb, data_offset) == 128);
static_assert(offsetof(RawSb, data_size) == 136);
static_assert(offsetof(RawSb, super_offset) == 144);
static_assert(offsetof(RawSb, recovery_offset) == 152);
static_assert(offsetof(RawSb, dev_number) == 160);
static_assert(offsetof(RawSb, cnt_corrected_read) == 164);
static_assert(offsetof(RawSb, device_uuid) == 168);
static_assert(offsetof(RawSb, devflags) == 184);
static_assert(offsetof(RawSb, bblog_shift) == 185);
static_assert(offsetof(RawSb, bblog_size) == 186);
static_assert(offsetof(RawSb, bblog_offset) == 188);
static_assert(offsetof(RawSb, utime) == 192);
static_assert(offsetof(RawSb, events) == 200);
static_assert(offsetof(RawSb, resync_offset) == 208);
static_assert(offsetof(RawSb, sb_csum) == 216);
static_assert(offsetof(RawSb, max_dev) == 220);
static_assert(offsetof(RawSb, logical_block_size) == 224);
static_assert(offsetof(RawSb, pad3) == 228);

constexpr size_t kCsumOffset = offsetof(RawSb, sb_csum);
constexpr size_t kMaxDevOffset = offsetof(RawSb, max_dev);

constexpr const char* kFeatureNames[] = {
    "BITMAP_OFFSET", "RECOVERY_OFFSET", "RESHAPE_ACTIVE", "BAD_BLOCKS",   "REPLACEMENT",
    "RESHAPE_BACKWARDS", "NEW_OFFSET",  "RECOVERY_BITMAP", "CLUSTERED",   "JOURNAL",
    "PPL",           "MULTIPLE_PPLS",   "RAID0_LAYOUT",
};
static_assert(std::size(kFeatureNames) == 13 && kFeatureAll == (1u << 13) - 1);

Superblock FromRaw(const RawSb& r) {
  Superblock sb;
  sb.magic = Load(r.magic);
  sb.major_version = Load(r.major_version);
  sb.feature_map = Load(r.feature_map);
  sb.pad0 = Load(r.pad0);
  raw::LoadArray(r.set_uuid, sb.set_uuid);
  raw::LoadArray(r.set_name, sb.set_name);
  sb.ctime = Load(r.ctime);
  sb.level = static_cast<int32_t>(Load(r.level));
  sb.layout = Load(r.layout);
  sb.size = Load(r.size);
  sb.chunksize = Load(r.chunksize);
  sb.raid_disks = Load(r.raid_disks);
  sb.bitmap_offset = static_cast<int32_t>(Load(r.bitmap_offset));
  sb.new_level = Load(r.new_level);
  sb.reshape_position = Load(r.reshape_position);
  sb.delta_disks = static_cast<int32_t>(Load(r.delta_disks));
  sb.new_layout = Load(r.new_layout);
  sb.new_chunk = Load(r.new_chunk);
  sb.new_offset = static_cast<int32_t>(Load(r.new_offset));
  sb.data_offset = Load(r.data_offset);
  sb.data_size = Load(r.data_size);
  sb.super_offset = Load(r.super_offset);
  sb.recovery_offset = Load(r.recovery_offset);
  sb.dev_number = Load(r.dev_number);
  sb.cnt_corrected_read = Load(r.cnt_corrected_read);
  raw::LoadArray(r.device_uuid, sb.device_uuid);
  sb.devflags = Load(r.devflags);
  sb.bblog_shift = Load(r.bblog_shift);
  sb.bblog_size = Load(r.bblog_size);
  sb.bblog_offset = static_cast<int32_t>(Load(r.bblog_offset));
  sb.utime = Load(r.utime);
  sb.events = Load(r.events);
  sb.resync_offset = Load(r.resync_offset);
  sb.sb_csum = Load(r.sb_csum);
  sb.max_dev = Load(r.max_dev);
  sb.logical_block_size = Load(r.logical_block_size);
  raw::LoadArray(r.pad3, sb.pad3);
  return sb;
}

RawSb ToRaw(const Superblock& sb) {
  RawSb r;
  Store(r.magic, sb.magic);
  Store(r.major_version, sb.major_version);
  Store(r.feature_map, sb.feature_map);
  Store(r.pad0, sb.pad0);
  raw::StoreArray(r.set_uuid, sb.set_uuid);
  raw::StoreArray(r.set_name, sb.set_name);
  Store(r.ctime, sb.ctime);
  Store(r.level, static_cast<uint32_t>(sb.level));
  Store(r.layout, sb.layout);
  Store(r.size, sb.size);
  Store(r.chunksize, sb.chunksize);
  Store(r.raid_disks, sb.raid_disks);
  Store(r.bitmap_offset, static_cast<uint32_t>(sb.bitmap_offset));
  Store(r.new_level, sb.new_level);
  Store(r.reshape_position, sb.reshape_position);
  Store(r.delta_disks, static_cast<uint32_t>(sb.delta_disks));
  Store(r.new_layout, sb.new_layout);
  Store(r.new_chunk, sb.new_chunk);
  Store(r.new_offset, static_cast<uint32_t>(sb.new_offset));
  Store(r.data_offset, sb.data_offset);
  Store(r.data_size, sb.data_size);
  Store(r.super_offset, sb.super_offset);
  Store(r.recovery_offset, sb.recovery_offset);
  Store(r.dev_number, sb.dev_number);
  Store(r.cnt_corrected_read, sb.cnt_corrected_read);
  raw::StoreArray(r.device_uuid, sb.device_uuid);
  Store(r.devflags, sb.devflags);
  Store(r.bblog_shift, sb.bblog_shift);
  Store(r.bblog_size, sb.bblog_size);
  Store(r.bblog_offset, static_cast<uint32_t>(sb.bblog_offset));
  Store(r.utime, sb.utime);
  Store(r.events, sb.events);
  Store(r.resync_offset, sb.resync_offset);
  Store(r.sb_csum, sb.sb_csum);
  Store(r.max_dev, sb.max_dev);
  Store(r.logical_block_size, sb.logical_block_size);
  raw::StoreArray(r.pad3, sb.pad3);
  return r;
}

std::string Hex(std::span<const uint8_t> bytes) {
  std::string s;
  for (uint8_t b : bytes) s += fmt::format("{:02x}", b);
  return s;
}

// Checks that need the whole decoded struct; the byte-level ones are done in Decode.
Status ValidateGeometry(const Superblock& sb, const DecodeContext& ctx) {
  // The kernel refuses tiny data areas.
  if (sb.data_size < 10) {
    return Status::Corruption(fmt::format("data_size {} sectors is below the minimum of 10",
                                          sb.data_size));
  }
  const uint64_t sb_start = sb.super_offset;  // already checked against ctx where possible
  if (ctx.version != SbVersion::k1_0) {
    // 1.1/1.2 keep data after the superblock; data must not overlap it.
    const uint64_t sb_end = sb_start + SbSectors(sb.max_dev);
    if (sb.data_offset < sb_end) {
      return Status::Corruption(fmt::format(
          "data_offset {} lies inside the superblock area (sectors {}..{})", sb.data_offset,
          sb_start, sb_end - 1));
    }
    if (sb.Has(kFeatureNewOffset)) {
      const int64_t new_data = static_cast<int64_t>(sb.data_offset) + sb.new_offset;
      if (new_data < static_cast<int64_t>(sb_end)) {
        return Status::Corruption(fmt::format(
            "new data offset {} (data_offset {} + new_offset {}) lies inside the superblock area "
            "(sectors {}..{})",
            new_data, sb.data_offset, sb.new_offset, sb_start, sb_end - 1));
      }
    }
  }
  if (ctx.device_sectors == 0) return Status::Ok();
  const uint64_t dev = ctx.device_sectors;
  if (sb.data_offset > dev || sb.data_size > dev - sb.data_offset) {
    return Status::Corruption(fmt::format(
        "data area beyond the device: data_offset {} + data_size {} > {} device sectors",
        sb.data_offset, sb.data_size, dev));
  }
  // 1.0 keeps data before the superblock, so data_size may not exceed sb_start.
  if (ctx.version == SbVersion::k1_0 && sb.data_size > sb_start) {
    return Status::Corruption(fmt::format(
        "data_size {} runs into the v1.0 superblock at sector {}", sb.data_size, sb_start));
  }
  return Status::Ok();
}

}  // namespace

std::string FeatureNames(uint32_t bits) {
  std::string out;
  for (unsigned i = 0; i < 32; ++i) {
    if ((bits & (1u << i)) == 0) continue;
    if (!out.empty()) out += ',';
    out += i < std::size(kFeatureNames) ? std::string(kFeatureNames[i]) : fmt::format("bit{}", i);
  }
  return out;
}

uint64_t SuperblockSector(SbVersion v, uint64_t device_sectors) {
  switch (v) {
    case SbVersion::k1_0:
      // 8..12 KiB before the end, 4 KiB aligned. Too small a device has no such place.
      return device_sectors < 16 ? 0 : (device_sectors - 16) & ~uint64_t{7};
    case SbVersion::k1_1:
      return 0;
    case SbVersion::k1_2:
      return 8;
  }
  return 8;
}

uint16_t Superblock::ThisRole() const {
  return dev_number < dev_roles.size() ? dev_roles[dev_number] : kRoleSpare;
}

std::string Superblock::Name() const {
  auto end = std::find(set_name.begin(), set_name.end(), '\0');
  return std::string(set_name.begin(), end);
}

void Superblock::SetName(std::string_view name) {
  set_name.fill('\0');
  std::copy_n(name.begin(), std::min(name.size(), set_name.size()), set_name.begin());
}

uint32_t ComputeChecksum(std::span<const uint8_t> buf) {
  assert(buf.size() >= kSbBaseSize);
  if (buf.size() < kSbBaseSize) return 0;
  const uint32_t max_dev = LoadLe32(buf.data() + kMaxDevOffset);
  // A short buffer is a caller bug (asserted); never read past it.
  assert(buf.size() >= kSbBaseSize + 2 * size_t{max_dev});
  const size_t n = std::min(buf.size(), kSbBaseSize + 2 * size_t{max_dev});
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    if (i != kCsumOffset) sum += LoadLe32(buf.data() + i);
  }
  if (i < n) sum += LoadLe16(buf.data() + i);  // odd max_dev: one 16-bit tail
  // One fold; a carry out of the 32-bit addition is dropped, as MD does.
  return static_cast<uint32_t>((sum & 0xFFFFFFFFu) + (sum >> 32));
}

Result<Superblock> Decode(std::span<const uint8_t> buf, const DecodeContext& ctx) {
  if (buf.size() < kSbBaseSize) {
    return Status::InvalidArgument(
        fmt::format("buffer too short: {} bytes, a superblock needs at least {}", buf.size(),
                    kSbBaseSize));
  }
  const auto probe = buf.first(std::min<size_t>(buf.size(), kSbReadSize));
  if (std::all_of(probe.begin(), probe.end(), [](uint8_t b) { return b == 0; })) {
    return Status::NotFound("no superblock (block is all zero)");
  }
  RawSb r;
  std::memcpy(&r, buf.data(), sizeof r);  // bytes into a struct of byte arrays
  if (Load(r.magic) != kSbMagic) {
    return Status::Corruption(
        fmt::format("bad magic 0x{:08x} (expected 0x{:08x})", Load(r.magic), kSbMagic));
  }
  if (Load(r.major_version) != 1) {
    return Status::NotSupported(
        fmt::format("unsupported major version {} (only 1 is known)", Load(r.major_version)));
  }
  const uint32_t max_dev = Load(r.max_dev);
  if (max_dev > kMaxDevLimit) {
    return Status::InvalidArgument(
        fmt::format("max_dev {} too large (limit {})", max_dev, kMaxDevLimit));
  }
  const size_t n = kSbBaseSize + 2 * size_t{max_dev};
  if (buf.size() < n) {
    return Status::InvalidArgument(fmt::format(
        "buffer too short: {} bytes, max_dev {} needs {}", buf.size(), max_dev, n));
  }
  const uint32_t want = ComputeChecksum(buf);
  if (want != Load(r.sb_csum)) {
    return Status::Corruption(
        fmt::format("bad checksum: expected 0x{:08x}, found 0x{:08x}", want, Load(r.sb_csum)));
  }
  Superblock sb = FromRaw(r);
  const bool know_start = ctx.version != SbVersion::k1_0 || ctx.device_sectors != 0;
  if (know_start && sb.super_offset != SuperblockSector(ctx.version, ctx.device_sectors)) {
    return Status::Corruption(fmt::format(
        "super_offset {} does not match the superblock location, sector {}", sb.super_offset,
        SuperblockSector(ctx.version, ctx.device_sectors)));
  }
  if (uint32_t unknown = sb.feature_map & ~uint32_t{kFeatureAll}; unknown != 0) {
    return Status::NotSupported(fmt::format("unknown feature bits 0x{:x} ({})", unknown,
                                            FeatureNames(unknown)));
  }
  if (sb.pad0 != 0) {
    return Status::Corruption(fmt::format("non-zero pad0 (0x{:08x}) at byte 12", sb.pad0));
  }
  if (size_t i = raw::FirstNonZero(r.pad3); i != sizeof r.pad3.b) {
    return Status::Corruption(fmt::format("non-zero pad3 at byte {} (pad3 = {})",
                                          offsetof(RawSb, pad3) + i, Hex(r.pad3.b)));
  }
  MESHRAID_RETURN_IF_ERROR(ValidateGeometry(sb, ctx));
  sb.dev_roles.resize(max_dev);
  for (uint32_t i = 0; i < max_dev; ++i) {
    sb.dev_roles[i] = LoadLe16(buf.data() + kSbBaseSize + 2 * size_t{i});
  }
  return sb;
}

std::vector<uint8_t> EncodeRaw(const Superblock& sb) {
  std::vector<uint8_t> out((sb.ByteSize() + 511) / 512 * 512, 0);
  const RawSb r = ToRaw(sb);
  std::memcpy(out.data(), &r, sizeof r);
  for (uint32_t i = 0; i < sb.max_dev; ++i) {
    const uint16_t role = i < sb.dev_roles.size() ? sb.dev_roles[i] : kRoleSpare;
    StoreLe16(out.data() + kSbBaseSize + 2 * size_t{i}, role);
  }
  return out;
}

std::vector<uint8_t> Encode(const Superblock& sb) {
  std::vector<uint8_t> out = EncodeRaw(sb);
  StoreLe32(out.data() + kCsumOffset, ComputeChecksum(out));
  return out;
}

std::string UuidMdadm(const Uuid& u) {
  const std::span<const uint8_t> s(u);
  return fmt::format("{}:{}:{}:{}", Hex(s.subspan(0, 4)), Hex(s.subspan(4, 4)),
                     Hex(s.subspan(8, 4)), Hex(s.subspan(12, 4)));
}

std::string UuidSysfs(const Uuid& u) {
  const std::span<const uint8_t> s(u);
  return fmt::format("{}-{}-{}-{}-{}", Hex(s.subspan(0, 4)), Hex(s.subspan(4, 2)),
                     Hex(s.subspan(6, 2)), Hex(s.subspan(8, 2)), Hex(s.subspan(10, 6)));
}

}  // namespace meshraid::format
