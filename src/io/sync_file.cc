#include "io/sync_file.h"

#include "io/member_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace meshraid::io {

Result<SyncFile> SyncFile::Open(const std::string& path, Mode mode) {
  if (IsRemoteMember(path)) return OpenRemote(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, path);
  bool block = S_ISBLK(st.st_mode);
  if (!block && !S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(path + ": not a regular file or block device");
  }
  int flags = O_CLOEXEC | (mode == Mode::kReadOnly ? O_RDONLY : O_RDWR);
  if (block && mode == Mode::kReadWrite) flags |= O_EXCL;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    if (errno == EBUSY) return Status::Busy(path + ": device is in use (exclusive open refused)");
    return Status::FromErrno(errno, "open " + path);
  }
  uint64_t size = uint64_t(st.st_size);
  if (block && ::ioctl(fd, BLKGETSIZE64, &size) != 0) {
    Status s = Status::FromErrno(errno, "size of " + path);
    ::close(fd);
    return s;
  }
  return SyncFile(path, fd, size, block);
}

SyncFile::SyncFile(SyncFile&& o) noexcept
    : remote_(std::move(o.remote_)), path_(std::move(o.path_)), fd_(o.fd_), size_(o.size_),
      block_device_(o.block_device_) {
  o.fd_ = -1;
}

SyncFile& SyncFile::operator=(SyncFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    remote_ = std::move(o.remote_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    size_ = o.size_;
    block_device_ = o.block_device_;
    o.fd_ = -1;
  }
  return *this;
}

SyncFile::~SyncFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status SyncFile::ReadAt(uint64_t offset, std::span<uint8_t> buf) const {
  if (remote_) return RemoteRead(offset, buf);
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, path_ + ": read at byte " + std::to_string(offset + done));
    }
    if (n == 0) {
      return Status::IoError(path_ + ": unexpected end of device reading " +
                             std::to_string(buf.size()) + " bytes at byte " +
                             std::to_string(offset));
    }
    done += size_t(n);
  }
  return Status::Ok();
}

Status SyncFile::WriteAt(uint64_t offset, std::span<const uint8_t> buf) const {
  if (remote_) return RemoteWrite(offset, buf);
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::pwrite(fd_, buf.data() + done, buf.size() - done, off_t(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, path_ + ": write at byte " + std::to_string(offset + done));
    }
    done += size_t(n);
  }
  return Status::Ok();
}

Status SyncFile::Sync() const {
  if (remote_) return RemoteSync();
  if (::fsync(fd_) != 0) return Status::FromErrno(errno, "fsync " + path_);
  return Status::Ok();
}

}  // namespace meshraid::io
