// RequestExecutor: performs one validated NBD command on the export's BlockDevice and says
// which NBD error (if any) to answer. It adapts NBD semantics to the device: requests larger
// than the device's max_io_bytes are split, FUA becomes write + Flush() on devices without
// FUA, WRITE_ZEROES is emulated by writing zeroes where the device cannot zero, FAST_ZERO is
// refused with ENOTSUP unless the export says the device zeroes fast, TRIM is a hint whose
// "not supported" is success, and CACHE is a no-op. No socket I/O here.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "export/nbd_export.h"
#include "io/task.h"
#include "proto/nbd_request.h"

namespace meshraid::exports {

struct Outcome {
  uint32_t error = 0;   // an NBD_E* value, 0 on success
  std::string message;  // for a structured ERROR chunk and logs
};

class RequestExecutor {
 public:
  explicit RequestExecutor(const Export& e) : export_(e), device_(*e.device) {}

  // `r` passed ValidateRequest. `data` is the READ destination or the WRITE source (exactly
  // r.length bytes; empty for other commands) and must stay valid until this completes.
  io::Task<Outcome> Run(const proto::Request& r, std::span<uint8_t> data);

 private:
  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf);
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf, bool fua);
  io::Task<Status> Zero(uint64_t offset, uint64_t length, bool no_hole, bool fua);
  io::Task<Status> WriteZeroBuffers(uint64_t offset, uint64_t length);
  io::Task<Status> Trim(uint64_t offset, uint64_t length, bool fua);
  uint64_t MaxIo() const;

  const Export& export_;
  io::BlockDevice& device_;
};

}  // namespace meshraid::exports
