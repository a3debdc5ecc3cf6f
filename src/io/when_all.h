// WhenAll: fan-out. Starts every task of a vector concurrently and completes when all finished,
// with the results in input order (not completion order). The RAID layer writes to N members
// this way.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <utility>
#include <vector>

#include "io/task.h"
#include "util/status.h"

namespace meshraid::io {

namespace detail {

struct WhenAllState {
  size_t remaining = 0;  // unfinished children, +1 while the starter is still starting them
  std::coroutine_handle<> parent;
};

// Runs one task; its final suspend resumes the parent if it was the last one to finish.
class WhenAllChild {
 public:
  struct promise_type {
    struct Final {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        WhenAllState* s = h.promise().state;
        return --s->remaining == 0 ? s->parent : std::noop_coroutine();
      }
      void await_resume() const noexcept {}
    };
    WhenAllChild get_return_object() noexcept {
      return WhenAllChild(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    Final final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }

    WhenAllState* state = nullptr;
  };

  explicit WhenAllChild(std::coroutine_handle<promise_type> h) : h_(h) {}
  WhenAllChild(WhenAllChild&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  WhenAllChild& operator=(WhenAllChild&&) = delete;
  ~WhenAllChild() {
    if (h_) h_.destroy();
  }

  void Start(WhenAllState* state) {
    h_.promise().state = state;
    h_.resume();
  }

 private:
  std::coroutine_handle<promise_type> h_;
};

template <typename T>
WhenAllChild RunChild(Task<T> task, std::optional<T>* out) {
  out->emplace(co_await std::move(task));
}
inline WhenAllChild RunChild(Task<void> task) { co_await std::move(task); }

// Starts all children; suspends the parent unless they all finished synchronously.
class WhenAllAwaiter {
 public:
  explicit WhenAllAwaiter(std::vector<WhenAllChild>& children) : children_(children) {}
  bool await_ready() const noexcept { return children_.empty(); }
  bool await_suspend(std::coroutine_handle<> parent) {
    state_.parent = parent;
    state_.remaining = children_.size() + 1;
    for (WhenAllChild& c : children_) c.Start(&state_);
    return --state_.remaining != 0;
  }
  void await_resume() const noexcept {}

 private:
  std::vector<WhenAllChild>& children_;
  WhenAllState state_;
};

}  // namespace detail

// Runs all `tasks` concurrently; results[i] is the value of tasks[i]. The tasks are started in
// order, each running until its first suspension before the next starts.
template <typename T>
Task<std::vector<T>> WhenAll(std::vector<Task<T>> tasks) {
  std::vector<std::optional<T>> slots(tasks.size());
  std::vector<detail::WhenAllChild> children;
  children.reserve(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    children.push_back(detail::RunChild(std::move(tasks[i]), &slots[i]));
  }
  co_await detail::WhenAllAwaiter(children);
  std::vector<T> results;
  results.reserve(slots.size());
  for (std::optional<T>& v : slots) results.push_back(std::move(*v));
  co_return results;
}

inline Task<void> WhenAll(std::vector<Task<void>> tasks) {
  std::vector<detail::WhenAllChild> children;
  children.reserve(tasks.size());
  for (Task<void>& t : tasks) children.push_back(detail::RunChild(std::move(t)));
  co_await detail::WhenAllAwaiter(children);
}

// Runs all `tasks` concurrently, waits for every one of them, and returns the first error in
// input order (OK if all succeeded).
inline Task<Status> WhenAllOk(std::vector<Task<Status>> tasks) {
  std::vector<Status> results = co_await WhenAll(std::move(tasks));
  Status first;
  for (const Status& s : results) first.Update(s);
  co_return first;
}

}  // namespace meshraid::io
