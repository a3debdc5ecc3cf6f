#include "testing/counting_device.h"

#include <algorithm>
#include <utility>

namespace meshraid::testing {

io::Task<Status> CountingDevice::Counted(Op op, uint64_t offset, uint64_t length,
                                         io::Task<Status> inner) {
  Counters& c = counters_[OpIndex(op)];
  ++c.issued;
  max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
  Status s = co_await std::move(inner);
  --in_flight_;
  if (!s.ok()) {
    ++c.failed;
    co_return s;
  }
  ++c.ok;
  c.bytes += length;
  if (record_ranges_ && op != Op::kFlush && length != 0) {
    spans_.push_back(Span{op, ByteRange{offset, length}});
  }
  co_return s;
}

uint64_t CountingDevice::Ops(Op ops, ByteRange range) const {
  return uint64_t(std::count_if(spans_.begin(), spans_.end(), [&](const Span& s) {
    return Contains(ops, s.op) && s.range.Overlaps(range);
  }));
}

uint64_t CountingDevice::Bytes(Op ops, ByteRange range) const {
  uint64_t total = 0;
  for (const Span& s : spans_) {
    if (Contains(ops, s.op)) total += s.range.Intersect(range).length;
  }
  return total;
}

bool CountingDevice::Covered(Op ops, ByteRange range) const {
  if (range.length == 0) return true;
  std::vector<ByteRange> parts;
  for (const Span& s : spans_) {
    if (!Contains(ops, s.op)) continue;
    const ByteRange part = s.range.Intersect(range);
    if (part.length != 0) parts.push_back(part);
  }
  std::sort(parts.begin(), parts.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  uint64_t covered_to = range.offset;  // every byte below this is covered
  for (const ByteRange& p : parts) {
    if (p.offset > covered_to) return false;
    covered_to = std::max(covered_to, p.end());
  }
  return covered_to >= range.end();
}

void CountingDevice::Reset() {
  counters_ = {};
  spans_.clear();
  max_in_flight_ = in_flight_;
}

io::Task<Status> CountingDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  return Counted(Op::kRead, offset, buf.size(), target().Read(offset, buf));
}

io::Task<Status> CountingDevice::Write(uint64_t offset, std::span<const uint8_t> buf,
                                       io::WriteFlags flags) {
  return Counted(Op::kWrite, offset, buf.size(), target().Write(offset, buf, flags));
}

io::Task<Status> CountingDevice::Flush() { return Counted(Op::kFlush, 0, 0, target().Flush()); }

io::Task<Status> CountingDevice::Discard(uint64_t offset, uint64_t length) {
  return Counted(Op::kDiscard, offset, length, target().Discard(offset, length));
}

io::Task<Status> CountingDevice::WriteZeroes(uint64_t offset, uint64_t length,
                                             io::ZeroFlags flags) {
  return Counted(Op::kWriteZeroes, offset, length, target().WriteZeroes(offset, length, flags));
}

}  // namespace meshraid::testing
