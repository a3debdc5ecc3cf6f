// Start(): runs a Task detached and lets the test look at it later, for operations that are
// meant to stay pending for a while (a hung member, a write waiting for a timer).
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "io/task.h"

namespace meshraid::testing {

namespace detail {
// An eagerly started coroutine that frees its own frame when it finishes.
struct Fire {
  struct promise_type {
    Fire get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
  };
};

template <typename T>
struct StartedState {
  std::optional<T> value;
};

template <>
struct StartedState<void> {
  std::optional<bool> value;  // engaged once finished
};

template <typename T>
Fire RunInto(io::Task<T> task, std::shared_ptr<StartedState<T>> state) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(task);
    state->value.emplace(true);
  } else {
    state->value.emplace(co_await std::move(task));
  }
}
}  // namespace detail

// The handle of a task started with Start(). Copyable; the result stays readable as long as
// any copy lives, and the task may outlive every copy.
template <typename T>
class Started {
 public:
  bool done() const { return state_->value.has_value(); }
  // The task's value; only once done(). Not for Task<void>.
  template <typename U = T>
  requires(!std::is_void_v<U>) U& value() const {
    assert(done());
    return *state_->value;
  }

 private:
  template <typename U>
  friend Started<U> Start(io::Task<U> task);
  explicit Started(std::shared_ptr<detail::StartedState<T>> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::StartedState<T>> state_;
};

// Starts `task` at once: it runs on the caller's stack until its first suspension, then on
// whatever executor wakes it. The task must finish before the objects it uses are destroyed
// (a task that never finishes leaks its frame, which LeakSanitizer reports).
template <typename T>
Started<T> Start(io::Task<T> task) {
  auto state = std::make_shared<detail::StartedState<T>>();
  detail::RunInto(std::move(task), state);
  return Started<T>(std::move(state));
}

}  // namespace meshraid::testing
