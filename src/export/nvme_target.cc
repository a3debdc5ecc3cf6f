// Our NVMe/TCP target: listener, associations, keep-alive watchdog (see nvme_target.h).
#include "export/nvme_target.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "io/clock.h"
#include "proto/nvme_log.h"
#include "proto/nvme_status.h"

namespace meshraid::exports {

namespace nv = proto::nvme;

namespace {

constexpr uint64_t kWatchdogTickNs = 250'000'000;

uint16_t St(nv::StatusCode c) { return nv::MakeStatus(c, true); }

}  // namespace

NvmeTarget::NvmeTarget(io::Reactor& reactor, NvmeSubsystem subsys, Options options)
    : reactor_(reactor), subsys_(std::move(subsys)), options_(std::move(options)), gate_(reactor) {}

Status NvmeTarget::Check(const NvmeSubsystem& s) {
  if (s.device == nullptr) return Status::InvalidArgument("nvme: a subsystem without a namespace device");
  if (s.nqn.empty() || s.nqn.size() > nv::kMaxNqnLength) {
    return Status::InvalidArgument(fmt::format("nvme: subsystem NQN '{}' must be 1..223 bytes", s.nqn));
  }
  if (s.nqn == nv::kDiscoveryNqn) return Status::InvalidArgument("nvme: the subsystem cannot use the discovery NQN");
  if (s.lba_bytes != 512 && s.lba_bytes != 4096) {
    return Status::InvalidArgument(fmt::format("nvme: LBA size {}: use 512 or 4096", s.lba_bytes));
  }
  const uint32_t dev_lbs = s.device->info().logical_block_size;
  if (dev_lbs > s.lba_bytes || s.lba_bytes % dev_lbs != 0) {
    return Status::InvalidArgument(fmt::format(
        "nvme: the device's logical block size is {} bytes: export it with ?lba={} (or larger)", dev_lbs, dev_lbs));
  }
  if (s.serial.size() > 20) return Status::InvalidArgument("nvme: serial number longer than 20 bytes");
  return Status::Ok();
}

Result<std::unique_ptr<NvmeTarget>> NvmeTarget::CreateUnbound(io::Reactor& reactor, NvmeSubsystem subsys,
                                                              Options options) {
  MESHRAID_RETURN_IF_ERROR(Check(subsys));
  return std::unique_ptr<NvmeTarget>(new NvmeTarget(reactor, std::move(subsys), std::move(options)));
}

Result<std::unique_ptr<NvmeTarget>> NvmeTarget::Create(io::Reactor& reactor, NvmeSubsystem subsys, Options options) {
  if (options.listen.kind != ListenAddress::Kind::kTcp) {
    return Status::InvalidArgument("nvme: the target listens on TCP only (HOST:PORT)");
  }
  const ListenAddress listen = options.listen;
  MESHRAID_ASSIGN_OR_RETURN(std::unique_ptr<NvmeTarget> t,
                            CreateUnbound(reactor, std::move(subsys), std::move(options)));
  MESHRAID_ASSIGN_OR_RETURN(t->listener_, OpenListener(listen));
  return t;
}

NvmeTarget::~NvmeTarget() {
  if (!sessions_.empty()) {
    std::fprintf(stderr, "meshraid: NvmeTarget destroyed with %zu live sessions\n", sessions_.size());
    std::abort();
  }
  CloseListener(listener_);
}

void NvmeTarget::Log(std::string_view line) const {
  if (options_.log) options_.log(line);
  else std::fprintf(stderr, "meshraid: %.*s\n", int(line.size()), line.data());
}

void NvmeTarget::Start() {
  if (started_ || stopping_) return;
  started_ = true;
  if (listener_.fd >= 0) {
    Log(fmt::format("nvme: serving {} (namespace 1: {} bytes, {}-byte LBA) and discovery on {}", subsys_.nqn,
                    subsys_.device->info().size_bytes, subsys_.lba_bytes, listener_.address));
    io::Spawn(gate_, AcceptLoop());
  }
  io::Spawn(gate_, Watchdog());
}

bool NvmeTarget::Adopt(int fd, std::string peer) {
  if (stopping_) {
    ::close(fd);
    return false;
  }
  ++connections_;
  return io::Spawn(gate_, RunSession(std::make_unique<NvmeSession>(*this, reactor_, fd, std::move(peer))));
}

io::Task<void> NvmeTarget::RunSession(std::unique_ptr<NvmeSession> s) {
  sessions_.insert(s.get());
  if (stopping_) s->RequestStop(false);
  co_await s->Run();
  sessions_.erase(s.get());
}

io::Task<void> NvmeTarget::AcceptLoop() {
  // Named first: lambdas inside a co_await operand are destroyed twice by GCC 12 (io/task.h).
  io::Task<void> loop = exports::AcceptLoop(
      reactor_, listener_, accept_slot_, stopping_,
      [this](int fd, std::string peer) { Adopt(fd, fmt::format("#{} from {}", connections_ + 1, peer)); },
      [this](std::string_view l) { Log(fmt::format("nvme: {}", l)); });
  co_await std::move(loop);
}

io::Task<void> NvmeTarget::Watchdog() {
  while (!stopping_) {
    (void)co_await reactor_.Sleep(kWatchdogTickNs, &watchdog_slot_);
    if (stopping_) break;
    const uint64_t now = io::SystemClock::Get().NowNs();
    for (auto& [cntlid, a] : associations_) {
      const uint64_t deadline = a.controller->keep_alive_deadline_ns();
      if (a.ending || deadline == 0 || now <= deadline) continue;
      a.ending = true;
      Log(fmt::format("nvme: controller {} of host {}: no keep alive within {} ms: closing its queues", cntlid,
                      a.controller->hostnqn(), a.controller->kato_ms()));
      for (NvmeSession* s : a.sessions) s->RequestStop(true);
    }
  }
}

io::Task<void> NvmeTarget::Stop() {
  if (!stopping_) {
    stopping_ = true;
    reactor_.Cancel(accept_slot_);
    reactor_.Cancel(watchdog_slot_);
    for (NvmeSession* s : sessions_) s->RequestStop(false);
  }
  co_await gate_.Close();
  if (listener_.fd >= 0) {
    Log(fmt::format("nvme: stopped serving on {}", listener_.address));
    CloseListener(listener_);
  }
}

nv::DiscoveryLog NvmeTarget::Discovery() const {
  nv::DiscoveryLog log;
  log.genctr = 1;
  nv::DiscoveryEntry e;
  const ListenAddress& l = options_.listen;
  e.adrfam = l.host.find(':') != std::string::npos ? nv::kAdrfamIpv6 : nv::kAdrfamIpv4;
  e.subtype = nv::kSubtypeNvm;
  e.treq = nv::kTreqNotRequired;
  e.portid = 1;
  const size_t colon = listener_.address.rfind(':');
  e.trsvcid = colon == std::string::npos ? std::to_string(l.port) : listener_.address.substr(colon + 1);
  e.traddr = l.host;
  e.subnqn = subsys_.nqn;
  log.entries.push_back(e);
  nv::DiscoveryEntry self = e;
  self.subtype = nv::kSubtypeCurrentDiscovery;
  self.subnqn = nv::kDiscoveryNqn;
  log.entries.push_back(self);
  return log;
}

NvmeTarget::Attach NvmeTarget::AttachQueue(NvmeSession* s, const nv::ConnectCommand& c, const nv::ConnectData& d) {
  Attach out;
  const bool discovery = d.subnqn == nv::kDiscoveryNqn;
  if (d.subnqn != subsys_.nqn && !discovery) {
    out.status = St(nv::kScConnectInvalidParameters);
    out.dw0 = nv::ConnectInvalidParameterDw0(256, true);  // SUBNQN
    return out;
  }
  if (!discovery && !subsys_.HostAllowed(d.hostnqn)) {
    out.status = St(nv::kScConnectInvalidHost);
    return out;
  }
  if (c.recfmt != 0) {
    out.status = St(nv::kScConnectIncompatibleFormat);
    return out;
  }
  if (c.qid == 0) {
    if (d.cntlid != nv::kDynamicCntlid) {
      out.status = St(nv::kScConnectInvalidParameters);
      out.dw0 = nv::ConnectInvalidParameterDw0(16, true);  // CNTLID: we only do the dynamic model
      return out;
    }
    if (c.queue_entries < 2 || c.queue_entries > 32) {
      out.status = St(nv::kScConnectInvalidParameters);
      out.dw0 = nv::ConnectInvalidParameterDw0(44, false);  // SQSIZE
      return out;
    }
    uint16_t id = next_cntlid_;
    while (associations_.count(id) != 0 || id == 0 || id >= 0xFFF0) id = uint16_t(id >= 0xFFEF ? 1 : id + 1);
    next_cntlid_ = uint16_t(id + 1);
    Association& a = associations_[id];
    a.controller = std::make_unique<NvmeController>(id, subsys_, options_.limits, discovery, d.hostnqn, d.hostid,
                                                    c.kato_ms, io::SystemClock::Get().NowNs());
    if (discovery) a.controller->discovery_log = Discovery();
    a.admin = s;
    a.sessions.insert(s);
    out.controller = a.controller.get();
    out.dw0 = id;
    return out;
  }
  auto it = associations_.find(d.cntlid);
  if (it == associations_.end() || it->second.ending || it->second.controller->hostnqn() != d.hostnqn ||
      it->second.controller->hostid() != d.hostid || it->second.controller->discovery() != discovery) {
    out.status = St(nv::kScConnectInvalidParameters);
    out.dw0 = nv::ConnectInvalidParameterDw0(16, true);  // CNTLID
    return out;
  }
  Association& a = it->second;
  const uint16_t granted = a.controller->io_queues_granted();
  if (discovery || c.qid > granted || (c.qid < a.io_qids.size() && a.io_qids[c.qid])) {
    out.status = St(nv::kScInvalidQueueIdentifier);
    return out;
  }
  if (c.queue_entries < 2 || c.queue_entries > options_.limits.max_queue_entries) {
    out.status = St(nv::kScConnectInvalidParameters);
    out.dw0 = nv::ConnectInvalidParameterDw0(44, false);  // SQSIZE
    return out;
  }
  if (a.io_qids.size() <= c.qid) a.io_qids.resize(size_t(c.qid) + 1, false);
  a.io_qids[c.qid] = true;
  a.sessions.insert(s);
  out.controller = a.controller.get();
  return out;
}

void NvmeTarget::Detach(NvmeSession* s) {
  NvmeController* c = s->controller();
  if (c == nullptr) return;
  auto it = associations_.find(c->cntlid());
  if (it == associations_.end()) return;
  Association& a = it->second;
  a.sessions.erase(s);
  if (s->qid() != 0 && s->qid() < a.io_qids.size()) a.io_qids[s->qid()] = false;
  if (a.admin == s) {
    a.admin = nullptr;
    if (!a.ending) {
      a.ending = true;
      // During Stop() every session is already stopping softly: its commands in flight are
      // answered before it closes. Cutting the I/O queues hard because the (idle) admin queue
      // closed first would drop those answers.
      for (NvmeSession* other : a.sessions) other->RequestStop(!stopping_);
    }
  }
  if (a.sessions.empty() && a.admin == nullptr) associations_.erase(it);
}

}  // namespace meshraid::exports
