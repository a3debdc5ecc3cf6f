#include "control/array_handler.h"

#include <fmt/format.h>

#include "control/status_from_array.h"

namespace meshraid::control {

Result<ArrayStatus> ArrayHandler::GetStatus() { return StatusFromArray(array_); }

Result<std::string> ArrayHandler::Set(const std::string& key, const std::string& value) {
  if (key != kReadPolicyKey) {
    return Status::InvalidArgument(
        fmt::format("unknown setting '{}' (settable: {})", key, kReadPolicyKey));
  }
  std::optional<raid::ReadPolicy> p = raid::ParseReadPolicy(value);
  if (!p) {
    return Status::InvalidArgument(
        fmt::format("{}={}: use latency, md or round-robin", key, value));
  }
  std::string_view before = raid::ReadPolicyName(array_.read_policy());
  array_.set_read_policy(*p);
  return fmt::format("{}: {} -> {}", key, before, raid::ReadPolicyName(*p));
}

}  // namespace meshraid::control
