// Status: the outcome of an operation, as a value. OK costs nothing; an error carries a code,
// a one-line message, the original errno (if any), a scope and whether a retry may help.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace meshraid {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kCorruption,
  kIoError,
  kNoSpace,
  kUnavailable,
  kNotSupported,
  kBusy,
  kAborted,
  kTimedOut,
  kFailedPrecondition,
};

// What an error is about: one range of a device (repairable from a mirror), or the whole device.
enum class Scope { kNone = 0, kRange, kDevice };

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
  static Status NoSpace(std::string msg) { return {Code::kNoSpace, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status NotSupported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status Busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status Aborted(std::string msg) { return {Code::kAborted, std::move(msg)}; }
  static Status TimedOut(std::string msg) { return {Code::kTimedOut, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }

  // The one place where an errno becomes a Status: code, scope and retryability are derived
  // from the errno (EIO on one request is range-scoped; ENODEV/ENXIO/ESHUTDOWN are device-scoped;
  // EAGAIN/ETIMEDOUT are retryable). `context` names what failed, e.g. "read /dev/sdb at 4096".
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int err() const { return errno_; }  // 0 when the status did not come from an errno
  Scope scope() const { return scope_; }
  bool retryable() const { return retryable_; }
  const std::string& message() const { return message_; }

  // "message" for errors, "OK" for success.
  std::string ToString() const;

  // Returns a copy whose message is "prefix: message" (no-op on OK).
  Status WithPrefix(std::string_view prefix) const;

  // Keeps the first error seen: for fan-outs where several parts can fail.
  void Update(const Status& other) {
    if (ok() && !other.ok()) *this = other;
  }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  int errno_ = 0;
  Scope scope_ = Scope::kNone;
  bool retryable_ = false;
  std::string message_;
};

}  // namespace meshraid

// Propagates a non-OK Status from an expression returning Status.
#define MESHRAID_RETURN_IF_ERROR(expr)          \
  do {                                          \
    ::meshraid::Status _st = (expr);            \
    if (!_st.ok()) return _st;                  \
  } while (0)

// The same inside a coroutine.
#define MESHRAID_CO_RETURN_IF_ERROR(expr)       \
  do {                                          \
    ::meshraid::Status _st = (expr);            \
    if (!_st.ok()) co_return _st;               \
  } while (0)
