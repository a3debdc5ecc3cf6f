// What our NVMe/TCP target serves and how: one NVM subsystem with one namespace (an array or a
// member device), its identity, who may connect, and the limits every controller advertises.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "io/block_device.h"

namespace meshraid::exports {

struct NvmeSubsystem {
  std::string nqn;                     // e.g. nqn.2026-12.io.meshraid:<array name>
  io::BlockDevice* device = nullptr;   // namespace 1
  uint32_t lba_bytes = 512;            // 512 (default) or 4096 (?lba=4096); >= device LBS
  std::string serial;                  // Identify Controller SN: up to 20 printable ASCII
  std::string model = "meshraid";      // MN
  std::string firmware;                // FR: up to 8 ASCII
  std::array<uint8_t, 16> nguid{};     // namespace NGUID and UUID, stable per array UUID
  bool allow_any_host = false;
  std::vector<std::string> allowed_hosts;  // host NQNs (ignored when allow_any_host)

  bool HostAllowed(std::string_view hostnqn) const {
    if (allow_any_host) return true;
    for (const std::string& h : allowed_hosts) {
      if (h == hostnqn) return true;
    }
    return false;
  }
};

struct NvmeLimits {
  uint16_t max_queue_entries = 128;          // CAP.MQES + 1 (I/O queues)
  uint16_t max_io_queues = 8;                // Number of Queues granted at most
  uint32_t max_transfer_bytes = 128u << 10;  // MDTS, a power of two × 4 KiB
  uint32_t in_capsule_bytes = 8192;          // I/O queues: IOCCSZ = (this + 64) / 16
  uint32_t max_h2c_data = 128u << 10;        // ICResp MAXH2CDATA
  uint8_t async_event_limit = 4;             // AERL + 1
  uint64_t icreq_timeout_ns = 10'000'000'000;  // a connection that sends no ICReq is closed
  // A session still busy this long after a stop is closed hard (its commands still finish).
  uint64_t stop_grace_ns = 10'000'000'000;
};

using NvmeLog = std::function<void(std::string_view)>;

}  // namespace meshraid::exports
