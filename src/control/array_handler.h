// ArrayHandler: the ControlHandler of a running raid::Array, used by `meshraid run`. Runs on
// the array's reactor thread (the server posts every request there).
// Settings: read-policy = latency | md | round-robin.
#pragma once

#include <string>

#include "control/handler.h"
#include "raid/array.h"

namespace meshraid::control {

inline constexpr const char* kReadPolicyKey = "read-policy";

class ArrayHandler : public ControlHandler {
 public:
  explicit ArrayHandler(raid::Array& array) : array_(array) {}

  Result<ArrayStatus> GetStatus() override;
  Result<std::string> Set(const std::string& key, const std::string& value) override;

 private:
  raid::Array& array_;
};

}  // namespace meshraid::control
