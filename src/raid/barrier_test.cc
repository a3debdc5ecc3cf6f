// Barrier on a ManualLoop: every waiter is resumed from the loop's run queue, so each test
// drives the schedule by hand (Run()) and checks which Enter/Raise/Freeze has completed.
#include "raid/barrier.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "testing/manual_loop.h"
#include "testing/started.h"

namespace meshraid::raid {
namespace {

using testing::Start;
using testing::Started;

constexpr uint64_t kUnit = Barrier::kUnitSectors;
// Units 0, 1 and 2 hash to buckets 0, 391 and 782; unit 987 collides with unit 0 (bucket 0).
constexpr uint64_t kA = 0;
constexpr uint64_t kB = 1 * kUnit + 8;
constexpr uint64_t kC = 2 * kUnit;
constexpr uint64_t kACollide = 987 * kUnit;

// The low 64 bits of a × b from 32-bit partial products (independent of the code under test).
uint64_t MulLow64(uint64_t a, uint64_t b) {
  const uint64_t al = a & 0xffffffffu, ah = a >> 32;
  const uint64_t bl = b & 0xffffffffu, bh = b >> 32;
  return al * bl + ((al * bh + ah * bl) << 32);
}
// Linux hash_64(sector >> 17, 10).
size_t ExpectedBucket(uint64_t sector) {
  return size_t(MulLow64(sector >> 17, 0x61C8864680B583EBull) >> 54);
}

// A request that spans two units: enters `first`, then `second`; `stage` counts entries.
io::Task<void> SpanningWrite(Barrier& bar, uint64_t first, uint64_t second, int* stage) {
  co_await bar.EnterWrite(first);
  *stage = 1;
  co_await bar.EnterWrite(second);
  *stage = 2;
}

class BarrierTest : public ::testing::Test {
 protected:
  void Run() { loop.RunUntilIdle(); }

  testing::ManualLoop loop;
  Barrier bar{loop.executor()};
};

TEST(BarrierHash, MatchesMdSectorToIdx) {
  // Values computed independently (Python: (u * 0x61C8864680B583EB % 2**64) >> 54).
  EXPECT_EQ(Barrier::BucketOf(0), 0u);
  EXPECT_EQ(Barrier::BucketOf(1 * kUnit), 391u);  // 0x61C8864680B583EB >> 54
  EXPECT_EQ(Barrier::BucketOf(2 * kUnit), 782u);
  EXPECT_EQ(Barrier::BucketOf(3 * kUnit), 149u);
  EXPECT_EQ(Barrier::BucketOf(7 * kUnit), 689u);
  EXPECT_EQ(Barrier::BucketOf(1000 * kUnit), 989u);
  EXPECT_EQ(Barrier::BucketOf(12345 * kUnit), 379u);
  EXPECT_EQ(Barrier::BucketOf(987 * kUnit), 0u);
  EXPECT_EQ(Barrier::BucketOf(~uint64_t{0}), 384u);  // unit 2^47 - 1
  for (uint64_t unit = 0; unit < 5000; ++unit) {
    const uint64_t s = unit * kUnit;
    const size_t idx = Barrier::BucketOf(s);
    ASSERT_LT(idx, Barrier::kBuckets);
    ASSERT_EQ(idx, ExpectedBucket(s)) << "unit " << unit;
    // Every sector of one 64 MiB unit shares its bucket.
    ASSERT_EQ(Barrier::BucketOf(s + 1), idx);
    ASSERT_EQ(Barrier::BucketOf(s + kUnit / 2 + 3), idx);
    ASSERT_EQ(Barrier::BucketOf(s + kUnit - 1), idx);
  }
  for (uint64_t s = 1, i = 0; i < 64; s = s * 3 + 7, ++i) {
    ASSERT_EQ(Barrier::BucketOf(s), ExpectedBucket(s)) << s;
  }
}

TEST(BarrierHash, ToUnitEnd) {
  EXPECT_EQ(kUnit, 131072u);
  EXPECT_EQ(Barrier::ToUnitEnd(0), kUnit);
  EXPECT_EQ(Barrier::ToUnitEnd(1), kUnit - 1);
  EXPECT_EQ(Barrier::ToUnitEnd(kUnit - 1), 1u);
  EXPECT_EQ(Barrier::ToUnitEnd(kUnit), kUnit);
  EXPECT_EQ(Barrier::ToUnitEnd(5 * kUnit + 100), kUnit - 100);
  for (uint64_t s : {uint64_t{0}, uint64_t{7}, kUnit + 1, 3 * kUnit - 2, uint64_t{1} << 40}) {
    const uint64_t n = Barrier::ToUnitEnd(s);
    ASSERT_GE(n, 1u);
    EXPECT_EQ((s + n) % kUnit, 0u);
    EXPECT_EQ(Barrier::BucketOf(s + n - 1), Barrier::BucketOf(s));
  }
}

TEST_F(BarrierTest, WriteWaitsWhileItsBucketIsRaisedAndProceedsAfterLower) {
  auto raise = Start(bar.Raise(kA));
  ASSERT_TRUE(raise.done());
  EXPECT_FALSE(bar.HasWaiters(kA));
  auto w = Start(bar.EnterWrite(kA + 100));
  Run();
  EXPECT_FALSE(w.done());
  EXPECT_TRUE(bar.HasWaiters(kA));
  EXPECT_EQ(bar.pending(), 0u);
  bar.Lower(kA);
  Run();
  EXPECT_TRUE(w.done());
  EXPECT_FALSE(bar.HasWaiters(kA));
  EXPECT_EQ(bar.pending(), 1u);
  bar.Exit(kA + 100);
  EXPECT_EQ(bar.pending(), 0u);
  EXPECT_EQ(bar.stats().write_waits, 1u);
  EXPECT_EQ(bar.stats().raises, 1u);
}

TEST_F(BarrierTest, WriteToAnotherBucketDoesNotWait) {
  ASSERT_NE(Barrier::BucketOf(kA), Barrier::BucketOf(kB));
  auto raise = Start(bar.Raise(kA));
  ASSERT_TRUE(raise.done());
  auto w = Start(bar.EnterWrite(kB));
  EXPECT_TRUE(w.done());  // synchronously, without the loop
  EXPECT_FALSE(bar.HasWaiters(kB));
  EXPECT_EQ(bar.stats().write_waits, 0u);
  bar.Exit(kB);
  bar.Lower(kA);
}

TEST_F(BarrierTest, DifferentUnitInTheSameBucketShareTheBarrier) {
  ASSERT_EQ(Barrier::BucketOf(kACollide), Barrier::BucketOf(kA));
  auto raise = Start(bar.Raise(kA));
  auto w = Start(bar.EnterWrite(kACollide));
  Run();
  EXPECT_FALSE(w.done());
  bar.Lower(kA);
  Run();
  EXPECT_TRUE(w.done());
  bar.Exit(kACollide);
}

TEST_F(BarrierTest, ReadsProceedWhileTheirBucketIsRaised) {
  auto raise = Start(bar.Raise(kA));
  ASSERT_TRUE(raise.done());
  auto r = Start(bar.EnterRead(kA));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(bar.stats().read_waits, 0u);
  EXPECT_EQ(bar.pending(), 1u);
  bar.Exit(kA);
  bar.Lower(kA);
}

TEST_F(BarrierTest, GlobalModeReadsAndWritesAnywhereWaitForAnyBarrier) {
  Barrier g(loop.executor(), BarrierMode::kGlobal);
  EXPECT_EQ(g.mode(), BarrierMode::kGlobal);
  auto raise = Start(g.Raise(kA));
  ASSERT_TRUE(raise.done());
  auto r = Start(g.EnterRead(kB));
  auto w = Start(g.EnterWrite(kC));
  Run();
  EXPECT_FALSE(r.done());
  EXPECT_FALSE(w.done());
  EXPECT_TRUE(g.HasWaiters(kB));
  EXPECT_TRUE(g.HasWaiters(kA));  // one barrier for the whole array
  EXPECT_EQ(g.stats().read_waits, 1u);
  EXPECT_EQ(g.stats().write_waits, 1u);
  g.Lower(kA);
  Run();
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(w.done());
  // And a raise anywhere waits for the I/O in flight anywhere.
  auto raise2 = Start(g.Raise(kACollide + kUnit));
  Run();
  EXPECT_FALSE(raise2.done());
  g.Exit(kB);
  Run();
  EXPECT_FALSE(raise2.done());
  g.Exit(kC);
  Run();
  EXPECT_TRUE(raise2.done());
  g.Lower(kACollide + kUnit);
  EXPECT_EQ(g.stats().read_waits, 1u);
  EXPECT_EQ(g.stats().write_waits, 1u);
  EXPECT_EQ(g.stats().raises, 2u);
}

TEST_F(BarrierTest, SetModeSwitchesWhileIdle) {
  bar.set_mode(BarrierMode::kGlobal);
  auto raise = Start(bar.Raise(kA));
  auto w = Start(bar.EnterWrite(kB));
  Run();
  EXPECT_FALSE(w.done());
  bar.Lower(kA);
  Run();
  ASSERT_TRUE(w.done());
  bar.Exit(kB);
  bar.set_mode(BarrierMode::kBucket);
  auto raise2 = Start(bar.Raise(kA));
  auto w2 = Start(bar.EnterWrite(kB));
  EXPECT_TRUE(w2.done());
  bar.Exit(kB);
  bar.Lower(kA);
}

TEST_F(BarrierTest, RaiseWaitsForPendingIoInItsBucketOnly) {
  auto wa = Start(bar.EnterWrite(kA));
  auto ra = Start(bar.EnterRead(kA + 1));
  auto wb = Start(bar.EnterWrite(kB));
  ASSERT_TRUE(wa.done() && ra.done() && wb.done());
  auto raise = Start(bar.Raise(kA));
  Run();
  EXPECT_FALSE(raise.done());
  EXPECT_EQ(bar.stats().raises, 1u);
  // The barrier is up while it drains: a new write to A waits, a read still goes.
  auto late_write = Start(bar.EnterWrite(kA + 2));
  auto late_read = Start(bar.EnterRead(kA + 3));
  Run();
  EXPECT_FALSE(late_write.done());
  EXPECT_TRUE(late_read.done());
  bar.Exit(kA);
  Run();
  EXPECT_FALSE(raise.done());
  bar.Exit(kA + 1);
  Run();
  EXPECT_FALSE(raise.done());
  bar.Exit(kA + 3);
  Run();
  EXPECT_TRUE(raise.done());  // B's write is still in flight: irrelevant
  EXPECT_FALSE(late_write.done());
  EXPECT_EQ(bar.pending(), 1u);
  bar.Lower(kA);
  Run();
  EXPECT_TRUE(late_write.done());
  bar.Exit(kA + 2);
  bar.Exit(kB);
  EXPECT_EQ(bar.pending(), 0u);
}

TEST_F(BarrierTest, WaitingIoGoesBeforeANewBarrier) {
  auto raise1 = Start(bar.Raise(kA));
  ASSERT_TRUE(raise1.done());
  auto w = Start(bar.EnterWrite(kA));
  Run();
  ASSERT_FALSE(w.done());
  bar.Lower(kA);
  // The write is woken but has not run yet; it still counts as waiting.
  EXPECT_TRUE(bar.HasWaiters(kA));
  auto raise2 = Start(bar.Raise(kA));
  EXPECT_FALSE(raise2.done());
  Run();
  EXPECT_TRUE(w.done());
  EXPECT_FALSE(raise2.done());  // raised, now waits for the write to exit
  EXPECT_FALSE(bar.HasWaiters(kA));
  // Once the waiters drained the barrier is up at once: a newcomer waits behind it.
  auto late = Start(bar.EnterWrite(kA + 1));
  Run();
  EXPECT_FALSE(late.done());
  bar.Exit(kA);
  Run();
  EXPECT_TRUE(raise2.done());
  EXPECT_FALSE(late.done());
  bar.Lower(kA);
  Run();
  EXPECT_TRUE(late.done());
  bar.Exit(kA + 1);
  EXPECT_EQ(bar.stats().raises, 2u);
}

TEST_F(BarrierTest, HasWaitersIsPerBucket) {
  EXPECT_FALSE(bar.HasWaiters(kA));
  auto raise = Start(bar.Raise(kA));
  EXPECT_FALSE(bar.HasWaiters(kA));  // a raised barrier alone is not a waiter
  auto r = Start(bar.EnterRead(kA));
  EXPECT_FALSE(bar.HasWaiters(kA));  // reads do not wait in bucket mode
  auto w1 = Start(bar.EnterWrite(kA + 5));
  auto w2 = Start(bar.EnterWrite(kACollide));
  Run();
  EXPECT_TRUE(bar.HasWaiters(kA));
  EXPECT_TRUE(bar.HasWaiters(kACollide));
  EXPECT_TRUE(bar.HasWaiters(kA + kUnit - 1));
  EXPECT_FALSE(bar.HasWaiters(kB));
  bar.Exit(kA);
  bar.Lower(kA);
  Run();
  EXPECT_FALSE(bar.HasWaiters(kA));
  bar.Exit(kA + 5);
  bar.Exit(kACollide);
}

TEST_F(BarrierTest, FreezeDrainsEverythingInFlight) {
  auto wa = Start(bar.EnterWrite(kA));
  auto rb = Start(bar.EnterRead(kB));
  auto rc = Start(bar.Raise(kC));
  ASSERT_TRUE(wa.done() && rb.done() && rc.done());
  auto freeze = Start(bar.Freeze());
  Run();
  EXPECT_TRUE(bar.frozen());
  EXPECT_FALSE(freeze.done());
  bar.Exit(kA);
  Run();
  EXPECT_FALSE(freeze.done());
  bar.Lower(kC);
  Run();
  EXPECT_FALSE(freeze.done());
  bar.Exit(kB);
  Run();
  EXPECT_TRUE(freeze.done());
  EXPECT_EQ(bar.pending(), 0u);
  bar.Unfreeze();
  EXPECT_FALSE(bar.frozen());
}

TEST_F(BarrierTest, FreezeOfAnIdleArrayCompletesAtOnce) {
  auto freeze = Start(bar.Freeze());
  EXPECT_TRUE(freeze.done());
  bar.Unfreeze();
}

TEST_F(BarrierTest, FrozenBlocksNewReadsWritesAndRaisesUntilUnfreeze) {
  auto freeze = Start(bar.Freeze());
  ASSERT_TRUE(freeze.done());
  auto w = Start(bar.EnterWrite(kA));
  auto r = Start(bar.EnterRead(kB));
  auto raise = Start(bar.Raise(kC));
  Run();
  EXPECT_FALSE(w.done());
  EXPECT_FALSE(r.done());
  EXPECT_FALSE(raise.done());
  EXPECT_TRUE(bar.HasWaiters(kA));
  EXPECT_TRUE(bar.HasWaiters(kB));
  EXPECT_EQ(bar.stats().write_waits, 1u);
  EXPECT_EQ(bar.stats().read_waits, 1u);
  bar.Unfreeze();
  Run();
  EXPECT_TRUE(w.done());
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(raise.done());
  bar.Exit(kA);
  bar.Exit(kB);
  bar.Lower(kC);
}

// I/O woken by Unfreeze goes before a raise on its bucket that was blocked by the freeze.
TEST_F(BarrierTest, AfterUnfreezeWaitingIoGoesBeforeARaise) {
  auto freeze = Start(bar.Freeze());
  auto raise = Start(bar.Raise(kA));  // no waiter yet: raised, waits for the unfreeze
  auto w = Start(bar.EnterWrite(kA));
  auto raise_b = Start(bar.Raise(kB));
  auto r_b = Start(bar.EnterRead(kB));
  Run();
  bar.Unfreeze();
  Run();
  EXPECT_TRUE(raise.done());
  EXPECT_FALSE(w.done());  // A's barrier went up before the write arrived
  EXPECT_TRUE(raise_b.done());
  EXPECT_TRUE(r_b.done());  // reads ignore the bucket barrier
  bar.Lower(kA);
  Run();
  EXPECT_TRUE(w.done());
  bar.Exit(kA);
  bar.Exit(kB);
  bar.Lower(kB);

  auto freeze2 = Start(bar.Freeze());
  ASSERT_TRUE(freeze2.done());
  auto w2 = Start(bar.EnterWrite(kA));  // waits first
  auto raise2 = Start(bar.Raise(kA));   // then yields to it
  Run();
  bar.Unfreeze();
  Run();
  EXPECT_TRUE(w2.done());
  EXPECT_FALSE(raise2.done());
  bar.Exit(kA);
  Run();
  EXPECT_TRUE(raise2.done());
  bar.Lower(kA);
}

TEST_F(BarrierTest, FreezeInGlobalModeWaitsForTheRaisedBarrier) {
  Barrier g(loop.executor(), BarrierMode::kGlobal);
  auto raise = Start(g.Raise(kA));
  auto freeze = Start(g.Freeze());
  Run();
  EXPECT_FALSE(freeze.done());
  auto r = Start(g.EnterRead(kB));
  Run();
  EXPECT_FALSE(r.done());
  g.Lower(kA);
  Run();
  EXPECT_TRUE(freeze.done());
  EXPECT_FALSE(r.done());  // still frozen
  g.Unfreeze();
  Run();
  EXPECT_TRUE(r.done());
  g.Exit(kB);
  EXPECT_EQ(g.stats().read_waits, 1u);
  EXPECT_EQ(g.stats().write_waits, 0u);
}

// A raise still draining its bucket when a freeze starts does not hold up the freeze; it
// completes after Unfreeze.
TEST_F(BarrierTest, FreezeDoesNotDeadlockWithARaiseInProgress) {
  auto w = Start(bar.EnterWrite(kA));
  auto raise = Start(bar.Raise(kA));
  auto freeze = Start(bar.Freeze());
  Run();
  EXPECT_FALSE(raise.done());
  EXPECT_FALSE(freeze.done());
  bar.Exit(kA);
  Run();
  EXPECT_TRUE(freeze.done());
  EXPECT_FALSE(raise.done());
  bar.Unfreeze();
  Run();
  EXPECT_TRUE(raise.done());
  bar.Lower(kA);
}

TEST_F(BarrierTest, SpanningWriteEntersSecondBucketAfterItsWindowLowers) {
  auto raise_b = Start(bar.Raise(kB));
  ASSERT_TRUE(raise_b.done());
  int stage = 0;
  auto span = Start(SpanningWrite(bar, kA, kB, &stage));
  Run();
  EXPECT_EQ(stage, 1);  // holds A, waits for B
  EXPECT_TRUE(bar.HasWaiters(kB));
  // Another sync window on A waits for the spanning write, which waits for B: no cycle.
  auto raise_a = Start(bar.Raise(kA));
  Run();
  EXPECT_FALSE(raise_a.done());
  bar.Lower(kB);
  Run();
  EXPECT_TRUE(span.done());
  EXPECT_EQ(stage, 2);
  EXPECT_FALSE(raise_a.done());
  bar.Exit(kA);
  bar.Exit(kB);
  Run();
  EXPECT_TRUE(raise_a.done());
  bar.Lower(kA);
}

TEST_F(BarrierTest, SyncWindowRaisesSecondBucketWhileWriteHoldsFirst) {
  auto wa = Start(bar.EnterWrite(kA));
  ASSERT_TRUE(wa.done());
  auto raise_b = Start(bar.Raise(kB));
  EXPECT_TRUE(raise_b.done());  // A's pending write does not matter to B
  auto wb = Start(bar.EnterWrite(kB));  // the same request's second half
  Run();
  EXPECT_FALSE(wb.done());
  bar.Lower(kB);
  Run();
  EXPECT_TRUE(wb.done());
  bar.Exit(kB);
  bar.Exit(kA);
  EXPECT_EQ(bar.pending(), 0u);
}

TEST_F(BarrierTest, TwoRaisesOnOneBucketNeedTwoLowers) {
  auto r1 = Start(bar.Raise(kA));
  auto r2 = Start(bar.Raise(kA + 64));
  ASSERT_TRUE(r1.done() && r2.done());
  EXPECT_EQ(bar.stats().raises, 2u);
  auto w = Start(bar.EnterWrite(kA));
  Run();
  bar.Lower(kA);
  Run();
  EXPECT_FALSE(w.done());
  bar.Lower(kA + 64);
  Run();
  EXPECT_TRUE(w.done());
  bar.Exit(kA);
  // Freeze sees both gone.
  auto freeze = Start(bar.Freeze());
  EXPECT_TRUE(freeze.done());
  bar.Unfreeze();
}

TEST_F(BarrierTest, NoWaiterIsLost) {
  auto raise = Start(bar.Raise(kA));
  std::vector<Started<void>> writers;
  for (int i = 0; i < 100; ++i) writers.push_back(Start(bar.EnterWrite(kA + uint64_t(i))));
  Run();
  for (const auto& w : writers) EXPECT_FALSE(w.done());
  EXPECT_EQ(bar.stats().write_waits, 100u);
  bar.Lower(kA);
  Run();
  for (const auto& w : writers) EXPECT_TRUE(w.done());
  EXPECT_EQ(bar.pending(), 100u);
  EXPECT_FALSE(bar.HasWaiters(kA));
  // A raise now waits for all hundred to exit.
  auto raise2 = Start(bar.Raise(kA));
  for (int i = 0; i < 100; ++i) {
    Run();
    EXPECT_FALSE(raise2.done());
    bar.Exit(kA + uint64_t(i));
  }
  Run();
  EXPECT_TRUE(raise2.done());
  bar.Lower(kA);
}

TEST_F(BarrierTest, NoWaiterIsLostAcrossAFreeze) {
  auto freeze = Start(bar.Freeze());
  std::vector<Started<void>> io;
  std::vector<Started<void>> raises;
  for (uint64_t u = 0; u < 50; ++u) {
    io.push_back(Start(bar.EnterWrite(u * kUnit)));
    io.push_back(Start(bar.EnterRead(u * kUnit + 1)));
    raises.push_back(Start(bar.Raise((100 + u) * kUnit)));
  }
  Run();
  for (const auto& s : io) EXPECT_FALSE(s.done());
  for (const auto& s : raises) EXPECT_FALSE(s.done());
  bar.Unfreeze();
  Run();
  for (const auto& s : io) EXPECT_TRUE(s.done());
  EXPECT_EQ(bar.pending(), 100u);
  for (uint64_t u = 0; u < 50; ++u) {
    bar.Exit(u * kUnit);
    bar.Exit(u * kUnit + 1);
  }
  Run();
  for (const auto& s : raises) EXPECT_TRUE(s.done());
  EXPECT_EQ(bar.stats().write_waits, 50u);
  EXPECT_EQ(bar.stats().read_waits, 50u);
  EXPECT_EQ(bar.stats().raises, 50u);
  for (uint64_t u = 0; u < 50; ++u) bar.Lower((100 + u) * kUnit);
}

}  // namespace
}  // namespace meshraid::raid
