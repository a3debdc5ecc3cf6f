// MemDevice: a BlockDevice held in memory, for tests and the simulator. Storage is sparse
// (64 KiB chunks allocated on first write; never-written ranges read as zeroes), so a large
// device costs only what is written. Every operation first yields to the executor and only
// then takes effect, so concurrent operations interleave as they would on a real device.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/block_device.h"
#include "io/task.h"

namespace meshraid::io {

class MemDevice : public BlockDevice {
 public:
  struct Options {
    uint64_t size_bytes = 0;  // a multiple of logical_block_size
    uint32_t logical_block_size = 512;
    uint32_t physical_block_size = 4096;
    std::string name = "mem";
  };
  struct Counters {
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t fua_writes = 0;
    uint64_t flushes = 0;
    uint64_t discards = 0;
    uint64_t write_zeroes = 0;
  };
  static constexpr uint64_t kChunkBytes = 64 * 1024;

  // Completions are resumed through `executor` (normally the Reactor), which must outlive us.
  MemDevice(Executor& executor, Options options);

  const DeviceInfo& info() const override { return info_; }
  // Offsets and lengths must be multiples of the logical block size and inside the device
  // (else kInvalidArgument); after Close() every operation fails with kFailedPrecondition.
  Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                     WriteFlags flags = WriteFlags::kNone) override;
  Task<Status> Flush() override;
  // Zeroes the range (a valid choice for "contents undefined") and frees whole chunks.
  Task<Status> Discard(uint64_t offset, uint64_t length) override;
  Task<Status> WriteZeroes(uint64_t offset, uint64_t length,
                           ZeroFlags flags = ZeroFlags::kNone) override;
  Task<Status> Close() override;

  // Test access, synchronous, bypassing checks and counters. Peek beyond the end is zeroes;
  // Poke must stay inside the device.
  std::vector<uint8_t> Peek(uint64_t offset, uint64_t length) const;
  void Poke(uint64_t offset, std::span<const uint8_t> data);
  uint64_t allocated_bytes() const { return chunks_.size() * kChunkBytes; }
  const Counters& counters() const { return counters_; }
  bool closed() const { return closed_; }

 private:
  Status Check(const char* op, uint64_t offset, uint64_t length) const;
  void CopyOut(uint64_t offset, std::span<uint8_t> out) const;
  void CopyIn(uint64_t offset, std::span<const uint8_t> in);
  void Zero(uint64_t offset, uint64_t length);

  Executor& executor_;
  DeviceInfo info_;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> chunks_;  // chunk index → bytes
  Counters counters_;
  bool closed_ = false;
};

}  // namespace meshraid::io
