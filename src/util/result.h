// Result<T>: either a value of type T or a non-OK Status (std::expected arrives only in C++23).
#pragma once

#include <cassert>
#include <optional>
#include <utility>

#include "util/status.h"

namespace meshraid {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result must not hold an OK status without a value");
    if (status_.ok()) status_ = Status::InvalidArgument("Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace meshraid

#define MESHRAID_CONCAT_INNER(a, b) a##b
#define MESHRAID_CONCAT(a, b) MESHRAID_CONCAT_INNER(a, b)

// `MESHRAID_ASSIGN_OR_RETURN(auto x, Expr())` unwraps a Result or returns its Status.
#define MESHRAID_ASSIGN_OR_RETURN(lhs, expr) \
  MESHRAID_ASSIGN_OR_RETURN_IMPL(MESHRAID_CONCAT(_res_, __LINE__), lhs, expr)
#define MESHRAID_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

// The coroutine form (co_return).
#define MESHRAID_CO_ASSIGN_OR_RETURN(lhs, expr) \
  MESHRAID_CO_ASSIGN_OR_RETURN_IMPL(MESHRAID_CONCAT(_res_, __LINE__), lhs, expr)
#define MESHRAID_CO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) co_return tmp.status();                  \
  lhs = std::move(tmp).value()
