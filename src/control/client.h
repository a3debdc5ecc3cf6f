// The control socket's client, used by the CLI verbs: find a running array by name or socket
// path, send one request, read its answer, with a timeout and errors that say what is wrong
// ("no array named r1 is running (no socket in /run/meshraid)").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/array_status.h"
#include "control/handler.h"
#include "util/result.h"

namespace meshraid::control {

struct ClientOptions {
  std::string run_dir;        // "" → RunDir()
  uint64_t timeout_ms = 5000; // for connecting, sending and the answer together
};

// Sends `request` to the array named `array` (or to the socket at `array` if it contains a
// '/') and returns the successful response. Errors: kNotFound (no socket), kUnavailable (a
// stale socket: the array is not running), kTimedOut, or the error the array answered.
Result<nlohmann::json> Call(const std::string& array, const nlohmann::json& request,
                            const ClientOptions& options = {});

Result<ArrayStatus> QueryStatus(const std::string& array, const ClientOptions& options = {});
// Returns the array's description of the change.
Result<std::string> SetValue(const std::string& array, const std::string& key,
                             const std::string& value, const ClientOptions& options = {});

// Writes the array's sync_action (idle, frozen, resync, recover, check, repair).
Result<std::string> RequestAction(const std::string& array, const std::string& action,
                                  const ClientOptions& options = {});
// Adds, fails, removes, re-adds or replaces a member; waits until the array has done it (not
// for the rebuild that may follow).
Result<std::string> ManageMember(const std::string& array, const ManageRequest& request,
                                 const ClientOptions& options = {});

// Names of the arrays with a socket in the run dir (some may be stale).
Result<std::vector<std::string>> ListArrays(const ClientOptions& options = {});
// The array a verb means when given none: the only one running, else an error naming them.
Result<std::string> DefaultArray(const ClientOptions& options = {});

}  // namespace meshraid::control
