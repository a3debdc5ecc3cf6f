// Crash consistency of the running array. Many seeded runs: random writes (some FUA, some
// followed by a flush, bursts of activity, idle periods) on RAID1 and RAID10 arrays whose members
// sit behind CrashDevices (volatile write caches), then a power loss at a random point at which
// each member keeps a different random part of what it had not flushed. The array is assembled
// again from what survived, resyncs, and then:
//  - every sector holds the data of the last write that was durable there (acknowledged before
//    a flush that completed, or written with FUA), or of a later write (which may or may not
//    have survived), never anything else;
//  - every copy is identical (and a check pass finds no mismatch);
//  - with a bitmap, the resync copied at most the chunks whose bits were set.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <random>

#include "format/superblock.h"
#include "raid/array.h"
#include "raid/array_fixture_test.h"

namespace meshraid::raid {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The 512 bytes write `w` puts at array sector `s`: (w, s) in the first 8 bytes, then a
// pattern derived from both. Write 0 is "never written": zeroes.
void FillSector(uint32_t w, uint64_t s, uint8_t* out) {
  if (w == 0) {
    std::memset(out, 0, 512);
    return;
  }
  uint64_t head = (uint64_t(w) << 32) | (s & 0xFFFFFFFF);
  std::memcpy(out, &head, 8);
  for (size_t i = 8; i < 512; i += 8) {
    uint64_t v = SplitMix(head * 131 + i);
    std::memcpy(out + i, &v, 8);
  }
}

struct CrashConfig {
  int level;
  int n;
  const char* layout;
  bool bitmap;
};

constexpr CrashConfig kConfigs[] = {
    {1, 2, "n2", false}, {1, 2, "n2", true},  {1, 3, "n2", true},  {1, 4, "n2", false},
    {10, 4, "n2", true}, {10, 4, "n2", false}, {10, 3, "f2", true}, {10, 4, "o2", false},
};

struct RunStats {
  uint64_t writes = 0, durable = 0, in_flight_at_crash = 0, resyncs = 0, copied = 0;
};

struct CrashRun {
  Fixture f;
  std::mt19937_64 rng;
  uint64_t sectors = 0;  // array sectors
  struct Write {
    uint64_t sector, count;
    bool fua;
    std::vector<uint8_t> data;
    uint64_t issued = 0, completed = 0;  // ticks (0: not completed)
    std::optional<testing::Started<Status>> task;
  };
  struct FlushOp {
    std::vector<uint32_t> covers;  // writes completed when it was issued
    std::optional<testing::Started<Status>> task;
  };
  std::deque<Write> writes;  // id = index + 1
  std::deque<FlushOp> flushes;
  std::vector<std::vector<uint32_t>> history;  // per sector: write ids in issue order
  uint64_t tick = 0;  // orders issues and completions

  explicit CrashRun(uint64_t seed) : rng(seed) {}

  // The array's write, and its completion tick.
  static io::Task<Status> Tracked(io::Task<Status> write, uint64_t* tick, uint64_t* completed) {
    Status s = co_await std::move(write);
    *completed = ++*tick;
    co_return s;
  }

  uint64_t Rand(uint64_t n) { return n == 0 ? 0 : rng() % n; }

  void StartWrite(uint64_t sector, uint64_t count, bool fua) {
    const uint32_t id = uint32_t(writes.size() + 1);
    std::vector<uint8_t> data(count * 512);
    for (uint64_t k = 0; k < count; ++k) FillSector(id, sector + k, data.data() + k * 512);
    for (uint64_t k = 0; k < count; ++k) history[sector + k].push_back(id);
    writes.push_back(Write{sector, count, fua, std::move(data), 0, 0, std::nullopt});
    Write& w = writes.back();
    w.issued = ++tick;
    w.task.emplace(testing::Start(Tracked(
        f.array->Write(sector * 512, w.data, fua ? io::WriteFlags::kFua : io::WriteFlags::kNone),
        &tick, &w.completed)));
  }
  void RandomWrite() {
    uint64_t count = Rand(8) == 0 ? 1 + Rand(512) : 1 + Rand(64);
    count = std::min(count, sectors);
    StartWrite(Rand(sectors - count + 1), count, Rand(5) == 0);
  }
  void StartFlush() {
    FlushOp op;
    for (size_t i = 0; i < writes.size(); ++i) {
      if (writes[i].task->done() && writes[i].task->value().ok()) op.covers.push_back(uint32_t(i + 1));
    }
    flushes.push_back(std::move(op));
    flushes.back().task.emplace(testing::Start(f.array->Flush()));
  }
  void Steps(uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) f.Step();
  }
  bool AllDone() const {
    for (const Write& w : writes) {
      if (!w.task->done()) return false;
    }
    for (const FlushOp& fl : flushes) {
      if (!fl.task->done()) return false;
    }
    return true;
  }
};

void OneRun(uint64_t seed, RunStats& stats) {
  const CrashConfig& c = kConfigs[seed % std::size(kConfigs)];
  SCOPED_TRACE(::testing::Message() << "seed " << seed << " raid" << c.level << "/" << c.n << "/"
                                    << c.layout << (c.bitmap ? " bitmap" : ""));
  CrashRun run(seed * 7919 + 1);
  Fixture& f = run.f;
  f.crash_mode = true;
  FormatOptions fo;
  fo.level = c.level;
  fo.n = c.n;
  fo.layout = c.layout;
  fo.member_mib = 4;
  fo.bitmap = c.bitmap;
  fo.bitmap_chunk_bytes = 128 * 1024;
  f.Build(fo);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  run.sectors = f.array->geometry().ArraySectors();
  run.history.resize(run.sectors);

  // The workload, with a power loss after op `crash_at`.
  const uint64_t ops = 10 + run.Rand(40);
  const uint64_t crash_at = run.Rand(ops);
  for (uint64_t op = 0; op <= crash_at; ++op) {
    uint64_t kind = run.Rand(100);
    if (kind < 55) {
      run.RandomWrite();
    } else if (kind < 70) {
      run.StartFlush();
    } else if (kind < 78) {  // everything in flight completes
      ASSERT_TRUE(f.loop.RunUntil([&] { return run.AllDone(); }));
    } else if (kind < 88) {  // idle: safe mode marks the array clean, the daemon clears bits
      f.loop.AdvanceBy(run.Rand(12'000'000'000));
    } else {
      // A burst of small writes into one small region every 100 ms for several seconds: the
      // array stays active (no safe-mode flush) while the bitmap daemon clears the bits of
      // chunks written before and idle since.
      const uint64_t region = run.Rand(run.sectors - 64);
      const uint64_t until = f.loop.NowNs() + 4'000'000'000 + run.Rand(8'000'000'000);
      while (f.loop.NowNs() < until) {
        run.StartWrite(region + run.Rand(56), 1 + run.Rand(8), false);
        f.loop.AdvanceBy(150'000'000);  // shorter than the safe-mode delay
      }
    }
    run.Steps(run.Rand(4) == 0 ? run.Rand(400) : run.Rand(30));
  }
  // The power loss comes while some writes (and maybe a flush) are in flight, often the first
  // ones after the array went clean (the superblocks say "active" again first).
  if (run.Rand(3) == 0) f.loop.AdvanceBy(300'000'000);
  for (uint64_t k = 1 + run.Rand(4); k > 0; --k) {
    if (run.Rand(4) == 0) {
      run.StartFlush();
    } else {
      run.RandomWrite();
    }
    run.Steps(run.Rand(6));
  }
  run.Steps(run.Rand(10));

  // Power loss: every member at once (each Crash marks its device down before it yields).
  std::vector<testing::Started<Status>> crashes;
  for (size_t i = 0; i < f.crashes.size(); ++i) {
    testing::CrashOptions co;
    co.seed = seed * 100 + i;
    co.tear = seed % 3 == 0;
    crashes.push_back(testing::Start(f.crashes[i]->Crash(co)));
  }
  // What was durable at that moment.
  std::vector<bool> durable(run.writes.size() + 1, false);
  for (size_t i = 0; i < run.writes.size(); ++i) {
    const CrashRun::Write& w = run.writes[i];
    if (w.fua && w.task->done() && w.task->value().ok()) durable[i + 1] = true;
    stats.in_flight_at_crash += !w.task->done();
  }
  for (const CrashRun::FlushOp& fl : run.flushes) {
    if (!fl.task->done() || !fl.task->value().ok()) continue;
    for (uint32_t id : fl.covers) durable[id] = true;
  }
  stats.writes += run.writes.size();
  for (bool d : durable) stats.durable += d;
  ASSERT_TRUE(f.loop.RunUntil([&] {
    for (auto& s : crashes) {
      if (!s.done()) return false;
    }
    return run.AllDone();
  })) << "an operation hangs after the power loss";
  for (auto& s : crashes) ASSERT_TRUE(s.value().ok()) << s.value().message();

  // Power back: assemble from the durable media (fresh stacks, no crash layer needed).
  f.crash_mode = false;
  ArrayOptions o;
  o.sync.speed_max_kib = 0;  // no limit: virtual time is not the point here
  f.Reassemble(o);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const uint64_t copies = f.array->geometry().Map(0).size();
  uint64_t dirty_chunks = 0, chunk_sectors = 0;
  if (c.bitmap) {
    const MemberMetadata& ref = f.metadata[f.plan.reference_input];
    ASSERT_TRUE(ref.bitmap.has_value());
    chunk_sectors = ref.bitmap->super.ChunkSectors();
    dirty_chunks = format::BitmapStale(ref.bitmap->super, f.plan.reference)
                       ? ref.bitmap->super.Chunks()
                       : ref.bitmap->bits.CountSet();
  }
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->resync_offset(), format::kMaxSector);
  const SyncProgress p = f.array->sync_progress();
  stats.resyncs += f.plan.needs_resync;
  stats.copied += p.copied_sectors;
  if (c.bitmap) {
    EXPECT_LE(p.copied_sectors, dirty_chunks * chunk_sectors * (copies - 1))
        << dirty_chunks << " dirty chunks";
  }
  uint64_t diff = 0;
  EXPECT_TRUE(f.CopiesIdentical(&diff))
      << "copies differ at array sector " << diff << " (needs_resync " << f.plan.needs_resync
      << ", copied " << p.copied_sectors << ")";

  // Every sector holds a write that no durable write supersedes: one that was durable, or
  // that had not completed when the newest durable write there was issued (overlapping writes
  // in flight together may land in either order), or nothing written if none was durable.
  auto back = f.Read(0, run.sectors * 512);
  ASSERT_TRUE(back.ok()) << back.status().message();
  std::vector<uint8_t> expect(512);
  int reported = 0;
  for (uint64_t s = 0; s < run.sectors && reported < 5; ++s) {
    const uint8_t* got = back->data() + s * 512;
    const std::vector<uint32_t>& h = run.history[s];
    uint64_t floor = 0;  // issue tick of the newest durable write here
    for (uint32_t id : h) {
      if (durable[id]) floor = std::max(floor, run.writes[id - 1].issued);
    }
    uint64_t head;
    std::memcpy(&head, got, 8);
    const uint32_t w = uint32_t(head >> 32);
    bool ok = false;
    if (w == 0) {
      ok = floor == 0;
    } else if (std::find(h.begin(), h.end(), w) != h.end()) {
      const CrashRun::Write& wr = run.writes[w - 1];
      ok = durable[w] || wr.completed == 0 || wr.completed > floor;
    }
    FillSector(w, s, expect.data());
    if (!ok || std::memcmp(expect.data(), got, 512) != 0) {
      ADD_FAILURE() << "array sector " << s << " holds write " << w << " (sector "
                    << (head & 0xFFFFFFFF) << ", content "
                    << (std::memcmp(expect.data(), got, 512) == 0 ? "intact" : "damaged")
                    << "); " << h.size() << " writes there, newest durable one issued at tick "
                    << floor;
      ++reported;
    }
  }

  ASSERT_TRUE(f.array->RequestSync(SyncAction::kCheck).ok());
  f.WaitSyncIdle();
  EXPECT_EQ(f.array->sync_progress().mismatch_sectors, 0u);
}

// A write that arrives while the superblock write that marks the array active is still in
// flight waits for it: no data reaches a member while the superblocks still say "clean", so a
// power loss then leaves copies that agree (no resync will run).
TEST(ArrayCrash, NoDataIsWrittenBeforeTheSuperblocksSayActive) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Fixture f;
    f.crash_mode = true;
    f.Build(1, 2, "n2", 128, 16);
    ASSERT_FALSE(HasFatalFailure());
    for (TestMember* m : f.members) m->HoldWrites(kSbOffset, kSbOffset + 4096);
    auto first = testing::Start(f.array->Write(0, Pattern(65536, 1)));
    auto second = testing::Start(f.array->Write(kMiB, Pattern(65536, 2)));
    f.loop.RunUntilIdle();
    EXPECT_FALSE(first.done());
    EXPECT_FALSE(second.done()) << "a write went on before the superblocks said active";
    for (size_t i = 0; i < f.members.size(); ++i) {
      EXPECT_EQ(f.members[i]->BytesWritten(), 0u) << "data reached member " << i;
    }
    std::vector<testing::Started<Status>> crashes;
    for (size_t i = 0; i < f.crashes.size(); ++i) {
      crashes.push_back(testing::Start(f.crashes[i]->Crash({.seed = seed * 10 + i})));
    }
    for (TestMember* m : f.members) m->ReleaseWrites();
    ASSERT_TRUE(f.loop.RunUntil([&] {
      return first.done() && second.done() && crashes[0].done() && crashes[1].done();
    }));
    f.crash_mode = false;
    f.Reassemble();
    ASSERT_FALSE(HasFatalFailure());
    EXPECT_FALSE(f.plan.needs_resync);
    uint64_t diff = 0;
    EXPECT_TRUE(f.CopiesIdentical(&diff)) << "copies differ at " << diff << " and no resync runs";
  }
}

TEST(ArrayCrash, PowerLossAtRandomPointsKeepsDurableWritesAndCopiesConsistent) {
  // MESHRAID_CRASH_SEEDS overrides the number of runs (e.g. thousands, to hunt a rare bug).
  const char* env = std::getenv("MESHRAID_CRASH_SEEDS");
  const uint64_t seeds = env ? std::strtoull(env, nullptr, 10) : 200;
  RunStats stats;
  uint64_t runs = 0;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    OneRun(seed, stats);
    ++runs;
    if (HasFailure()) break;  // the first failing seed is the interesting one
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ crash    ] %llu crash runs in %.1f s: %llu writes (%llu durable, %llu in flight at "
              "the power loss), %llu reassemblies needed a resync, %llu sectors copied\n",
              (unsigned long long)runs, secs, (unsigned long long)stats.writes,
              (unsigned long long)stats.durable, (unsigned long long)stats.in_flight_at_crash,
              (unsigned long long)stats.resyncs, (unsigned long long)stats.copied);
}

}  // namespace
}  // namespace meshraid::raid
