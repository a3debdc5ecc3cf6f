#include "testing/timers.h"

#include <gtest/gtest.h>

#include <vector>

#include "io/reactor.h"
#include "io/run_queue.h"
#include "io/when_all.h"
#include "testing/manual_loop.h"
#include "testing/started.h"

namespace meshraid::testing {
namespace {

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;

io::Task<bool> SleepAndLog(Timers& t, uint64_t deadline, int id, std::vector<int>* log,
                           TimerSlot* slot = nullptr) {
  const bool fired = co_await t.SleepUntil(deadline, slot);
  log->push_back(id);
  co_return fired;
}

TEST(ManualTimersTest, NothingFiresUntilTheClockMovesThenDeadlineOrderTiesFifo) {
  io::RunQueue q;
  io::ManualClock clock(1000);
  ManualTimers timers(q, clock);
  std::vector<int> log;
  auto a = Start(SleepAndLog(timers, 1000 + 30 * kUs, 3, &log));
  auto b = Start(SleepAndLog(timers, 1000 + 10 * kUs, 1, &log));
  auto c = Start(SleepAndLog(timers, 1000 + 10 * kUs, 2, &log));
  q.RunReady();
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(timers.pending(), 3u);
  EXPECT_EQ(timers.next_deadline(), 1000 + 10 * kUs);
  EXPECT_EQ(timers.AdvanceBy(10 * kUs - 1), 0u);  // one nanosecond early
  q.RunReady();
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(timers.AdvanceBy(1), 2u);
  q.RunReady();
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_TRUE(timers.AdvanceToNext());
  EXPECT_EQ(clock.NowNs(), 1000 + 30 * kUs);
  q.RunReady();
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(a.done() && b.done() && c.done());
  EXPECT_TRUE(a.value());
  EXPECT_FALSE(timers.AdvanceToNext());
}

TEST(ManualTimersTest, PastDeadlineCompletesAtOnce) {
  io::RunQueue q;
  io::ManualClock clock(5 * kMs);
  ManualTimers timers(q, clock);
  std::vector<int> log;
  auto a = Start(SleepAndLog(timers, kMs, 1, &log));
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(a.value());
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(ManualTimersTest, CancelResumesWithFalseThroughTheExecutor) {
  io::RunQueue q;
  io::ManualClock clock;
  ManualTimers timers(q, clock);
  std::vector<int> log;
  TimerSlot slot;
  auto a = Start(SleepAndLog(timers, 200 * kMs, 1, &log, &slot));
  EXPECT_TRUE(slot.pending());
  timers.Cancel(slot);
  EXPECT_FALSE(slot.pending());
  EXPECT_FALSE(a.done());  // never resumed inline
  q.RunReady();
  ASSERT_TRUE(a.done());
  EXPECT_FALSE(a.value());
  EXPECT_EQ(timers.pending(), 0u);
  timers.Cancel(slot);  // nothing pending: no-op
  // The slot can be reused, and a fired sleep clears it.
  auto b = Start(SleepAndLog(timers, 200 * kMs, 2, &log, &slot));
  timers.AdvanceBy(200 * kMs);
  EXPECT_FALSE(slot.pending());
  q.RunReady();
  EXPECT_TRUE(b.value());
}

TEST(ManualLoopTest, RunUntilCompleteJumpsVirtualTimeToEachDeadline) {
  ManualLoop loop(7);
  std::vector<uint64_t> woke;
  auto chain = [&]() -> io::Task<int> {
    for (int i = 1; i <= 3; ++i) {
      (void)co_await loop.timers().SleepFor(uint64_t(i) * kMs);
      woke.push_back(loop.NowNs());
    }
    co_return 42;
  };
  EXPECT_EQ(loop.RunUntilComplete(chain()), 42);
  EXPECT_EQ(woke, (std::vector<uint64_t>{7 + kMs, 7 + 3 * kMs, 7 + 6 * kMs}));
}

TEST(ManualLoopTest, AdvanceToRunsTimersAtTheirOwnDeadlinesThenStops) {
  ManualLoop loop;
  std::vector<uint64_t> woke;
  auto sleeper = [&](uint64_t ns) -> io::Task<bool> {
    const bool fired = co_await loop.timers().SleepFor(ns);
    woke.push_back(loop.NowNs());
    co_return fired;
  };
  auto a = Start(sleeper(3 * kMs));
  auto b = Start(sleeper(1 * kMs));
  auto c = Start(sleeper(10 * kMs));
  loop.AdvanceTo(5 * kMs);
  EXPECT_EQ(woke, (std::vector<uint64_t>{kMs, 3 * kMs}));
  EXPECT_EQ(loop.NowNs(), 5 * kMs);
  EXPECT_FALSE(c.done());
  EXPECT_TRUE(loop.RunUntil([&] { return c.done(); }));
  EXPECT_EQ(woke.back(), 10 * kMs);
  EXPECT_FALSE(loop.RunUntil([] { return false; }));  // nothing left: stuck, not looping
}

TEST(ManualLoopTest, VoidTasksToo) {
  ManualLoop loop;
  bool ran = false;
  auto t = [&]() -> io::Task<void> {
    (void)co_await loop.timers().SleepFor(kMs);
    ran = true;
  };
  loop.RunUntilComplete(t());
  EXPECT_TRUE(ran);
  auto started = Start(t());
  EXPECT_FALSE(started.done());
  loop.RunUntilIdle();
  EXPECT_TRUE(started.done());
}

TEST(ManualLoopTest, SleepFnAdapterWaitsOnTheTimers) {
  ManualLoop loop;
  auto sleep = MakeSleepFn(loop.timers());
  auto t = [&]() -> io::Task<uint64_t> {
    co_await sleep(200 * kMs);
    co_return loop.NowNs();
  };
  EXPECT_EQ(loop.RunUntilComplete(t()), 200 * kMs);
}

TEST(ReactorTimersTest, SleepsOnTheMonotonicClockAndCanBeCancelled) {
  auto r = io::Reactor::Create();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  io::Reactor& reactor = **r;
  ReactorTimers timers(reactor);
  const uint64_t start = timers.NowNs();
  EXPECT_TRUE(reactor.RunUntilComplete(timers.SleepFor(2 * kMs)));
  EXPECT_GE(timers.NowNs(), start + 2 * kMs);  // a timer never fires early

  TimerSlot slot;
  auto sleeper = [&]() -> io::Task<bool> {
    co_return co_await timers.SleepFor(3600'000 * kMs, &slot);
  };
  auto canceller = [&]() -> io::Task<bool> {
    co_await io::Yield(reactor);
    EXPECT_TRUE(slot.pending());
    timers.Cancel(slot);
    co_return true;
  };
  std::vector<io::Task<bool>> both;
  both.push_back(sleeper());
  both.push_back(canceller());
  auto results = reactor.RunUntilComplete(io::WhenAll(std::move(both)));
  EXPECT_FALSE(results[0]);
  EXPECT_FALSE(slot.pending());
}

}  // namespace
}  // namespace meshraid::testing
