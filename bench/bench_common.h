// Helpers shared by the in-process benchmarks (bench/barrier/barrier_bench.cc,
// bench/reshape/reshape_bench.cc): wall and CPU time, a member's metadata read straight out of
// a MemDevice, the member model (MemDevice <- DelayDevice <- BandwidthDevice) and the raw
// sequential/copy runs that give the members' own bandwidth as a reference.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "bench/barrier/bandwidth_device.h"
#include "io/block_device.h"
#include "io/clock.h"
#include "io/gate.h"
#include "io/mem_device.h"
#include "io/task.h"
#include "raid/member_metadata.h"
#include "testing/borrowed_device.h"
#include "testing/delay_device.h"
#include "testing/timers.h"
#include "util/status.h"

namespace meshraid::bench {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * 1024;

inline uint64_t NowNs() { return io::SystemClock::Get().NowNs(); }
// CPU time (user + system) this process has used, ns.
inline uint64_t CpuNs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& t) { return uint64_t(t.tv_sec) * 1'000'000'000 + uint64_t(t.tv_usec) * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}
// Measures wall time and CPU share of a phase.
struct Stopwatch {
  uint64_t t0 = NowNs(), c0 = CpuNs();
  double Seconds() const { return double(NowNs() - t0) / 1e9; }
  double CpuShare() const { return double(CpuNs() - c0) / double(std::max<uint64_t>(NowNs() - t0, 1)); }
};
inline uint64_t Seconds(double s) { return uint64_t(s * 1e9); }
inline double Us(uint64_t ns) { return double(ns) / 1000.0; }

// Reads a member's metadata straight out of a MemDevice (what ReadMemberMetadata would read
// from a file holding the same bytes).
class MemSource : public raid::MetadataSource {
 public:
  MemSource(const io::MemDevice& dev, std::string path) : dev_(dev), path_(std::move(path)) {}
  const std::string& path() const override { return path_; }
  uint64_t size_bytes() const override { return dev_.info().size_bytes; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    std::vector<uint8_t> v = dev_.Peek(offset, buf.size());
    std::copy(v.begin(), v.end(), buf.begin());
    return Status::Ok();
  }

 private:
  const io::MemDevice& dev_;
  std::string path_;
};

inline testing::Latency Jittered(double mean_us, double jitter) {
  auto lo = std::chrono::nanoseconds(uint64_t(mean_us * (1 - jitter) * 1000));
  auto hi = std::chrono::nanoseconds(uint64_t(mean_us * (1 + jitter) * 1000));
  return testing::Latency::Uniform(lo, hi);
}

// The member model: per-operation latency (uniform ±jitter) and a finite transfer channel.
struct MemberModel {
  double read_us = 20;
  double write_us = 30;
  double jitter = 0.2;  // latency uniform in [1-j, 1+j] × mean
  uint64_t bw_mib = 512;  // 0: unlimited bandwidth (latency only)
  uint64_t quantum_kib = 64;
};

// MemDevice <- DelayDevice (latency) <- BandwidthDevice (transfer), as the array sees a member.
inline std::unique_ptr<io::BlockDevice> MemberStack(io::MemDevice& mem, testing::Timers& timers,
                                                    const MemberModel& c, uint64_t seed) {
  auto delay = std::make_unique<testing::DelayDevice>(
      std::make_unique<testing::BorrowedDevice>(mem), timers,
      testing::DelayDevice::Options{.seed = seed, .max_records = 0});
  delay->SetLatency(testing::Op::kRead, Jittered(c.read_us, c.jitter));
  delay->SetLatency(testing::Op::kWrite | testing::Op::kWriteZeroes, Jittered(c.write_us, c.jitter));
  if (c.bw_mib == 0) return delay;  // latency only: unlimited bandwidth
  return std::make_unique<BandwidthDevice>(
      std::move(delay), timers,
      BandwidthDevice::Options{.bytes_per_sec = c.bw_mib * kMiB, .quantum_bytes = c.quantum_kib * kKiB});
}

struct Rate {
  uint64_t bytes = 0;  // array bytes (copies and resyncs) or member bytes (one member)
  double seconds = 0;
  double cpu = 0;  // CPU time of this process / wall time
  double MibS() const { return seconds > 0 ? double(bytes) / kMiB / seconds : 0; }
};

// Sequential `io_bytes` reads or writes over [base, base + bytes) of one member stack, `depth`
// in flight.
inline io::Task<Rate> Sequential(io::Executor& ex, io::BlockDevice& dev, bool write, uint64_t base,
                                 uint64_t bytes, uint64_t io_bytes, uint32_t depth) {
  uint64_t next = 0;
  io::Gate gate(ex);
  auto worker = [](io::BlockDevice& d, bool w, uint64_t b, uint64_t total, uint64_t n,
                   uint64_t* cursor) -> io::Task<void> {
    std::vector<uint8_t> buf(n, 0x5A);
    while (*cursor < total) {
      uint64_t off = *cursor;
      *cursor += n;
      Status s;
      if (w) {
        s = co_await d.Write(b + off, buf, io::WriteFlags::kNone);
      } else {
        s = co_await d.Read(b + off, buf);
      }
      if (!s.ok()) std::fprintf(stderr, "sequential I/O failed: %s\n", s.message().c_str());
    }
  };
  Stopwatch sw;
  for (uint32_t i = 0; i < depth; ++i) io::Spawn(gate, worker(dev, write, base, bytes, io_bytes, &next));
  co_await gate.Close();
  co_return Rate{bytes, sw.Seconds(), sw.CpuShare()};
}

// Copies [base, base + bytes) from src to dst in `io_bytes` reads+writes, `depth` in flight.
inline io::Task<void> Copy(io::Executor& ex, io::BlockDevice& src, io::BlockDevice& dst, uint64_t base,
                           uint64_t bytes, uint64_t io_bytes, uint32_t depth) {
  uint64_t next = 0;
  io::Gate gate(ex);
  auto worker = [](io::BlockDevice& s, io::BlockDevice& d, uint64_t b, uint64_t total, uint64_t n,
                   uint64_t* cursor) -> io::Task<void> {
    std::vector<uint8_t> buf(n);
    while (*cursor < total) {
      uint64_t off = *cursor;
      *cursor += n;
      Status r = co_await s.Read(b + off, buf);
      Status w = co_await d.Write(b + off, buf, io::WriteFlags::kNone);
      if (!r.ok() || !w.ok()) std::fprintf(stderr, "copy failed\n");
    }
  };
  for (uint32_t i = 0; i < depth; ++i) io::Spawn(gate, worker(src, dst, base, bytes, io_bytes, &next));
  co_await gate.Close();
}

}  // namespace meshraid::bench
