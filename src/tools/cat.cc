// meshraid cat: writes the array's logical contents to stdout, read through the geometry from
// the members that assembly decides are fresh.
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>

#include "raid/offline_array.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

Status WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write to stdout");
    }
    p += w;
    n -= size_t(w);
  }
  return Status::Ok();
}

Status RunCat(const std::vector<std::string>& paths) {
  MESHRAID_ASSIGN_OR_RETURN(raid::OfflineArray array, raid::OfflineArray::Open(paths));
  for (const std::string& w : array.warnings()) fmt::print(stderr, "meshraid cat: {}\n", w);
  constexpr uint64_t kStep = 2048;  // sectors per read (1 MiB)
  std::vector<uint8_t> buf(kStep * 512);
  uint64_t total = array.reader().ArraySectors();
  for (uint64_t s = 0; s < total; s += kStep) {
    uint64_t n = std::min(kStep, total - s);
    std::span<uint8_t> part(buf.data(), n * 512);
    MESHRAID_RETURN_IF_ERROR(array.reader().Read(s, part));
    MESHRAID_RETURN_IF_ERROR(WriteAll(STDOUT_FILENO, part.data(), part.size()));
  }
  return Status::Ok();
}

}  // namespace

Runner AddCat(CLI::App& app) {
  auto paths = std::make_shared<std::vector<std::string>>();
  CLI::App* c = app.add_subcommand("cat", "Write the array's contents to stdout");
  c->add_option("members", *paths, "Member files or block devices")->required();
  return [paths] { return RunCat(*paths); };
}

}  // namespace meshraid::tools
