// NvmeController: the state of one controller of our target (one association: an admin queue
// and the I/O queues connected to it with its CNTLID) and the admin command set. Pure but for
// the clock and the device flush at shutdown; the session moves the bytes.
//
// What it answers (what the Linux host checks, kernel-peers.md §3): Property Get/Set of CAP,
// VS, CC (EN sets CSTS.RDY; SHN flushes the namespace, then CSTS.SHST = complete) and CSTS;
// Identify CNS 0 (namespace), 1 (controller: CNTLID as the Connect answered, KAS, SGLS,
// MAXCMD, IOCCSZ/IORCSZ, ICDOFF 0, MDTS, VWC, ONCS with DSM and Write Zeroes), 2 (active
// namespaces) and 3 (NGUID and UUID descriptors); Get/Set Features Number of Queues, Async
// Event Configuration, Keep Alive Timer, Volatile Write Cache, Temperature Threshold; Get Log
// Page Error (empty), SMART, Firmware Slot and, on a discovery controller, Discovery; Keep
// Alive (re-arms the timer); Abort (never aborts); Asynchronous Event Requests are held, up to
// AERL + 1. Anything else: Invalid Opcode / Invalid Field.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "export/nvme_subsystem.h"
#include "io/task.h"
#include "proto/nvme_command.h"
#include "proto/nvme_log.h"
#include "proto/nvme_status.h"

namespace meshraid::exports {

class NvmeController {
 public:
  // `discovery`: a discovery controller (its log lists `entries`).
  NvmeController(uint16_t cntlid, const NvmeSubsystem& subsys, const NvmeLimits& limits, bool discovery,
                 std::string hostnqn, std::array<uint8_t, 16> hostid, uint32_t kato_ms, uint64_t now_ns);

  struct Reply {
    proto::nvme::Cqe cqe;        // cid, status, dw0/dw1 (sqhd/sqid filled by the session)
    std::vector<uint8_t> data;   // to the host (C2HData), trimmed to the command's SGL length
    bool hold = false;           // an AER: answered later (or never)
  };

  // One admin command (Fabrics Property Get/Set included; Connect is the target's). `in` is the
  // host's data (in-capsule or via R2T). `now_ns` re-arms the keep-alive timer on Keep Alive.
  io::Task<Reply> Admin(const proto::nvme::Sqe& sqe, std::span<const uint8_t> in, uint64_t now_ns);

  uint16_t cntlid() const { return cntlid_; }
  bool discovery() const { return discovery_; }
  const std::string& hostnqn() const { return hostnqn_; }
  const std::array<uint8_t, 16>& hostid() const { return hostid_; }
  uint32_t kato_ms() const { return kato_ms_; }
  // The host must send something (Keep Alive) before this; 0 when KATO is 0 (no timer).
  uint64_t keep_alive_deadline_ns() const { return kato_ms_ == 0 ? 0 : last_keep_alive_ns_ + kato_ms_ * 2'000'000ull; }
  uint16_t io_queues_granted() const { return io_queues_; }
  bool enabled() const { return enabled_; }
  bool volatile_write_cache() const { return wce_; }

  // The discovery log this controller serves (set by the target).
  proto::nvme::DiscoveryLog discovery_log;
  // Namespace statistics for the SMART log.
  uint64_t bytes_read = 0, bytes_written = 0, read_commands = 0, write_commands = 0;

 private:
  Reply Identify(const proto::nvme::Sqe& sqe);
  Reply Features(const proto::nvme::Sqe& sqe);
  Reply LogPage(const proto::nvme::Sqe& sqe);
  io::Task<Reply> Property(const proto::nvme::Sqe& sqe);
  Reply Refusal(const proto::nvme::Sqe& sqe, proto::nvme::StatusCode sc, bool dnr = true) const;
  uint64_t NamespaceBlocks() const;

  uint16_t cntlid_;
  const NvmeSubsystem& subsys_;
  const NvmeLimits& limits_;
  bool discovery_;
  std::string hostnqn_;
  std::array<uint8_t, 16> hostid_;
  uint32_t kato_ms_;
  uint64_t last_keep_alive_ns_;
  uint32_t cc_ = 0;
  bool enabled_ = false;
  uint8_t shst_ = 0;
  uint16_t io_queues_ = 0;
  uint32_t async_config_ = 0;
  uint32_t temperature_threshold_ = 358;  // 85 °C in kelvin
  bool wce_ = true;
  size_t held_aers_ = 0;
};

}  // namespace meshraid::exports
