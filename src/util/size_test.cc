#include "util/size.h"

#include <gtest/gtest.h>

namespace meshraid {
namespace {

TEST(ParseSize, BareNumberUsesDefaultUnit) {
  auto r = ParseSize("64", 1024);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 65536u);
}

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(*ParseSize("512K", 1), 512u * 1024);
  EXPECT_EQ(*ParseSize("1M", 1), 1u << 20);
  EXPECT_EQ(*ParseSize("2g", 1), uint64_t{2} << 30);
  EXPECT_EQ(*ParseSize("1TiB", 1), uint64_t{1} << 40);
  EXPECT_EQ(*ParseSize("8s", 1), 4096u);
}

TEST(ParseSize, RejectsGarbage) {
  EXPECT_FALSE(ParseSize("", 1).ok());
  EXPECT_FALSE(ParseSize("K", 1).ok());
  EXPECT_FALSE(ParseSize("12X", 1).ok());
  EXPECT_FALSE(ParseSize("12KQ", 1).ok());
  EXPECT_FALSE(ParseSize("99999999999999999999", 1).ok());
  EXPECT_FALSE(ParseSize("17179869184T", 1).ok());
}

TEST(HumanSize, MatchesMdadm) {
  // Values seen in mdadm --examine output of the golden arrays.
  EXPECT_EQ(HumanSize(129024ull * 512), "(63.00 MiB 66.06 MB)");
  EXPECT_EQ(HumanSize(258048ull * 512), "(126.00 MiB 132.12 MB)");
  EXPECT_EQ(HumanSize(1024), "");
  EXPECT_EQ(HumanSize(uint64_t{4} << 30), "(4.00 GiB 4.29 GB)");
}

}  // namespace
}  // namespace meshraid
