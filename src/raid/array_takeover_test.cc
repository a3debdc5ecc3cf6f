// Online RAID1 <-> RAID10 takeover of a running array: only superblocks and the bitmap header are
// written (the same bytes for a 1 GiB and a 64 GiB array), the data reads the same before and
// after and after reassembly, preconditions are checked on the live state, and in-flight I/O is
// drained first.
#include "raid/array_fixture_test.h"

namespace meshraid::raid {
namespace {

// Bytes written to each member since its ops were cleared, and whether any touched data.
struct Written {
  uint64_t metadata = 0, data = 0;
};
Written Count(const TestMember& m) {
  Written w;
  for (const auto& op : m.ops) {
    if (op.kind != 'w' && op.kind != 'z') continue;
    (op.offset >= m.data_offset ? w.data : w.metadata) += op.length;
  }
  return w;
}

uint64_t TakeoverBytes(uint64_t member_mib) {
  Fixture f;
  FormatOptions fo;
  fo.n = 2;
  fo.member_mib = member_mib;
  fo.bitmap = true;
  f.Build(fo);
  auto data = Pattern(1 << 20, 7);
  EXPECT_TRUE(f.Write(3 << 20, data).ok());
  f.loop.RunUntilIdle();  // the array goes clean again
  for (TestMember* m : f.members) m->ops.clear();
  Status s = f.loop.RunUntilComplete(f.array->Takeover(10));
  EXPECT_TRUE(s.ok()) << s.message();
  uint64_t bytes = 0;
  for (TestMember* m : f.members) {
    Written w = Count(*m);
    EXPECT_EQ(w.data, 0u) << "a takeover wrote data";
    for (const auto& op : m->ops) EXPECT_NE(op.kind, 'r') << "a takeover read something";
    bytes += w.metadata;
  }
  EXPECT_EQ(*f.Read(3 << 20, data.size()), data);
  return bytes;
}

TEST(ArrayTakeover, CostIsTheSameFor1GiBAnd64GiB) {
  uint64_t small = TakeoverBytes(1024);
  uint64_t big = TakeoverBytes(64 * 1024);
  EXPECT_EQ(small, big);
  EXPECT_GT(small, 0u);
  EXPECT_LE(small, 2u * 3 * 4096) << "more than superblock + bitmap header per member";
}

TEST(ArrayTakeover, DataIsTheSameBeforeAfterAndAfterReassembly) {
  for (int n : {2, 3}) {
    Fixture f;
    FormatOptions fo;
    fo.n = n;
    fo.member_mib = 64;
    fo.bitmap = true;
    f.Build(fo);
    auto data = Pattern(5 << 20, uint32_t(n));
    ASSERT_TRUE(f.Write(1 << 20, data).ok());
    ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Takeover(10)).ok());
    EXPECT_EQ(f.array->geometry().level(), 10);
    EXPECT_EQ(*f.Read(1 << 20, data.size()), data);
    for (int i = 0; i < n; ++i) {
      format::Superblock sb = f.Sb(i);
      EXPECT_EQ(sb.level, 10);
      EXPECT_EQ(sb.layout, uint32_t(256 + n));
      EXPECT_EQ(sb.chunksize, 1024u);
    }
    // New writes land the same way under the new geometry.
    auto more = Pattern(1 << 20, 99);
    ASSERT_TRUE(f.Write(20 << 20, more).ok());
    f.Reassemble();
    EXPECT_EQ(f.array->geometry().level(), 10);
    EXPECT_EQ(*f.Read(1 << 20, data.size()), data);
    EXPECT_EQ(*f.Read(20 << 20, more.size()), more);
    EXPECT_TRUE(f.CopiesIdentical());
    // And back.
    ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Takeover(1)).ok());
    EXPECT_EQ(f.Sb(0).level, 1);
    EXPECT_EQ(*f.Read(1 << 20, data.size()), data);
  }
}

TEST(ArrayTakeover, RefusedOnTheLiveStateWithoutWritingAnything) {
  Fixture f;
  FormatOptions fo;
  fo.n = 3;
  f.Build(fo);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(2, "test")).ok());
  for (TestMember* m : f.members) m->ops.clear();
  Status s = f.loop.RunUntilComplete(f.array->Takeover(10));
  EXPECT_EQ(s.message(), "raid1->raid10 takeover refused: the array is degraded (1 of 3 slots missing)");
  for (TestMember* m : f.members) EXPECT_TRUE(m->ops.empty());
  EXPECT_EQ(f.array->geometry().level(), 1);
}

TEST(ArrayTakeover, RefusedWhileASyncActionRuns) {
  Fixture f;
  FormatOptions fo;
  fo.n = 2;
  f.Build(fo);
  for (TestMember* m : f.members) m->HoldWrites(0, ~uint64_t{0});
  ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
  f.loop.RunReady();
  Status s = f.loop.RunUntilComplete(f.array->Takeover(10));
  EXPECT_EQ(s.message(), "raid1->raid10 takeover refused: a sync action is running (check)");
  for (TestMember* m : f.members) m->ReleaseWrites();
  f.WaitSyncIdle();
  EXPECT_TRUE(f.loop.RunUntilComplete(f.array->Takeover(10)).ok());
}

TEST(ArrayTakeover, InFlightWritesDrainFirstAndNewOnesWait) {
  Fixture f;
  FormatOptions fo;
  fo.n = 2;
  f.Build(fo);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 1)).ok());  // active already
  f.members[1]->HoldWrites();
  auto before = Pattern(64 << 10, 2);
  auto w1 = testing::Start(f.array->Write(8 << 20, before));
  f.loop.RunReady();
  auto t = testing::Start(f.array->Takeover(10));
  f.loop.RunReady();
  EXPECT_FALSE(t.done()) << "the takeover did not wait for the write in flight";
  auto after = Pattern(64 << 10, 3);
  auto w2 = testing::Start(f.array->Write(40 << 20, after));
  f.loop.RunReady();
  f.members[1]->ReleaseWrites();
  ASSERT_TRUE(f.loop.RunUntil([&] { return t.done() && w1.done() && w2.done(); }));
  EXPECT_TRUE(t.value().ok()) << t.value().message();
  EXPECT_TRUE(w1.value().ok());
  EXPECT_TRUE(w2.value().ok());
  EXPECT_EQ(*f.Read(8 << 20, before.size()), before);
  EXPECT_EQ(*f.Read(40 << 20, after.size()), after);
  EXPECT_TRUE(f.CopiesIdentical());
}

}  // namespace
}  // namespace meshraid::raid
