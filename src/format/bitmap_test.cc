// Unit tests of the bitmap superblock codec, chunk arithmetic, the default chunk rule and the
// bit array. Golden bitmaps: golden_test.cc.
#include "format/bitmap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshraid::format {
namespace {

using ::testing::HasSubstr;

uint64_t LeAt(const std::vector<uint8_t>& b, size_t off, size_t size) {
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= uint64_t{b.at(off + i)} << (8 * i);
  return v;
}

BitmapSuper Distinct() {
  BitmapSuper b;
  for (int i = 0; i < 16; ++i) b.uuid[size_t(i)] = uint8_t(0x20 + i);
  b.events = 0x100000002;
  b.events_cleared = 0x300000004;
  b.sync_size = 0x500000006;
  b.state = kBitmapStale;
  b.chunksize = 1u << 20;
  b.daemon_sleep = 7;
  b.write_behind = 256;
  b.sectors_reserved = 9;
  b.nodes = 11;
  for (int i = 0; i < 64; ++i) b.cluster_name[size_t(i)] = uint8_t('a' + i % 26);
  return b;
}

Status DecodeError(const std::vector<uint8_t>& bytes) {
  auto r = DecodeBitmapSuper(bytes);
  EXPECT_FALSE(r.ok());
  return r.ok() ? Status::Ok() : r.status();
}

TEST(BitmapSuperTest, EveryFieldAtItsOffset) {
  const BitmapSuper bm = Distinct();
  const std::vector<uint8_t> b = EncodeBitmapSuper(bm);
  ASSERT_EQ(b.size(), 256u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "bitm");
  EXPECT_EQ(LeAt(b, 0, 4), kBitmapMagic);
  EXPECT_EQ(LeAt(b, 4, 4), 4u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(b[8 + i], 0x20 + i);
  EXPECT_EQ(LeAt(b, 24, 8), 0x100000002u);
  EXPECT_EQ(LeAt(b, 32, 8), 0x300000004u);
  EXPECT_EQ(LeAt(b, 40, 8), 0x500000006u);
  EXPECT_EQ(LeAt(b, 48, 4), kBitmapStale);
  EXPECT_EQ(LeAt(b, 52, 4), 1u << 20);
  EXPECT_EQ(LeAt(b, 56, 4), 7u);
  EXPECT_EQ(LeAt(b, 60, 4), 256u);
  EXPECT_EQ(LeAt(b, 64, 4), 9u);
  EXPECT_EQ(LeAt(b, 68, 4), 11u);
  for (size_t i = 0; i < 64; ++i) EXPECT_EQ(b[72 + i], 'a' + i % 26);
  for (size_t i = 136; i < 256; ++i) EXPECT_EQ(b[i], 0) << i;
}

TEST(BitmapSuperTest, RoundTrip) {
  const BitmapSuper bm = Distinct();
  auto r = DecodeBitmapSuper(EncodeBitmapSuper(bm));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, bm);
}

TEST(BitmapSuperTest, ChunkArithmetic) {
  BitmapSuper b;
  b.chunksize = 64u << 20;  // 131072 sectors
  b.sync_size = 129024;
  EXPECT_EQ(b.ChunkSectors(), 131072u);
  EXPECT_EQ(b.Chunks(), 1u);
  EXPECT_EQ(b.TotalBytes(), 257u);
  b.chunksize = 65536;  // 128 sectors
  b.sync_size = 128 * 17;
  EXPECT_EQ(b.Chunks(), 17u);
  b.sync_size = 128 * 17 + 1;
  EXPECT_EQ(b.Chunks(), 18u);
  EXPECT_EQ(b.TotalBytes(), 256u + 3);
  b.chunksize = 0;
  EXPECT_EQ(b.Chunks(), 0u);  // no division by zero
}

TEST(BitmapSuperTest, ErrorTooShort) {
  EXPECT_EQ(DecodeError(std::vector<uint8_t>(255, 0)).code(), Code::kInvalidArgument);
}

TEST(BitmapSuperTest, ErrorAllZero) {
  Status s = DecodeError(std::vector<uint8_t>(256, 0));
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("no bitmap superblock"));
}

TEST(BitmapSuperTest, ErrorBadMagic) {
  BitmapSuper bm = Distinct();
  bm.magic = 0x11223344;
  Status s = DecodeError(EncodeBitmapSuper(bm));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "bad bitmap magic 0x11223344 (expected 0x6d746962)");
}

TEST(BitmapSuperTest, ErrorVersions) {
  const std::pair<uint32_t, const char*> cases[] = {
      {3, "version 3 (host-endian)"}, {5, "version 5 (clustered)"},
      {6, "version 6 (lockless llbitmap)"}, {9, "unknown bitmap version 9"}};
  for (auto [v, text] : cases) {
    BitmapSuper bm = Distinct();
    bm.version = v;
    Status s = DecodeError(EncodeBitmapSuper(bm));
    EXPECT_EQ(s.code(), Code::kNotSupported) << v;
    EXPECT_THAT(s.message(), HasSubstr(text));
  }
}

TEST(BitmapSuperTest, ErrorChunksize) {
  for (uint32_t cs : {0u, 256u, 3000u, (1u << 20) + 512}) {
    BitmapSuper bm = Distinct();
    bm.chunksize = cs;
    Status s = DecodeError(EncodeBitmapSuper(bm));
    EXPECT_EQ(s.code(), Code::kCorruption) << cs;
    EXPECT_THAT(s.message(), HasSubstr("chunksize " + std::to_string(cs)));
  }
}

TEST(BitmapSuperTest, ErrorDaemonSleep) {
  BitmapSuper bm = Distinct();
  bm.daemon_sleep = 0;
  Status s = DecodeError(EncodeBitmapSuper(bm));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("daemon_sleep 0"));
}

TEST(BitmapSuperTest, ErrorWriteBehind) {
  BitmapSuper bm = Distinct();
  bm.write_behind = 16383;
  EXPECT_TRUE(DecodeBitmapSuper(EncodeBitmapSuper(bm)).ok());
  bm.write_behind = 16384;
  Status s = DecodeError(EncodeBitmapSuper(bm));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("write_behind 16384"));
}

TEST(BitmapSuperTest, ErrorNonZeroPad) {
  BitmapSuper bm = Distinct();
  bm.pad[10] = 0x5A;
  Status s = DecodeError(EncodeBitmapSuper(bm));
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(s.message(), "non-zero bitmap pad at byte 146 (0x5a)");
}

TEST(BitmapSuperTest, BelongsAndStale) {
  BitmapSuper bm = Distinct();
  Superblock sb;
  sb.set_uuid = bm.uuid;
  sb.events = bm.events;
  EXPECT_TRUE(CheckBitmapBelongs(bm, sb).ok());
  sb.set_uuid[0] ^= 1;
  Status s = CheckBitmapBelongs(bm, sb);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_THAT(s.message(), HasSubstr("bitmap uuid 2021"));
  bm.state = 0;
  EXPECT_FALSE(BitmapStale(bm, sb));
  sb.events = bm.events + 1;
  EXPECT_TRUE(BitmapStale(bm, sb));
  sb.events = bm.events;
  bm.state = kBitmapStale;
  EXPECT_TRUE(BitmapStale(bm, sb));
}

TEST(DefaultBitmapChunkTest, AtLeast64MiB) {
  // The golden r1-3-bitmap case: 129024 sectors → one 64 MiB chunk.
  EXPECT_EQ(DefaultBitmapChunk(129024, (128 * 1024 - 256) * 8), 64u << 20);
  EXPECT_EQ(DefaultBitmapChunk(1, 1), 64u << 20);
}

TEST(DefaultBitmapChunkTest, SmallestPowerOfTwoThatFits) {
  const uint64_t max_bits = (128 * 1024 - 256) * 8;  // 1046528 bits
  // 8 TiB = 2^43 bytes over 1046528 bits needs 2^24 (16 MiB): raised to 64 MiB.
  EXPECT_EQ(DefaultBitmapChunk(uint64_t{1} << 34, max_bits), 64u << 20);
  // 128 TiB = 2^47 bytes: 2^27 gives 2^20 = 1048576 bits > max_bits, so 2^28.
  EXPECT_EQ(DefaultBitmapChunk(uint64_t{1} << 38, max_bits), 1u << 28);
  // Exactly fitting counts as fitting: 2^47 bytes with 2^20 bits → 2^27.
  EXPECT_EQ(DefaultBitmapChunk(uint64_t{1} << 38, uint64_t{1} << 20), 1u << 27);
  // Saturates instead of overflowing u32.
  EXPECT_EQ(DefaultBitmapChunk(uint64_t{1} << 50, 1), 1u << 31);
}

TEST(BitmapBitsTest, LsbFirstWithinEachByte) {
  BitmapBits bits(20);
  bits.Set(0);
  bits.Set(9);
  bits.Set(19);
  EXPECT_EQ(bits.bytes(), (std::vector<uint8_t>{0x01, 0x02, 0x08}));
  EXPECT_TRUE(bits.Test(9));
  EXPECT_FALSE(bits.Test(8));
  EXPECT_EQ(bits.CountSet(), 3u);
  EXPECT_EQ(bits.SetChunks(), (std::vector<uint64_t>{0, 9, 19}));
  bits.Clear(9);
  EXPECT_FALSE(bits.Test(9));
  EXPECT_EQ(bits.CountSet(), 2u);
}

TEST(BitmapBitsTest, DecodeIgnoresPaddingBits) {
  // As on the golden r1-3-bitmap members: 1 chunk, clean, every padding bit set.
  std::vector<uint8_t> area(4096 - 256, 0xFF);
  area[0] = 0xFE;
  auto r = BitmapBits::Decode(area, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->Test(0));
  EXPECT_EQ(r->CountSet(), 0u);
  EXPECT_TRUE(r->SetChunks().empty());
  EXPECT_EQ(r->bytes(), std::vector<uint8_t>{0xFE});  // kept for an exact rewrite
  auto all = BitmapBits::Decode(area, 12);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->CountSet(), 11u);
}

TEST(BitmapBitsTest, DecodeTooShort) {
  auto r = BitmapBits::Decode(std::vector<uint8_t>(2, 0), 17);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("need 3"));
}

TEST(BitmapAreaTest, PaddingIsOnes) {
  BitmapSuper b = Distinct();
  b.chunksize = 65536;
  b.sync_size = 128 * 10;  // 10 chunks: 2 bytes, 6 padding bits
  BitmapBits bits(10);
  bits.Set(1);
  auto area = EncodeBitmapArea(b, bits, 512);
  ASSERT_TRUE(area.ok()) << area.status().ToString();
  ASSERT_EQ(area->size(), 512u);
  EXPECT_EQ(std::vector<uint8_t>(area->begin(), area->begin() + 256), EncodeBitmapSuper(b));
  EXPECT_EQ((*area)[256], 0x02);
  EXPECT_EQ((*area)[257], 0xFC);
  for (size_t i = 258; i < 512; ++i) ASSERT_EQ((*area)[i], 0xFF) << i;
  EXPECT_EQ(EncodeBitmapArea(b, bits, 257).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(EncodeBitmapArea(b, BitmapBits(9), 512).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace meshraid::format
