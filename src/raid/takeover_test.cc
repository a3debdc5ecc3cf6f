// The takeover planner: MeshStor's preconditions in order, each with its own message.
#include "raid/takeover.h"

#include <gtest/gtest.h>

#include "layout/geometry.h"

namespace meshraid::raid {
namespace {

TakeoverFacts Raid1(uint32_t n, uint64_t size = 1 << 20) {
  TakeoverFacts f;
  f.reference.level = 1;
  f.reference.raid_disks = n;
  f.reference.size = size;
  f.reference.resync_offset = format::kMaxSector;
  return f;
}

std::string Refusal(const TakeoverFacts& f, int to = 10, uint64_t chunk = 0) {
  auto p = PlanTakeover(f, to, chunk);
  EXPECT_FALSE(p.ok());
  return p.ok() ? "" : p.status().message();
}

TEST(Takeover, Raid1ToRaid10IsNearEqualsMembersWithTheDefaultChunk) {
  for (uint32_t n : {2u, 3u, 4u, 255u}) {
    auto p = PlanTakeover(Raid1(n), 10);
    ASSERT_TRUE(p.ok()) << p.status().message();
    EXPECT_EQ(p->level, 10);
    EXPECT_EQ(p->layout, 256 + n);  // near=n, far=1
    EXPECT_EQ(p->chunk_sectors, 1024u);
    auto l = layout::Raid10Layout::FromWord(p->layout);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->MdadmName(), "near=" + std::to_string(n));
  }
}

TEST(Takeover, DefaultChunkIsHalvedUntilItDividesTheMemberSize) {
  EXPECT_EQ(DefaultTakeoverChunk(1 << 20), 1024u);
  EXPECT_EQ(DefaultTakeoverChunk(1024 * 3 + 512), 512u);
  EXPECT_EQ(DefaultTakeoverChunk(1000), 8u);
  auto p = PlanTakeover(Raid1(2, 1024 * 7 + 256), 10);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->chunk_sectors, 256u);
}

TEST(Takeover, UserChunkMustDivideTheMemberSize) {
  auto p = PlanTakeover(Raid1(2, 1 << 20), 10, 128);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->chunk_sectors, 128u);
  EXPECT_EQ(Refusal(Raid1(2, 1000), 10, 1024),
            "raid1->raid10 takeover refused: member size 1000 sectors is not a multiple of the "
            "512 KiB chunk: the array would lose its tail");
  EXPECT_EQ(PlanTakeover(Raid1(2), 10, 100).status().code(), Code::kInvalidArgument);
  // Member size not a multiple of 4 KiB: even the smallest default chunk does not fit.
  EXPECT_EQ(Refusal(Raid1(2, 1001)),
            "raid1->raid10 takeover refused: member size 1001 sectors is not a multiple of the 4 "
            "KiB chunk: the array would lose its tail");
}

TEST(Takeover, EveryPreconditionHasItsOwnMessage) {
  const std::string r = "raid1->raid10 takeover refused: ";
  TakeoverFacts f = Raid1(2);
  f.reference.major_version = 0;
  EXPECT_EQ(Refusal(f), r + "not v1 metadata (v0.90 cannot record a raid10 layout)");
  f = Raid1(2);
  f.reference.feature_map |= format::kFeatureReshapeActive;
  f.reference.reshape_position = 77;
  EXPECT_EQ(Refusal(f), r + "a reshape is in progress (reshape_position 77)");
  EXPECT_EQ(Refusal(Raid1(1)), r + "1 member(s): a takeover needs at least 2");
  EXPECT_EQ(Refusal(Raid1(256)), r + "256 members: near copies are limited to 255");
  f = Raid1(3);
  f.degraded = 1;
  EXPECT_EQ(Refusal(f), r + "the array is degraded (1 of 3 slots missing)");
  f = Raid1(2);
  f.reference.resync_offset = 4096;
  EXPECT_EQ(Refusal(f), r + "resync is not complete (resync_offset 4096)");
  f = Raid1(2);
  f.member_not_in_sync = "/dev/b";
  EXPECT_EQ(Refusal(f), r + "/dev/b is not in sync");
  f = Raid1(2);
  f.write_mostly = "/dev/c";
  EXPECT_EQ(Refusal(f), r + "/dev/c is write-mostly");
  f = Raid1(2);
  f.replacement = "/dev/d";
  EXPECT_EQ(Refusal(f), r + "a replacement is in flight (/dev/d)");
  f = Raid1(2);
  f.write_behind = 256;
  EXPECT_EQ(Refusal(f), r + "write-behind is configured (256)");
  f = Raid1(2);
  f.sync_running = "check";
  EXPECT_EQ(Refusal(f), r + "a sync action is running (check)");
}

TEST(Takeover, TheFirstFailingPreconditionIsReported) {
  TakeoverFacts f = Raid1(2);
  f.degraded = 1;
  f.sync_running = "recover";
  f.write_mostly = "/dev/x";
  EXPECT_EQ(Refusal(f), "raid1->raid10 takeover refused: the array is degraded (1 of 2 slots missing)");
}

TEST(Takeover, Raid10BackToRaid1OnlyWhenNearCopiesEqualMembers) {
  TakeoverFacts f = Raid1(3);
  f.reference.level = 10;
  f.reference.layout = 256 + 3;
  f.reference.chunksize = 1024;
  auto p = PlanTakeover(f, 1);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->level, 1);
  EXPECT_EQ(p->layout, 0u);
  EXPECT_EQ(p->chunk_sectors, 0u);
  f.reference.layout = 256 + 2;
  EXPECT_EQ(Refusal(f, 1), "raid10->raid1 takeover refused: layout near=2 is not near=3 (near copies "
                           "must equal the member count)");
  f.reference.layout = 0x102 | (1u << 16);  // offset
  f.reference.raid_disks = 2;
  EXPECT_NE(Refusal(f, 1).find("is not near=2"), std::string::npos);
}

TEST(Takeover, OtherLevelChangesAreNotTakeovers) {
  EXPECT_EQ(PlanTakeover(Raid1(2), 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(PlanTakeover(Raid1(2), 5).status().code(), Code::kInvalidArgument);
}

TEST(Takeover, ApplyRewritesOnlyLevelLayoutAndChunk) {
  format::Superblock sb = Raid1(2).reference;
  sb.events = 9;
  sb.data_offset = 2048;
  format::Superblock before = sb;
  auto p = PlanTakeover(Raid1(2), 10);
  ASSERT_TRUE(p.ok());
  ApplyTakeover(*p, sb);
  EXPECT_EQ(sb.level, 10);
  EXPECT_EQ(sb.layout, 258u);
  EXPECT_EQ(sb.chunksize, 1024u);
  sb.level = before.level;
  sb.layout = before.layout;
  sb.chunksize = before.chunksize;
  EXPECT_EQ(sb, before);
}

}  // namespace
}  // namespace meshraid::raid
