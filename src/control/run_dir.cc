#include "control/run_dir.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

namespace meshraid::control {

std::string RunDir(const std::string& explicit_dir) {
  if (!explicit_dir.empty()) return explicit_dir;
  const char* env = std::getenv(kRunDirEnv);
  if (env != nullptr && env[0] != '\0') return env;
  return kDefaultRunDir;
}

std::string SocketPath(const std::string& run_dir, const std::string& name) {
  return run_dir + "/" + name + kSocketSuffix;
}

bool IsSocketPath(const std::string& array) { return array.find('/') != std::string::npos; }

Result<std::vector<std::string>> ListSockets(const std::string& run_dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(run_dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return names;
  if (ec) return Status::FromErrno(ec.value(), fmt::format("cannot list {}", run_dir));
  const std::string suffix = kSocketSuffix;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string file = it->path().filename().string();
    if (file.size() <= suffix.size() || !file.ends_with(suffix)) continue;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    names.push_back(file.substr(0, file.size() - suffix.size()));
  }
  if (ec) return Status::FromErrno(ec.value(), fmt::format("cannot list {}", run_dir));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace meshraid::control
