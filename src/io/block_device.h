// BlockDevice: the one interface every member backend (file/block device over io_uring, NBD
// client, memory) and every test decorator (delay, fault, crash, counting) implements.
// All operations are asynchronous coroutines that run on the reactor thread that owns the
// device; buffers must stay valid until the returned Task completes. Offsets and lengths are in
// bytes and must be multiples of info().logical_block_size.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "io/task.h"
#include "util/status.h"

namespace meshraid::io {

struct DeviceInfo {
  std::string name;                   // for messages: a path or an NBD URI
  uint64_t size_bytes = 0;
  uint32_t logical_block_size = 512;
  uint32_t physical_block_size = 4096;
  uint32_t max_io_bytes = 32u << 20;  // callers split larger requests
  bool can_fua = true;
  bool can_flush = true;
  bool can_discard = false;
  bool can_write_zeroes = false;
  bool rotational = false;
};

// The checks every backend applies to a request: offset and length are multiples of the
// logical block size and the range lies inside the device. Errors are kInvalidArgument naming
// the device, the operation and the range.
Status CheckRange(const DeviceInfo& info, const char* op, uint64_t offset, uint64_t length);

enum class WriteFlags : uint32_t { kNone = 0, kFua = 1 };
// kNoHole: the range must stay allocated. kDeallocate: release the space where the backend can
// (punch a hole, unmap) while still reading back zeroes; the array's discard uses it.
enum class ZeroFlags : uint32_t { kNone = 0, kNoHole = 1, kFua = 2, kDeallocate = 4 };

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual const DeviceInfo& info() const = 0;

  // Reads exactly buf.size() bytes at `offset`. A short read is an error.
  virtual Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) = 0;
  // Writes exactly buf.size() bytes at `offset`; with kFua the data is durable on completion.
  virtual Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                             WriteFlags flags = WriteFlags::kNone) = 0;
  // Makes every write completed before this call durable.
  virtual Task<Status> Flush() = 0;
  // Hints that the range is unused (may read back as anything afterwards).
  virtual Task<Status> Discard(uint64_t offset, uint64_t length) = 0;
  // The range reads back as zeroes afterwards.
  virtual Task<Status> WriteZeroes(uint64_t offset, uint64_t length,
                                   ZeroFlags flags = ZeroFlags::kNone) = 0;
  // Releases the device (closes files, disconnects). Pending operations must have completed.
  virtual Task<Status> Close() { co_return Status::Ok(); }
};

// Forwards everything to a target; decorators override what they change.
class BlockDeviceWrapper : public BlockDevice {
 public:
  explicit BlockDeviceWrapper(std::unique_ptr<BlockDevice> target) : target_(std::move(target)) {}

  const DeviceInfo& info() const override { return target_->info(); }
  Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    return target_->Read(offset, buf);
  }
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf, WriteFlags flags) override {
    return target_->Write(offset, buf, flags);
  }
  Task<Status> Flush() override { return target_->Flush(); }
  Task<Status> Discard(uint64_t offset, uint64_t length) override {
    return target_->Discard(offset, length);
  }
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length, ZeroFlags flags) override {
    return target_->WriteZeroes(offset, length, flags);
  }
  Task<Status> Close() override { return target_->Close(); }

  BlockDevice& target() { return *target_; }

 private:
  std::unique_ptr<BlockDevice> target_;
};

}  // namespace meshraid::io
