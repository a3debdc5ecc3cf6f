// Unit tests of the v1 superblock codec: exact bytes at every offset, checksum arithmetic,
// one test per decode error, and the three superblock locations. Golden images: golden_test.cc.
#include "format/superblock.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshraid::format {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Little-endian value of `size` bytes at `off`, computed here independently of util/endian.h.
uint64_t LeAt(const std::vector<uint8_t>& b, size_t off, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= uint64_t{b.at(off + i)} << (8 * i);
  return v;
}

// The checksum written out from the definition (md-facts D.3), as a reference.
uint32_t ReferenceChecksum(std::vector<uint8_t> b) {
  const size_t n = 256 + 2 * LeAt(b, 220, 4);
  for (size_t i = 216; i < 220; ++i) b[i] = 0;
  uint64_t sum = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) sum += LeAt(b, i, 4);
  if (n % 4 == 2) sum += LeAt(b, n - 2, 2);
  return uint32_t((sum & 0xFFFFFFFF) + (sum >> 32));
}

// Every field distinct and non-zero (pads excepted: Decode refuses them), max_dev odd.
Superblock Distinct() {
  Superblock sb;
  sb.feature_map = 0xABC;  // RESHAPE_ACTIVE..RECOVERY_BITMAP, JOURNAL, MULTIPLE_PPLS; no NEW_OFFSET
  for (int i = 0; i < 16; ++i) sb.set_uuid[size_t(i)] = uint8_t(0x10 + i);
  sb.SetName("host:array-name");
  sb.ctime = SbTime(0x123456789A, 0x0BCDEF);
  sb.level = 10;
  sb.layout = 0x102;
  sb.size = 0x100000001;
  sb.chunksize = 1024;
  sb.raid_disks = 5;
  sb.bitmap_offset = -24;
  sb.new_level = 6;
  sb.reshape_position = 0x200000003;
  sb.delta_disks = -2;
  sb.new_layout = 0x201;
  sb.new_chunk = 256;
  sb.new_offset = -2048;
  sb.data_offset = 0x300000004;
  sb.data_size = 0x400000005;
  sb.super_offset = 8;
  sb.recovery_offset = 0x500000006;
  sb.dev_number = 3;
  sb.cnt_corrected_read = 77;
  for (int i = 0; i < 16; ++i) sb.device_uuid[size_t(i)] = uint8_t(0xA0 + i);
  sb.devflags = kDevFlagWriteMostly | kDevFlagFailFast;
  sb.bblog_shift = 2;
  sb.bblog_size = 0x0108;
  sb.bblog_offset = -8;
  sb.utime = SbTime(0x23456789AB, 0x0CDEF0);
  sb.events = 0x600000007;
  sb.resync_offset = 0x700000008;
  sb.max_dev = 5;
  sb.logical_block_size = 4096;
  sb.dev_roles = {0, 1, kRoleFaulty, 2, kRoleSpare};
  return sb;
}

// A plain 1.2 member of a 64 MiB device, like the golden ones.
Superblock Simple() {
  Superblock sb;
  sb.level = 1;
  sb.raid_disks = 2;
  sb.size = 129024;
  sb.data_offset = 2048;
  sb.data_size = 129024;
  sb.super_offset = 8;
  sb.max_dev = 128;
  sb.dev_roles.assign(128, kRoleSpare);
  sb.dev_roles[0] = 0;
  sb.dev_roles[1] = 1;
  return sb;
}

constexpr uint64_t kDev = 131072;  // 64 MiB in sectors

// A 4 KiB block as read from the device (Encode recomputes the checksum).
std::vector<uint8_t> Block(const Superblock& sb) {
  std::vector<uint8_t> b = Encode(sb);
  b.resize(kSbReadSize, 0);
  return b;
}

Status DecodeError(const std::vector<uint8_t>& b, DecodeContext ctx = {}) {
  auto r = Decode(b, ctx);
  EXPECT_FALSE(r.ok());
  if (r.ok()) return Status::Ok();
  EXPECT_THAT(r.status().message(), Not(HasSubstr("\n")));  // one line
  return r.status();
}

TEST(SuperblockTest, EveryFieldAtItsOffset) {
  const Superblock sb = Distinct();
  const std::vector<uint8_t> b = Encode(sb);
  ASSERT_EQ(b.size(), 512u);  // 256 + 2*5 rounded up to a sector
  struct F { size_t off, size; uint64_t want; };
  const F fields[] = {
      {0, 4, 0xA92B4EFC},     {4, 4, 1},          {8, 4, 0xABC},         {12, 4, 0},
      {64, 8, sb.ctime},      {72, 4, 10},        {76, 4, 0x102},        {80, 8, 0x100000001},
      {88, 4, 1024},          {92, 4, 5},         {96, 4, 0xFFFFFFE8},   {100, 4, 6},
      {104, 8, 0x200000003},  {112, 4, 0xFFFFFFFE}, {116, 4, 0x201},     {120, 4, 256},
      {124, 4, 0xFFFFF800},   {128, 8, 0x300000004}, {136, 8, 0x400000005}, {144, 8, 8},
      {152, 8, 0x500000006},  {160, 4, 3},        {164, 4, 77},          {184, 1, 3},
      {185, 1, 2},            {186, 2, 0x0108},   {188, 4, 0xFFFFFFF8},  {192, 8, sb.utime},
      {200, 8, 0x600000007},  {208, 8, 0x700000008}, {220, 4, 5},        {224, 4, 4096},
      {256, 2, 0},            {258, 2, 1},        {260, 2, 0xFFFE},      {262, 2, 2},
      {264, 2, 0xFFFF},
  };
  for (const F& f : fields) {
    EXPECT_EQ(LeAt(b, f.off, f.size), f.want) << "offset " << f.off;
  }
  EXPECT_EQ(LeAt(b, 64, 8), 0x0BCDEF123456789Aull);  // 40-bit seconds, 24-bit usec
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(b[16 + i], 0x10 + i);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(b[168 + i], 0xA0 + i);
  EXPECT_EQ(std::string(b.begin() + 32, b.begin() + 47), "host:array-name");
  for (size_t i = 47; i < 64; ++i) EXPECT_EQ(b[i], 0) << i;
  for (size_t i = 228; i < 256; ++i) EXPECT_EQ(b[i], 0) << i;   // pad3
  for (size_t i = 266; i < 512; ++i) EXPECT_EQ(b[i], 0) << i;   // sector padding
  EXPECT_EQ(LeAt(b, 216, 4), ReferenceChecksum(b));
}

TEST(SuperblockTest, RoundTripEveryField) {
  const Superblock sb = Distinct();
  auto got = Decode(Encode(sb));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  Superblock want = sb;
  want.sb_csum = ComputeChecksum(Encode(sb));
  EXPECT_EQ(*got, want);
  EXPECT_EQ(Encode(*got), Encode(sb));
  EXPECT_EQ(got->ThisRole(), 2);
  EXPECT_EQ(got->Name(), "host:array-name");
}

TEST(SuperblockTest, PadsAndRawChecksumAreEncodedAsGiven) {
  Superblock sb = Distinct();
  sb.pad0 = 0x11223344;
  sb.pad3[0] = 0x55;
  sb.pad3[27] = 0x66;
  sb.sb_csum = 0xDEADBEEF;
  const std::vector<uint8_t> b = EncodeRaw(sb);
  EXPECT_EQ(LeAt(b, 12, 4), 0x11223344u);
  EXPECT_EQ(b[228], 0x55);
  EXPECT_EQ(b[255], 0x66);
  EXPECT_EQ(LeAt(b, 216, 4), 0xDEADBEEFu);
}

TEST(SuperblockTest, ChecksumEvenMaxDev) {
  Superblock sb = Simple();  // max_dev 128: n = 512, whole words only
  std::vector<uint8_t> b = Encode(sb);
  EXPECT_EQ(ComputeChecksum(b), ReferenceChecksum(b));
  b[300] = 0x7F;  // a dev_roles byte is covered
  EXPECT_EQ(ComputeChecksum(b), ReferenceChecksum(b));
}

TEST(SuperblockTest, ChecksumOddMaxDevAddsTrailing16Bits) {
  std::vector<uint8_t> b(512, 0);
  b[220] = 3;  // max_dev 3: n = 262, the last role is a lone 16-bit value
  b[256] = 1;
  b[258] = 2;
  b[260] = 0xCD;
  b[261] = 0xAB;
  b[262] = 0xFF;  // beyond n: must not count
  b[216] = 0xFF;  // the checksum field itself must not count
  EXPECT_EQ(ComputeChecksum(b), 3u + 0x00020001u + 0xABCDu);
  EXPECT_EQ(ComputeChecksum(b), ReferenceChecksum(b));
}

TEST(SuperblockTest, ChecksumFoldDropsTheCarry) {
  // Words 0xFFFFFFFF + 0xFFFFFFFF + 1 sum to 0x1_FFFFFFFF: low + high = 0x1_00000000, which a
  // single fold truncates to 0 (a second fold would give 1).
  std::vector<uint8_t> b(256, 0);
  for (size_t i = 0; i < 8; ++i) b[i] = 0xFF;
  b[8] = 1;
  EXPECT_EQ(ComputeChecksum(b), 0u);
  // Without the carry: plain sum.
  b[8] = 0;
  EXPECT_EQ(ComputeChecksum(b), 0xFFFFFFFFu);
}

TEST(SuperblockTest, SuperblockSectorPerVersion) {
  EXPECT_EQ(SuperblockSector(SbVersion::k1_2, kDev), 8u);
  EXPECT_EQ(SuperblockSector(SbVersion::k1_1, kDev), 0u);
  EXPECT_EQ(SuperblockSector(SbVersion::k1_0, kDev), kDev - 16);
  EXPECT_EQ(SuperblockSector(SbVersion::k1_0, kDev + 5), kDev - 16);  // 4 KiB aligned
  EXPECT_EQ(SuperblockSector(SbVersion::k1_0, kDev + 8), kDev - 8);
}

TEST(SuperblockTest, DecodesV10AtTheEnd) {
  Superblock sb = Simple();
  sb.super_offset = SuperblockSector(SbVersion::k1_0, kDev);
  sb.data_offset = 0;
  sb.data_size = sb.super_offset;
  auto r = Decode(Block(sb), {.version = SbVersion::k1_0, .device_sectors = kDev});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->super_offset, kDev - 16);
  // Unknown device size: the location cannot be checked, decode still works.
  EXPECT_TRUE(Decode(Block(sb), {.version = SbVersion::k1_0}).ok());
}

TEST(SuperblockTest, V10DataMayNotReachTheSuperblock) {
  Superblock sb = Simple();
  sb.super_offset = SuperblockSector(SbVersion::k1_0, kDev);
  sb.data_offset = 0;
  sb.data_size = sb.super_offset + 1;
  Status s = DecodeError(Block(sb), {.version = SbVersion::k1_0, .device_sectors = kDev});
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("runs into the v1.0 superblock at sector 131056"));
}

TEST(SuperblockTest, DecodesV11AtSectorZero) {
  Superblock sb = Simple();
  sb.super_offset = 0;
  auto r = Decode(Block(sb), {.version = SbVersion::k1_1, .device_sectors = kDev});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->super_offset, 0u);
}

TEST(SuperblockTest, ErrorNoSuperblock) {
  Status s = DecodeError(std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("no superblock"));
}

TEST(SuperblockTest, ErrorBadMagic) {
  std::vector<uint8_t> b = Block(Simple());
  b[0] = 0x78; b[1] = 0x56; b[2] = 0x34; b[3] = 0x12;
  Status s = DecodeError(b);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "bad magic 0x12345678 (expected 0xa92b4efc)");
}

TEST(SuperblockTest, ErrorUnsupportedMajorVersion) {
  Superblock sb = Simple();
  sb.major_version = 2;
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kNotSupported);
  EXPECT_THAT(s.message(), HasSubstr("major version 2"));
}

TEST(SuperblockTest, ErrorBadChecksum) {
  std::vector<uint8_t> b = Block(Simple());
  const uint32_t good = ComputeChecksum(b);
  b[216] ^= 1;
  Status s = DecodeError(b);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), fmt::format("bad checksum: expected 0x{:08x}, found 0x{:08x}", good,
                                     good ^ 1));
}

TEST(SuperblockTest, ErrorUnknownFeatureBits) {
  Superblock sb = Simple();
  sb.feature_map = kFeatureBitmapOffset | (1u << 13) | (1u << 19);
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kNotSupported);
  EXPECT_EQ(s.message(), "unknown feature bits 0x82000 (bit13,bit19)");
}

TEST(SuperblockTest, ErrorNonZeroPad0) {
  Superblock sb = Simple();
  sb.pad0 = 0x40;
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("non-zero pad0 (0x00000040)"));
}

TEST(SuperblockTest, ErrorNonZeroPad3) {
  Superblock sb = Simple();
  sb.pad3[4] = 0x01;  // byte 232
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("non-zero pad3 at byte 232"));
}

TEST(SuperblockTest, LogicalBlockSizeIsNotPad) {
  Superblock sb = Simple();
  sb.logical_block_size = 4096;  // newer kernels; was part of pad3 before
  auto r = Decode(Block(sb));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->logical_block_size, 4096u);
}

TEST(SuperblockTest, ErrorSuperOffsetMismatch) {
  // A 1.2 superblock (super_offset 8) presented as the 1.1 one at sector 0.
  Status s = DecodeError(Block(Simple()), {.version = SbVersion::k1_1});
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "super_offset 8 does not match the superblock location, sector 0");
}

TEST(SuperblockTest, ErrorMaxDevTooLarge) {
  Superblock sb = Simple();
  sb.max_dev = 1921;
  sb.dev_roles.clear();
  std::vector<uint8_t> b = EncodeRaw(sb);  // 4098 bytes: do not cut to 4096
  Status s = DecodeError(b);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "max_dev 1921 too large (limit 1920)");
}

TEST(SuperblockTest, ErrorBufferTooShortForMaxDev) {
  std::vector<uint8_t> b = Encode(Simple());
  b.resize(400);  // max_dev 128 needs 512
  Status s = DecodeError(b);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("400 bytes, max_dev 128 needs 512"));
  b.resize(100);
  EXPECT_EQ(DecodeError(b).code(), Code::kInvalidArgument);
}

TEST(SuperblockTest, ErrorDataBeyondDevice) {
  Superblock sb = Simple();
  sb.data_size = kDev - 2048 + 1;
  Status s = DecodeError(Block(sb), {.device_sectors = kDev});
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(),
            "data area beyond the device: data_offset 2048 + data_size 129025 > 131072 device "
            "sectors");
  sb.data_size = 129024;  // exactly fits
  EXPECT_TRUE(Decode(Block(sb), {.device_sectors = kDev}).ok());
  sb.data_offset = kDev + 1;  // offset itself beyond the end
  EXPECT_EQ(DecodeError(Block(sb), {.device_sectors = kDev}).code(), Code::kCorruption);
}

TEST(SuperblockTest, ErrorDataSizeTooSmall) {
  Superblock sb = Simple();
  sb.data_size = 9;
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("data_size 9 sectors is below the minimum of 10"));
}

TEST(SuperblockTest, ErrorDataOffsetInsideSuperblock) {
  Superblock sb = Simple();
  sb.data_offset = 8;  // the 1.2 superblock occupies sector 8 (512 bytes for max_dev 128)
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "data_offset 8 lies inside the superblock area (sectors 8..8)");
  sb.data_offset = 9;
  EXPECT_TRUE(Decode(Block(sb)).ok());
}

TEST(SuperblockTest, ErrorNewDataOffsetInsideSuperblock) {
  Superblock sb = Simple();
  sb.feature_map = kFeatureNewOffset | kFeatureReshapeActive;
  sb.new_offset = -2040;  // 2048 - 2040 = 8
  Status s = DecodeError(Block(sb));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("new data offset 8"));
}

TEST(SuperblockTest, FeatureNames) {
  EXPECT_EQ(FeatureNames(0), "");
  EXPECT_EQ(FeatureNames(kFeatureBitmapOffset), "BITMAP_OFFSET");
  EXPECT_EQ(FeatureNames(kFeatureAll),
            "BITMAP_OFFSET,RECOVERY_OFFSET,RESHAPE_ACTIVE,BAD_BLOCKS,REPLACEMENT,"
            "RESHAPE_BACKWARDS,NEW_OFFSET,RECOVERY_BITMAP,CLUSTERED,JOURNAL,PPL,MULTIPLE_PPLS,"
            "RAID0_LAYOUT");
  EXPECT_EQ(FeatureNames(kFeatureBadBlocks | (1u << 31)), "BAD_BLOCKS,bit31");
}

TEST(SuperblockTest, UuidSpellings) {
  Uuid u = {0x3a, 0x3c, 0x6f, 0x87, 0xc0, 0x43, 0x1c, 0xa9,
            0x16, 0xc6, 0xc9, 0x01, 0x09, 0xc3, 0xb0, 0x88};
  EXPECT_EQ(UuidMdadm(u), "3a3c6f87:c0431ca9:16c6c901:09c3b088");
  EXPECT_EQ(UuidSysfs(u), "3a3c6f87-c043-1ca9-16c6-c90109c3b088");
}

TEST(SuperblockTest, NameAndRole) {
  Superblock sb;
  sb.SetName(std::string(40, 'x'));  // truncated, not terminated
  EXPECT_EQ(sb.Name(), std::string(32, 'x'));
  sb.SetName("a:b");
  EXPECT_EQ(sb.Name(), "a:b");
  EXPECT_EQ(sb.set_name[3], '\0');
  sb.dev_roles = {kRoleSpare, 7};
  sb.dev_number = 1;
  EXPECT_EQ(sb.ThisRole(), 7);
  sb.dev_number = 2;  // beyond the table
  EXPECT_EQ(sb.ThisRole(), kRoleSpare);
}

TEST(SuperblockTest, EncodeFillsMissingRolesWithSpare) {
  Superblock sb = Simple();
  sb.dev_roles = {0};
  std::vector<uint8_t> b = Encode(sb);
  EXPECT_EQ(LeAt(b, 256, 2), 0u);
  EXPECT_EQ(LeAt(b, 258, 2), 0xFFFFu);
  EXPECT_EQ(LeAt(b, 256 + 2 * 127, 2), 0xFFFFu);
}

TEST(SuperblockTest, Times) {
  const uint64_t t = SbTime(1795593679, 123456);
  EXPECT_EQ(SbTimeSeconds(t), 1795593679u);
  EXPECT_EQ(t >> 40, 123456u);
}

}  // namespace
}  // namespace meshraid::format
