// meshraid grow --level=10|1 [--chunk=SIZE] MEMBER...: RAID1 <-> RAID10 takeover of a stopped
// array (superblocks only, no data moves). A running array is changed through its control
// socket: meshraid grow ARRAY --level=10.
#include <sys/stat.h>

#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "control/client.h"
#include "raid/takeover_offline.h"
#include "tools/verbs.h"
#include "util/size.h"

namespace meshraid::tools {
namespace {

struct GrowArgs {
  int level = 0;
  std::string chunk;
  std::string run_dir;
  std::vector<std::string> targets;  // members (offline) or one array name (online)
};

Result<uint64_t> ChunkSectors(const std::string& text) {
  if (text.empty()) return uint64_t{0};
  // Like create: a bare number is KiB.
  const std::string& t = text;
  MESHRAID_ASSIGN_OR_RETURN(uint64_t bytes, ParseSize(t, 1024));
  if (bytes % 512 != 0) return Status::InvalidArgument(fmt::format("--chunk={}: not a multiple of 512 bytes", text));
  return bytes / 512;
}

bool IsPath(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Through the running array's control socket.
Status GrowOnline(const std::string& run_dir, const std::vector<std::string>& targets, int level,
                  uint64_t chunk) {
  if (targets.size() != 1) {
    return Status::InvalidArgument(fmt::format(
        "{}: not a member path; give one running array's name, or the stopped members", targets[0]));
  }
  control::ClientOptions co;
  co.run_dir = run_dir;
  co.timeout_ms = 60'000;  // the array drains its in-flight I/O first
  nlohmann::json req{{"cmd", "grow"}, {"level", level}, {"chunk_sectors", chunk}};
  MESHRAID_ASSIGN_OR_RETURN(nlohmann::json r, control::Call(targets[0], req, co));
  fmt::print("meshraid: {}: {}\n", targets[0], r.value("message", std::string("done")));
  return Status::Ok();
}

Status RunGrow(const GrowArgs& a) {
  if (a.level != 1 && a.level != 10) {
    return Status::InvalidArgument("--level: only 1 and 10 (RAID1 <-> RAID10 takeover)");
  }
  MESHRAID_ASSIGN_OR_RETURN(uint64_t chunk, ChunkSectors(a.chunk));
  bool offline = true;
  for (const std::string& t : a.targets) offline &= IsPath(t);
  if (!offline) {
    return GrowOnline(a.run_dir, a.targets, a.level, chunk);
  }
  MESHRAID_ASSIGN_OR_RETURN(
      raid::OfflineTakeover t,
      raid::TakeoverStoppedArray(a.targets, a.level, chunk, uint64_t(std::time(nullptr))));
  fmt::print("meshraid: takeover to raid{} done: layout {:#x}, chunk {} KiB, events {}\n",
             t.plan.level, t.plan.layout, t.plan.chunk_sectors / 2, t.events);
  for (size_t i = 0; i < a.targets.size(); ++i) {
    fmt::print("  {}: {} bytes of metadata rewritten, no data moved\n", a.targets[i],
               t.bytes_written[i]);
  }
  return Status::Ok();
}

}  // namespace

Runner AddGrow(CLI::App& app) {
  auto a = std::make_shared<GrowArgs>();
  CLI::App* c = app.add_subcommand(
      "grow", "RAID1 <-> RAID10 takeover: of stopped MEMBERs, or of a running ARRAY");
  c->add_option("-l,--level", a->level, "New level: 10 (from a RAID1) or 1 (from a RAID10 near=N)")
      ->required();
  c->add_option("-c,--chunk", a->chunk,
                "RAID10 chunk (KiB, or with K/M suffix; default 512K halved until it divides the "
                "member size)");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("targets", a->targets, "MEMBER... of a stopped array, or ARRAY (running)")->required();
  return [a] { return RunGrow(*a); };
}

}  // namespace meshraid::tools
