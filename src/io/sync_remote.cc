// SyncFile's remote members: the BlockDevice from OpenMemberDevice behind a reactor of its own,
// driven to completion on every call (offline tools are single-threaded and blocking).
#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "io/member_device.h"
#include "io/sync_file.h"

namespace meshraid::io {

struct SyncFile::Remote {
  std::unique_ptr<Reactor> reactor;
  std::unique_ptr<BlockDevice> dev;

  ~Remote() {
    if (dev) (void)reactor->RunUntilComplete(dev->Close());
    dev.reset();
  }
  uint64_t lbs() const { return dev->info().logical_block_size; }
};

Result<SyncFile> SyncFile::OpenRemote(const std::string& uri) {
  auto remote = std::make_shared<Remote>();
  MESHRAID_ASSIGN_OR_RETURN(remote->reactor, Reactor::Create());
  MESHRAID_ASSIGN_OR_RETURN(remote->dev, remote->reactor->RunUntilComplete(OpenMemberDevice(*remote->reactor, uri)));
  SyncFile f(uri, -1, remote->dev->info().size_bytes, false);
  f.remote_ = std::move(remote);
  return f;
}

Status SyncFile::RemoteRead(uint64_t offset, std::span<uint8_t> buf) const {
  if (offset + buf.size() > size_) {
    return Status::IoError(fmt::format("{}: reading {} bytes at byte {} goes past the end ({} bytes)",
                                       path_, buf.size(), offset, size_));
  }
  const uint64_t lbs = remote_->lbs();
  const uint64_t start = offset / lbs * lbs;
  const uint64_t end = (offset + buf.size() + lbs - 1) / lbs * lbs;
  std::vector<uint8_t> tmp(end - start);
  MESHRAID_RETURN_IF_ERROR(remote_->reactor->RunUntilComplete(remote_->dev->Read(start, tmp)));
  std::memcpy(buf.data(), tmp.data() + (offset - start), buf.size());
  return Status::Ok();
}

Status SyncFile::RemoteWrite(uint64_t offset, std::span<const uint8_t> buf) const {
  if (offset + buf.size() > size_) {
    return Status::IoError(fmt::format("{}: writing {} bytes at byte {} goes past the end ({} bytes)",
                                       path_, buf.size(), offset, size_));
  }
  const uint64_t lbs = remote_->lbs();
  const uint64_t start = offset / lbs * lbs;
  const uint64_t end = (offset + buf.size() + lbs - 1) / lbs * lbs;
  std::vector<uint8_t> tmp(end - start);
  if (start != offset || end != offset + buf.size()) {  // partial blocks: read, modify, write
    MESHRAID_RETURN_IF_ERROR(remote_->reactor->RunUntilComplete(remote_->dev->Read(start, tmp)));
  }
  std::memcpy(tmp.data() + (offset - start), buf.data(), buf.size());
  return remote_->reactor->RunUntilComplete(remote_->dev->Write(start, tmp));
}

Status SyncFile::RemoteSync() const {
  return remote_->reactor->RunUntilComplete(remote_->dev->Flush());
}

}  // namespace meshraid::io
