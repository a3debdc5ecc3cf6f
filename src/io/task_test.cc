#include "io/task.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "io/gate.h"
#include "io/run_queue.h"
#include "io/sync.h"
#include "io/when_all.h"

namespace meshraid::io {
namespace {

// Drives `task` on a RunQueue (no io_uring) and returns its value.
template <typename T>
T Drive(RunQueue& q, Task<T> task) {
  std::optional<T> out;
  bool done = false;
  auto wrap = [](Task<T> t, std::optional<T>* o, bool* d) -> detail::Detached {
    o->emplace(co_await std::move(t));
    *d = true;
  };
  wrap(std::move(task), &out, &done);
  while (!done && !q.empty()) q.RunReady();
  EXPECT_TRUE(done);
  return std::move(*out);
}

Task<int> Answer() { co_return 42; }

Task<int> AddOne(Task<int> inner) { co_return co_await std::move(inner) + 1; }

TEST(TaskTest, NestedAwaitsReturnValues) {
  RunQueue q;
  EXPECT_EQ(Drive(q, AddOne(AddOne(Answer()))), 44);
}

Task<int> Recurse(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await Recurse(depth - 1);
}

TEST(TaskTest, DeepNesting) {
  RunQueue q;
  EXPECT_EQ(Drive(q, Recurse(1000)), 1000);
}

// A million immediately-completing awaits in a loop: symmetric transfer keeps the stack flat
// (without it this overflows the stack, especially under ASan).
Task<int64_t> ManySequential(int n) {
  int64_t sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await Answer();
  co_return sum;
}

TEST(TaskTest, ManySequentialAwaitsDoNotGrowTheStack) {
  RunQueue q;
  EXPECT_EQ(Drive(q, ManySequential(1'000'000)), 42'000'000);
}

struct Tracker {
  explicit Tracker(int* c) : count(c) { ++*count; }
  ~Tracker() { --*count; }
  int* count;
};

Task<int> Holds(int* live) {
  Tracker t(live);
  co_return 1;
}

TEST(TaskTest, NeverStartedTaskIsDestroyed) {
  int live = 0;
  {
    Task<int> t = Holds(&live);
    EXPECT_TRUE(t.valid());
    EXPECT_FALSE(t.done());
    EXPECT_EQ(live, 0);  // lazy: the body did not run
  }
  EXPECT_EQ(live, 0);
}

TEST(TaskTest, MoveTransfersOwnership) {
  RunQueue q;
  Task<int> a = Answer();
  Task<int> b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT: checking the moved-from state
  EXPECT_EQ(Drive(q, std::move(b)), 42);
}

Task<void> YieldTimes(RunQueue& q, int n, std::vector<int>* log, int id) {
  for (int i = 0; i < n; ++i) {
    log->push_back(id);
    co_await Yield(q);
  }
}

TEST(TaskTest, VoidTaskAndYieldInterleave) {
  RunQueue q;
  std::vector<int> log;
  auto both = [](RunQueue& q, std::vector<int>* log) -> Task<int> {
    std::vector<Task<void>> v;
    v.push_back(YieldTimes(q, 2, log, 1));
    v.push_back(YieldTimes(q, 2, log, 2));
    co_await WhenAll(std::move(v));
    co_return 0;
  };
  Drive(q, both(q, &log));
  EXPECT_EQ(log, (std::vector<int>{1, 2, 1, 2}));
}

}  // namespace
}  // namespace meshraid::io
