#include "control/detail.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "control/golden_cases.h"

namespace meshraid::control {
namespace {

class DetailTest : public ::testing::Test {
 protected:
  // The golden records were printed by a guest running in UTC.
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_tz_ = tz ? tz : "";
    had_tz_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_tz_) setenv("TZ", saved_tz_.c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }
  std::string saved_tz_;
  bool had_tz_ = false;
};

ArrayStatus TwoMirrors() {
  ArrayStatus a;
  a.name = "data";
  a.set_name = "node1:data";
  a.uuid = "f5131ccd:69dba5a0:fc0ff208:fe2302fb";
  a.level = 1;
  a.raid_disks = 2;
  a.array_sectors = a.dev_sectors = 129024;
  a.events = 17;
  a.ctime = 1795593652;
  a.utime = 1795593660;
  a.read_policy = "latency";
  for (int i = 0; i < 2; ++i) {
    MemberStatus m;
    m.path = "/tmp/w/m" + std::to_string(i);
    m.slot = i;
    m.dev_number = uint32_t(i);
    m.state = "in_sync";
    a.members.push_back(m);
  }
  return a;
}

TEST_F(DetailTest, MatchesEveryGoldenRecord) {
  std::vector<golden::Case> cases = golden::LoadCases();
  ASSERT_GE(cases.size(), 7u) << "golden cases not found in " << MESHRAID_GOLDEN_DIR;
  for (const golden::Case& c : cases) {
    // mdadm ran on the host that created the array (runvm for the 6.1 cases, guest for the
    // tests/kernel ones), so the homehost in set_name is the local host it printed.
    const std::string homehost = c.status.set_name.substr(0, c.status.set_name.find(':'));
    DetailOptions o{"/dev/md0", homehost, false};
    EXPECT_EQ(FormatDetail(c.status, o), c.detail) << c.name;
  }
}

TEST_F(DetailTest, TimeFormat) {
  EXPECT_EQ(FormatTime(1795593652), "Wed Nov 25 08:00:52 2026");
  EXPECT_EQ(FormatTime(0), "Thu Jan  1 00:00:00 1970");
}

TEST_F(DetailTest, NameIsLocalOnlyForThisHost) {
  ArrayStatus a = TwoMirrors();
  EXPECT_NE(FormatDetail(a, {"", "node1", true}).find("Name : node1:data  (local to host node1)\n"),
            std::string::npos);
  EXPECT_NE(FormatDetail(a, {"", "node2", true}).find("Name : node1:data\n"), std::string::npos);
  EXPECT_EQ(FormatDetail(a).substr(0, 6), "data:\n");
}

TEST_F(DetailTest, FailedSpareAndRebuildingMembers) {
  ArrayStatus a = TwoMirrors();
  a.active = true;
  a.degraded = 1;
  a.members[1].state = "faulty";
  MemberStatus spare;
  spare.path = "/tmp/w/m2";
  spare.dev_number = 2;
  spare.state = "recovering";
  spare.slot = 1;
  a.members.push_back(spare);
  a.members[0].write_mostly = true;
  a.sync = SyncStatus{"recovery", "", 52000, 129024, 0, 0};
  std::string d = FormatDetail(a, {"", "", false});
  EXPECT_NE(d.find("     Total Devices : 3\n"), std::string::npos) << d;
  EXPECT_NE(d.find("             State : active, degraded, recovering \n"), std::string::npos) << d;
  EXPECT_NE(d.find("    Active Devices : 1\n   Working Devices : 2\n    Failed Devices : 1\n"
                   "     Spare Devices : 1\n"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("    Rebuild Status : 40% complete\n\n"), std::string::npos) << d;
  EXPECT_NE(d.find("    Number   Major   Minor   RaidDevice State\n"
                   "       0       0        0        0      active sync writemostly   /tmp/w/m0\n"
                   "       2       0        0        1      spare rebuilding   /tmp/w/m2\n"
                   "       1       0        0        -      faulty   /tmp/w/m1\n"),
            std::string::npos)
      << d;
}

TEST_F(DetailTest, MemberStatisticsTable) {
  ArrayStatus a = TwoMirrors();
  a.members[0].latency_ewma_ns = 12500;
  a.members[0].reads = 1000;
  a.members[0].read_bytes = 4096000;
  a.members[0].read_p50_ns = 11000;
  a.members[0].read_p99_ns = 90000;
  a.members[1].corrected_errors = 8;
  a.members[1].pending = 3;
  std::string d = FormatDetail(a);
  EXPECT_NE(d.find("\n       Read Policy : latency\n\n"), std::string::npos) << d;
  std::string table = FormatMemberStats(a);
  EXPECT_NE(d.find(table), std::string::npos);
  EXPECT_EQ(table,
            "RaidDevice  State      latency_ewma_ns pending        reads     read_bytes read_errors "
            "corrected     p50_ns     p99_ns   Device\n"
            "         0  in_sync              12500       0         1000        4096000           0 "
            "        0      11000      90000   /tmp/w/m0\n"
            "         1  in_sync                  0       3            0              0           0 "
            "        8          0          0   /tmp/w/m1\n");
}

TEST_F(DetailTest, SmallArraysHaveNoHumanSize) {
  ArrayStatus a = TwoMirrors();
  a.array_sectors = a.dev_sectors = 2048;
  EXPECT_NE(FormatDetail(a).find("        Array Size : 1024\n"), std::string::npos);
}

TEST_F(DetailTest, SyncStatusLinesAndRecoveryProgress) {
  ArrayStatus a = TwoMirrors();
  a.members[1].state = "recovering";
  a.members[1].recovery_offset = 64512;
  a.degraded = 1;
  a.sync = SyncStatus{"recovery", "", 64512, 129024, 2000, 30};
  a.sync_action = "recover";
  a.mismatch_cnt = 128;
  a.sync_speed_min = 1000;
  a.sync_speed_max = 200000;
  a.copied_sectors = 64512;
  a.bitmap = BitmapStatus{1, 1, 64 << 20, 1};
  std::string d = FormatDetail(a);
  for (const char* want : {"     Intent Bitmap : Internal\n", "Consistency Policy : bitmap\n",
                           "    Rebuild Status : 50% complete\n",
                           "       Sync Action : recover\n",
                           "    Mismatch Count : 128 sectors\n",
                           "        Sync Speed : min 1000K/sec, max 200000K/sec\n",
                           "       Sync Copied : 64512 sectors (0 skipped as clean)\n",
                           "          Recovery : 50% of /tmp/w/m1 (64512 of 129024 sectors)\n"}) {
    EXPECT_NE(d.find(want), std::string::npos) << want << "\n" << d;
  }
  a.sync = SyncStatus{"check", "", 32256, 129024, 2000, 30};
  EXPECT_NE(FormatDetail(a).find("      Check Status : 25% complete\n"), std::string::npos);
  a.sync = SyncStatus{"repair", "", 32256, 129024, 2000, 30};
  EXPECT_NE(FormatDetail(a).find("     Resync Status : 25% complete\n"), std::string::npos);
  a.bitmap.reset();
  EXPECT_NE(FormatDetail(a).find("Consistency Policy : resync\n"), std::string::npos);
}

TEST_F(DetailTest, ReshapeFieldsLikeMdadm) {
  ArrayStatus a = TwoMirrors();
  a.level = 10;
  a.layout = 0x102;
  a.chunk_sectors = 1024;
  a.raid_disks = 4;
  for (int i = 2; i < 4; ++i) {
    MemberStatus m = a.members[0];
    m.path = "/tmp/w/m" + std::to_string(i);
    m.slot = i;
    m.dev_number = uint32_t(i);
    a.members.push_back(m);
  }
  a.sync = SyncStatus{"reshape", "", 16128, 129024, 4000, 14};
  a.sync_action = "reshape";
  a.reshape = ReshapeStatus{16128, 8192, 2, 2, 4, 10, 0x102, 1024};
  std::string d = FormatDetail(a);
  for (const char* want : {"      Raid Devices : 4\n", "             State : clean, reshaping \n",
                           "Consistency Policy : resync\n\n"
                           "    Reshape Status : 12% complete\n"
                           "     Delta Devices : 2, (2->4)\n\n"
                           "              Name : node1:data\n",
                           "       Sync Action : reshape\n",
                           "  Reshape Position : 16128 of 129024 sectors (checkpoint 8192)\n"}) {
    EXPECT_NE(d.find(want), std::string::npos) << want << "\n" << d;
  }
  EXPECT_EQ(d.find("New Chunksize"), std::string::npos) << d;
  EXPECT_EQ(d.find("New Layout"), std::string::npos) << d;
  // A new chunk and layout are named; a frozen reshape still says reshaping, with the
  // progress of its position.
  a.reshape->new_chunk_sectors = 256;
  a.reshape->new_layout = 0x10201;
  a.sync.reset();
  a.sync_action = "frozen";
  d = FormatDetail(a);
  for (const char* want : {"             State : clean, reshaping \n",
                           "    Reshape Status : 12% complete\n     Delta Devices : 2, (2->4)\n"
                           "        New Layout : near=1, offset=2\n"
                           "     New Chunksize : 128K\n\n"}) {
    EXPECT_NE(d.find(want), std::string::npos) << want << "\n" << d;
  }
}

}  // namespace
}  // namespace meshraid::control
