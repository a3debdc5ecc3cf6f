// RangeLock: exclusive locks on ranges of array sectors, so that overlapping writes never
// interleave on the members (or mirrors would diverge). Waiters are granted in arrival order: a
// request never overtakes an earlier overlapping one. Runs on one reactor thread.
#pragma once

#include <coroutine>
#include <cstdint>
#include <list>

#include "io/task.h"

namespace meshraid::raid {

class RangeLock {
 public:
  struct Range {
    uint64_t start;
    uint64_t end;  // exclusive
  };

  explicit RangeLock(io::Executor& executor) : executor_(executor) {}
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

  // A held range; released on destruction or Release().
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& o) noexcept : lock_(o.lock_), it_(o.it_) { o.lock_ = nullptr; }
    Guard& operator=(Guard&& o) noexcept {
      if (this != &o) {
        Release();
        lock_ = o.lock_;
        it_ = o.it_;
        o.lock_ = nullptr;
      }
      return *this;
    }
    ~Guard() { Release(); }
    void Release() {
      if (lock_) std::exchange(lock_, nullptr)->Unlock(it_);
    }

   private:
    friend class RangeLock;
    Guard(RangeLock* lock, std::list<Range>::iterator it) : lock_(lock), it_(it) {}
    RangeLock* lock_ = nullptr;
    std::list<Range>::iterator it_;
  };

  // Completes when [start, start + length) overlaps no held range and no earlier waiter.
  io::Task<Guard> Lock(uint64_t start, uint64_t length);

  size_t held() const { return held_.size(); }
  size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    Range range;
    std::coroutine_handle<> handle;
    std::list<Range>::iterator it;
  };
  struct Awaiter {
    RangeLock& lock;
    Waiter waiter;
    bool await_ready();
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() const noexcept {}
  };

  static bool Overlaps(const Range& a, const Range& b) { return a.start < b.end && b.start < a.end; }
  // True when `r` overlaps no held range and no waiter queued before `upto` (all if null).
  bool Free(const Range& r, const Waiter* upto) const;
  void Unlock(std::list<Range>::iterator it);

  io::Executor& executor_;
  std::list<Range> held_;
  std::list<Waiter*> waiters_;
};

}  // namespace meshraid::raid
