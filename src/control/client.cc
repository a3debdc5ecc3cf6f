#include "control/client.h"

#include <cerrno>

#include <fmt/format.h>

#include "control/protocol.h"
#include "control/run_dir.h"
#include "control/unix_socket.h"

namespace meshraid::control {
namespace {

std::string Seconds(uint64_t ms) {
  return ms % 1000 == 0 ? fmt::format("{} s", ms / 1000) : fmt::format("{} ms", ms);
}

// The one-line error for a failed connect to `array`'s socket at `path`.
Status ConnectError(const Status& s, const std::string& array, const std::string& path,
                    const std::string& dir) {
  bool by_path = IsSocketPath(array);
  switch (s.err()) {
    case ENOENT:
      return by_path ? Status::NotFound(fmt::format("no array is running at {} (no such socket)", path))
                     : Status::NotFound(fmt::format(
                           "no array named {} is running (no socket in {})", array, dir));
    case ECONNREFUSED:
      return Status::Unavailable(fmt::format(
          "array {} is not running (stale socket {}: nothing listens on it)", array, path));
    case EACCES:
    case EPERM:
      return Status::FailedPrecondition(fmt::format(
          "{}: permission denied (the control socket belongs to the user running the array)",
          path));
    case EAGAIN:
      return Status::Busy(fmt::format("array {} is busy (too many control connections)", array));
    default:
      return s.WithPrefix(fmt::format("array {}", array));
  }
}

}  // namespace

Result<nlohmann::json> Call(const std::string& array, const nlohmann::json& request,
                            const ClientOptions& options) {
  std::string dir = RunDir(options.run_dir);
  std::string path = IsSocketPath(array) ? array : SocketPath(dir, array);
  uint64_t deadline = NowMs() + options.timeout_ms;
  Result<Fd> fd = ConnectUnix(path);
  if (!fd.ok()) return ConnectError(fd.status(), array, path, dir);
  Status w = WriteAll(fd->get(), request.dump() + "\n", deadline);
  Result<std::string> line =
      w.ok() ? ReadLine(fd->get(), deadline, kMaxLineBytes) : Result<std::string>(w);
  if (!line.ok()) {
    if (line.status().code() == Code::kTimedOut) {
      return Status::TimedOut(
          fmt::format("array {} did not answer within {}", array, Seconds(options.timeout_ms)));
    }
    return line.status().WithPrefix(fmt::format("array {} ({})", array, path));
  }
  nlohmann::json response = nlohmann::json::parse(*line, nullptr, /*allow_exceptions=*/false);
  if (response.is_discarded()) {
    return Status::Corruption(fmt::format("array {}: the answer is not JSON", array));
  }
  return CheckResponse(response);
}

Result<ArrayStatus> QueryStatus(const std::string& array, const ClientOptions& options) {
  MESHRAID_ASSIGN_OR_RETURN(nlohmann::json r, Call(array, StatusRequest(), options));
  if (!r.contains("status")) return Status::Corruption(fmt::format("array {}: no status", array));
  return ArrayStatusFromJson(r["status"]);
}

namespace {

std::string Message(const nlohmann::json& r) {
  auto it = r.find("message");
  return it != r.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<std::string> SetValue(const std::string& array, const std::string& key,
                             const std::string& value, const ClientOptions& options) {
  MESHRAID_ASSIGN_OR_RETURN(nlohmann::json r, Call(array, SetRequest(key, value), options));
  return Message(r);
}

Result<std::string> RequestAction(const std::string& array, const std::string& action,
                                  const ClientOptions& options) {
  MESHRAID_ASSIGN_OR_RETURN(nlohmann::json r, Call(array, ActionRequest(action), options));
  return Message(r);
}

Result<std::string> ManageMember(const std::string& array, const ManageRequest& request,
                                 const ClientOptions& options) {
  MESHRAID_ASSIGN_OR_RETURN(nlohmann::json r, Call(array, ManageRequestJson(request), options));
  return Message(r);
}

Result<std::vector<std::string>> ListArrays(const ClientOptions& options) {
  return ListSockets(RunDir(options.run_dir));
}

Result<std::string> DefaultArray(const ClientOptions& options) {
  std::string dir = RunDir(options.run_dir);
  MESHRAID_ASSIGN_OR_RETURN(std::vector<std::string> names, ListSockets(dir));
  std::vector<std::string> live;
  for (const std::string& n : names) {
    Result<nlohmann::json> r = Call(n, nlohmann::json{{"cmd", "ping"}}, options);
    if (r.ok() || r.status().code() != Code::kUnavailable) live.push_back(n);
  }
  if (live.size() == 1) return live[0];
  if (live.empty()) return Status::NotFound(fmt::format("no array is running (no socket in {})", dir));
  std::string all;
  for (const std::string& n : live) all += (all.empty() ? "" : ", ") + n;
  return Status::InvalidArgument(fmt::format("{} arrays are running ({}): name one", live.size(), all));
}

}  // namespace meshraid::control
