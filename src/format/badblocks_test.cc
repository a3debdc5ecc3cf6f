// Unit tests of the bad-block log codec.
#include "format/badblocks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshraid::format {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> Log(std::initializer_list<uint64_t> entries, size_t bytes = 4096) {
  std::vector<uint8_t> b(bytes, 0xFF);
  size_t off = 0;
  for (uint64_t e : entries) {
    for (int i = 0; i < 8; ++i) b[off + size_t(i)] = uint8_t(e >> (8 * i));
    off += 8;
  }
  return b;
}

TEST(BadBlocksTest, DecodesUntilTerminator) {
  // start 100 len 8; start 5000 len 1023; then the terminator and garbage after it.
  std::vector<uint8_t> b = Log({(100ull << 10) | 8, (5000ull << 10) | 1023, ~0ull, 7});
  auto r = DecodeBadBlocks(b, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, (std::vector<BadBlock>{{100, 8, true}, {5000, 1023, true}}));
}

TEST(BadBlocksTest, ShiftScalesStartAndLength) {
  auto r = DecodeBadBlocks(Log({(3ull << 10) | 2}), 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<BadBlock>{{24, 16, true}}));
}

TEST(BadBlocksTest, StopsAtEndOfBufferWithoutTerminator) {
  std::vector<uint8_t> b = Log({(1ull << 10) | 1, (2ull << 10) | 1}, 20);  // 2.5 entries
  b[16] = 0;
  auto r = DecodeBadBlocks(b, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

TEST(BadBlocksTest, ErrorZeroLengthEntry) {
  auto r = DecodeBadBlocks(Log({(1ull << 10) | 1, 42ull << 10}), 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_THAT(r.status().message(), HasSubstr("entry 1"));
  EXPECT_THAT(r.status().message(), HasSubstr("length 0"));
}

TEST(BadBlocksTest, ErrorOverflowAndShift) {
  auto r = DecodeBadBlocks(Log({(1ull << 60) | 1}), 14);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("overflows"));
  auto s = DecodeBadBlocks(Log({}), 64);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("shift 64"));
}

TEST(BadBlocksTest, EmptyLogIsZeroFilledLikeMdadm) {
  // The golden members hold an all-zero log area (no BAD_BLOCKS feature).
  EXPECT_EQ(EncodeEmptyBadBlockLog(8), std::vector<uint8_t>(4096, 0));
}

TEST(BadBlocksTest, LogIsIgnoredWithoutFeatureBit) {
  Superblock sb;
  sb.bblog_offset = 16;
  sb.bblog_size = 8;
  auto r = DecodeBadBlockLog(sb, EncodeEmptyBadBlockLog(8));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  sb.feature_map = kFeatureBadBlocks;  // now the zero entries are read, and are invalid
  EXPECT_EQ(DecodeBadBlockLog(sb, EncodeEmptyBadBlockLog(8)).status().code(),
            Code::kCorruption);
  auto ok = DecodeBadBlockLog(sb, Log({(9ull << 10) | 3}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, (std::vector<BadBlock>{{9, 3, true}}));
}

TEST(BadBlocksTest, EncodeRoundTrip) {
  const std::vector<BadBlock> blocks = {{8, 16, true}, {1ull << 40, 8 * 1023, true}};
  auto b = EncodeBadBlocks(blocks, 3, 8);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->size(), 4096u);
  EXPECT_EQ((*b)[0], 0x02);  // (1 << 10) | 2, little-endian
  EXPECT_EQ((*b)[1], 0x04);
  for (size_t i = 16; i < 4096; ++i) ASSERT_EQ((*b)[i], 0xFF) << i;
  auto r = DecodeBadBlocks(*b, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, blocks);
}

TEST(BadBlocksTest, EncodeRejectsUnrepresentable) {
  const BadBlock unaligned[] = {{1, 8, true}};
  EXPECT_EQ(EncodeBadBlocks(unaligned, 3, 8).status().code(), Code::kInvalidArgument);
  const BadBlock too_long[] = {{0, 1024, true}};
  EXPECT_EQ(EncodeBadBlocks(too_long, 0, 8).status().code(), Code::kInvalidArgument);
  const BadBlock empty[] = {{0, 0, true}};
  EXPECT_EQ(EncodeBadBlocks(empty, 0, 8).status().code(), Code::kInvalidArgument);
  std::vector<BadBlock> many(513, BadBlock{0, 1, true});
  EXPECT_EQ(EncodeBadBlocks(many, 0, 8).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace meshraid::format
