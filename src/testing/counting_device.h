// CountingDevice: counts what passes through — per op type: ops issued, succeeded, failed and
// bytes; per byte range: which ranges successfully completed ops touched ("how many bytes were
// written in [a, b)", "was this range read") — and how many ops are in flight, with the
// maximum seen. Put it where the question is asked: above a FaultDevice it sees every attempt,
// below it only what reached the device.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "io/block_device.h"
#include "io/task.h"
#include "testing/op.h"
#include "util/status.h"

namespace meshraid::testing {

class CountingDevice : public io::BlockDeviceWrapper {
 public:
  struct Counters {
    uint64_t issued = 0;  // ops started
    uint64_t ok = 0;      // ops completed successfully
    uint64_t failed = 0;  // ops completed with an error
    uint64_t bytes = 0;   // bytes of the successful ops (0 for flushes)
  };

  // With `record_ranges` false, only the totals are kept (range queries then return 0/false).
  explicit CountingDevice(std::unique_ptr<io::BlockDevice> target, bool record_ranges = true)
      : BlockDeviceWrapper(std::move(target)), record_ranges_(record_ranges) {}

  // Totals for one op type.
  const Counters& counters(Op op) const { return counters_[OpIndex(op)]; }
  // Operations started and not completed, now and at most so far (over all op types).
  uint64_t in_flight() const { return in_flight_; }
  uint64_t max_in_flight() const { return max_in_flight_; }

  // Range queries over successfully completed ops whose type is in `ops` (Discard and
  // WriteZeroes count their full length; flushes have no range and are never counted):
  // the number of ops overlapping `range`;
  uint64_t Ops(Op ops, ByteRange range) const;
  // the bytes they covered inside `range`, counting a byte once per op that covered it;
  uint64_t Bytes(Op ops, ByteRange range) const;
  // whether any byte of `range` was covered;
  bool Touched(Op ops, ByteRange range) const { return Ops(ops, range) != 0; }
  // whether every byte of `range` was covered (by one op or several together).
  bool Covered(Op ops, ByteRange range) const;

  // Forgets counters, ranges and the maximum (which restarts from the current in-flight).
  void Reset();

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override;
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override;
  io::Task<Status> Flush() override;
  io::Task<Status> Discard(uint64_t offset, uint64_t length) override;
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override;

 private:
  struct Span {
    Op op;
    ByteRange range;
  };
  io::Task<Status> Counted(Op op, uint64_t offset, uint64_t length, io::Task<Status> inner);

  bool record_ranges_;
  std::array<Counters, kOpTypes> counters_{};
  uint64_t in_flight_ = 0;
  uint64_t max_in_flight_ = 0;
  std::vector<Span> spans_;
};

}  // namespace meshraid::testing
