// The running array on memory members in a deterministic world (ManualLoop: virtual time, run
// queue). The fixture and the failure-injecting TestMember are in array_fixture_test.h.
#include "raid/array.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <random>

#include "format/superblock.h"
#include "raid/array_fixture_test.h"

namespace meshraid::raid {
namespace {

TEST(Array, WriteReachesEveryMirror) {
  Fixture f;
  f.Build(1, 3);
  auto data = Pattern(64 * 1024, 1);
  ASSERT_TRUE(f.Write(4096, data).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.MemberData(i, 8, data.size()), data) << "member " << i;
  auto back = f.Read(4096, data.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

// Random writes on every RAID10 layout read back like a plain buffer, and each copy sits where
// the geometry says.
TEST(Array, Raid10LayoutsMatchAModelBuffer) {
  for (const char* layout : {"n2", "f2", "o2"}) {
    Fixture f;
    f.Build(10, 4, layout, 128);
    const uint64_t size = f.array->info().size_bytes;
    std::vector<uint8_t> model(size_t(size), 0);
    std::mt19937 rng(7);
    for (int k = 0; k < 40; ++k) {
      uint64_t off = (rng() % (size / 512 - 600)) * 512;
      uint64_t len = (1 + rng() % 512) * 512;
      auto data = Pattern(len, uint32_t(k));
      ASSERT_TRUE(f.Write(off, data).ok());
      std::copy(data.begin(), data.end(), model.begin() + long(off));
      uint64_t v = off / 512;
      for (const layout::Copy& c : f.array->geometry().Map(v)) {
        EXPECT_EQ(f.MemberData(c.disk, c.sector, 512),
                  std::vector<uint8_t>(data.begin(), data.begin() + 512))
            << layout << " copy on disk " << c.disk;
      }
    }
    auto back = f.Read(0, size);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == model) << layout;
  }
}

TEST(Array, ReadErrorIsRetriedAndTheBadCopyRewritten) {
  Fixture f;
  f.Build(1, 2);
  auto data = Pattern(8192, 2);
  ASSERT_TRUE(f.Write(0, data).ok());
  // The balancer reads member 0 first (lowest index); make it fail once there.
  f.members[0]->Fail({.reads = true, .lo = kDataOffset, .hi = kDataOffset + 8192, .count = 1});
  auto back = f.Read(0, 8192);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, data);
  EXPECT_EQ(f.array->member_state(0), MemberState::kInSync);
  EXPECT_EQ(f.array->member_stats(0).corrected_errors, 16u);
  // The repair wrote the data back to member 0.
  bool rewritten = false;
  for (const auto& op : f.members[0]->ops) rewritten |= op.kind == 'w' && op.offset == kDataOffset && op.length == 8192;
  EXPECT_TRUE(rewritten);
  EXPECT_EQ(f.MemberData(0, 0, 8192), data);
}

TEST(Array, TooManyReadErrorsFailTheMember) {
  Fixture f;
  ArrayOptions o;
  o.max_read_errors = 2;
  f.Build(1, 2, "n2", 128, 64, o);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 3)).ok());
  f.members[0]->Fail({.reads = true, .lo = kDataOffset, .hi = kDataOffset + 4096});
  f.members[0]->Fail({.writes = true, .lo = kDataOffset, .hi = kDataOffset + 4096});
  for (int i = 0; i < 3; ++i) {
    auto back = f.Read(0, 4096);
    ASSERT_TRUE(back.ok()) << back.status().message();
  }
  EXPECT_EQ(f.array->member_state(0), MemberState::kFaulty);
}

TEST(Array, WriteErrorFailsTheMemberBeforeTheWriteIsAcknowledged) {
  Fixture f;
  f.Build(1, 2);
  uint64_t events = f.Sb(0).events;
  f.members[1]->Fail({.writes = true, .lo = kDataOffset});
  auto data = Pattern(16384, 4);
  ASSERT_TRUE(f.Write(8192, data).ok());
  EXPECT_EQ(f.array->member_state(1), MemberState::kFaulty);
  EXPECT_EQ(f.array->degraded(), 1);
  format::Superblock sb = f.Sb(0);
  EXPECT_GT(sb.events, events);
  EXPECT_EQ(sb.dev_roles[1], format::kRoleFaulty);
  // The survivor holds the acknowledged data; later writes go to it alone.
  EXPECT_EQ(f.MemberData(0, 16, data.size()), data);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 5)).ok());
  auto back = f.Read(8192, data.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(f.log.empty());
}

TEST(Array, TheLastCopyIsNeverFailed) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  f.members[0]->Fail({.writes = true, .lo = kDataOffset});
  Status s = f.Write(0, Pattern(4096, 6));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(f.array->broken());
  EXPECT_EQ(f.array->member_state(0), MemberState::kInSync);
  EXPECT_FALSE(f.Write(4096, Pattern(4096, 7)).ok());  // a broken array refuses writes
  // Reads of data still on the last copy work.
  EXPECT_TRUE(f.Read(8192, 4096).ok());
}

TEST(Array, Raid10FailsOnlyWhatTheCopyGroupsAllow) {
  Fixture f;
  f.Build(10, 4, "n2", 128);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(0, "test")).ok());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(2, "test")).ok());
  // Slots 1 and 3 now hold the only copies.
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  EXPECT_TRUE(f.array->broken());
}

TEST(Array, SafeModeMarksActiveBeforeTheFirstWriteAndCleanWhenIdle) {
  Fixture f;
  f.Build(1, 2);
  EXPECT_TRUE(f.Sb(0).Clean());
  ASSERT_TRUE(f.Write(0, Pattern(4096, 8)).ok());
  // The superblock write (FUA, at 4 KiB) reached each member before the data write.
  for (int i = 0; i < 2; ++i) {
    const auto& ops = f.members[size_t(i)]->ops;
    size_t sb = ops.size(), data = ops.size();
    for (size_t k = 0; k < ops.size(); ++k) {
      if (ops[k].kind == 'w' && ops[k].offset == kSbOffset && sb == ops.size()) sb = k;
      if (ops[k].kind == 'w' && ops[k].offset == kDataOffset && data == ops.size()) data = k;
    }
    ASSERT_LT(sb, data) << "member " << i;
    EXPECT_TRUE(ops[sb].fua);
  }
  EXPECT_EQ(f.Sb(0).resync_offset, 0u);
  EXPECT_TRUE(f.array->active());
  f.loop.AdvanceBy(150'000'000);
  EXPECT_TRUE(f.array->active());
  ASSERT_TRUE(f.Write(0, Pattern(4096, 9)).ok());  // resets the idle time
  f.loop.AdvanceBy(150'000'000);
  EXPECT_TRUE(f.array->active());
  f.loop.AdvanceBy(60'000'000);
  EXPECT_FALSE(f.array->active());
  EXPECT_TRUE(f.Sb(0).Clean());
  EXPECT_TRUE(f.Sb(1).Clean());
}

// Power loss while the array is active: each member loses a different random part of its
// unflushed writes; reassembly from what survived on the media says a resync is needed, and
// the flushed data is there on every member.
TEST(Array, CrashWhileActiveIsSeenAtReassembly) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    Fixture f;
    f.crash_mode = true;
    f.Build(1, 2);
    auto flushed = Pattern(8192, 10);
    ASSERT_TRUE(f.Write(0, flushed).ok());
    ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Flush()).ok());
    ASSERT_TRUE(f.Write(65536, Pattern(8192, 11)).ok());  // never flushed
    for (size_t i = 0; i < f.crashes.size(); ++i) {
      ASSERT_TRUE(f.loop.RunUntilComplete(f.crashes[i]->Crash({.seed = seed * 10 + i})).ok());
    }
    std::vector<MemberMetadata> md;
    for (int i = 0; i < 2; ++i) {
      MemberMetadata m;
      m.path = fmt::format("m{}", i);
      m.sb = f.Sb(i);
      md.push_back(m);
      EXPECT_EQ(f.MemberData(i, 0, flushed.size()), flushed) << "seed " << seed;
    }
    auto plan = PlanAssembly(md);
    ASSERT_TRUE(plan.ok());
    EXPECT_TRUE(plan->needs_resync) << "seed " << seed;
  }
}

TEST(Array, FlushAndFuaReachEveryMember) {
  Fixture f;
  f.Build(10, 4, "n2", 128);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Flush()).ok());
  for (auto* m : f.members) {
    bool flushed = false;
    for (const auto& op : m->ops) flushed |= op.kind == 'f';
    EXPECT_TRUE(flushed);
  }
  // A FUA write spanning all four members (two chunks) is FUA on every copy.
  ASSERT_TRUE(f.Write(0, Pattern(2 * 64 * 1024, 11), io::WriteFlags::kFua).ok());
  for (auto* m : f.members) {
    bool fua = false;
    for (const auto& op : m->ops) fua |= op.kind == 'w' && op.offset >= kDataOffset && op.fua;
    EXPECT_TRUE(fua);
  }
}

TEST(Array, OverlappingWritesNeverInterleave) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 0)).ok());  // array active now
  f.members[0]->HoldWrites();
  auto a = Pattern(8192, 12), b = Pattern(8192, 13);
  auto wa = testing::Start(f.array->Write(0, a));
  auto wb = testing::Start(f.array->Write(4096, b));  // overlaps a by one 4 KiB block
  f.loop.RunUntilIdle();
  // a waits on member 0; b must not have reached member 1 before a completed.
  size_t b_on_1 = 0;
  for (const auto& op : f.members[1]->ops) b_on_1 += op.kind == 'w' && op.offset == kDataOffset + 4096;
  EXPECT_EQ(b_on_1, 0u);
  f.members[0]->ReleaseWrites();
  f.loop.RunUntilIdle();
  ASSERT_TRUE(wa.done() && wb.done());
  EXPECT_TRUE(wa.value().ok());
  EXPECT_TRUE(wb.value().ok());
  // Both mirrors agree: b's data wins in the overlap on both.
  EXPECT_EQ(f.MemberData(0, 0, 12288), f.MemberData(1, 0, 12288));
  EXPECT_EQ(f.MemberData(0, 8, 8192), b);
}

TEST(Array, WritesAreSplitAt64MiBUnits) {
  Fixture f;
  f.Build(1, 2, "n2", 128, 256);
  uint64_t unit = 64 * kMiB;
  auto data = Pattern(8192, 14);
  ASSERT_TRUE(f.Write(unit - 4096, data).ok());
  size_t pieces = 0;
  for (const auto& op : f.members[0]->ops) pieces += op.kind == 'w' && op.offset >= kDataOffset;
  EXPECT_EQ(pieces, 2u);
  auto back = f.Read(unit - 4096, 8192);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST(Array, WriteZeroesReachesEveryCopy) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.Write(0, Pattern(8192, 15)).ok());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->WriteZeroes(0, 8192)).ok());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(f.MemberData(i, 0, 8192), std::vector<uint8_t>(8192, 0));
}

TEST(Array, DiscardZeroesEveryCopyWithLeaveToDeallocate) {
  Fixture f;
  f.Build(10, 4, "n2", 128, 256);
  EXPECT_TRUE(f.array->info().can_discard);
  ASSERT_TRUE(f.Write(0, Pattern(256 * 1024, 21)).ok());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Discard(64 * 1024, 128 * 1024)).ok());
  auto back = f.Read(0, 256 * 1024);
  ASSERT_TRUE(back.ok());
  std::vector<uint8_t> want = Pattern(256 * 1024, 21);
  std::fill(want.begin() + 64 * 1024, want.begin() + 192 * 1024, 0);
  EXPECT_EQ(*back, want);
  // Every copy agrees (what MD's check compares), and the members were asked to zero with
  // leave to release the space, never for a plain discard that may read back anything.
  EXPECT_TRUE(f.CopiesIdentical());
  size_t dealloc = 0;
  for (int i = 0; i < 4; ++i) {
    for (const auto& op : f.members[i]->ops) dealloc += op.kind == 'z' && op.deallocate;
  }
  EXPECT_GE(dealloc, 2u);
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->Discard(100, 4096)).ok());
}

TEST(Array, RejectsOutOfRange) {
  Fixture f;
  f.Build(1, 2);
  std::vector<uint8_t> buf(4096);
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->Read(f.array->info().size_bytes, buf)).ok());
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->Read(100, buf)).ok());
}

TEST(Array, CloseMarksClean) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 16)).ok());
  EXPECT_FALSE(f.Sb(0).Clean());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Close()).ok());
  EXPECT_TRUE(f.Sb(0).Clean());
  EXPECT_TRUE(f.Sb(1).Clean());
}

}  // namespace
}  // namespace meshraid::raid
