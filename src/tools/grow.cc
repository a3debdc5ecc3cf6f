// meshraid grow --level=10|1 [--chunk=SIZE] MEMBER...: RAID1 <-> RAID10 takeover of a stopped
// array (superblocks only, no data moves). A running array is changed through its control
// socket: meshraid grow ARRAY --level=10, and grown onto more members (reshape):
// meshraid grow ARRAY --raid-devices=N [--chunk=SIZE] [--add MEMBER...], each --add member
// added first exactly as `meshraid manage ARRAY --add MEMBER` adds it.
#include <sys/stat.h>

#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "control/client.h"
#include "control/protocol.h"
#include "raid/takeover_offline.h"
#include "tools/verbs.h"
#include "util/size.h"

namespace meshraid::tools {
namespace {

struct GrowArgs {
  int level = 0;
  int raid_devices = 0;
  std::string chunk;
  std::string run_dir;
  std::vector<std::string> add;      // members added (as spares) before a reshape
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

Status OneArray(const std::vector<std::string>& targets) {
  if (targets.size() == 1) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "{}: not a member path; give one running array's name, or the stopped members", targets[0]));
}

// Through the running array's control socket.
Status GrowOnline(const std::string& run_dir, const std::vector<std::string>& targets, int level,
                  uint64_t chunk) {
  MESHRAID_RETURN_IF_ERROR(OneArray(targets));
  control::ClientOptions co;
  co.run_dir = run_dir;
  co.timeout_ms = 60'000;  // the array drains its in-flight I/O first
  MESHRAID_ASSIGN_OR_RETURN(nlohmann::json r,
                            control::Call(targets[0], control::TakeoverRequest(level, chunk), co));
  fmt::print("meshraid: {}: {}\n", targets[0], r.value("message", std::string("done")));
  return Status::Ok();
}

// The reshape of a running array: the --add members first (as manage --add does it), then the
// request; the data then moves in the background (meshraid stat / detail show the progress).
Status ReshapeOnline(const GrowArgs& a, uint64_t chunk) {
  MESHRAID_RETURN_IF_ERROR(OneArray(a.targets));
  const std::string& array = a.targets[0];
  for (size_t i = 0; i < a.add.size(); ++i) {
    Result<std::string> added = ManageAdd(array, a.add[i], a.run_dir);
    if (!added.ok()) {
      std::string before = i == 0 ? "" : fmt::format(" ({} added before it stay spares)", i);
      return Status::FailedPrecondition(fmt::format("--add: {}; no reshape started{}",
                                                    added.status().message(), before));
    }
    fmt::print("meshraid: {}: {}\n", array, *added);
  }
  control::ClientOptions co;
  co.run_dir = a.run_dir;
  co.timeout_ms = 60'000;  // the array drains its in-flight I/O and writes superblocks
  Result<nlohmann::json> r =
      control::Call(array, control::ReshapeRequest(a.raid_devices, chunk), co);
  if (!r.ok()) {
    if (a.add.empty()) return r.status();
    return Status::FailedPrecondition(
        fmt::format("{} (the members added stay spares)", r.status().message()));
  }
  fmt::print("meshraid: {}: {}\n", array, r->value("message", std::string("reshape started")));
  return Status::Ok();
}

Status RunGrow(const GrowArgs& a) {
  if (a.level != 0 && a.raid_devices != 0) {
    return Status::InvalidArgument(
        "give --level (takeover) or --raid-devices (reshape), not both: take over first, then "
        "grow");
  }
  if (a.level == 0 && a.raid_devices == 0) {
    return Status::InvalidArgument("give --level=10|1 (takeover) or --raid-devices=N (reshape)");
  }
  if (!a.add.empty() && a.raid_devices == 0) {
    return Status::InvalidArgument("--add goes with --raid-devices (use manage --add otherwise)");
  }
  if (a.raid_devices < 0) return Status::InvalidArgument("--raid-devices takes a number > 0");
  MESHRAID_ASSIGN_OR_RETURN(uint64_t chunk, ChunkSectors(a.chunk));
  bool offline = true;
  for (const std::string& t : a.targets) offline &= IsPath(t);
  if (a.raid_devices != 0) {
    if (offline) {
      return Status::NotSupported(fmt::format(
          "--raid-devices: a stopped array cannot be reshaped; run it first (meshraid run "
          "MEMBER...) and grow it by name (meshraid grow NAME --raid-devices={})",
          a.raid_devices));
    }
    return ReshapeOnline(a, chunk);
  }
  if (a.level != 1 && a.level != 10) {
    return Status::InvalidArgument("--level: only 1 and 10 (RAID1 <-> RAID10 takeover)");
  }
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
      "grow",
      "RAID1 <-> RAID10 takeover (of stopped MEMBERs or a running ARRAY), or growing a running "
      "RAID10 onto more members (reshape)");
  c->add_option("-l,--level", a->level, "New level: 10 (from a RAID1) or 1 (from a RAID10 near=N)");
  c->add_option("-n,--raid-devices", a->raid_devices,
                "Reshape a running RAID10 near array onto N members (spares fill the new slots)");
  c->add_option("--add", a->add,
                "With --raid-devices: add these members first (as manage --add does)");
  c->add_option("-c,--chunk", a->chunk,
                "RAID10 chunk (KiB, or with K/M suffix). Takeover: default 512K halved until it "
                "divides the member size; reshape: the new chunk (default: unchanged)");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("targets", a->targets, "MEMBER... of a stopped array, or ARRAY (running)")->required();
  return [a] { return RunGrow(*a); };
}

}  // namespace meshraid::tools
