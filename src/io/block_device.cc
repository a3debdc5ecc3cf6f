#include "io/block_device.h"

#include <fmt/format.h>

namespace meshraid::io {

Status CheckRange(const DeviceInfo& info, const char* op, uint64_t offset, uint64_t length) {
  const uint64_t lbs = info.logical_block_size;
  if (offset % lbs != 0 || length % lbs != 0) {
    return Status::InvalidArgument(fmt::format("{} {} at {} length {}: not aligned to {} bytes", op,
                                               info.name, offset, length, lbs));
  }
  if (offset > info.size_bytes || length > info.size_bytes - offset) {
    return Status::InvalidArgument(fmt::format("{} {} at {} length {}: beyond the end ({} bytes)",
                                               op, info.name, offset, length, info.size_bytes));
  }
  return Status::Ok();
}

}  // namespace meshraid::io
