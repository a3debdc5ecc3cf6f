// meshraid serve-member: serves one member file or block device — or any remote member spec
// (io/member_device.h), re-exported — over NBD (a Unix socket by
// default, TCP only on an explicit HOST:PORT) and/or NVMe/TCP (--nvme) until SIGINT or SIGTERM, then stops accepting,
// lets the requests in flight finish, closes the device and exits 0. Signals are read from a
// signalfd through the reactor (tools/signals.h); no work happens in a signal handler.
#include <climits>
#include <cstdlib>
#include <optional>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "export/nbd_server.h"
#include "export/nvme_target.h"
#include "io/file_device.h"
#include "io/member_device.h"
#include "io/reactor.h"
#include "tools/nvme_export.h"
#include "tools/signals.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct ServeArgs {
  std::string nvme;  // ADDR[:PORT]/SUBNQN[?lba=4096]
  NvmeAccess nvme_access;
  std::string listen;
  std::string socket;
  std::string name;
  std::string description;
  bool read_only = false;
  std::string path;
};

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Result<exports::ListenAddress> ChooseAddress(const ServeArgs& a, const std::string& name) {
  if (!a.listen.empty() && !a.socket.empty()) {
    return Status::InvalidArgument("give either --listen or --socket, not both");
  }
  if (!a.listen.empty()) return exports::ListenAddress::ParseTcp(a.listen);
  if (!a.socket.empty()) return exports::ListenAddress::Unix(a.socket);
  const char* dir = std::getenv("XDG_RUNTIME_DIR");
  return exports::ListenAddress::Unix(
      fmt::format("{}/meshraid-{}.sock", dir && *dir ? dir : "/tmp", name.empty() ? "member" : name));
}

// Waits for SIGINT/SIGTERM, then shuts the servers down and closes the device.
io::Task<Status> ServeUntilSignal(io::Reactor& reactor, StopSignals& signals, exports::NbdServer* nbd,
                                  exports::NvmeTarget* nvme, io::BlockDevice& device) {
  const std::string why = co_await signals.Wait(reactor);
  fmt::print(stderr, "meshraid serve-member: {}, stopping\n", why);
  if (nbd != nullptr) co_await nbd->Stop();
  if (nvme != nullptr) co_await nvme->Stop();
  co_return co_await device.Close();
}

Status RunServeMember(const ServeArgs& a) {
  const std::string name = a.name.empty() ? BaseName(a.path) : a.name;
  std::optional<NvmeExportSpec> nvme_spec;
  if (!a.nvme.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(nvme_spec, ParseNvmeExport(a.nvme));
  }
  const bool want_nbd = !nvme_spec || !a.listen.empty() || !a.socket.empty();
  exports::ListenAddress addr;
  if (want_nbd) {
    MESHRAID_ASSIGN_OR_RETURN(addr, ChooseAddress(a, name));
  }

  // Before any thread exists: the signals are then blocked everywhere and read on the reactor.
  MESHRAID_ASSIGN_OR_RETURN(StopSignals signals, StopSignals::Open());
  MESHRAID_ASSIGN_OR_RETURN(std::unique_ptr<io::Reactor> reactor, io::Reactor::Create());
  // A local file or device, or any remote member spec (nbd://, nbd+unix://, nvme+tcp://): the
  // member is then re-exported, e.g. an NBD server behind a delay filter served over NVMe/TCP.
  std::unique_ptr<io::BlockDevice> device;
  if (io::IsRemoteMember(a.path)) {
    if (a.read_only) return Status::InvalidArgument(a.path + ": --read-only is for local files and devices");
    MESHRAID_ASSIGN_OR_RETURN(device, reactor->RunUntilComplete(io::OpenMemberDevice(*reactor, a.path)));
  } else {
    io::FileDevice::Options fo;
    fo.read_only = a.read_only;
    MESHRAID_ASSIGN_OR_RETURN(device, io::FileDevice::Open(*reactor, a.path, fo));
  }
  std::unique_ptr<exports::NbdServer> nbd;
  std::unique_ptr<exports::NvmeTarget> nvme;
  if (want_nbd) {
    exports::Export e;
    e.name = name;
    e.description = a.description.empty() ? "meshraid member " + a.path : a.description;
    e.device = device.get();
    e.read_only = a.read_only;
    exports::ServerOptions so;
    so.listen = addr;
    auto server = exports::NbdServer::Create(*reactor, e, so);
    if (!server.ok()) {
      (void)reactor->RunUntilComplete(device->Close());
      return server.status();
    }
    nbd = std::move(server).value();
    nbd->Start();
  }
  if (nvme_spec) {
    if (a.read_only) {
      (void)reactor->RunUntilComplete(device->Close());
      return Status::InvalidArgument("--read-only is for the NBD export only");
    }
    char real[PATH_MAX];
    const std::string canonical = ::realpath(a.path.c_str(), real) ? std::string(real) : a.path;
    auto target = OpenNvmeTarget(*reactor, *nvme_spec, *device, StableId(canonical), a.nvme_access,
                                 [](std::string_view l) { fmt::print(stderr, "meshraid serve-member: {}\n", l); });
    if (!target.ok()) {
      if (nbd) (void)reactor->RunUntilComplete(nbd->Stop());
      (void)reactor->RunUntilComplete(device->Close());
      return target.status().WithPrefix("--nvme");
    }
    nvme = std::move(target).value();
    nvme->Start();
  }
  return reactor->RunUntilComplete(ServeUntilSignal(*reactor, signals, nbd.get(), nvme.get(), *device));
}

}  // namespace

Runner AddServeMember(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* c = app.add_subcommand("serve-member", "Serve a member file or device over NBD");
  c->add_option("--nvme", a->nvme,
                "Serve over NVMe/TCP: ADDR[:PORT]/SUBNQN[?lba=4096] (port 4420 by default; no TLS)");
  c->add_option("--allow-host", a->nvme_access.allowed_hosts, "Host NQN allowed on --nvme (repeatable)")
      ->allow_extra_args(false);
  c->add_flag("--allow-any-host", a->nvme_access.allow_any_host, "Let any host connect on --nvme");
  c->add_option("--listen", a->listen, "NBD over TCP: HOST:PORT (e.g. 127.0.0.1:10809)");
  c->add_option("--socket", a->socket,
                "Unix socket path (default: $XDG_RUNTIME_DIR or /tmp, meshraid-NAME.sock)");
  c->add_option("--name", a->name, "Export name (default: the file's base name)");
  c->add_option("--description", a->description, "Export description shown by NBD_OPT_LIST");
  c->add_flag("--read-only", a->read_only, "Serve read-only");
  c->add_option("path", a->path, "Member file or block device, or a remote member URI (nbd://, nbd+unix://, nvme+tcp://)")
      ->required();
  return [a] { return RunServeMember(*a); };
}

}  // namespace meshraid::tools
