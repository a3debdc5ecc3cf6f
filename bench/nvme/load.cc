// meshraid_load: a closed-loop 4 KiB random I/O load against one block device reached the way a
// member is (src/io/member_device.h: nvme+tcp://, nbd://, nbd+unix://, or a path), from our own
// reactor: QD workers, each issuing its next I/O when the last completes, for a fixed time.
// Prints one line: "iops=... p50_us=... p99_us=... errors=...". Used by bench/nvme_bench.sh to
// compare servers (our NVMe/TCP target, nvmet, our NBD server, nbdkit) with the same client.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "io/clock.h"
#include "io/gate.h"
#include "io/member_device.h"
#include "io/reactor.h"
#include "io/when_all.h"
#include "util/histogram.h"

namespace {

using meshraid::Status;
namespace io = meshraid::io;

struct Load {
  io::BlockDevice* dev = nullptr;
  bool write = false;
  uint32_t bs = 4096;
  uint64_t until_ns = 0;
  uint64_t measure_from_ns = 0;
  uint64_t ops = 0;
  uint64_t errors = 0;
  meshraid::Histogram lat;
  std::string first_error;
};

io::Task<void> Worker(Load& l, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> buf(l.bs, uint8_t(seed));
  const uint64_t blocks = l.dev->info().size_bytes / l.bs;
  for (;;) {
    const uint64_t start = io::SystemClock::Get().NowNs();
    if (start >= l.until_ns) break;
    const uint64_t off = (rng() % blocks) * l.bs;
    Status s;  // if/else, not ?: around co_await (a GCC 12 bug, see io/task.h)
    if (l.write) {
      s = co_await l.dev->Write(off, buf);
    } else {
      s = co_await l.dev->Read(off, buf);
    }
    const uint64_t end = io::SystemClock::Get().NowNs();
    if (!s.ok()) {
      if (l.errors++ == 0) l.first_error = s.message();
      continue;
    }
    if (start >= l.measure_from_ns) {
      ++l.ops;
      l.lat.Record(end - start);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("meshraid_load: 4 KiB random I/O against a member spec");
  std::string spec, rw = "randread";
  uint32_t qd = 1;
  double seconds = 10, ramp = 1;
  app.add_option("spec", spec, "nvme+tcp://..., nbd://..., nbd+unix://... or a path")->required();
  app.add_option("--rw", rw, "randread or randwrite");
  app.add_option("--qd", qd, "I/Os in flight");
  app.add_option("--runtime", seconds, "seconds measured");
  app.add_option("--ramp", ramp, "seconds before measuring");
  CLI11_PARSE(app, argc, argv);
  auto reactor = io::Reactor::Create();
  if (!reactor.ok()) {
    fmt::print(stderr, "meshraid_load: {}\n", reactor.status().message());
    return 1;
  }
  io::Reactor& r = **reactor;
  auto dev = r.RunUntilComplete(io::OpenMemberDevice(r, spec));
  if (!dev.ok()) {
    fmt::print(stderr, "meshraid_load: {}\n", dev.status().message());
    return 1;
  }
  Load l;
  l.dev = dev->get();
  l.write = rw == "randwrite";
  const uint64_t now = io::SystemClock::Get().NowNs();
  l.measure_from_ns = now + uint64_t(ramp * 1e9);
  l.until_ns = l.measure_from_ns + uint64_t(seconds * 1e9);
  std::vector<io::Task<void>> workers;
  for (uint32_t i = 0; i < qd; ++i) workers.push_back(Worker(l, i + 1));
  r.RunUntilComplete(io::WhenAll(std::move(workers)));
  (void)r.RunUntilComplete((*dev)->Close());
  fmt::print("iops={:.0f} mean_us={:.1f} p50_us={:.1f} p90_us={:.1f} p99_us={:.1f} errors={}\n", double(l.ops) / seconds, double(l.lat.Mean()) / 1000.0, double(l.lat.Percentile(0.5)) / 1000.0, double(l.lat.Percentile(0.9)) / 1000.0,
             double(l.lat.Percentile(0.99)) / 1000.0, l.errors);
  if (l.errors != 0) fmt::print(stderr, "meshraid_load: first error: {}\n", l.first_error);
  return l.errors == 0 ? 0 : 1;
}
