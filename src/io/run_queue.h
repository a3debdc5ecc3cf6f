// RunQueue: a FIFO of ready coroutines, the Executor that the Reactor embeds and that tests of
// the task layer drive by hand. Single-threaded: Schedule() and RunReady() on the owning thread.
#pragma once

#include <coroutine>
#include <cstddef>
#include <deque>

#include "io/task.h"

namespace meshraid::io {

class RunQueue : public Executor {
 public:
  RunQueue() = default;
  RunQueue(const RunQueue&) = delete;
  RunQueue& operator=(const RunQueue&) = delete;
  // Queued handles are not destroyed: their owners (Tasks, Gates) do that.
  ~RunQueue() override = default;

  void Schedule(std::coroutine_handle<> h) override { ready_.push_back(h); }

  // Resumes queued coroutines in FIFO order, including ones queued while running, until the
  // queue is empty or `max` resumptions happened. Returns how many ran.
  size_t RunReady(size_t max = static_cast<size_t>(-1)) {
    size_t ran = 0;
    while (!ready_.empty() && ran < max) {
      std::coroutine_handle<> h = ready_.front();
      ready_.pop_front();
      h.resume();
      ++ran;
    }
    return ran;
  }

  bool empty() const { return ready_.empty(); }
  size_t size() const { return ready_.size(); }

 private:
  std::deque<std::coroutine_handle<>> ready_;
};

}  // namespace meshraid::io
