#include "raid/assemble.h"

#include <gtest/gtest.h>

namespace meshraid::raid {
namespace {

// A member of a RAID1/RAID10 array, built in memory: dev_number d holds role d.
MemberMetadata Member(int dev, int raid_disks, uint64_t events, int level = 1,
                      uint32_t layout = 0, uint32_t chunk = 0) {
  MemberMetadata m;
  m.path = "m" + std::to_string(dev);
  m.device_sectors = 1 << 20;
  m.sb.set_uuid[0] = 0xAA;
  m.sb.device_uuid[0] = uint8_t(dev + 1);
  m.sb.level = level;
  m.sb.layout = layout;
  m.sb.chunksize = chunk;
  m.sb.raid_disks = uint32_t(raid_disks);
  m.sb.size = 4096;
  m.sb.data_offset = 2048;
  m.sb.data_size = 4096;
  m.sb.dev_number = uint32_t(dev);
  m.sb.events = events;
  m.sb.resync_offset = format::kMaxSector;
  m.sb.max_dev = 128;
  m.sb.dev_roles.assign(128, format::kRoleSpare);
  for (int i = 0; i < raid_disks; ++i) m.sb.dev_roles[size_t(i)] = uint16_t(i);
  return m;
}

TEST(PlanAssembly, AllFreshMembersActive) {
  auto plan = PlanAssembly({Member(0, 2, 10), Member(1, 2, 10)});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->degraded, 0);
  EXPECT_EQ(plan->slot_member, (std::vector<int>{0, 1}));
  EXPECT_FALSE(plan->needs_resync);
  EXPECT_EQ(plan->geometry.ArraySectors(), 4096u);
}

TEST(PlanAssembly, OneEventBehindIsStillFresh) {
  auto plan = PlanAssembly({Member(0, 2, 10), Member(1, 2, 9)});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->members[1].disposition, Disposition::kActive);
}

TEST(PlanAssembly, StaleMemberIsExcludedAndArrayDegraded) {
  // The survivor's superblock no longer lists dev 1 in slot 1 (MD writes spare after --remove).
  MemberMetadata fresh = Member(0, 2, 25);
  fresh.sb.dev_roles[1] = format::kRoleSpare;
  auto plan = PlanAssembly({Member(1, 2, 20), fresh});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->reference_input, 1u);
  EXPECT_EQ(plan->members[0].disposition, Disposition::kStale);
  EXPECT_EQ(plan->members[0].note, "stale: events 20 < 25");
  EXPECT_EQ(plan->degraded, 1);
  EXPECT_EQ(plan->slot_member, (std::vector<int>{1, -1}));
}

TEST(PlanAssembly, RolesComeFromTheFreshestSuperblock) {
  MemberMetadata a = Member(0, 2, 30);
  a.sb.dev_roles[1] = format::kRoleFaulty;
  MemberMetadata b = Member(1, 2, 30);  // its own superblock still says slot 1
  b.sb.dev_roles[1] = 1;
  a.sb.events = 31;
  auto plan = PlanAssembly({a, b});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->members[1].disposition, Disposition::kFaulty);
  EXPECT_EQ(plan->degraded, 1);
}

TEST(PlanAssembly, RecoveringMemberHoldsSlotButIsNotInSync) {
  MemberMetadata b = Member(1, 2, 10);
  b.sb.feature_map |= format::kFeatureRecoveryOffset;
  b.sb.recovery_offset = 1000;
  auto plan = PlanAssembly({Member(0, 2, 10), b});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->members[1].disposition, Disposition::kRecovering);
  EXPECT_EQ(plan->members[1].recovery_offset, 1000u);
  EXPECT_EQ(plan->members[1].slot, 1);
  EXPECT_EQ(plan->degraded, 1);
}

TEST(PlanAssembly, SpareHasNoSlot) {
  MemberMetadata s = Member(2, 2, 10);
  auto plan = PlanAssembly({Member(0, 2, 10), Member(1, 2, 10), s});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->members[2].disposition, Disposition::kSpare);
}

TEST(PlanAssembly, DirtyArrayNeedsResync) {
  MemberMetadata a = Member(0, 2, 10), b = Member(1, 2, 10);
  a.sb.resync_offset = b.sb.resync_offset = 0;
  auto plan = PlanAssembly({a, b});
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->needs_resync);
}

TEST(PlanAssembly, RejectsMemberOfAnotherArray) {
  MemberMetadata b = Member(1, 2, 10);
  b.sb.set_uuid[0] = 0xBB;
  auto plan = PlanAssembly({Member(0, 2, 10), b});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("m1: member of another array"), std::string::npos)
      << plan.status().message();
}

TEST(PlanAssembly, RejectsTwoMembersClaimingOneSlot) {
  MemberMetadata b = Member(0, 2, 10);
  b.path = "copy";
  b.sb.device_uuid[0] = 0x77;
  auto plan = PlanAssembly({Member(0, 2, 10), b});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), "m0 and copy: two members claim slot 0");
}

TEST(PlanAssembly, RejectsTheSameMemberTwice) {
  auto plan = PlanAssembly({Member(0, 2, 10), Member(0, 2, 10)});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("the same member given twice"), std::string::npos);
}

TEST(PlanAssembly, RejectsDifferentGeometry) {
  MemberMetadata b = Member(1, 4, 10, 10, 0x102, 128);
  b.sb.chunksize = 256;
  auto plan = PlanAssembly({Member(0, 4, 10, 10, 0x102, 128), b, Member(2, 4, 10, 10, 0x102, 128)});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("different geometry"), std::string::npos);
  EXPECT_NE(plan.status().message().find("chunk 256 vs 128"), std::string::npos);
}

TEST(PlanAssembly, StaleMemberMayHaveOldGeometry) {
  MemberMetadata old = Member(1, 2, 5);
  old.sb.level = 10;
  old.sb.layout = 0x102;
  old.sb.chunksize = 128;
  auto plan = PlanAssembly({Member(0, 2, 10), old});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->members[1].disposition, Disposition::kStale);
}

TEST(PlanAssembly, Raid10NeedsOneMemberOfEveryCopyGroup) {
  auto m = [](int d) { return Member(d, 4, 10, 10, 0x102, 128); };
  // n2 over 4: slots {0,1} and {2,3} are the copy groups.
  EXPECT_TRUE(PlanAssembly({m(0), m(2)}).ok());
  EXPECT_TRUE(PlanAssembly({m(1), m(3)}).ok());
  auto plan = PlanAssembly({m(0), m(1)});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("slot(s) 2,3 missing of 4"), std::string::npos);
}

TEST(PlanAssembly, RejectsEmptyInput) { EXPECT_FALSE(PlanAssembly({}).ok()); }

}  // namespace
}  // namespace meshraid::raid
