// FileDevice: a BlockDevice over a regular file or a block device, with io_uring I/O.
// O_DIRECT is used when the kernel reports the alignment it needs (statx STATX_DIOALIGN; for
// block devices BLKSSZGET); otherwise (tmpfs, old kernels) I/O is buffered and io_mode() says
// so. Unaligned caller buffers on an O_DIRECT device are bounced through an aligned copy, so
// they work everywhere, just slower (bounced_ios() counts them).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "io/block_device.h"
#include "io/reactor.h"
#include "io/task.h"
#include "util/result.h"

namespace meshraid::io {

class FileDevice : public BlockDevice {
 public:
  enum class IoMode { kDirect, kBuffered };
  struct Options {
    bool read_only = false;
    bool direct = true;  // O_DIRECT if the kernel reports its alignment
    // flock() the member: LOCK_EX (LOCK_SH when read_only), non-blocking. A second meshraid
    // process opening the same member then fails with kBusy naming the path.
    bool lock = true;
  };

  // Opens `path` (a regular file or a block device; block devices are also opened O_EXCL when
  // writable, as mdadm does). Synchronous. The device issues its I/O on `reactor`, which must
  // outlive it and whose thread must be the caller's.
  static Result<std::unique_ptr<FileDevice>> Open(Reactor& reactor, const std::string& path,
                                                  Options options);
  static Result<std::unique_ptr<FileDevice>> Open(Reactor& reactor, const std::string& path) {
    return Open(reactor, path, Options{});
  }
  // Closes the file if Close() was not awaited (no operation may be pending).
  ~FileDevice() override;

  const DeviceInfo& info() const override { return info_; }
  // Offsets and lengths must be multiples of info().logical_block_size and inside the device;
  // anything else (including a read past the end) is kInvalidArgument. Short transfers are
  // resubmitted; end of file before the device size is kIoError.
  Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  // kFua: RWF_DSYNC (a FUA write on block devices that support it).
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                     WriteFlags flags = WriteFlags::kNone) override;
  // fdatasync through io_uring. Covers writes whose completion was seen before the call.
  Task<Status> Flush() override;
  // Files: fallocate(PUNCH_HOLE|KEEP_SIZE). Block devices: BLKDISCARD (synchronous).
  Task<Status> Discard(uint64_t offset, uint64_t length) override;
  // Files: fallocate(ZERO_RANGE), else PUNCH_HOLE (+ re-allocation for kNoHole), else writes
  // of zeroes. Block devices: BLKZEROOUT (synchronous; never unmaps). kFua adds a Flush.
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length,
                           ZeroFlags flags = ZeroFlags::kNone) override;
  // Closes the file and releases the lock.
  Task<Status> Close() override;

  IoMode io_mode() const { return io_mode_; }
  std::string_view io_mode_name() const {
    return io_mode_ == IoMode::kDirect ? "direct" : "buffered";
  }
  uint32_t mem_align() const { return mem_align_; }  // 1 when buffered
  bool is_block_device() const { return block_device_; }
  uint64_t bounced_ios() const { return bounced_ios_; }

 private:
  enum class ZeroMethod { kZeroRange, kPunchHole, kWrite };

  FileDevice(Reactor& reactor, std::string path, int fd);
  Status Check(const char* op, uint64_t offset, uint64_t length) const;
  std::string Where(const char* op, uint64_t offset) const;
  uint64_t TryNowait(bool write, uint64_t offset, std::span<const uint8_t> buf);
  Task<Status> ReadAligned(uint64_t offset, std::span<uint8_t> buf);
  Task<Status> WriteAligned(uint64_t offset, std::span<const uint8_t> buf, int rw_flags);
  Task<Status> ZeroFile(uint64_t offset, uint64_t length, bool no_hole);
  Task<Status> WriteZeroBuffers(uint64_t offset, uint64_t length);
  bool Aligned(const void* p) const { return reinterpret_cast<uintptr_t>(p) % mem_align_ == 0; }

  Reactor& reactor_;
  std::string path_;
  int fd_ = -1;
  DeviceInfo info_;
  IoMode io_mode_ = IoMode::kBuffered;
  uint32_t mem_align_ = 1;
  bool block_device_ = false;
  ZeroMethod zero_method_ = ZeroMethod::kZeroRange;
  uint64_t bounced_ios_ = 0;
};

}  // namespace meshraid::io
