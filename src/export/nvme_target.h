// NvmeTarget: our NVMe/TCP target (NVMe-oF 1.1, TCP transport 1.0, no TLS) for one NVM
// subsystem with one namespace, plus the discovery controller on the same port
// (nqn.2014-08.org.nvmexpress.discovery: `nvme discover` lists the subsystem).
//
// Associations: an admin-queue Connect (CNTLID 0xFFFF) creates a controller with the next
// CNTLID if the subsystem NQN is ours (or the discovery NQN) and the host NQN is allowed; an
// I/O-queue Connect joins the controller named by its CNTLID when host NQN, host ID and
// subsystem match, its QID is within the queues granted and its size within CAP.MQES. When
// the admin queue's connection ends, the association ends: its I/O queues are closed. A
// controller whose host sends nothing for its keep-alive timeout has all its connections
// closed (kernel-peers §3: the Linux host reconnects). Reactor thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "export/listener.h"
#include "export/nvme_controller.h"
#include "export/nvme_session.h"
#include "export/nvme_subsystem.h"
#include "io/gate.h"
#include "io/reactor.h"
#include "io/task.h"
#include "proto/nvme_fabrics.h"
#include "util/result.h"

namespace meshraid::exports {

class NvmeTarget {
 public:
  struct Options {
    ListenAddress listen;  // TCP; the CLI defaults to 127.0.0.1:4420
    NvmeLimits limits;
    NvmeLog log;           // null: stderr
  };

  // Checks the subsystem (an NQN of at most 223 bytes, a device whose logical block size
  // divides lba_bytes, 512 or 4096, a printable serial of at most 20 bytes) and binds.
  static Result<std::unique_ptr<NvmeTarget>> Create(io::Reactor& reactor, NvmeSubsystem subsys, Options options);
  // Without a listening socket: connections come through Adopt() (tests).
  static Result<std::unique_ptr<NvmeTarget>> CreateUnbound(io::Reactor& reactor, NvmeSubsystem subsys,
                                                           Options options);
  ~NvmeTarget();
  NvmeTarget(const NvmeTarget&) = delete;
  NvmeTarget& operator=(const NvmeTarget&) = delete;

  void Start();
  bool Adopt(int fd, std::string peer);
  // Stops accepting, asks every session to stop (in-flight commands finish), waits for them.
  io::Task<void> Stop();

  const std::string& address() const { return listener_.address; }
  const NvmeSubsystem& subsystem() const { return subsys_; }
  const NvmeLimits& limits() const { return options_.limits; }
  size_t controllers() const { return associations_.size(); }
  size_t live_sessions() const { return sessions_.size(); }
  uint64_t connections() const { return connections_; }

 private:
  friend class NvmeSession;
  struct Association {
    std::unique_ptr<NvmeController> controller;
    NvmeSession* admin = nullptr;
    std::set<NvmeSession*> sessions;
    std::vector<bool> io_qids;  // connected I/O queue IDs
    bool ending = false;
  };
  struct Attach {
    uint16_t status = 0;  // CQE status (0: success)
    uint32_t dw0 = 0;     // CNTLID, or the invalid parameter's offset
    NvmeController* controller = nullptr;
  };

  NvmeTarget(io::Reactor& reactor, NvmeSubsystem subsys, Options options);
  static Status Check(const NvmeSubsystem& s);
  Attach AttachQueue(NvmeSession* s, const proto::nvme::ConnectCommand& c, const proto::nvme::ConnectData& d);
  void Detach(NvmeSession* s);
  void Log(std::string_view line) const;
  proto::nvme::DiscoveryLog Discovery() const;
  io::Task<void> AcceptLoop();
  io::Task<void> Watchdog();
  io::Task<void> RunSession(std::unique_ptr<NvmeSession> s);

  io::Reactor& reactor_;
  NvmeSubsystem subsys_;
  Options options_;
  Listener listener_;
  io::Gate gate_;
  std::set<NvmeSession*> sessions_;
  std::map<uint16_t, Association> associations_;
  uint16_t next_cntlid_ = 1;
  uint64_t connections_ = 0;
  io::CancelSlot accept_slot_;
  io::CancelSlot watchdog_slot_;
  bool started_ = false;
  bool stopping_ = false;
};

}  // namespace meshraid::exports
