// Event, Semaphore, Gate/Spawn and WhenAll, driven by a RunQueue (no io_uring).
#include "io/sync.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "io/gate.h"
#include "io/run_queue.h"
#include "io/task.h"
#include "io/when_all.h"

namespace meshraid::io {
namespace {

// Starts `task` detached and runs the queue until it finished.
template <typename T>
T Drive(RunQueue& q, Task<T> task) {
  std::optional<T> out;
  auto wrap = [](Task<T> t, std::optional<T>* o) -> detail::Detached {
    o->emplace(co_await std::move(t));
  };
  wrap(std::move(task), &out);
  q.RunReady();
  EXPECT_TRUE(out.has_value());
  return std::move(*out);
}

Task<void> WaitThenLog(Event& e, std::vector<int>* log, int id) {
  co_await e.Wait();
  log->push_back(id);
}

TEST(EventTest, SetWakesAllWaitersInOrderThroughTheExecutor) {
  RunQueue q;
  Event e(q);
  Gate gate(q);
  std::vector<int> log;
  ASSERT_TRUE(Spawn(gate, WaitThenLog(e, &log, 1)));
  ASSERT_TRUE(Spawn(gate, WaitThenLog(e, &log, 2)));
  q.RunReady();
  EXPECT_TRUE(log.empty());
  e.Set();
  EXPECT_TRUE(log.empty());  // not resumed inline
  q.RunReady();
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  // Already set: waiting completes at once.
  ASSERT_TRUE(Spawn(gate, WaitThenLog(e, &log, 3)));
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(gate.live(), 0u);
}

Task<void> HoldPermit(Semaphore& sem, Event& release, int* holders, int* max_holders) {
  co_await sem.Acquire();
  *max_holders = std::max(*max_holders, ++*holders);
  co_await release.Wait();
  --*holders;
  sem.Release();
}

TEST(SemaphoreTest, LimitsConcurrencyAndHandsOffInFifoOrder) {
  RunQueue q;
  Semaphore sem(q, 2);
  Event release(q);
  Gate gate(q);
  int holders = 0, max_holders = 0;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(Spawn(gate, HoldPermit(sem, release, &holders, &max_holders)));
  q.RunReady();
  EXPECT_EQ(holders, 2);
  EXPECT_TRUE(sem.has_waiters());
  release.Set();
  q.RunReady();
  EXPECT_EQ(holders, 0);
  EXPECT_EQ(max_holders, 2);
  EXPECT_EQ(sem.available(), 2u);
  EXPECT_FALSE(sem.has_waiters());
  EXPECT_EQ(gate.live(), 0u);
}

TEST(SemaphoreTest, TryAcquireDoesNotBargePastWaiters) {
  RunQueue q;
  Semaphore sem(q, 1);
  EXPECT_TRUE(sem.TryAcquire());
  EXPECT_FALSE(sem.TryAcquire());
  sem.Release();
  EXPECT_EQ(sem.available(), 1u);
}

Task<void> Forever(Event& never) { co_await never.Wait(); }

TEST(GateTest, CloseWaitsForSpawnedTasksAndRefusesNewOnes) {
  RunQueue q;
  Gate gate(q);
  Event go(q);
  ASSERT_TRUE(Spawn(gate, Forever(go)));
  ASSERT_TRUE(Spawn(gate, Forever(go)));
  EXPECT_EQ(gate.live(), 2u);
  bool closed = false;
  auto closer = [](Gate& g, bool* c) -> Task<int> {
    co_await g.Close();
    *c = true;
    co_return 0;
  };
  std::optional<int> out;
  auto wrap = [](Task<int> t, std::optional<int>* o) -> detail::Detached {
    o->emplace(co_await std::move(t));
  };
  wrap(closer(gate, &closed), &out);
  q.RunReady();
  EXPECT_FALSE(closed);
  EXPECT_FALSE(Spawn(gate, Forever(go)));  // closed: refused, frame destroyed (ASan checks)
  go.Set();
  q.RunReady();
  EXPECT_TRUE(closed);
  EXPECT_EQ(gate.live(), 0u);
}

TEST(GateTest, CloseOfAnIdleGateCompletesAtOnce) {
  RunQueue q;
  Gate gate(q);
  auto closer = [](Gate& g) -> Task<int> {
    co_await g.Close();
    co_return 7;
  };
  EXPECT_EQ(Drive(q, closer(gate)), 7);
}

// Completes after `yields` trips through the run queue, with `result`.
Task<Status> After(RunQueue& q, int yields, Status result, std::vector<int>* finish_order, int id) {
  for (int i = 0; i < yields; ++i) co_await Yield(q);
  finish_order->push_back(id);
  co_return result;
}

TEST(WhenAllTest, ResultsAreInInputOrderNotCompletionOrder) {
  RunQueue q;
  std::vector<int> finish;
  std::vector<Task<Status>> tasks;
  tasks.push_back(After(q, 3, Status::IoError("a"), &finish, 0));
  tasks.push_back(After(q, 1, Status::Ok(), &finish, 1));
  tasks.push_back(After(q, 0, Status::NotFound("c"), &finish, 2));  // synchronous
  tasks.push_back(After(q, 2, Status::Ok(), &finish, 3));
  std::vector<Status> r = Drive(q, WhenAll(std::move(tasks)));
  EXPECT_EQ(finish, (std::vector<int>{2, 1, 3, 0}));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].code(), Code::kIoError);
  EXPECT_TRUE(r[1].ok());
  EXPECT_EQ(r[2].code(), Code::kNotFound);
  EXPECT_TRUE(r[3].ok());
}

TEST(WhenAllTest, WhenAllOkReportsFirstErrorByIndexAfterAllFinished) {
  RunQueue q;
  std::vector<int> finish;
  std::vector<Task<Status>> tasks;
  tasks.push_back(After(q, 2, Status::Ok(), &finish, 0));
  tasks.push_back(After(q, 3, Status::IoError("member 1"), &finish, 1));
  tasks.push_back(After(q, 1, Status::Busy("member 2"), &finish, 2));
  Status s = Drive(q, WhenAllOk(std::move(tasks)));
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.message(), "member 1");
  EXPECT_EQ(finish.size(), 3u);  // nobody was abandoned
}

TEST(WhenAllTest, AllSynchronousAndEmpty) {
  RunQueue q;
  std::vector<int> finish;
  std::vector<Task<Status>> tasks;
  for (int i = 0; i < 100; ++i) tasks.push_back(After(q, 0, Status::Ok(), &finish, i));
  EXPECT_TRUE(Drive(q, WhenAllOk(std::move(tasks))).ok());
  EXPECT_EQ(finish.size(), 100u);
  EXPECT_TRUE(Drive(q, WhenAllOk({})).ok());
}

TEST(WhenAllTest, VoidTasks) {
  RunQueue q;
  std::vector<int> finish;
  auto v = [](RunQueue& q, std::vector<int>* f, int id) -> Task<void> {
    (void)co_await After(q, id % 3, Status::Ok(), f, id);
  };
  auto all = [&]() -> Task<int> {
    std::vector<Task<void>> t;
    for (int i = 0; i < 10; ++i) t.push_back(v(q, &finish, i));
    co_await WhenAll(std::move(t));
    co_return int(finish.size());
  };
  EXPECT_EQ(Drive(q, all()), 10);
}

}  // namespace
}  // namespace meshraid::io
