#include "raid/range_lock.h"

namespace meshraid::raid {

bool RangeLock::Free(const Range& r, const Waiter* upto) const {
  for (const Range& h : held_) {
    if (Overlaps(h, r)) return false;
  }
  for (const Waiter* w : waiters_) {
    if (w == upto) break;
    if (Overlaps(w->range, r)) return false;
  }
  return true;
}

bool RangeLock::Awaiter::await_ready() {
  if (!lock.Free(waiter.range, nullptr)) return false;
  waiter.it = lock.held_.insert(lock.held_.end(), waiter.range);
  return true;
}

void RangeLock::Awaiter::await_suspend(std::coroutine_handle<> h) {
  waiter.handle = h;
  lock.waiters_.push_back(&waiter);
}

io::Task<RangeLock::Guard> RangeLock::Lock(uint64_t start, uint64_t length) {
  Awaiter a{*this, Waiter{Range{start, start + length}, {}, {}}};
  co_await a;
  co_return Guard(this, a.waiter.it);
}

void RangeLock::Unlock(std::list<Range>::iterator it) {
  held_.erase(it);
  // Grant, in arrival order, every waiter that is now free of held ranges and of earlier waiters.
  for (auto w = waiters_.begin(); w != waiters_.end();) {
    Waiter* waiter = *w;
    if (Free(waiter->range, waiter)) {
      waiter->it = held_.insert(held_.end(), waiter->range);
      w = waiters_.erase(w);
      executor_.Schedule(waiter->handle);
    } else {
      ++w;
    }
  }
}

}  // namespace meshraid::raid
