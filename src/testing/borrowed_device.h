// BorrowedDevice: a BlockDevice that forwards to one it does not own, so a test can keep a
// MemDevice (a member's "disk") across the life of the stacks built over it — e.g. crash an
// array, destroy it, and assemble a new one over the same disks.
#pragma once

#include <cstdint>
#include <span>

#include "io/block_device.h"
#include "io/task.h"
#include "util/status.h"

namespace meshraid::testing {

class BorrowedDevice : public io::BlockDevice {
 public:
  // `target` must outlive this object and its operations.
  explicit BorrowedDevice(io::BlockDevice& target) : target_(target) {}

  const io::DeviceInfo& info() const override { return target_.info(); }
  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    return target_.Read(offset, buf);
  }
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override {
    return target_.Write(offset, buf, flags);
  }
  io::Task<Status> Flush() override { return target_.Flush(); }
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override {
    return target_.Discard(offset, length);
  }
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override {
    return target_.WriteZeroes(offset, length, flags);
  }
  // Does not close the borrowed device: its owner does, and it stays usable for the next stack.
  io::Task<Status> Close() override { co_return Status::Ok(); }

 private:
  io::BlockDevice& target_;
};

}  // namespace meshraid::testing
