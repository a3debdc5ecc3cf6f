// Coroutine synchronisation for one reactor thread: Event (wait until set) and Semaphore
// (admission control / back-pressure). Waiters are resumed through an Executor, never inline,
// in FIFO order. Not thread-safe: use them on the thread that runs the executor.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>

#include "io/task.h"

namespace meshraid::io {

namespace detail {
// An intrusive FIFO of suspended waiters; nodes live in the awaiters (the coroutine frames).
struct WaitNode {
  std::coroutine_handle<> handle;
  WaitNode* next = nullptr;
};

class WaitList {
 public:
  bool empty() const { return head_ == nullptr; }
  void Push(WaitNode* n) {
    n->next = nullptr;
    (tail_ ? tail_->next : head_) = n;
    tail_ = n;
  }
  WaitNode* Pop() {
    WaitNode* n = head_;
    if (n) {
      head_ = n->next;
      if (!head_) tail_ = nullptr;
    }
    return n;
  }

 private:
  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};
}  // namespace detail

// A manual-reset event. Wait() completes at once while set; otherwise when Set() is called.
class Event {
 public:
  explicit Event(Executor& ex) : executor_(ex) {}
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { assert(waiters_.empty() && "Event destroyed with waiters"); }

  bool is_set() const { return set_; }
  // Sets the event and schedules every current waiter.
  void Set() {
    set_ = true;
    while (detail::WaitNode* n = waiters_.Pop()) executor_.Schedule(n->handle);
  }
  void Reset() { set_ = false; }

  class Awaiter {
   public:
    explicit Awaiter(Event& e) : event_(e) {}
    bool await_ready() const noexcept { return event_.set_; }
    void await_suspend(std::coroutine_handle<> h) {
      node_.handle = h;
      event_.waiters_.Push(&node_);
    }
    void await_resume() const noexcept {}

   private:
    Event& event_;
    detail::WaitNode node_;
  };
  Awaiter Wait() { return Awaiter(*this); }

 private:
  Executor& executor_;
  bool set_ = false;
  detail::WaitList waiters_;
};

// A counting semaphore without barging: Release() hands a permit straight to the oldest waiter.
class Semaphore {
 public:
  Semaphore(Executor& ex, size_t permits) : executor_(ex), available_(permits) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  ~Semaphore() { assert(waiters_.empty() && "Semaphore destroyed with waiters"); }

  size_t available() const { return available_; }
  bool has_waiters() const { return !waiters_.empty(); }

  bool TryAcquire() {
    if (available_ == 0 || !waiters_.empty()) return false;
    --available_;
    return true;
  }
  // Returns one permit: to the oldest waiter (scheduled) if any, else to the pool.
  void Release() {
    if (detail::WaitNode* n = waiters_.Pop()) {
      executor_.Schedule(n->handle);
    } else {
      ++available_;
    }
  }

  class Awaiter {
   public:
    explicit Awaiter(Semaphore& s) : sem_(s) {}
    bool await_ready() { return sem_.TryAcquire(); }
    void await_suspend(std::coroutine_handle<> h) {
      node_.handle = h;
      sem_.waiters_.Push(&node_);
    }
    void await_resume() const noexcept {}

   private:
    Semaphore& sem_;
    detail::WaitNode node_;
  };
  // Completes once the caller holds one permit; call Release() when done.
  Awaiter Acquire() { return Awaiter(*this); }

 private:
  Executor& executor_;
  size_t available_;
  detail::WaitList waiters_;
};

}  // namespace meshraid::io
