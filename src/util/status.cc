#include "util/status.h"

#include <cerrno>
#include <cstring>

namespace meshraid {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kCorruption: return "corruption";
    case Code::kIoError: return "I/O error";
    case Code::kNoSpace: return "no space";
    case Code::kUnavailable: return "unavailable";
    case Code::kNotSupported: return "not supported";
    case Code::kBusy: return "busy";
    case Code::kAborted: return "aborted";
    case Code::kTimedOut: return "timed out";
    case Code::kFailedPrecondition: return "failed precondition";
  }
  return "unknown";
}

Status Status::FromErrno(int err, std::string_view context) {
  Code code = Code::kIoError;
  Scope scope = Scope::kRange;
  bool retryable = false;
  switch (err) {
    case 0:
      return Status();
    case ENOENT:
      code = Code::kNotFound;
      scope = Scope::kNone;
      break;
    case EINVAL:
    case EISDIR:
    case ENOTDIR:
    case ENAMETOOLONG:
      code = Code::kInvalidArgument;
      scope = Scope::kNone;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = Code::kFailedPrecondition;
      scope = Scope::kDevice;
      break;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      code = Code::kNoSpace;
      break;
    case EBUSY:
    case EWOULDBLOCK:
      code = Code::kBusy;
      scope = Scope::kNone;
      retryable = true;
      break;
    case EINTR:
      code = Code::kAborted;
      retryable = true;
      break;
    case ETIMEDOUT:
      code = Code::kTimedOut;
      scope = Scope::kDevice;
      retryable = true;
      break;
    case EOPNOTSUPP:
    case ENOSYS:
    case ENOTTY:
      code = Code::kNotSupported;
      scope = Scope::kNone;
      break;
    case ENODEV:
    case ENXIO:
    case ESHUTDOWN:
    case ECONNRESET:
    case ECONNREFUSED:
    case EPIPE:
    case ENOTCONN:
      code = Code::kUnavailable;
      scope = Scope::kDevice;
      break;
    case EIO:
    case EILSEQ:
    case ENODATA:
    default:
      break;
  }
  Status s(code, std::string(context) + ": " + std::strerror(err));
  s.errno_ = err;
  s.scope_ = scope;
  s.retryable_ = retryable;
  return s;
}

std::string Status::ToString() const { return ok() ? "OK" : message_; }

Status Status::WithPrefix(std::string_view prefix) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = std::string(prefix) + ": " + message_;
  return s;
}

}  // namespace meshraid
