#include "testing/timers.h"

#include <cassert>

namespace meshraid::testing {

io::Task<bool> ReactorTimers::DoSleepUntil(uint64_t deadline_ns, TimerSlot* slot) {
  co_return co_await reactor_.SleepUntil(deadline_ns, slot ? &slot->io_slot_ : nullptr);
}

namespace {
// Parks the coroutine in the ManualTimers' deadline map.
class SleepAwaiter {
 public:
  SleepAwaiter(std::multimap<uint64_t, detail::ManualWaiter*>& waiters, uint64_t deadline,
               TimerSlot* slot, detail::ManualWaiter** slot_link)
      : waiters_(waiters), deadline_(deadline), slot_link_(slot_link) {
    waiter_.slot = slot;
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_.handle = h;
    waiter_.pos = waiters_.emplace(deadline_, &waiter_);
    if (slot_link_) *slot_link_ = &waiter_;
  }
  bool await_resume() const noexcept { return waiter_.fired; }

 private:
  std::multimap<uint64_t, detail::ManualWaiter*>& waiters_;
  uint64_t deadline_;
  detail::ManualWaiter** slot_link_;  // the slot's link, if a slot was given
  detail::ManualWaiter waiter_;
};
}  // namespace

io::Task<bool> ManualTimers::DoSleepUntil(uint64_t deadline_ns, TimerSlot* slot) {
  assert(!(slot && slot->pending()) && "TimerSlot already holds a sleep");
  if (deadline_ns <= clock_.NowNs()) co_return true;
  co_return co_await SleepAwaiter(waiters_, deadline_ns, slot, slot ? &slot->manual_ : nullptr);
}

void ManualTimers::Cancel(TimerSlot& slot) {
  detail::ManualWaiter* w = slot.manual_;
  if (w == nullptr) return;
  slot.manual_ = nullptr;
  waiters_.erase(w->pos);
  w->fired = false;
  executor_.Schedule(w->handle);
}

size_t ManualTimers::FireDue() {
  size_t n = 0;
  const uint64_t now = clock_.NowNs();
  while (!waiters_.empty() && waiters_.begin()->first <= now) {
    detail::ManualWaiter* w = waiters_.begin()->second;
    waiters_.erase(waiters_.begin());
    if (w->slot) w->slot->manual_ = nullptr;
    w->fired = true;
    executor_.Schedule(w->handle);
    ++n;
  }
  return n;
}

size_t ManualTimers::AdvanceTo(uint64_t t_ns) {
  clock_.SetNs(t_ns);
  return FireDue();
}

bool ManualTimers::AdvanceToNext() {
  if (waiters_.empty()) return false;
  clock_.SetNs(waiters_.begin()->first);
  FireDue();
  return true;
}

std::optional<uint64_t> ManualTimers::next_deadline() const {
  if (waiters_.empty()) return std::nullopt;
  return waiters_.begin()->first;
}

namespace {
io::Task<void> SleepOn(Timers& timers, uint64_t ns) { (void)co_await timers.SleepFor(ns); }
}  // namespace

std::function<io::Task<void>(uint64_t)> MakeSleepFn(Timers& timers) {
  // Not a coroutine lambda: the frame of SleepOn must not refer to this closure.
  return [&timers](uint64_t ns) { return SleepOn(timers, ns); };
}

}  // namespace meshraid::testing
