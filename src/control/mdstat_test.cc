#include "control/mdstat.h"

#include <gtest/gtest.h>

#include "control/golden_cases.h"
#include "layout/geometry.h"

namespace meshraid::control {
namespace {

MemberStatus Member(const std::string& path, int slot, uint32_t dev, const std::string& state) {
  MemberStatus m;
  m.path = path;
  m.slot = slot;
  m.dev_number = dev;
  m.state = state;
  return m;
}

uint32_t Layout(int near, int far, bool offset, int far_set_mode) {
  layout::Raid10Layout l;
  l.near = near;
  l.far = far;
  l.offset = offset;
  l.far_set_mode = far_set_mode;
  return l.Word();
}

ArrayStatus Raid1(int disks) {
  ArrayStatus a;
  a.name = "r1";
  a.level = 1;
  a.raid_disks = disks;
  a.array_sectors = 129024;
  for (int i = 0; i < disks; ++i) {
    a.members.push_back(Member("/tmp/w/m" + std::to_string(i), i, uint32_t(i), "in_sync"));
  }
  return a;
}

TEST(MdstatTest, MatchesEveryGoldenRecord) {
  std::vector<golden::Case> cases = golden::LoadCases();
  ASSERT_GE(cases.size(), 7u) << "golden cases not found in " << MESHRAID_GOLDEN_DIR;
  for (const golden::Case& c : cases) {
    // The Personalities line lists the modules the guest had loaded, not the array: take it
    // from the record (6.1 guests had linear and raid0 loaded, the 6.12 harness only raid1/10).
    MdstatOptions md_kernel;
    md_kernel.personalities.clear();
    const std::string first = c.mdstat.substr(0, c.mdstat.find('\n'));
    for (size_t at = first.find('['); at != std::string::npos; at = first.find('[', at + 1)) {
      md_kernel.personalities.push_back(first.substr(at + 1, first.find(']', at) - at - 1));
    }
    EXPECT_EQ(FormatMdstat({c.status}, md_kernel), c.mdstat) << c.name;
  }
}

TEST(MdstatTest, NoArrays) {
  EXPECT_EQ(FormatMdstat({}), "Personalities : [raid1] [raid10] \nunused devices: <none>\n");
}

TEST(MdstatTest, Raid1ListsMembersNewestFirstByFileName) {
  EXPECT_EQ(FormatMdstatArray(Raid1(2)),
            "r1 : active raid1 m1[1] m0[0]\n"
            "      64512 blocks super 1.2 [2/2] [UU]\n"
            "      \n");
}

TEST(MdstatTest, FaultySpareAndWriteMostlyFlags) {
  ArrayStatus a = Raid1(2);
  a.members[1].state = "faulty";
  a.members[1].slot = -1;
  a.degraded = 1;
  a.members[0].write_mostly = true;
  a.members.push_back(Member("/dev/sdc1", -1, 2, "spare"));
  a.members.push_back(Member("/tmp/w/stale", -1, 3, "stale"));      // not part of the array
  a.members.push_back(Member("/tmp/w/missing", -1, 4, "missing"));  // could not be opened
  EXPECT_EQ(FormatMdstatArray(a),
            "r1 : active raid1 sdc1[2](S) m1[1](F) m0[0](W)\n"
            "      64512 blocks super 1.2 [2/1] [U_]\n"
            "      \n");
}

TEST(MdstatTest, BrokenArray) {
  ArrayStatus a = Raid1(2);
  a.broken = true;
  EXPECT_EQ(FormatMdstatArray(a).substr(0, 22), "r1 : broken raid1 m1[1");
}

TEST(MdstatTest, RemoteMemberKeepsItsUri) {
  ArrayStatus a = Raid1(2);
  a.members[1].path = "nbd://10.0.0.2:10809/disk";
  EXPECT_EQ(FormatMdstatArray(a).substr(0, 47), "r1 : active raid1 nbd://10.0.0.2:10809/disk[1] ");
}

TEST(MdstatTest, Raid10Layouts) {
  ArrayStatus a;
  a.level = 10;
  a.raid_disks = 4;
  a.chunk_sectors = 1024;
  for (int i = 0; i < 4; ++i) a.members.push_back(Member("m", i, uint32_t(i), "in_sync"));
  a.layout = Layout(2, 1, false, 0);
  EXPECT_EQ(PersonalityStatus(a), " 512K chunks 2 near-copies [4/4] [UUUU]");
  a.layout = Layout(1, 2, false, 0);
  EXPECT_EQ(PersonalityStatus(a), " 512K chunks 2 far-copies [4/4] [UUUU]");
  a.layout = Layout(1, 2, true, 0);
  EXPECT_EQ(PersonalityStatus(a), " 512K chunks 2 offset-copies [4/4] [UUUU]");
  a.layout = Layout(1, 2, false, 1);
  EXPECT_EQ(PersonalityStatus(a), " 512K chunks 2 far-copies 2 devices per set [4/4] [UUUU]");
  a.layout = Layout(4, 1, false, 0);  // near copies on every member: no chunks
  EXPECT_EQ(PersonalityStatus(a), " 4 near-copies [4/4] [UUUU]");
  a.layout = Layout(2, 1, false, 0);
  a.members[2].state = "faulty";
  a.degraded = 1;
  EXPECT_EQ(PersonalityStatus(a), " 512K chunks 2 near-copies [4/3] [UU_U]");
}

TEST(MdstatTest, ProgressLine) {
  SyncStatus s{"recovery", "", 16128, 129024, 2016, 20};
  EXPECT_EQ(ProgressLine(s),
            "[==>..................]  recovery = 12.5% (8064/64512) finish=0.3min speed=2016K/sec");
  s = {"resync", "", 0, 1000, 0, 6000};
  EXPECT_EQ(ProgressLine(s),
            "[>....................]  resync =  0.0% (0/500) finish=100.0min speed=0K/sec");
  s = {"check", "", 999, 1000, 1, 0};
  EXPECT_EQ(ProgressLine(s).substr(0, 38), "[===================>.]  check = 99.9%");
  s.action = "repair";  // MD names a repair "resync"
  EXPECT_EQ(ProgressLine(s).substr(24, 8), " resync ");
  s.waiting = "PENDING";
  EXPECT_EQ(ProgressLine(s), "resync=PENDING");
}

TEST(MdstatTest, ReshapeStanza) {
  // A 2-member RAID10 near=2 growing onto 4: MD shows the new member count, the old chunk and
  // the reshape line over the array sectors being moved.
  ArrayStatus a = Raid1(4);
  a.level = 10;
  a.layout = 0x102;
  a.chunk_sectors = 1024;
  a.array_sectors = 129024;
  a.sync = SyncStatus{"reshape", "", 16128, 129024, 4000, 14};
  a.reshape = ReshapeStatus{16128, 8192, 2, 2, 4, 10, 0x102, 1024};
  EXPECT_EQ(FormatMdstatArray(a),
            "r1 : active raid10 m3[3] m2[2] m1[1] m0[0]\n"
            "      64512 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]\n"
            "      [==>..................]  reshape = 12.5% (8064/64512) finish=0.2min "
            "speed=4000K/sec\n"
            "      \n");  // no bitmap: the stanza ends with a line of 6 spaces
}

TEST(MdstatTest, StanzaWithProgressAndBitmap) {
  ArrayStatus a = Raid1(2);
  a.members[1].state = "recovering";
  a.degraded = 1;
  a.sync = SyncStatus{"recovery", "", 64512, 129024, 1000, 32};
  a.bitmap = BitmapStatus{1, 1, 64 << 20};
  EXPECT_EQ(FormatMdstatArray(a),
            "r1 : active raid1 m1[1] m0[0]\n"
            "      64512 blocks super 1.2 [2/1] [U_]\n"
            "      [==========>..........]  recovery = 50.0% (32256/64512) finish=0.5min "
            "speed=1000K/sec\n"
            "      bitmap: 1/1 pages [4KB], 65536KB chunk\n"
            "\n");
  a.bitmap->chunk_bytes = 512;
  a.sync.reset();
  EXPECT_NE(FormatMdstatArray(a).find("bitmap: 1/1 pages [4KB], 512B chunk\n\n"), std::string::npos);
}

}  // namespace
}  // namespace meshraid::control
