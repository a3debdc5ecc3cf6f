// Where control sockets live: one Unix socket per running array, <run dir>/<name>.ctl. The run
// dir is /run/meshraid unless MESHRAID_RUN_DIR (tests) or an explicit option says otherwise.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace meshraid::control {

inline constexpr const char* kDefaultRunDir = "/run/meshraid";
inline constexpr const char* kRunDirEnv = "MESHRAID_RUN_DIR";
inline constexpr const char* kSocketSuffix = ".ctl";

// `explicit_dir` if not empty, else $MESHRAID_RUN_DIR if set and not empty, else /run/meshraid.
std::string RunDir(const std::string& explicit_dir = "");

// <run_dir>/<name>.ctl
std::string SocketPath(const std::string& run_dir, const std::string& name);

// An ARRAY argument is a socket path when it contains a '/', else an array name.
bool IsSocketPath(const std::string& array);

// Names of the arrays with a socket in `run_dir`, sorted (live or stale: connect to know).
// A missing directory holds no arrays.
Result<std::vector<std::string>> ListSockets(const std::string& run_dir);

}  // namespace meshraid::control
