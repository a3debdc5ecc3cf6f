#include "raid/range_lock.h"

#include <gtest/gtest.h>

#include <vector>

#include "io/gate.h"
#include "io/run_queue.h"

namespace meshraid::raid {
namespace {

struct Fixture {
  io::RunQueue q;
  io::Gate gate{q};
  RangeLock lock{q};
  std::vector<int> order;

  // Takes [start, start+len), records `id`, holds until `release` is set.
  io::Task<void> Hold(int id, uint64_t start, uint64_t len, io::Event* release) {
    RangeLock::Guard g = co_await lock.Lock(start, len);
    order.push_back(id);
    if (release) co_await release->Wait();
  }
  void Run() { q.RunReady(); }
};

TEST(RangeLock, DisjointRangesDoNotWait) {
  Fixture f;
  io::Event hold(f.q);
  io::Spawn(f.gate, f.Hold(1, 0, 8, &hold));
  io::Spawn(f.gate, f.Hold(2, 8, 8, &hold));
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{1, 2}));
  EXPECT_EQ(f.lock.held(), 2u);
  hold.Set();
  f.Run();
  EXPECT_EQ(f.lock.held(), 0u);
}

TEST(RangeLock, OverlapWaitsForRelease) {
  Fixture f;
  io::Event first(f.q);
  io::Spawn(f.gate, f.Hold(1, 0, 16, &first));
  io::Spawn(f.gate, f.Hold(2, 8, 16, nullptr));
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{1}));
  EXPECT_EQ(f.lock.waiting(), 1u);
  first.Set();
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{1, 2}));
  EXPECT_EQ(f.lock.held(), 0u);
}

// A later request that would be free must not overtake an earlier overlapping waiter.
TEST(RangeLock, GrantsInArrivalOrder) {
  Fixture f;
  io::Event a(f.q), b(f.q);
  io::Spawn(f.gate, f.Hold(1, 0, 8, &a));     // holds [0,8)
  io::Spawn(f.gate, f.Hold(2, 4, 8, &b));     // waits for 1; wants [4,12)
  io::Spawn(f.gate, f.Hold(3, 10, 4, nullptr));  // free of held, but overlaps waiter 2
  io::Spawn(f.gate, f.Hold(4, 20, 4, nullptr));  // free of everything: goes at once
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{1, 4}));
  a.Set();
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{1, 4, 2}));
  b.Set();
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{1, 4, 2, 3}));
}

TEST(RangeLock, ManyWaitersOnOneRangeRunOneAtATime) {
  Fixture f;
  std::vector<std::unique_ptr<io::Event>> ev;
  for (int i = 0; i < 5; ++i) ev.push_back(std::make_unique<io::Event>(f.q));
  for (int i = 0; i < 5; ++i) io::Spawn(f.gate, f.Hold(i, 100, 1, ev[size_t(i)].get()));
  for (int i = 0; i < 5; ++i) {
    f.Run();
    EXPECT_EQ(f.order.size(), size_t(i + 1));
    EXPECT_EQ(f.lock.held(), 1u);
    ev[size_t(i)]->Set();
  }
  f.Run();
  EXPECT_EQ(f.order, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace meshraid::raid
