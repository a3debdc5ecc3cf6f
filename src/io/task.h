// Task<T>: the coroutine type of the whole engine. A Task is lazy (its body starts only when
// awaited), move-only and owns its frame. Completion hands control back to the awaiter by
// symmetric transfer. Starting is done by a nested resume() whose synchronous completion is
// detected (await_suspend returns false), so loops of immediately-completing awaits keep the
// stack flat even where the compiler does not turn symmetric transfer into a tail call (GCC 12
// with -fsanitize=address does not).
// Errors are values (Status/Result); an exception escaping a coroutine calls std::terminate.
// Also here: Executor (where ready coroutines are resumed) and Yield().
//
// GCC 12 coroutine bugs seen in this code base (keep to these rules):
//  - never put a lambda or a braced aggregate with a non-trivial destructor inside a co_await
//    operand (`co_await F([p]{...})`, `co_await F(Holder{p})`): it is destroyed twice; name it
//    first;
//  - never write `x = cond ? a : co_await f();` when the other branch builds a non-trivial
//    temporary: the temporary of the branch not taken is destroyed; use if/else;
//  - a braced init-list as a coroutine argument, or a C array captured by a coroutine lambda,
//    does not compile ("array used as initializer").
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace meshraid::io {

template <typename T = void>
class Task;

namespace detail {

// Resumes the awaiter of a finished task, unless the task finished while its awaiter was still
// starting it (the awaiter then simply does not suspend).
struct FinalAwaiter {
  bool await_ready() const noexcept { return false; }
  template <typename Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
    std::coroutine_handle<> next = h.promise().continuation;
    if (h.promise().starting || !next) return std::noop_coroutine();
    return next;
  }
  void await_resume() const noexcept {}
};

struct PromiseBase {
  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }

  std::coroutine_handle<> continuation;
  bool starting = false;  // true while the awaiter's await_suspend runs the body
};

template <typename T>
struct TaskPromise : PromiseBase {
  Task<T> get_return_object() noexcept;
  template <typename U>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) { value.emplace(std::forward<U>(v)); }
  T Take() {
    assert(value.has_value());
    return std::move(*value);
  }

  std::optional<T> value;
};

template <>
struct TaskPromise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void Take() const noexcept {}
};

}  // namespace detail

// A lazily started coroutine producing a T. Await it exactly once (`co_await std::move(t)` or
// `co_await Foo()`); destroying a Task that was never awaited destroys its unstarted frame.
// A Task must not be destroyed while its body is suspended (it would strand whatever the body
// waits for); awaiting guarantees this, as the awaiter resumes only after the body finished.
template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;  // empty; only for containers and moved-from slots
  explicit Task(Handle h) noexcept : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      Reset();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  bool valid() const noexcept { return static_cast<bool>(h_); }
  bool done() const noexcept { return h_ && h_.done(); }

  class Awaiter {
   public:
    explicit Awaiter(Handle h) noexcept : h_(h) {}
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> caller) noexcept {
      auto& p = h_.promise();
      p.continuation = caller;
      p.starting = true;
      h_.resume();                  // runs the body until it finishes or first suspends
      if (h_.done()) return false;  // finished synchronously: continue the caller at once
      p.starting = false;           // it will resume `caller` when it finishes
      return true;
    }
    T await_resume() { return h_.promise().Take(); }

   private:
    Handle h_;
  };

  // Starts the task and suspends the caller until it finishes; yields its value.
  Awaiter operator co_await() && noexcept {
    assert(h_ && !h_.done() && "awaiting an empty or finished Task");
    return Awaiter(h_);
  }
  Awaiter operator co_await() & noexcept { return std::move(*this).operator co_await(); }

  // For detached starters (Spawn, RunUntilComplete): releases ownership of the frame.
  Handle Release() noexcept { return std::exchange(h_, {}); }

 private:
  void Reset() noexcept {
    if (h_) h_.destroy();
    h_ = {};
  }

  Handle h_;
};

namespace detail {
template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

// Where ready coroutines are resumed. The Reactor is one; tests may use a QueueExecutor.
// Schedule() never resumes inline: the handle runs later, from the executor's loop, so wake-ups
// (Event::Set, Semaphore::Release, device completions) never recurse.
class Executor {
 public:
  virtual ~Executor() = default;
  // Queues `h` to be resumed on the executor's thread. Must be called on that thread.
  virtual void Schedule(std::coroutine_handle<> h) = 0;
};

// `co_await Yield(ex)` suspends the caller and requeues it at the back of `ex`'s run queue.
struct Yield {
  explicit Yield(Executor& ex) noexcept : executor(ex) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const { executor.Schedule(h); }
  void await_resume() const noexcept {}

  Executor& executor;
};

}  // namespace meshraid::io
