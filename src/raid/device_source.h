// DeviceSource: a connected BlockDevice (a remote member at start-up, before the reactor runs)
// as a MetadataSource: each read is driven to completion on the reactor and rounded out to the
// device's logical block size.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "io/block_device.h"
#include "io/reactor.h"
#include "raid/member_metadata.h"

namespace meshraid::raid {

class DeviceSource : public MetadataSource {
 public:
  DeviceSource(io::Reactor& reactor, io::BlockDevice& dev, std::string path)
      : reactor_(reactor), dev_(dev), path_(std::move(path)) {}
  const std::string& path() const override { return path_; }
  uint64_t size_bytes() const override { return dev_.info().size_bytes; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    const uint64_t lbs = dev_.info().logical_block_size;
    const uint64_t start = offset / lbs * lbs;
    const uint64_t end = (offset + buf.size() + lbs - 1) / lbs * lbs;
    std::vector<uint8_t> tmp(end - start);
    Status s = reactor_.RunUntilComplete(dev_.Read(start, tmp));
    if (!s.ok()) return s;
    std::copy_n(tmp.begin() + long(offset - start), buf.size(), buf.begin());
    return Status::Ok();
  }

 private:
  io::Reactor& reactor_;
  io::BlockDevice& dev_;
  std::string path_;
};

}  // namespace meshraid::raid
