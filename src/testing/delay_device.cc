#include "testing/delay_device.h"

#include <algorithm>
#include <utility>

namespace meshraid::testing {

DelayDevice::DelayDevice(std::unique_ptr<io::BlockDevice> target, Timers& timers, Options options)
    : BlockDeviceWrapper(std::move(target)),
      timers_(timers),
      options_(options),
      rng_(options.seed) {}

void DelayDevice::SetLatency(Op ops, Latency latency) {
  for (size_t i = 0; i < kOpTypes; ++i) {
    if (Contains(ops, OpFromIndex(i))) latency_[i] = latency;
  }
}

void DelayDevice::ClearRecords() {
  records_.clear();
  stats_ = {};
}

io::Task<Status> DelayDevice::Delayed(Op op, uint64_t offset, uint64_t length,
                                      io::Task<Status> inner) {
  Record rec{.op = op, .offset = offset, .length = length};
  rec.submit_ns = timers_.NowNs();
  rec.delay_ns = latency_[OpIndex(op)].SampleNs(rng_);  // drawn at submission, in order
  ++in_flight_;
  Status s;
  if (options_.point == Point::kBeforeTarget) {
    if (rec.delay_ns != 0) (void)co_await timers_.SleepUntil(rec.submit_ns + rec.delay_ns);
    s = co_await std::move(inner);
  } else {
    s = co_await std::move(inner);
    if (rec.delay_ns != 0) (void)co_await timers_.SleepUntil(rec.submit_ns + rec.delay_ns);
  }
  --in_flight_;
  rec.complete_ns = timers_.NowNs();
  rec.ok = s.ok();
  Stats& st = stats_[OpIndex(op)];
  ++st.count;
  st.total_ns += rec.latency_ns();
  st.max_ns = std::max(st.max_ns, rec.latency_ns());
  if (options_.max_records != 0) {
    if (records_.size() == options_.max_records) records_.pop_front();
    records_.push_back(rec);
  }
  co_return s;
}

io::Task<Status> DelayDevice::Read(uint64_t offset, std::span<uint8_t> buf) {
  return Delayed(Op::kRead, offset, buf.size(), target().Read(offset, buf));
}

io::Task<Status> DelayDevice::Write(uint64_t offset, std::span<const uint8_t> buf,
                                    io::WriteFlags flags) {
  return Delayed(Op::kWrite, offset, buf.size(), target().Write(offset, buf, flags));
}

io::Task<Status> DelayDevice::Flush() { return Delayed(Op::kFlush, 0, 0, target().Flush()); }

io::Task<Status> DelayDevice::Discard(uint64_t offset, uint64_t length) {
  return Delayed(Op::kDiscard, offset, length, target().Discard(offset, length));
}

io::Task<Status> DelayDevice::WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) {
  return Delayed(Op::kWriteZeroes, offset, length, target().WriteZeroes(offset, length, flags));
}

}  // namespace meshraid::testing
