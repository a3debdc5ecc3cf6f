// ControlHandler: what a control request may do to a running array. The control server never
// calls it from its own thread: each request is posted to the array's reactor thread (see
// ServerOptions::post), so an implementation may touch the array freely.
#pragma once

#include <string>

#include "control/array_status.h"
#include "util/result.h"

namespace meshraid::control {

class ControlHandler {
 public:
  virtual ~ControlHandler() = default;

  // A snapshot of the array ({"cmd":"status"}).
  virtual Result<ArrayStatus> GetStatus() = 0;

  // Changes one run-time setting ({"cmd":"set","key":K,"value":V}); returns a one-line
  // description of what changed. Unknown keys and values are kInvalidArgument, naming what
  // is accepted.
  virtual Result<std::string> Set(const std::string& key, const std::string& value) = 0;
};

}  // namespace meshraid::control
