// The NVMe/TCP export of `run` and `serve-member`: "nvme+tcp://[ADDR[:PORT]]/SUBNQN[?lba=4096]"
// (serve-member's --nvme takes the same without the scheme) turned into our target, bound to
// ADDR (127.0.0.1 when none is given: other hosts only where the user says so), port 4420 by
// default. No TLS.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "export/nvme_target.h"
#include "io/block_device.h"
#include "io/reactor.h"
#include "util/result.h"

namespace meshraid::tools {

struct NvmeExportSpec {
  exports::ListenAddress listen;
  std::string nqn;
  uint32_t lba_bytes = 512;
};

// kInvalidArgument naming what is wrong.
Result<NvmeExportSpec> ParseNvmeExport(std::string_view text);

struct NvmeAccess {
  bool allow_any_host = false;
  std::vector<std::string> allowed_hosts;
};

// Binds the target for `device`; its serial and NGUID come from `id` (an array UUID, or a
// member's stable id), so a host sees the same identity after a restart.
Result<std::unique_ptr<exports::NvmeTarget>> OpenNvmeTarget(io::Reactor& reactor, const NvmeExportSpec& spec,
                                                            io::BlockDevice& device,
                                                            const std::array<uint8_t, 16>& id,
                                                            const NvmeAccess& access, exports::NvmeLog log);

// A stable 16-byte id from a string (a member's canonical path): FNV-1a, twice.
std::array<uint8_t, 16> StableId(std::string_view s);

}  // namespace meshraid::tools
