// meshraid run: assemble an array from its members and serve it over NBD in the foreground.
// Logs one line per state change; SIGINT/SIGTERM drain in-flight I/O, flush, mark the array
// clean and exit 0.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "control/array_handler.h"
#include "control/run_dir.h"
#include "control/server.h"
#include "export/nbd_server.h"
#include "export/nvme_target.h"
#include "io/clock.h"
#include "io/file_device.h"
#include "io/member_device.h"
#include "io/reactor.h"
#include "raid/array.h"
#include "raid/device_source.h"
#include "tools/nvme_export.h"
#include "tools/signals.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct RunArgs {
  std::string read_policy = "latency";
  std::string barrier = "bucket";
  uint64_t sync_speed_min = raid::SyncOptions{}.speed_min_kib;
  uint64_t sync_speed_max = raid::SyncOptions{}.speed_max_kib;
  std::vector<std::string> exports;  // nbd+unix:// and nvme+tcp:// URIs
  std::string listen;
  tools::NvmeAccess nvme_access;
  std::vector<std::string> members;
};

void Log(const std::string& name, const std::string& line) {
  std::time_t t = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof(when), "%F %T", std::localtime(&t));
  fmt::print(stderr, "{} meshraid[{}]: {}\n", when, name, line);
}

// A member added or re-added at run time (manage): a remote URI is connected, a path opened.
io::Task<Result<std::unique_ptr<io::BlockDevice>>> OpenMember(io::Reactor& reactor, std::string p) {
  io::MemberDeviceOptions o;
  o.log = [p](std::string_view l) { Log("member", p + ": " + std::string(l)); };
  auto open = io::OpenMemberDevice(reactor, p, std::move(o));  // named: see io/task.h
  co_return co_await std::move(open);
}

// "nbd+unix:///NAME?socket=PATH" -> (NAME, PATH).
Result<std::pair<std::string, std::string>> ParseUnixUri(const std::string& uri) {
  const std::string prefix = "nbd+unix:///";
  auto q = uri.find("?socket=");
  if (uri.rfind(prefix, 0) != 0 || q == std::string::npos || q < prefix.size()) {
    return Status::InvalidArgument(
        fmt::format("--export={}: expected nbd+unix:///NAME?socket=PATH", uri));
  }
  return std::pair{uri.substr(prefix.size(), q - prefix.size()), uri.substr(q + 8)};
}

// The part of "homehost:name" after the colon.
std::string ShortName(const std::string& set_name) {
  auto c = set_name.find(':');
  return c == std::string::npos ? set_name : set_name.substr(c + 1);
}

io::Task<Status> Serve(io::Reactor& reactor, raid::Array& array, exports::NbdServer* nbd,
                       exports::NvmeTarget* nvme, control::ControlServer& control,
                       control::ArrayHandler& handler, StopSignals& signals, const std::string& name) {
  if (nbd != nullptr) {
    nbd->Start();
    Log(name, fmt::format("serving {} bytes as NBD export '{}' on {}", array.info().size_bytes,
                          nbd->exported().name, nbd->address()));
  }
  if (nvme != nullptr) nvme->Start();
  std::string sig = co_await signals.Wait(reactor);
  Log(name, sig + ": draining in-flight I/O");
  control.Stop();
  co_await handler.Close();  // a member being added or re-added finishes first
  if (nbd != nullptr) co_await nbd->Stop();
  if (nvme != nullptr) co_await nvme->Stop();
  // Where the reads went, per member (the read balancer at work).
  uint64_t total = 0;
  for (size_t i = 0; i < array.member_count(); ++i) total += array.member_stats(i).reads;
  for (size_t i = 0; i < array.member_count(); ++i) {
    const raid::MemberStats& st = array.member_stats(i);
    Log(name, fmt::format("member {}: {}, {} reads ({:.1f}%), {} bytes read, latency_ewma_ns {}, "
                          "{} read errors corrected",
                          array.member_name(i), raid::MemberStateName(array.member_state(i)),
                          st.reads, total ? 100.0 * double(st.reads) / double(total) : 0.0,
                          st.read_bytes, array.member_latency_ewma_ns(i), st.corrected_errors));
  }
  Status s = co_await array.Flush();
  s.Update(co_await array.Close());
  if (s.ok()) Log(name, "stopped cleanly");
  co_return s;
}

Status RunArray(const RunArgs& a) {
  MESHRAID_ASSIGN_OR_RETURN(StopSignals signals, StopSignals::Open());
  MESHRAID_ASSIGN_OR_RETURN(std::unique_ptr<io::Reactor> reactor, io::Reactor::Create());
  // Assembly decides from the superblocks. Local members are read with plain files that are
  // closed again before they are opened for the running array; remote members (NBD URIs) are
  // connected once and kept.
  std::vector<raid::MemberMetadata> metadata;
  std::vector<std::unique_ptr<io::BlockDevice>> remote(a.members.size());
  // Remote devices must be closed before they are destroyed, on every path out of here.
  struct CloseRemote {
    io::Reactor& r;
    std::vector<std::unique_ptr<io::BlockDevice>>& v;
    ~CloseRemote() {
      for (auto& d : v) {
        if (d) (void)r.RunUntilComplete(d->Close());
      }
    }
  } close_remote{*reactor, remote};
  for (size_t i = 0; i < a.members.size(); ++i) {
    const std::string& p = a.members[i];
    if (io::IsRemoteMember(p)) {
      auto dev = reactor->RunUntilComplete(OpenMember(*reactor, p));
      if (!dev.ok()) return dev.status();
      remote[i] = std::move(dev).value();
      MESHRAID_ASSIGN_OR_RETURN(raid::MemberMetadata m,
                                raid::ReadMemberMetadata(raid::DeviceSource(*reactor, *remote[i], p)));
      metadata.push_back(std::move(m));
    } else {
      MESHRAID_ASSIGN_OR_RETURN(raid::MemberMetadata m, raid::ReadMemberMetadata(p));
      metadata.push_back(std::move(m));
    }
  }
  MESHRAID_ASSIGN_OR_RETURN(raid::AssemblyPlan plan, raid::PlanAssembly(metadata));
  std::string name = ShortName(plan.reference.Name());

  exports::ServerOptions so;
  exports::Export e;
  e.description = fmt::format("meshraid array {} (UUID {})", plan.reference.Name(),
                              format::UuidMdadm(plan.reference.set_uuid));
  std::optional<NvmeExportSpec> nvme_spec;
  std::string nbd_uri;
  for (const std::string& x : a.exports) {
    if (x.rfind("nvme+tcp://", 0) == 0) {
      if (nvme_spec) return Status::InvalidArgument("--export: one nvme+tcp:// export per array");
      MESHRAID_ASSIGN_OR_RETURN(nvme_spec, ParseNvmeExport(x));
    } else {
      if (!nbd_uri.empty()) return Status::InvalidArgument("--export: one NBD export per array");
      nbd_uri = x;
    }
  }
  const bool want_nbd = !nbd_uri.empty() || !a.listen.empty() || !nvme_spec;
  if (!a.listen.empty()) {
    if (!nbd_uri.empty()) return Status::InvalidArgument("give an nbd+unix:// --export or --listen, not both");
    MESHRAID_ASSIGN_OR_RETURN(so.listen, exports::ListenAddress::ParseTcp(a.listen));
    e.name = name;
  } else if (!nbd_uri.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(auto parsed, ParseUnixUri(nbd_uri));
    e.name = parsed.first;
    so.listen = exports::ListenAddress::Unix(parsed.second);
  } else {
    // Next to the control socket: $MESHRAID_RUN_DIR or /run/meshraid.
    std::string dir = control::RunDir();
    ::mkdir(dir.c_str(), 0700);
    e.name = name;
    so.listen = exports::ListenAddress::Unix(dir + "/" + name + ".nbd");
  }
  so.log = [name](std::string_view l) { Log(name, std::string(l)); };

  std::vector<raid::ArrayMember> members;
  for (size_t i = 0; i < metadata.size(); ++i) {
    const raid::MemberPlan& mp = plan.members[i];
    raid::ArrayMember am;
    am.metadata = metadata[i];
    // A rebuild resumes; a spare is kept (rebuilt into a slot when one is missing).
    if (mp.disposition == raid::Disposition::kActive ||
        mp.disposition == raid::Disposition::kRecovering ||
        mp.disposition == raid::Disposition::kSpare) {
      if (remote[i]) {
        am.device = std::move(remote[i]);
      } else {
        MESHRAID_ASSIGN_OR_RETURN(am.device, io::FileDevice::Open(*reactor, metadata[i].path, {}));
      }
    } else {
      if (remote[i]) (void)reactor->RunUntilComplete(remote[i]->Close());
      Log(name, fmt::format("{}: {} ({}), not used", metadata[i].path,
                            raid::DispositionName(mp.disposition), mp.note));
    }
    members.push_back(std::move(am));
  }
  if (plan.degraded > 0) {
    Log(name, fmt::format("array is degraded: {} of {} slots in sync",
                          plan.geometry.raid_disks() - plan.degraded, plan.geometry.raid_disks()));
  }
  if (plan.needs_resync) {
    Log(name, fmt::format("array was not cleanly stopped or never synced (resync_offset {}): "
                          "it needs a resync",
                          plan.reference.resync_offset));
  }
  raid::ArrayOptions ao;
  auto policy = raid::ParseReadPolicy(a.read_policy);
  if (!policy) {
    return Status::InvalidArgument(
        fmt::format("--read-policy={}: use latency, md or round-robin", a.read_policy));
  }
  ao.read_policy = *policy;
  if (a.barrier != "bucket" && a.barrier != "global") {
    return Status::InvalidArgument(fmt::format("--barrier={}: use bucket or global", a.barrier));
  }
  ao.barrier_mode = a.barrier == "global" ? raid::BarrierMode::kGlobal : raid::BarrierMode::kBucket;
  if (a.sync_speed_min == 0 || a.sync_speed_max == 0) {
    return Status::InvalidArgument("--sync-speed-min and --sync-speed-max take KiB/s > 0");
  }
  ao.sync.speed_min_kib = a.sync_speed_min;
  ao.sync.speed_max_kib = a.sync_speed_max;
  ao.log = [name](const std::string& l) { Log(name, l); };
  MESHRAID_ASSIGN_OR_RETURN(
      std::unique_ptr<raid::Array> array,
      raid::Array::Create(*reactor, io::SystemClock::Get(), raid::ReactorSleep(*reactor), plan,
                          std::move(members), std::move(ao)));
  e.device = array.get();
  e.zeroes_fast = false;
  std::unique_ptr<exports::NbdServer> nbd;
  std::unique_ptr<exports::NvmeTarget> nvme;
  if (want_nbd) {
    auto server = exports::NbdServer::Create(*reactor, e, std::move(so));
    if (!server.ok()) {
      (void)reactor->RunUntilComplete(array->Close());
      return server.status();
    }
    nbd = std::move(server).value();
  }
  if (nvme_spec) {
    std::array<uint8_t, 16> id{};
    std::copy(plan.reference.set_uuid.begin(), plan.reference.set_uuid.end(), id.begin());
    auto target = OpenNvmeTarget(*reactor, *nvme_spec, *array, id, a.nvme_access,
                                 [name](std::string_view l) { Log(name, std::string(l)); });
    if (!target.ok()) {
      (void)reactor->RunUntilComplete(array->Close());
      return target.status().WithPrefix("--export=nvme+tcp://");
    }
    nvme = std::move(target).value();
  }
  Log(name, fmt::format("assembled {} with {} members, events {}",
                        plan.geometry.level() == 1 ? "raid1" : "raid10",
                        plan.geometry.raid_disks(), plan.events));
  io::Reactor* r = reactor.get();
  control::ArrayHandler handler(*array, *reactor, [r](const std::string& p) {
    return OpenMember(*r, p);
  });
  control::ServerOptions co;
  co.post = [r](std::function<void()> fn) { r->Post(std::move(fn)); };
  co.log = [name](const std::string& l) { Log(name, "control: " + l); };
  auto ctl = control::ControlServer::Start(name, handler, std::move(co));
  if (!ctl.ok()) {
    (void)reactor->RunUntilComplete(array->Close());
    return ctl.status();
  }
  Log(name, "control socket " + (*ctl)->path());
  return reactor->RunUntilComplete(
      Serve(*reactor, *array, nbd.get(), nvme.get(), **ctl, handler, signals, name));
}

}  // namespace

Runner AddRun(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* c = app.add_subcommand("run", "Assemble an array and serve it over NBD in the foreground");
  c->add_option("--export", a->exports,
                "nbd+unix:///NAME?socket=PATH (default: <run dir>/<name>.nbd, run dir "
                "$MESHRAID_RUN_DIR or /run/meshraid) and/or nvme+tcp://ADDR[:PORT]/SUBNQN[?lba=4096] "
                "(an NVMe/TCP target; no TLS); repeat for both")
      ->allow_extra_args(false);
  c->add_option("--allow-host", a->nvme_access.allowed_hosts,
                "Host NQN allowed to connect to the NVMe/TCP export (repeatable)")
      ->allow_extra_args(false);
  c->add_flag("--allow-any-host", a->nvme_access.allow_any_host,
              "Let any host connect to the NVMe/TCP export");
  c->add_option("--listen", a->listen, "Serve over TCP on ADDR:PORT instead of a Unix socket");
  c->add_option("--read-policy", a->read_policy, "latency (default), md or round-robin");
  c->add_option("--sync-speed-min", a->sync_speed_min,
                "KiB/s a sync action may always use (MD's speed_limit_min, default 1000)");
  c->add_option("--sync-speed-max", a->sync_speed_max,
                "KiB/s a sync action never exceeds (MD's speed_limit_max, default 200000)");
  c->add_option("--barrier", a->barrier,
                "Resync barrier: bucket (default: per 64 MiB bucket) or global (stock RAID10)");
  c->add_option("members", a->members, "Member files or block devices")->required();
  return [a] { return RunArray(*a); };
}

}  // namespace meshraid::tools
