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


// --- A RAID10 near=2 grow from 2 to 4 members in progress --------------------------------------

MemberMetadata Reshaping(int dev, uint64_t events, uint64_t position) {
  MemberMetadata m = Member(dev, 4, events, 10, 0x102, 128);
  m.sb.feature_map |= format::kFeatureReshapeActive | format::kFeatureNewOffset;
  m.sb.reshape_position = position;
  m.sb.delta_disks = 2;
  m.sb.new_level = 10;
  m.sb.new_layout = 0x102;
  m.sb.new_chunk = 128;
  m.sb.new_offset = -128;
  return m;
}

TEST(PlanAssemblyReshape, ContinuesAGrow) {
  auto plan = PlanAssembly({Reshaping(0, 7, 1024), Reshaping(1, 7, 1024), Reshaping(2, 7, 1024),
                            Reshaping(3, 7, 1024)});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_TRUE(plan->reshape.has_value());
  EXPECT_EQ(plan->reshape->position, 1024u);
  EXPECT_EQ(plan->reshape->geometry.old_geo.raid_disks(), 2);
  EXPECT_EQ(plan->reshape->geometry.new_geo.raid_disks(), 4);
  EXPECT_EQ(plan->reshape->geometry.offset_change, 128u);
  EXPECT_EQ(plan->reshape->geometry.MoveSectors(), 4096u);
  EXPECT_EQ(plan->geometry.raid_disks(), 4);
  EXPECT_EQ(plan->degraded, 0);
  for (const MemberPlan& mp : plan->members) EXPECT_EQ(mp.data_offset, 2048u);
}

// Power lost while the superblocks recording the start were written: a member one event
// behind with the old geometry is current, and its data is where the old layout says.
TEST(PlanAssemblyReshape, AMemberThatMissedTheStartIsCurrent) {
  MemberMetadata before = Member(1, 2, 6, 10, 0x102, 128);
  before.sb.dev_roles.assign(128, format::kRoleSpare);
  before.sb.dev_roles[0] = 0;
  before.sb.dev_roles[1] = 1;
  auto plan = PlanAssembly({Reshaping(0, 7, 0), before, Reshaping(2, 7, 0), Reshaping(3, 7, 0)});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->members[1].disposition, Disposition::kActive);
  EXPECT_TRUE(plan->reshape.has_value());
  // Two events behind is stale as always (and slot 1 is then missing).
  before.sb.events = 5;
  plan = PlanAssembly({Reshaping(0, 7, 0), before, Reshaping(2, 7, 0), Reshaping(3, 7, 0)});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->members[1].disposition, Disposition::kStale);
}

// ... or those recording the end: its data offset is the new one.
TEST(PlanAssemblyReshape, AMemberThatMissedTheEndUsesTheNewOffset) {
  auto done = [](int dev) {
    MemberMetadata m = Member(dev, 4, 9, 10, 0x102, 128);
    m.sb.data_offset = 2048 - 128;
    return m;
  };
  auto plan = PlanAssembly({done(0), Reshaping(1, 8, 4096), done(2), done(3)});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_FALSE(plan->reshape.has_value());
  EXPECT_EQ(plan->members[1].disposition, Disposition::kActive);
  for (const MemberPlan& mp : plan->members) EXPECT_EQ(mp.data_offset, 2048u - 128);
}

TEST(PlanAssemblyReshape, RefusesWhatItCannotContinue) {
  auto with = [](auto change) {
    std::vector<MemberMetadata> ms;
    for (int d = 0; d < 4; ++d) {
      ms.push_back(Reshaping(d, 7, 0));
      change(ms.back().sb);
    }
    return PlanAssembly(ms).status().message();
  };
  EXPECT_EQ(with([](format::Superblock& sb) { sb.delta_disks = -1; }),
            "m0: reshape in progress (position 0): it shrinks the array or moves data backwards "
            "(delta_disks -1); meshraid can only continue a grow");
  EXPECT_EQ(with([](format::Superblock& sb) { sb.new_offset = 0; }),
            "m0: reshape in progress (position 0): the data does not move to a lower data offset "
            "(new_offset 0); meshraid cannot continue it");
  EXPECT_EQ(with([](format::Superblock& sb) { sb.new_layout = 0x201; }),
            "m0: reshape in progress (position 0): only a RAID10 near layout growing onto more "
            "members can be continued");
  EXPECT_EQ(with([](format::Superblock& sb) { sb.reshape_position = 100; }),
            "m0: reshape in progress (position 100): position beyond the array (4096 sectors) or "
            "not on a chunk boundary");
}

}  // namespace
}  // namespace meshraid::raid
