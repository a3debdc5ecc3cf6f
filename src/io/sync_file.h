// SyncFile: a blocking file or block device handle for offline tools (create, examine, cat).
// The running array uses the asynchronous BlockDevice backends instead. A remote member spec
// (an nbd:// or nvme+tcp:// URI, see member_device.h) opens the remote device behind a private
// reactor instead: reads and writes of any alignment are then served by whole logical blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "util/result.h"

namespace meshraid::io {

class SyncFile {
 public:
  enum class Mode { kReadOnly, kReadWrite };

  // Opens `path`. Block devices are opened O_EXCL in read-write mode (the kernel's
  // exclusive-open claim, as mdadm does). Errors name the path.
  static Result<SyncFile> Open(const std::string& path, Mode mode);

  SyncFile(SyncFile&& o) noexcept;
  SyncFile& operator=(SyncFile&& o) noexcept;
  SyncFile(const SyncFile&) = delete;
  SyncFile& operator=(const SyncFile&) = delete;
  ~SyncFile();

  const std::string& path() const { return path_; }
  // -1 for a remote member.
  int fd() const { return fd_; }
  bool remote() const { return remote_ != nullptr; }
  bool is_block_device() const { return block_device_; }
  uint64_t size_bytes() const { return size_; }
  uint64_t size_sectors() const { return size_ / 512; }

  // Reads exactly buf.size() bytes at `offset`; reading past the end is an error.
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const;
  // Writes exactly buf.size() bytes at `offset`.
  Status WriteAt(uint64_t offset, std::span<const uint8_t> buf) const;
  Status Sync() const;

 private:
  struct Remote;  // the device and its reactor (sync_remote.cc)

  SyncFile(std::string path, int fd, uint64_t size, bool block_device)
      : path_(std::move(path)), fd_(fd), size_(size), block_device_(block_device) {}
  static Result<SyncFile> OpenRemote(const std::string& uri);
  Status RemoteRead(uint64_t offset, std::span<uint8_t> buf) const;
  Status RemoteWrite(uint64_t offset, std::span<const uint8_t> buf) const;
  Status RemoteSync() const;

  std::shared_ptr<Remote> remote_;
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool block_device_ = false;
};

}  // namespace meshraid::io
