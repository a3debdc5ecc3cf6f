// Gate and Spawn: detached background tasks (NBD sessions, resync, bitmap flushes) whose
// lifetime is tracked, so that shutdown can close the gate and wait until all of them finished.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "io/sync.h"
#include "io/task.h"

namespace meshraid::io {

namespace detail {
// An eagerly started coroutine that frees its own frame when it finishes.
struct Detached {
  struct promise_type {
    Detached get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
  };
};
}  // namespace detail

// Counts live spawned tasks. Destroying a Gate while tasks are live aborts the process (their
// frames would outlive it); Close() first and await it.
class Gate {
 public:
  explicit Gate(Executor& ex) : idle_(ex) {}
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() {
    if (live_ != 0) {
      std::fprintf(stderr, "meshraid: Gate destroyed with %zu live tasks\n", live_);
      std::abort();
    }
  }

  size_t live() const { return live_; }
  bool closed() const { return closed_; }

  // Refuses further Spawn()s and completes once every spawned task has finished.
  // May be awaited by several callers.
  Task<void> Close() {
    closed_ = true;
    if (live_ == 0) idle_.Set();
    co_await idle_.Wait();
  }

 private:
  friend bool Spawn(Gate& gate, Task<void> task);
  void Enter() { ++live_; }
  void Leave() {
    if (--live_ == 0 && closed_) idle_.Set();
  }
  static detail::Detached Run(Gate* gate, Task<void> task) {
    co_await std::move(task);
    gate->Leave();
  }

  size_t live_ = 0;
  bool closed_ = false;
  Event idle_;
};

// Starts `task` at once (it runs on the caller's stack until its first suspension) and tracks it
// in `gate`. Returns false, destroying the unstarted task, if the gate is closed.
inline bool Spawn(Gate& gate, Task<void> task) {
  if (gate.closed()) return false;
  gate.Enter();
  Gate::Run(&gate, std::move(task));
  return true;
}

}  // namespace meshraid::io
