// The NVM command set of our target's I/O queues, over a BlockDevice: Read, Write (FUA),
// Flush, Write Zeroes (DEAC: deallocate, FUA) and Dataset Management (deallocate = discard),
// with the namespace's LBA size. Checks NSID, the LBA range, the transfer size against MDTS and
// the data length against the command; device errors become media-error statuses.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "export/nvme_subsystem.h"
#include "io/task.h"
#include "proto/nvme_command.h"
#include "proto/nvme_status.h"

namespace meshraid::exports {

struct NvmeIoResult {
  uint16_t status = 0;        // the CQE status field
  std::vector<uint8_t> data;  // a read's data
};

// Bytes of data the command moves from the host (Write, DSM ranges): its SGL length; 0 for the
// others. The session fetches them (in-capsule or by R2T) before Execute.
uint32_t NvmeIoDataOut(const proto::nvme::Sqe& sqe);

io::Task<NvmeIoResult> ExecuteNvmeIo(const NvmeSubsystem& subsys, const NvmeLimits& limits,
                                     const proto::nvme::Sqe& sqe, std::span<const uint8_t> data_out);

}  // namespace meshraid::exports
