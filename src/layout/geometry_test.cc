// Geometry: construction, RAID1, and hand-checked RAID10 examples. The exhaustive comparison
// with the brute-force reference is in geometry_exhaustive_test.cc.
#include "layout/geometry.h"

#include <gtest/gtest.h>

#include <vector>

#include "layout/reference_layout.h"  // PrintTo(Copy)

namespace meshraid::layout {
namespace {

Raid10Layout L(uint32_t word) { return Raid10Layout::FromWord(word).value(); }

TEST(GeometryTest, Raid1MapsEveryMirrorToTheSameSector) {
  auto g = Geometry::Raid1(3, 1000);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->ArraySectors(), 1000u);
  EXPECT_EQ(g->DeviceSectorsUsed(), 1000u);
  EXPECT_EQ(g->copies(), 3);
  EXPECT_EQ(g->Map(7), (std::vector<Copy>{{0, 7}, {1, 7}, {2, 7}}));
  EXPECT_EQ(g->ContiguousSectors(7), 993u);
  EXPECT_EQ(g->Unmap(2, 999).value(), 999u);
  EXPECT_EQ(g->Unmap(2, 1000).status().code(), Code::kNotFound);
  EXPECT_EQ(g->Unmap(3, 0).status().code(), Code::kInvalidArgument);
}

TEST(GeometryTest, Raid1EnoughWithAnyInSyncMember) {
  auto g = Geometry::Raid1(3, 1000).value();
  EXPECT_FALSE(g.Enough({false, false, false}));
  EXPECT_TRUE(g.Enough({false, false, true}));
  EXPECT_FALSE(g.Enough({}));
  EXPECT_FALSE(g.Enough({false, false, false, true}));  // past raid_disks: not a member
}

TEST(GeometryTest, RejectsBadRaid10Geometry) {
  EXPECT_EQ(Geometry::Raid10(2, L(0x103), 128, 1024).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Geometry::Raid10(4, L(0x101), 128, 1024).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Geometry::Raid10(4, L(0x102), 96, 1024).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Geometry::Raid10(4, L(0x102), 4, 1024).status().code(), Code::kInvalidArgument);
  Raid10Layout big;
  big.near = 256;
  EXPECT_EQ(Geometry::Raid10(300, big, 128, 1024).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Geometry::Raid10(4, L(0x102), 8, 1024).ok());
  auto s = Geometry::Raid10(2, L(0x103), 128, 1024).status();
  EXPECT_EQ(s.message(), "raid10 layout near=3 needs 3 members, array has 2");
}

TEST(GeometryTest, FromSuperblock) {
  auto r1 = Geometry::FromSuperblock(1, 0, 0, 2, 129024);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->level(), 1);
  auto r10 = Geometry::FromSuperblock(10, 0x201, 128, 4, 129024);
  ASSERT_TRUE(r10.ok());
  EXPECT_EQ(r10->level(), 10);
  EXPECT_EQ(r10->ArraySectors(), 258048u);
  EXPECT_EQ(Geometry::FromSuperblock(5, 2, 128, 4, 1024).status().code(), Code::kNotSupported);
  EXPECT_EQ(Geometry::FromSuperblock(10, 1u << 19 | 0x102, 128, 4, 1024).status().code(),
            Code::kInvalidArgument);
}

TEST(GeometryTest, Near2OnFourMembers) {
  auto g = Geometry::Raid10(4, L(0x102), 8, 100).value();
  EXPECT_EQ(g.ArraySectors(), 12u * 2 * 8);  // 12 chunks per member, 2 array chunks a stripe
  EXPECT_EQ(g.Map(3), (std::vector<Copy>{{0, 3}, {1, 3}}));
  EXPECT_EQ(g.Map(8 + 3), (std::vector<Copy>{{2, 3}, {3, 3}}));
  EXPECT_EQ(g.Map(16 + 3), (std::vector<Copy>{{0, 11}, {1, 11}}));
  EXPECT_EQ(g.ContiguousSectors(3), 5u);
  EXPECT_EQ(g.Unmap(3, 11).value(), 27u);
}

TEST(GeometryTest, Near2OnThreeMembersWrapsToNextStripe) {
  auto g = Geometry::Raid10(3, L(0x102), 8, 64).value();
  EXPECT_EQ(g.Map(8 + 1), (std::vector<Copy>{{2, 1}, {0, 9}}));
  EXPECT_EQ(g.Unmap(0, 9).value(), 9u);
}

TEST(GeometryTest, Far2OnFourMembers) {
  auto g = Geometry::Raid10(4, L(0x201), 8, 64).value();  // 8 chunks: regions of 4
  EXPECT_EQ(g.ArraySectors(), 4u * 4 * 8);
  EXPECT_EQ(g.Map(0), (std::vector<Copy>{{0, 0}, {1, 32}}));
  EXPECT_EQ(g.Map(3 * 8), (std::vector<Copy>{{3, 0}, {0, 32}}));
  EXPECT_EQ(g.Map(4 * 8 + 2), (std::vector<Copy>{{0, 10}, {1, 42}}));
  EXPECT_EQ(g.Unmap(0, 32).value(), 24u);
}

TEST(GeometryTest, Offset2OnFourMembers) {
  auto g = Geometry::Raid10(4, L(0x10201), 8, 64).value();
  EXPECT_EQ(g.Map(0), (std::vector<Copy>{{0, 0}, {1, 8}}));
  EXPECT_EQ(g.Map(3 * 8), (std::vector<Copy>{{3, 0}, {0, 8}}));
  EXPECT_EQ(g.Map(4 * 8), (std::vector<Copy>{{0, 16}, {1, 24}}));
}

TEST(GeometryTest, DocWorkedExamples) {  // doc/raid10_geometry.md
  const uint64_t c = 8;
  auto n2 = Geometry::Raid10(4, L(0x102), c, 3 * c).value();
  EXPECT_EQ(n2.ArraySectors(), 6 * c);
  EXPECT_EQ(n2.Map(2 * c + 5), (std::vector<Copy>{{0, c + 5}, {1, c + 5}}));
  auto f2 = Geometry::Raid10(4, L(0x201), c, 4 * c).value();
  EXPECT_EQ(f2.ArraySectors(), 8 * c);
  EXPECT_EQ(f2.Map(3 * c + 5), (std::vector<Copy>{{3, 5}, {0, 2 * c + 5}}));
  auto o2 = Geometry::Raid10(4, L(0x10201), c, 4 * c).value();
  EXPECT_EQ(o2.ArraySectors(), 8 * c);
  EXPECT_EQ(o2.Map(4 * c + 5), (std::vector<Copy>{{0, 2 * c + 5}, {1, 3 * c + 5}}));
}

TEST(GeometryTest, NearEqualsMembersIsRaid1) {
  // md-facts F.4: near == raid_disks places every copy at the array sector.
  auto g = Geometry::Raid10(3, L(0x103), 8, 8 * 10 + 5).value();
  EXPECT_EQ(g.ArraySectors(), 80u);
  for (uint64_t v = 0; v < g.ArraySectors(); ++v) {
    ASSERT_EQ(g.Map(v), (std::vector<Copy>{{0, v}, {1, v}, {2, v}}));
  }
  EXPECT_EQ(g.ContiguousSectors(5), 75u);
}

TEST(GeometryTest, UnsafeFarSetsAreRefused) {
  // Mode 1 with near=2 on 4 members: far sets of 2 members, far copy on the same member.
  EXPECT_EQ(Geometry::Raid10(4, L(0x202 | 1u << 17), 8, 64).status().code(), Code::kNotSupported);
  // Mode 2, near=2 far=2 on 9 members: MD's step sends member 3's far copy into the last
  // set, onto member 5, where member 8's far copy also lands.
  EXPECT_EQ(Geometry::Raid10(9, L(0x202 | 2u << 17), 8, 64).status().code(), Code::kNotSupported);
  EXPECT_TRUE(Geometry::Raid10(8, L(0x202 | 2u << 17), 8, 64).ok());
}

TEST(GeometryTest, Raid10EnoughFollowsMdWindows) {
  auto g = Geometry::Raid10(4, L(0x102), 8, 64).value();
  EXPECT_TRUE(g.Enough({true, false, true, false}));
  EXPECT_FALSE(g.Enough({true, true, false, false}));
  auto odd = Geometry::Raid10(3, L(0x102), 8, 64).value();
  EXPECT_TRUE(odd.Enough({true, true, false}));
  EXPECT_FALSE(odd.Enough({true, false, false}));
}

}  // namespace
}  // namespace meshraid::layout
