#include "io/file_device.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace meshraid::io {

namespace {

constexpr uint64_t kMaxOpBytes = 1u << 30;      // one SQE moves at most this much
constexpr uint64_t kZeroChunkBytes = 1u << 20;  // write-zeroes fallback buffer

// A heap buffer with the given alignment, for bounces and zero writes.
struct AlignedBuffer {
  AlignedBuffer(size_t align, size_t size) {
    align = std::max<size_t>(align, alignof(std::max_align_t));
    const size_t rounded = (size + align - 1) / align * align;
    data = static_cast<uint8_t*>(std::aligned_alloc(align, rounded));
    if (data) std::memset(data, 0, rounded);
  }
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  uint8_t* data = nullptr;
};

// Reads a number from sysfs for block device `dev` (queue attributes live one level up for
// partitions). Returns `fallback` if absent.
uint64_t SysfsQueueValue(dev_t dev, const char* attr, uint64_t fallback) {
  for (const char* dir : {"queue", "../queue"}) {
    std::ifstream in(fmt::format("/sys/dev/block/{}:{}/{}/{}", major(dev), minor(dev), dir, attr));
    uint64_t v = 0;
    if (in >> v) return v;
  }
  return fallback;
}

}  // namespace

FileDevice::FileDevice(Reactor& reactor, std::string path, int fd)
    : reactor_(reactor), path_(std::move(path)), fd_(fd) {}

FileDevice::~FileDevice() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<FileDevice>> FileDevice::Open(Reactor& reactor, const std::string& path,
                                                     Options options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "open " + path);
  const bool block = S_ISBLK(st.st_mode);
  if (!block && !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path + ": not a regular file or block device");
  }
  int flags = O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
  if (block && !options.read_only) flags |= O_EXCL;
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    if (errno == EBUSY) return Status::Busy(path + ": device is in use (exclusive open refused)");
    return Status::FromErrno(errno, "open " + path);
  }
  std::unique_ptr<FileDevice> dev(new FileDevice(reactor, path, fd));
  dev->block_device_ = block;

  if (options.lock && ::flock(fd, (options.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Busy(path + ": in use by another meshraid process (lock held)");
    }
    return Status::FromErrno(errno, "lock " + path);
  }

  DeviceInfo& info = dev->info_;
  info.name = path;
  uint32_t dio_offset_align = 0;
  uint32_t dio_mem_align = 0;
  if (block) {
    uint64_t size = 0;
    int lbs = 0;
    unsigned int pbs = 0;
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) return Status::FromErrno(errno, "size of " + path);
    if (::ioctl(fd, BLKSSZGET, &lbs) != 0) return Status::FromErrno(errno, "BLKSSZGET " + path);
    if (::ioctl(fd, BLKPBSZGET, &pbs) != 0) pbs = unsigned(lbs);
    info.size_bytes = size;
    info.logical_block_size = uint32_t(lbs);
    info.physical_block_size = std::max<uint32_t>(pbs, uint32_t(lbs));
    info.can_discard = SysfsQueueValue(st.st_rdev, "discard_max_bytes", 0) > 0;
    info.rotational = SysfsQueueValue(st.st_rdev, "rotational", 0) != 0;
    dio_offset_align = dio_mem_align = uint32_t(lbs);  // dma_alignment is at most this
  } else {
    info.size_bytes = uint64_t(st.st_size);
    info.logical_block_size = 512;
    info.physical_block_size = std::max<uint32_t>(uint32_t(st.st_blksize), 512);
    info.can_discard = true;  // punch hole: ext4, xfs, btrfs, tmpfs; else kNotSupported later
  }
  info.can_write_zeroes = true;
  info.can_fua = true;
  info.can_flush = true;

  // Trust the kernel's DIO alignment report (nbd-io §4.4); tmpfs reports none.
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
      (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
    dio_offset_align = stx.stx_dio_offset_align;
    dio_mem_align = stx.stx_dio_mem_align;
  }
  if (options.direct && dio_offset_align != 0) {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_DIRECT) == 0) {
      dev->io_mode_ = IoMode::kDirect;
      dev->mem_align_ = std::max<uint32_t>(dio_mem_align, 1);
      info.logical_block_size = std::max(info.logical_block_size, dio_offset_align);
    }
  }
  if (info.size_bytes % info.logical_block_size != 0) {
    info.size_bytes -= info.size_bytes % info.logical_block_size;  // the tail is unusable
  }
  return dev;
}

std::string FileDevice::Where(const char* op, uint64_t offset) const {
  return fmt::format("{} {} at {}", op, path_, offset);
}

Status FileDevice::Check(const char* op, uint64_t offset, uint64_t length) const {
  if (fd_ < 0) return Status::FailedPrecondition(fmt::format("{} {}: device closed", op, path_));
  return CheckRange(info_, op, offset, length);
}

// Buffered files: data already in the page cache is copied at once with RWF_NOWAIT, saving the
// io_uring round trip (and the io-wq punt on filesystems without non-blocking reads). Returns
// the bytes done; the rest goes through io_uring.
uint64_t FileDevice::TryNowait(bool write, uint64_t offset, std::span<const uint8_t> buf) {
  if (io_mode_ != IoMode::kBuffered) return 0;
  iovec iov{const_cast<uint8_t*>(buf.data()), buf.size()};
  ssize_t n = write ? ::pwritev2(fd_, &iov, 1, off_t(offset), RWF_NOWAIT)
                    : ::preadv2(fd_, &iov, 1, off_t(offset), RWF_NOWAIT);
  return n > 0 ? uint64_t(n) : 0;
}

Task<Status> FileDevice::ReadAligned(uint64_t offset, std::span<uint8_t> buf) {
  uint64_t done = TryNowait(false, offset, buf);
  while (done < buf.size()) {
    const uint64_t n = std::min<uint64_t>(buf.size() - done, kMaxOpBytes);
    OpResult r = co_await reactor_.Read(fd_, buf.subspan(done, n), offset + done);
    if (!r.ok()) co_return r.ToStatus(Where("read", offset + done));
    if (r.value() == 0) {
      co_return Status::IoError(Where("read", offset + done) + ": unexpected end of file");
    }
    done += r.value();  // short reads are resubmitted for the rest
  }
  co_return Status::Ok();
}

Task<Status> FileDevice::WriteAligned(uint64_t offset, std::span<const uint8_t> buf, int rw_flags) {
  uint64_t done = rw_flags == 0 ? TryNowait(true, offset, buf) : 0;
  while (done < buf.size()) {
    const uint64_t n = std::min<uint64_t>(buf.size() - done, kMaxOpBytes);
    OpResult r = co_await reactor_.Write(fd_, buf.subspan(done, n), offset + done, rw_flags);
    if (!r.ok()) co_return r.ToStatus(Where("write", offset + done));
    if (r.value() == 0) co_return Status::IoError(Where("write", offset + done) + ": no progress");
    done += r.value();
  }
  co_return Status::Ok();
}

Task<Status> FileDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  Status s = Check("read", offset, buf.size());
  if (!s.ok()) co_return s;
  if (Aligned(buf.data())) co_return co_await ReadAligned(offset, buf);
  ++bounced_ios_;
  AlignedBuffer bounce(mem_align_, buf.size());
  if (!bounce.data) co_return Status::NoSpace(Where("read", offset) + ": no memory for bounce");
  s = co_await ReadAligned(offset, std::span<uint8_t>(bounce.data, buf.size()));
  if (s.ok()) std::memcpy(buf.data(), bounce.data, buf.size());
  co_return s;
}

Task<Status> FileDevice::Write(uint64_t offset, std::span<const uint8_t> buf, WriteFlags flags) {
  Status s = Check("write", offset, buf.size());
  if (!s.ok()) co_return s;
  const int rw_flags = flags == WriteFlags::kFua ? RWF_DSYNC : 0;
  if (Aligned(buf.data())) co_return co_await WriteAligned(offset, buf, rw_flags);
  ++bounced_ios_;
  AlignedBuffer bounce(mem_align_, buf.size());
  if (!bounce.data) co_return Status::NoSpace(Where("write", offset) + ": no memory for bounce");
  std::memcpy(bounce.data, buf.data(), buf.size());
  co_return co_await WriteAligned(offset, std::span<const uint8_t>(bounce.data, buf.size()),
                                  rw_flags);
}

Task<Status> FileDevice::Flush() {
  Status s = Check("flush", 0, 0);
  if (!s.ok()) co_return s;
  OpResult r = co_await reactor_.Fsync(fd_, /*datasync=*/true);
  co_return r.ToStatus("flush " + path_);
}

Task<Status> FileDevice::Discard(uint64_t offset, uint64_t length) {
  Status s = Check("discard", offset, length);
  if (!s.ok() || length == 0) co_return s;
  if (!info_.can_discard) co_return Status::NotSupported("discard " + path_ + ": not supported");
  if (block_device_) {
    uint64_t range[2] = {offset, length};
    if (::ioctl(fd_, BLKDISCARD, range) != 0)
      co_return Status::FromErrno(errno, Where("discard", offset));
    co_return Status::Ok();
  }
  OpResult r =
      co_await reactor_.Fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
  co_return r.ToStatus(Where("discard", offset));
}

Task<Status> FileDevice::WriteZeroBuffers(uint64_t offset, uint64_t length) {
  AlignedBuffer zeroes(mem_align_, std::min(length, kZeroChunkBytes));
  if (!zeroes.data) co_return Status::NoSpace(Where("write zeroes", offset) + ": no memory");
  uint64_t done = 0;
  while (done < length) {
    const uint64_t n = std::min(length - done, kZeroChunkBytes);
    Status s = co_await WriteAligned(offset + done, std::span<const uint8_t>(zeroes.data, n), 0);
    if (!s.ok()) co_return s;
    done += n;
  }
  co_return Status::Ok();
}

Task<Status> FileDevice::ZeroFile(uint64_t offset, uint64_t length, bool no_hole) {
  // Each method is tried once; a file system that lacks one (EOPNOTSUPP) moves the device to
  // the next method for good.
  if (zero_method_ == ZeroMethod::kZeroRange) {
    OpResult r = co_await reactor_.Fallocate(fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                             offset, length);
    if (r.ok() || r.err() != EOPNOTSUPP) co_return r.ToStatus(Where("write zeroes", offset));
    zero_method_ = ZeroMethod::kPunchHole;
  }
  if (zero_method_ == ZeroMethod::kPunchHole) {
    OpResult r = co_await reactor_.Fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                             offset, length);
    if (r.ok() && no_hole) r = co_await reactor_.Fallocate(fd_, 0, offset, length);
    if (r.ok() || r.err() != EOPNOTSUPP) co_return r.ToStatus(Where("write zeroes", offset));
    zero_method_ = ZeroMethod::kWrite;
  }
  co_return co_await WriteZeroBuffers(offset, length);
}

Task<Status> FileDevice::WriteZeroes(uint64_t offset, uint64_t length, ZeroFlags flags) {
  Status s = Check("write zeroes", offset, length);
  if (!s.ok() || length == 0) co_return s;
  const uint32_t bits = static_cast<uint32_t>(flags);
  const bool deallocate = (bits & static_cast<uint32_t>(ZeroFlags::kDeallocate)) != 0;
  const bool no_hole = (bits & static_cast<uint32_t>(ZeroFlags::kNoHole)) != 0;
  if (block_device_) {
    bool done = false;
    if (deallocate && !no_hole) {
      // On a block device, a punched hole is a zero-out that may unmap and never falls back
      // to writing zeroes (EOPNOTSUPP where the device cannot): then BLKZEROOUT below.
      OpResult r = co_await reactor_.Fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                               offset, length);
      if (!r.ok() && r.err() != EOPNOTSUPP) co_return r.ToStatus(Where("write zeroes", offset));
      done = r.ok();
    }
    uint64_t range[2] = {offset, length};
    if (!done && ::ioctl(fd_, BLKZEROOUT, range) != 0) {
      co_return Status::FromErrno(errno, Where("write zeroes", offset));
    }
  } else if (deallocate && !no_hole && zero_method_ != ZeroMethod::kWrite) {
    OpResult r = co_await reactor_.Fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                             offset, length);
    if (!r.ok() && r.err() != EOPNOTSUPP) co_return r.ToStatus(Where("write zeroes", offset));
    if (!r.ok()) {
      s = co_await ZeroFile(offset, length, false);
      if (!s.ok()) co_return s;
    }
  } else {
    s = co_await ZeroFile(offset, length, no_hole);
    if (!s.ok()) co_return s;
  }
  if (bits & static_cast<uint32_t>(ZeroFlags::kFua)) co_return co_await Flush();
  co_return Status::Ok();
}

Task<Status> FileDevice::Close() {
  if (fd_ < 0) co_return Status::Ok();
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) co_return Status::FromErrno(errno, "close " + path_);
  co_return Status::Ok();
}

}  // namespace meshraid::io
