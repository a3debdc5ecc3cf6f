// The array's sync thread (array_sync.cc) and member management (array_manage.cc) on memory
// members in virtual time: resync after an unclean shutdown (with and without a write-intent
// bitmap), check and repair, recovery onto an added member (with its checkpoint across a
// restart), bitmap-guided re-add, replacement, the per-bucket barrier and the speed limit.
#include <gtest/gtest.h>

#include <random>

#include "format/superblock.h"
#include "raid/array.h"
#include "raid/array_fixture_test.h"

namespace meshraid::raid {
namespace {

layout::Geometry GeometryOf(const format::Superblock& sb) {
  return *layout::Geometry::FromSuperblock(sb.level, sb.layout, sb.chunksize, sb.raid_disks, sb.size);
}

struct Config {
  int level;
  int n;
  const char* layout;
};
FormatOptions Opts(const Config& c, uint64_t member_mib) {
  FormatOptions o;
  o.level = c.level;
  o.n = c.n;
  o.layout = c.layout;
  o.member_mib = member_mib;
  return o;
}
std::string Name(const Config& c) {
  return c.level == 1 ? "raid1/" + std::to_string(c.n)
                      : "raid10/" + std::to_string(c.n) + "/" + c.layout;
}

// Copies differ after a crash: resync (no bitmap) makes them identical, the first copy wins,
// and until it is done reads of a region not yet resynced come from the first copy.
TEST(ArraySync, ResyncAfterUncleanShutdownWithoutBitmap) {
  for (Config c : {Config{1, 2, "n2"}, Config{1, 3, "n2"}, Config{10, 4, "n2"},
                   Config{10, 4, "f2"}, Config{10, 3, "o2"}}) {
    SCOPED_TRACE(Name(c));
    Fixture f;
    FormatOptions fo = Opts(c, 16);
    fo.assume_clean = false;  // resync_offset 0: as after power loss while active
    f.Format(fo);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_EQ(f.Sb(0).resync_offset, 0u);
    layout::Geometry geo = GeometryOf(f.Sb(0));
    const uint64_t total = geo.ArraySectors();
    // Two regions whose copies differ: near the start and near the end.
    const uint64_t regions[2] = {1024, total - 4 * 128};
    std::vector<std::vector<uint8_t>> first(2);
    for (size_t r = 0; r < 2; ++r) {
      std::vector<layout::Copy> copies = geo.Map(regions[r]);
      ASSERT_GE(copies.size(), 2u);
      for (size_t k = 0; k < copies.size(); ++k) {
        auto data = Pattern(64 * 1024, uint32_t(100 * r + k));
        if (k == 0) first[r] = data;
        f.mems[size_t(copies[k].disk)]->Poke(f.data_offset + copies[k].sector * 512, data);
      }
    }
    ArrayOptions o;
    o.sync.speed_max_kib = 2000;  // ~7 s of virtual time for 15 MiB: reads can run meanwhile
    o.read_policy = ReadPolicy::kRoundRobin;  // would spread reads over the copies
    f.Assemble(o);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_TRUE(f.loop.RunUntil([&] { return f.array->sync_progress().done_sectors > 2048; }));
    SyncProgress p = f.array->sync_progress();
    EXPECT_EQ(p.action, SyncAction::kResync);
    ASSERT_LT(p.done_sectors, regions[1]);
    for (int k = 0; k < 6; ++k) {
      auto back = f.Read(regions[1] * 512, 64 * 1024);
      ASSERT_TRUE(back.ok()) << back.status().message();
      EXPECT_TRUE(*back == first[1]) << "read " << k << " did not come from the first copy";
    }
    f.WaitSyncIdle();
    p = f.array->sync_progress();
    EXPECT_EQ(p.action, SyncAction::kIdle);
    EXPECT_EQ(p.done_sectors, total);
    const uint64_t copies = geo.Map(0).size();
    EXPECT_EQ(p.copied_sectors, total * (copies - 1));
    EXPECT_EQ(p.skipped_sectors, 0u);
    uint64_t diff = 0;
    EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at array sector " << diff;
    for (size_t r = 0; r < 2; ++r) {
      for (const auto& copy : f.Copies(regions[r], 128)) EXPECT_TRUE(copy == first[r]) << "region " << r;
    }
    EXPECT_EQ(f.array->resync_offset(), format::kMaxSector);
    for (int i = 0; i < c.n; ++i) {
      EXPECT_EQ(f.Sb(i).resync_offset, format::kMaxSector) << "member " << i;
    }
    EXPECT_NE(std::find(f.log.begin(), f.log.end(), "resync done, 0 sectors skipped as clean"),
              f.log.end());
  }
}

// A resync stopped by Close records how far it got (resync_offset, no bitmap) and the next
// assembly resumes there instead of starting over.
TEST(ArraySync, InterruptedResyncResumesFromResyncOffset) {
  Fixture f;
  FormatOptions fo = Opts({1, 2, "n2"}, 64);
  fo.assume_clean = false;
  ArrayOptions o;
  o.sync.speed_max_kib = 8000;
  o.sync.checkpoint_ns = 500'000'000;
  f.Build(fo, o);
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t total = f.array->geometry().ArraySectors();
  ASSERT_TRUE(f.loop.RunUntil([&] { return f.array->sync_progress().done_sectors >= total / 2; }));
  f.Reassemble();
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t at = f.plan.reference.resync_offset;
  EXPECT_GE(at, total / 2);
  EXPECT_LT(at, total);
  EXPECT_TRUE(f.plan.needs_resync);
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->sync_progress().copied_sectors, total - at);
  EXPECT_EQ(f.Sb(0).resync_offset, format::kMaxSector);
  EXPECT_EQ(f.Sb(1).resync_offset, format::kMaxSector);
}

// With a bitmap only the chunks whose bits are set are copied, counted by the sync progress
// and by what actually reached the members.
TEST(ArraySync, BitmapResyncCopiesOnlyDirtyChunks) {
  struct Case {
    Config c;
    uint64_t member_mib, bitmap_chunk;  // 0: mdadm's default chunk (64 MiB here)
    std::vector<uint64_t> dirty;
  };
  for (const Case& k : {Case{{1, 2, "n2"}, 1024, 0, {3, 9}},
                        Case{{10, 4, "n2"}, 16, 1 << 20, {2, 17, 18}},
                        Case{{10, 3, "f2"}, 16, 1 << 20, {0, 20}}}) {
    SCOPED_TRACE(Name(k.c));
    Fixture f;
    FormatOptions fo = Opts(k.c, k.member_mib);
    fo.bitmap = true;
    fo.bitmap_chunk_bytes = k.bitmap_chunk;
    fo.dirty_chunks = k.dirty;
    f.Format(fo);
    ASSERT_FALSE(HasFatalFailure());
    layout::Geometry geo = GeometryOf(f.Sb(0));
    auto md = ReadMemberMetadata(MemSource(*f.mems[0], "m0"));
    ASSERT_TRUE(md.ok() && md->bitmap);
    const uint64_t cs = md->bitmap->super.ChunkSectors();
    if (k.bitmap_chunk == 0) {
      EXPECT_EQ(cs * 512, 64 * kMiB);
    }
    ASSERT_EQ(md->bitmap->bits.CountSet(), k.dirty.size());
    // The copies differ in the first dirty chunk and in a clean one.
    const uint64_t dirty_v = k.dirty[0] * cs + 256, clean_v = (k.dirty[0] + 1) * cs + 256;
    for (uint64_t v : {dirty_v, clean_v}) {
      std::vector<layout::Copy> copies = geo.Map(v);
      for (size_t j = 0; j < copies.size(); ++j) {
        f.mems[size_t(copies[j].disk)]->Poke(f.data_offset + copies[j].sector * 512,
                                            Pattern(4096, uint32_t(v + j)));
      }
    }
    f.Assemble();
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_TRUE(f.plan.needs_resync);
    f.WaitSyncIdle();
    const uint64_t total = geo.ArraySectors();
    const uint64_t copies = geo.Map(0).size();
    uint64_t dirty_sectors = 0;
    for (uint64_t c : k.dirty) dirty_sectors += std::min(total, (c + 1) * cs) - c * cs;
    SyncProgress p = f.array->sync_progress();
    EXPECT_EQ(p.copied_sectors, dirty_sectors * (copies - 1));
    EXPECT_EQ(p.skipped_sectors, total - dirty_sectors);
    // What reached the members' data areas: exactly the dirty chunks, once per extra copy.
    uint64_t written = 0;
    for (TestMember* m : f.members) written += m->BytesWritten();
    EXPECT_EQ(written, dirty_sectors * 512 * (copies - 1));
    if (k.c.level == 1) {
      EXPECT_EQ(f.members[0]->BytesWritten(), 0u);  // the source copy
    }
    // The dirty chunk was made identical (first copy wins); the clean one was not touched.
    auto d = f.Copies(dirty_v, 8);
    for (const auto& copy : d) EXPECT_TRUE(copy == Pattern(4096, uint32_t(dirty_v)));
    auto c = f.Copies(clean_v, 8);
    EXPECT_TRUE(c[0] != c[1]) << "a clean chunk was copied";
    // The bits are cleared, on disk too, and the superblocks say in sync.
    EXPECT_EQ(f.array->write_intent()->DirtyCount(), 0u);
    for (int i = 0; i < k.c.n; ++i) {
      auto after = ReadMemberMetadata(MemSource(*f.mems[size_t(i)], "m"));
      ASSERT_TRUE(after.ok() && after->bitmap);
      EXPECT_EQ(after->bitmap->bits.CountSet(), 0u) << "member " << i;
      EXPECT_EQ(after->sb.resync_offset, format::kMaxSector) << "member " << i;
    }
  }
}

// check counts the mismatches and writes nothing; repair rewrites the differing copies from
// the first one; a second check finds nothing.
TEST(ArraySync, CheckReportsMismatchesRepairFixesThem) {
  for (Config c : {Config{1, 3, "n2"}, Config{10, 4, "n2"}, Config{10, 4, "o2"}}) {
    SCOPED_TRACE(Name(c));
    Fixture f;
    f.Build(Opts(c, 16));
    ASSERT_FALSE(HasFatalFailure());
    const uint64_t total = f.array->geometry().ArraySectors();
    std::vector<uint8_t> model(total * 512, 0);
    std::mt19937 rng(5);
    for (int w = 0; w < 20; ++w) {
      uint64_t len = (1 + rng() % 256) * 512;
      uint64_t off = (rng() % (total - len / 512)) * 512;
      auto data = Pattern(len, rng());
      ASSERT_TRUE(f.Write(off, data).ok());
      std::copy(data.begin(), data.end(), model.begin() + long(off));
    }
    // Corrupt the second copy of two places, 4 KiB each.
    const uint64_t bad[2] = {4096, total - 4096};
    for (uint64_t v : bad) {
      layout::Copy second = f.array->geometry().Map(v)[1];
      f.mems[size_t(second.disk)]->Poke(f.data_offset + second.sector * 512, Pattern(4096, 77));
    }
    std::vector<std::vector<uint8_t>> before;
    for (auto& m : f.mems) before.push_back(m->Peek(f.data_offset, f.member_bytes - f.data_offset));
    for (TestMember* m : f.members) m->ops.clear();

    ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
    EXPECT_EQ(f.array->sync_progress().action, SyncAction::kCheck);
    EXPECT_FALSE(f.array->RequestSync(SyncAction::kRepair).ok());  // check is running
    f.WaitSyncIdle();
    SyncProgress p = f.array->sync_progress();
    EXPECT_GT(p.mismatch_sectors, 0u);
    EXPECT_EQ(p.copied_sectors, 0u);
    for (size_t i = 0; i < f.mems.size(); ++i) {
      EXPECT_EQ(f.members[i]->BytesWritten(), 0u) << "check wrote to member " << i;
      EXPECT_TRUE(f.mems[i]->Peek(f.data_offset, f.member_bytes - f.data_offset) == before[i]);
    }

    ASSERT_TRUE(f.array->RequestSync(SyncAction::kRepair).ok());
    f.WaitSyncIdle();
    p = f.array->sync_progress();
    EXPECT_GT(p.mismatch_sectors, 0u);
    EXPECT_GT(p.copied_sectors, 0u);
    uint64_t diff = 0;
    EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at " << diff;
    auto back = f.Read(0, total * 512);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == model) << "repair did not keep the first copy's data";

    ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
    f.WaitSyncIdle();
    EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
  }
}

TEST(ArraySync, CheckIsRefusedWhileTheArrayNeedsAResync) {
  Fixture f;
  FormatOptions fo;
  fo.assume_clean = false;
  ArrayOptions o;
  o.sync.autostart = false;
  f.Build(fo, o);
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(f.array->sync_progress().action, SyncAction::kIdle);
  EXPECT_EQ(f.array->RequestSync(SyncAction::kCheck).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(f.array->RequestSync(SyncAction::kResync).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->resync_offset(), format::kMaxSector);
  ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
}

// Writes to random places, recorded in `model`, until `*stop`; counts them in `*done`.
io::Task<void> RandomWriter(Fixture* f, std::vector<uint8_t>* model, const bool* stop,
                            uint32_t seed, uint64_t* done, Status* error) {
  std::mt19937 rng(seed);
  const uint64_t sectors = model->size() / 512;
  while (!*stop) {
    uint64_t len = (8 + rng() % 120) * 512;
    uint64_t off = (rng() % (sectors - len / 512)) * 512;
    std::vector<uint8_t> data = Pattern(len, rng());
    Status s = co_await f->array->Write(off, data);
    if (!s.ok()) {
      *error = s;
      co_return;
    }
    std::copy(data.begin(), data.end(), model->begin() + long(off));
    ++*done;
    co_await f->loop.timers().SleepFor(10'000'000);
  }
}

// A spare added to a degraded array is rebuilt into the missing slot: it ends in sync with the
// same data as its mirror, and every superblock records its role.
// MD's spare activation: a spare added while the array was whole is rebuilt into the slot of a
// member that fails later.
TEST(ArraySync, ASpareTakesTheSlotOfAMemberThatFails) {
  Fixture f;
  f.Build(10, 4, "n2", 128, 16);
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t total = f.array->geometry().ArraySectors();
  auto data = Pattern(total * 512, 5);
  ASSERT_TRUE(f.Write(0, data).ok());
  std::string path;
  auto added = f.loop.RunUntilComplete(f.array->AddMember(f.NewMember(&path), path));
  ASSERT_TRUE(added.ok()) << added.status().message();
  f.WaitSyncIdle();
  ASSERT_EQ(f.array->member_state(*added), MemberState::kSpare);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(2, "test")).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->member_state(*added), MemberState::kInSync);
  EXPECT_EQ(f.array->member_slot(*added), 2);
  EXPECT_EQ(f.array->degraded(), 0);
  EXPECT_TRUE(f.CopiesIdentical());
  f.Reassemble();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(f.array->degraded(), 0);
  auto back = f.Read(0, total * 512);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == data);
}

// A 4096-byte-LBA member (an NVMe/TCP namespace, say) cannot join an array that serves
// 512-byte blocks: the refusal says why and what to do, and nothing joins.
TEST(ArraySync, AMemberWithLargerBlocksThanTheArrayServesIsRefused) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(f.array->info().logical_block_size, 512u);
  auto big = std::make_unique<io::MemDevice>(
      f.loop.executor(), io::MemDevice::Options{.size_bytes = f.member_bytes, .logical_block_size = 4096, .name = "ns4k"});
  const size_t before = f.array->member_count();
  auto added = f.loop.RunUntilComplete(f.array->AddMember(std::move(big), "ns4k"));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(added.status().message().find("logical block size is 4096 bytes but the array serves 512-byte blocks"),
            std::string::npos) << added.status().message();
  EXPECT_EQ(f.array->member_count(), before);
}

TEST(ArraySync, AddMemberRecoversADegradedArray) {
  for (Config c : {Config{1, 2, "n2"}, Config{10, 4, "n2"}, Config{10, 4, "f2"}}) {
    SCOPED_TRACE(Name(c));
    Fixture f;
    f.Build(Opts(c, 16));
    ASSERT_FALSE(HasFatalFailure());
    const uint64_t total = f.array->geometry().ArraySectors();
    std::vector<uint8_t> model(total * 512, 0);
    std::mt19937 rng(9);
    auto write = [&](int count) {
      for (int w = 0; w < count; ++w) {
        uint64_t len = (1 + rng() % 512) * 512;
        uint64_t off = (rng() % (total - len / 512)) * 512;
        auto data = Pattern(len, rng());
        ASSERT_TRUE(f.Write(off, data).ok());
        std::copy(data.begin(), data.end(), model.begin() + long(off));
      }
    };
    write(10);
    const int failed = 1;
    ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(failed, "test")).ok());
    ASSERT_EQ(f.array->degraded(), 1);
    write(10);  // only on the survivors
    std::string path;
    auto dev = f.NewMember(&path);
    auto added = f.loop.RunUntilComplete(f.array->AddMember(std::move(dev), path));
    ASSERT_TRUE(added.ok()) << added.status().message();
    const size_t in = *added;
    EXPECT_EQ(in, size_t(c.n));
    EXPECT_EQ(f.array->member_slot(in), failed);
    f.WaitSyncIdle();
    EXPECT_EQ(f.array->member_state(in), MemberState::kInSync);
    EXPECT_EQ(f.array->degraded(), 0);
    EXPECT_EQ(f.array->sync_progress().copied_sectors, f.array->geometry().DeviceSectorsUsed());
    uint64_t diff = 0;
    EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at " << diff;
    write(5);
    auto back = f.Read(0, total * 512);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == model);
    // Its own superblock and the others' record it in the failed member's slot.
    format::Superblock sb = f.Sb(int(in));
    EXPECT_EQ(sb.dev_roles[sb.dev_number], uint16_t(failed));
    EXPECT_FALSE(sb.Has(format::kFeatureRecoveryOffset));
    format::Superblock sb0 = f.Sb(0);
    EXPECT_EQ(sb0.events, sb.events);
    EXPECT_EQ(sb0.dev_roles[sb.dev_number], uint16_t(failed));
    EXPECT_EQ(sb0.dev_roles[f.Sb(failed).dev_number], format::kRoleFaulty);
    // And the next assembly agrees.
    f.Reassemble();
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_EQ(f.plan.members[in].disposition, Disposition::kActive);
    EXPECT_EQ(f.plan.members[in].slot, failed);
    EXPECT_EQ(f.plan.degraded, 0);
  }
}

// Recovery records its position (RECOVERY_OFFSET) at checkpoints and when stopped; after a
// restart the member is assembled as recovering and the recovery resumes from there.
TEST(ArraySync, RecoveryResumesFromItsCheckpointAfterRestart) {
  Fixture f;
  ArrayOptions o;
  o.sync.speed_max_kib = 8000;  // 63 MiB: ~8 s, 128 ms per 1 MiB window
  o.sync.checkpoint_ns = 1'000'000'000;
  f.Build(Opts({1, 2, "n2"}, 64), o);
  ASSERT_FALSE(HasFatalFailure());
  auto data = Pattern(4 * kMiB, 3);
  for (uint64_t off : {uint64_t{0}, 30 * kMiB, 59 * kMiB}) ASSERT_TRUE(f.Write(off, data).ok());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  std::string path;
  auto dev = f.NewMember(&path);
  auto added = f.loop.RunUntilComplete(f.array->AddMember(std::move(dev), path));
  ASSERT_TRUE(added.ok()) << added.status().message();
  const size_t in = *added;
  const uint64_t used = f.array->geometry().DeviceSectorsUsed();
  // Stopped past the middle, between two checkpoints (3 to 5 windows after the last one).
  ASSERT_TRUE(f.loop.RunUntil([&] {
    SyncProgress p = f.array->sync_progress();
    uint64_t on_disk = f.Sb(int(in)).recovery_offset;
    return p.action == SyncAction::kRecover && p.done_sectors >= used / 2 &&
           p.done_sectors >= on_disk + 3 * 2048 && p.done_sectors <= on_disk + 5 * 2048;
  }));
  // A checkpoint was written while it ran.
  format::Superblock mid = f.Sb(int(in));
  EXPECT_TRUE(mid.Has(format::kFeatureRecoveryOffset));
  EXPECT_GT(mid.recovery_offset, 0u);
  EXPECT_EQ(mid.dev_roles[mid.dev_number], 1u);
  f.array->SetSyncFrozen(true);
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->member_state(in), MemberState::kRecovering);
  const uint64_t at = f.array->member_recovery_offset(in);
  EXPECT_GE(at, used / 2);
  EXPECT_LT(at, used);
  format::Superblock sb = f.Sb(int(in));
  EXPECT_TRUE(sb.Has(format::kFeatureRecoveryOffset));
  EXPECT_EQ(sb.recovery_offset, at) << "the stopped recovery's position is not on disk";
  EXPECT_FALSE(f.Sb(0).Has(format::kFeatureRecoveryOffset));

  f.Reassemble();
  ASSERT_FALSE(HasFatalFailure());
  EXPECT_EQ(f.plan.members[in].disposition, Disposition::kRecovering);
  EXPECT_EQ(f.plan.members[in].recovery_offset, at);
  EXPECT_EQ(f.plan.degraded, 1);
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->member_state(in), MemberState::kInSync);
  EXPECT_EQ(f.array->sync_progress().copied_sectors, used - at);
  EXPECT_LT(f.array->sync_progress().copied_sectors, used);
  EXPECT_FALSE(f.Sb(int(in)).Has(format::kFeatureRecoveryOffset));
  uint64_t diff = 0;
  EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at " << diff;
  for (uint64_t off : {uint64_t{0}, 30 * kMiB, 59 * kMiB}) {
    EXPECT_TRUE(f.MemberData(int(in), off / 512, data.size()) == data) << off;
  }
}

// Re-adding a member that failed recently copies only the chunks written while it was out
// (the bitmap keeps their bits while the array is degraded).
TEST(ArraySync, ReAddCopiesOnlyTheChunksWrittenWhileDegraded) {
  Fixture f;
  FormatOptions fo = Opts({1, 2, "n2"}, 64);
  fo.bitmap = true;
  fo.bitmap_chunk_bytes = 1 << 20;
  f.Build(fo);
  ASSERT_FALSE(HasFatalFailure());
  const WriteIntent* wi = f.array->write_intent();
  ASSERT_NE(wi, nullptr);
  const uint64_t cs = wi->chunk_sectors();
  ASSERT_EQ(cs, 2048u);
  ASSERT_TRUE(f.Write(0, Pattern(8 * kMiB, 1)).ok());
  f.loop.AdvanceBy(20'000'000'000);  // idle: the bits are cleared by the daemon
  ASSERT_EQ(wi->DirtyCount(), 0u);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  // Chunk 5, chunks 6-7 (one write across the boundary), chunk 40.
  ASSERT_TRUE(f.Write(5 * kMiB + 4096, Pattern(8192, 2)).ok());
  ASSERT_TRUE(f.Write(7 * kMiB - 4096, Pattern(8192, 3)).ok());
  ASSERT_TRUE(f.Write(40 * kMiB, Pattern(kMiB, 4)).ok());
  f.loop.AdvanceBy(20'000'000'000);  // degraded: the bits stay
  ASSERT_EQ(wi->DirtyCount(), 4u);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->ReAddMember(1, f.ReopenMember(1))).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->member_state(1), MemberState::kInSync);
  const uint64_t used = f.array->geometry().DeviceSectorsUsed();
  SyncProgress p = f.array->sync_progress();
  EXPECT_EQ(p.copied_sectors, 4 * cs);
  EXPECT_EQ(p.skipped_sectors, used - 4 * cs);
  EXPECT_EQ(f.members[1]->BytesWritten(), 4 * cs * 512);
  uint64_t diff = 0;
  EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at " << diff;
  EXPECT_TRUE(f.MemberData(1, 40 * 2048, kMiB) == Pattern(kMiB, 4));
  bool guided = false;
  for (const auto& l : f.log) guided |= l.find("bitmap-guided") != std::string::npos;
  EXPECT_TRUE(guided);
  // In sync again: the bits are cleared after the next idle periods.
  f.loop.AdvanceBy(20'000'000'000);
  EXPECT_EQ(wi->DirtyCount(), 0u);
}

// A replacement is rebuilt while writes go on; when it is complete it takes the slot, the old
// member is failed and can be removed (its role becomes 0xFFFF).
TEST(ArraySync, ReplaceWhileWritesContinue) {
  Fixture f;
  ArrayOptions o;
  o.sync.speed_max_kib = 16000;  // ~2 s of recovery
  f.Build(Opts({1, 2, "n2"}, 32), o);
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t total = f.array->geometry().ArraySectors();
  std::vector<uint8_t> model(total * 512, 0);
  bool stop = false;
  uint64_t writes = 0;
  Status error;
  auto writer = testing::Start(RandomWriter(&f, &model, &stop, 11, &writes, &error));
  f.loop.AdvanceBy(100'000'000);
  std::string path;
  auto dev = f.NewMember(&path);
  auto added = f.loop.RunUntilComplete(f.array->AddMember(std::move(dev), path, 0));
  ASSERT_TRUE(added.ok()) << added.status().message();
  const size_t in = *added;
  EXPECT_EQ(f.array->member_state(in), MemberState::kRecovering);
  EXPECT_EQ(f.array->member_state(0), MemberState::kInSync);
  // A replacement in flight is a spare on disk (it starts over after a crash).
  EXPECT_EQ(f.Sb(0).dev_roles[f.Sb(int(in)).dev_number], format::kRoleSpare);
  const uint64_t writes_before = writes;
  f.WaitSyncIdle();
  EXPECT_GT(writes - writes_before, 50u) << "writes did not continue during the rebuild";
  stop = true;
  ASSERT_TRUE(f.loop.RunUntil([&] { return writer.done(); }));
  ASSERT_TRUE(error.ok()) << error.message();
  EXPECT_EQ(f.array->member_state(in), MemberState::kInSync);
  EXPECT_EQ(f.array->member_slot(in), 0);
  EXPECT_EQ(f.array->member_state(0), MemberState::kFaulty);
  EXPECT_EQ(f.array->degraded(), 0);
  uint64_t diff = 0;
  EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at " << diff;
  auto back = f.Read(0, total * 512);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == model);
  EXPECT_TRUE(f.MemberData(int(in), 0, total * 512) == f.MemberData(1, 0, total * 512));
  const uint32_t new_dn = f.Sb(int(in)).dev_number, old_dn = f.Sb(0).dev_number;
  EXPECT_EQ(f.Sb(int(in)).dev_roles[new_dn], 0u);
  EXPECT_EQ(f.Sb(1).dev_roles[old_dn], format::kRoleFaulty);
  EXPECT_EQ(f.loop.RunUntilComplete(f.array->RemoveMember(1)).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->RemoveMember(0)).ok());
  EXPECT_TRUE(f.array->member_removed(0));
  EXPECT_EQ(f.Sb(int(in)).dev_roles[old_dn], format::kRoleSpare);
  EXPECT_EQ(f.Sb(1).dev_roles[old_dn], format::kRoleSpare);
  EXPECT_EQ(f.Sb(int(in)).dev_roles[new_dn], 0u);
}

// While a sync window holds the barrier of its 64 MiB bucket, writes to that bucket wait and
// writes elsewhere go on; with the global barrier (stock RAID10) every write waits.
TEST(ArraySync, SyncWindowHoldsOnlyItsBucket) {
  for (BarrierMode mode : {BarrierMode::kBucket, BarrierMode::kGlobal}) {
    SCOPED_TRACE(mode == BarrierMode::kBucket ? "bucket" : "global");
    Fixture f;
    FormatOptions fo = Opts({1, 2, "n2"}, 256);
    fo.assume_clean = false;
    ArrayOptions o;
    o.barrier_mode = mode;
    o.sync.autostart = false;
    f.Build(fo, o);
    ASSERT_FALSE(HasFatalFailure());
    // The resync's writes to member 1 in the first 64 MiB unit hang: its windows stay raised.
    f.members[1]->HoldWrites(f.data_offset, f.data_offset + 64 * kMiB);
    ASSERT_TRUE(f.array->RequestSync(SyncAction::kResync).ok());
    f.loop.RunUntilIdle();
    ASSERT_GT(f.members[1]->held(), 0u);
    ASSERT_EQ(f.array->sync_progress().action, SyncAction::kResync);
    const uint64_t waits = f.array->barrier().stats().write_waits;
    auto other_data = Pattern(65536, 1), same_data = Pattern(65536, 2);
    auto other = testing::Start(f.array->Write(130 * kMiB, other_data));  // unit 2
    auto same = testing::Start(f.array->Write(40 * kMiB, same_data));     // unit 0
    f.loop.RunUntilIdle();
    EXPECT_FALSE(same.done()) << "a write to the synced bucket did not wait";
    if (mode == BarrierMode::kBucket) {
      ASSERT_TRUE(other.done()) << "a write to another bucket waited";
      EXPECT_TRUE(other.value().ok());
      EXPECT_EQ(f.array->barrier().stats().write_waits, waits + 1);
    } else {
      EXPECT_FALSE(other.done()) << "the global barrier let a write through";
      EXPECT_EQ(f.array->barrier().stats().write_waits, waits + 2);
    }
    f.members[1]->ReleaseWrites();
    ASSERT_TRUE(f.loop.RunUntil([&] { return same.done() && other.done(); }));
    EXPECT_TRUE(same.value().ok());
    EXPECT_TRUE(other.value().ok());
    f.array->SetSyncFrozen(true);  // the rest of the resync is not the point here
    f.WaitSyncIdle();
    for (int i = 0; i < 2; ++i) {
      EXPECT_TRUE(f.MemberData(i, 40 * 2048, 65536) == same_data) << "member " << i;
      EXPECT_TRUE(f.MemberData(i, 130 * 2048, 65536) == other_data) << "member " << i;
    }
  }
}

// speed_max_kib bounds the sync rate: in virtual time, a resync of S KiB at most M KiB/s takes
// at least S / M seconds (and not much more).
TEST(ArraySync, SpeedLimitBoundsTheResyncRate) {
  for (uint64_t max_kib : {uint64_t{4000}, uint64_t{16000}}) {
    Fixture f;
    FormatOptions fo = Opts({1, 2, "n2"}, 64);
    fo.assume_clean = false;
    ArrayOptions o;
    o.sync.speed_max_kib = max_kib;
    o.sync.speed_min_kib = 100;
    f.Build(fo, o);
    ASSERT_FALSE(HasFatalFailure());
    const uint64_t start = f.loop.NowNs();
    f.WaitSyncIdle();
    const uint64_t elapsed = f.loop.NowNs() - start;
    const uint64_t kib = f.array->geometry().ArraySectors() / 2;
    EXPECT_GE(elapsed, kib * 1'000'000'000 / max_kib) << max_kib;
    EXPECT_LE(elapsed, kib * 1'000'000'000 / max_kib + 1'000'000'000) << max_kib;
    EXPECT_EQ(f.array->resync_offset(), format::kMaxSector);
  }
}

// Chunks skipped as clean are not I/O: a bitmap resync of one dirty 64 MiB chunk at the end of
// a 1 GiB array takes the time of 64 MiB at the speed limit, not of 1 GiB.
TEST(ArraySync, SkippedChunksDoNotCountAgainstTheSpeedLimit) {
  Fixture f;
  FormatOptions fo = Opts({1, 2, "n2"}, 1024);
  fo.bitmap = true;
  fo.dirty_chunks = {14};
  ArrayOptions o;
  o.sync.speed_max_kib = 64 * 1024;  // 1 s per 64 MiB chunk
  f.Build(fo, o);
  ASSERT_FALSE(HasFatalFailure());
  const uint64_t start = f.loop.NowNs();
  f.WaitSyncIdle();
  const uint64_t elapsed = f.loop.NowNs() - start;
  SyncProgress p = f.array->sync_progress();
  EXPECT_EQ(p.copied_sectors, 64 * kMiB / 512);
  EXPECT_GE(elapsed, 1'000'000'000u);
  EXPECT_LE(elapsed, 2'000'000'000u) << "the skipped chunks were throttled like copied ones";
}

}  // namespace
}  // namespace meshraid::raid
