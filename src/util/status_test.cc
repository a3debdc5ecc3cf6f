#include "util/status.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "util/result.h"

namespace meshraid {
namespace {

// The errno → Status table: code, scope and retryability.
TEST(StatusFromErrno, Table) {
  struct Row {
    int err;
    Code code;
    Scope scope;
    bool retryable;
  };
  const Row rows[] = {
      {EIO, Code::kIoError, Scope::kRange, false},
      {EILSEQ, Code::kIoError, Scope::kRange, false},
      {ENOSPC, Code::kNoSpace, Scope::kRange, false},
      {ENODEV, Code::kUnavailable, Scope::kDevice, false},
      {ENXIO, Code::kUnavailable, Scope::kDevice, false},
      {ESHUTDOWN, Code::kUnavailable, Scope::kDevice, false},
      {ECONNRESET, Code::kUnavailable, Scope::kDevice, false},
      {ETIMEDOUT, Code::kTimedOut, Scope::kDevice, true},
      {EAGAIN, Code::kBusy, Scope::kNone, true},
      {ENOENT, Code::kNotFound, Scope::kNone, false},
      {EACCES, Code::kFailedPrecondition, Scope::kDevice, false},
      {EROFS, Code::kFailedPrecondition, Scope::kDevice, false},
      {EOPNOTSUPP, Code::kNotSupported, Scope::kNone, false},
  };
  for (const Row& r : rows) {
    Status s = Status::FromErrno(r.err, "read m0");
    EXPECT_EQ(s.code(), r.code) << r.err;
    EXPECT_EQ(s.scope(), r.scope) << r.err;
    EXPECT_EQ(s.retryable(), r.retryable) << r.err;
    EXPECT_EQ(s.err(), r.err);
    EXPECT_EQ(s.message().rfind("read m0: ", 0), 0u) << s.message();
  }
  EXPECT_TRUE(Status::FromErrno(0, "x").ok());
}

TEST(Status, UpdateKeepsFirstError) {
  Status s;
  s.Update(Status::Ok());
  EXPECT_TRUE(s.ok());
  s.Update(Status::IoError("first"));
  s.Update(Status::Corruption("second"));
  EXPECT_EQ(s.message(), "first");
  EXPECT_EQ(s.WithPrefix("m1").message(), "m1: first");
}

Result<int> Half(int v) {
  if (v % 2) return Status::InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  MESHRAID_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

TEST(Result, PropagatesErrors) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_FALSE(Quarter(6).ok());
  EXPECT_EQ(Quarter(6).status().message(), "odd");
}

}  // namespace
}  // namespace meshraid
