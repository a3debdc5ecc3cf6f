// meshraid_barrier_bench: what a running resync costs foreground writes, per-bucket barriers
// against the global barrier, and how fast the resync itself runs against the members'
// sequential bandwidth. Everything runs in this process on one io::Reactor (real time, real
// io_uring timers); no root, no files. bench/barrier_bench.sh builds and runs it.
//
// Members: 4 MemDevices (filled once, reused by every run) behind testing::DelayDevice
// (NVMe-like per-operation latency, uniform ±jitter) behind BandwidthDevice (a finite transfer
// channel shared round-robin in slices; bandwidth_device.h). The array: RAID10 n2 made by
// PlanCreate (512 KiB chunk, internal bitmap, 64 MiB bitmap chunks), its bytes written to the
// MemDevices, read back with ReadMemberMetadata and assembled, like `meshraid run` does.
//
// Table 1 (latency): a resync of exactly one 64 MiB region runs (bitmap chunk 0 dirty,
// resync_offset 0; speed_max chosen so it outlasts each measurement) while a closed-loop
// generator writes 4 KiB at random array offsets outside that region (other barrier buckets;
// units that hash to the region's bucket are left out too) at each QD. Scenarios: per-bucket
// barrier + resync, global barrier + resync, and a clean array (no resync). Each row is the sum
// of `rounds` short segments, each on a fresh array, with the scenarios interleaved so that
// machine noise hits them alike. Control rows repeat it on members without the bandwidth
// channel, which separates waiting on the barrier from contention for member bandwidth.
//
// Table 2 (throughput): the resync with speed_max unlimited and no foreground I/O, of the one
// 64 MiB region and of the whole array, against the members' sequential bandwidth measured the
// same way in the same run (1 MiB sequential reads and writes at the sync's depth straight on a
// member stack) and against a raw member-to-member copy of the same sectors; optionally with
// other SyncOptions (--alt-sync).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "bench/bench_common.h"
#include "format/bitmap.h"
#include "io/clock.h"
#include "io/gate.h"
#include "io/mem_device.h"
#include "io/reactor.h"
#include "raid/array.h"
#include "raid/assemble.h"
#include "raid/create.h"
#include "raid/member_metadata.h"
#include "testing/borrowed_device.h"
#include "testing/delay_device.h"
#include "testing/timers.h"
#include "util/histogram.h"

namespace meshraid::bench {
namespace {

constexpr int kMembers = 4;

struct Config {
  uint64_t member_mib = 512;
  double warmup_s = 0.5;
  double measure_s = 5;   // per row, split into `rounds` segments
  uint32_t rounds = 5;
  std::vector<uint32_t> qds{1, 16};
  double read_us = 20;
  double write_us = 30;
  double jitter = 0.2;  // latency uniform in [1-j, 1+j] × mean
  uint64_t bw_mib = 512;
  uint64_t quantum_kib = 64;
  uint32_t sync_depth = 0;        // 0: the array's default
  uint64_t sync_window_kib = 0;   // 0: the array's default
  uint64_t sync_max_kib = 0;      // 0: chosen so the 64 MiB region outlasts the measurement
  uint32_t copy_depth = 0;        // 0: the sync depth
  std::vector<std::pair<uint64_t, uint32_t>> alt_sync;  // extra resync rows: window KiB, depth
  bool latency = true;
  bool control = true;  // latency rows also without the bandwidth channel
  bool throughput = true;
  std::string svg;
  uint64_t seed = 1;
  bool verbose = false;
};

// The four "disks", filled once (so no run pays for first-touch allocation) and reused by
// every scenario; each scenario writes fresh metadata over them.
struct Disks {
  std::vector<std::unique_ptr<io::MemDevice>> mems;
  std::vector<std::string> names;
};

// The member model of the command line.
MemberModel ModelOf(const Config& c) {
  return MemberModel{.read_us = c.read_us, .write_us = c.write_us, .jitter = c.jitter,
                     .bw_mib = c.bw_mib, .quantum_kib = c.quantum_kib};
}

struct ArraySetup {
  raid::BarrierMode mode = raid::BarrierMode::kBucket;
  uint64_t dirty_chunks = 0;  // bitmap chunks 0..n-1 dirty and resync_offset 0; 0: clean array
  raid::SyncOptions sync;
};

struct Built {
  std::unique_ptr<raid::Array> array;
  uint64_t data_offset_bytes = 0;
  uint64_t bitmap_chunk_sectors = 0;
  uint64_t bitmap_chunks = 0;
};

// PlanCreate's bytes go onto the disks (with only the first `dirty_chunks` bitmap bits left
// set), metadata is read back and assembled, and the array starts (its sync thread with it).
Result<Built> BuildArray(io::Reactor& reactor, testing::Timers& timers, Disks& disks,
                         const Config& c, const ArraySetup& s, uint64_t seed) {
  raid::CreateOptions o;
  o.level = 10;
  o.raid_devices = kMembers;
  MESHRAID_ASSIGN_OR_RETURN(o.raid10_layout, layout::Raid10Layout::Parse("n2"));
  o.bitmap = raid::BitmapChoice::kInternal;
  o.name = "bench";
  o.assume_clean = s.dirty_chunks == 0;
  o.force = true;
  o.now_seconds = 1000;
  for (size_t i = 0; i < o.set_uuid.size(); ++i) o.set_uuid[i] = uint8_t(0xA0 + i);
  std::vector<raid::CreateMember> cm;
  for (int i = 0; i < kMembers; ++i) {
    format::Uuid u{};
    for (size_t k = 0; k < u.size(); ++k) u[k] = uint8_t(16 * i + k);
    o.device_uuids.push_back(u);
    cm.push_back({disks.names[size_t(i)], disks.mems[size_t(i)]->info().size_bytes / 512});
  }
  MESHRAID_ASSIGN_OR_RETURN(raid::CreatePlan plan, raid::PlanCreate(o, cm));
  if (!plan.bitmap) return Status::FailedPrecondition("no bitmap planned");

  // Only the first dirty_chunks bits stay set (a new, not --assume-clean array has all set).
  std::vector<uint8_t> bm = plan.members[0].bitmap_bytes;
  MESHRAID_ASSIGN_OR_RETURN(format::BitmapSuper bs,
                            format::DecodeBitmapSuper(std::span<const uint8_t>(bm).first(256)));
  MESHRAID_ASSIGN_OR_RETURN(format::BitmapBits bits,
                            format::BitmapBits::Decode(std::span<const uint8_t>(bm).subspan(256), bs.Chunks()));
  for (uint64_t ch = s.dirty_chunks; ch < bs.Chunks(); ++ch) bits.Clear(ch);
  MESHRAID_ASSIGN_OR_RETURN(bm, format::EncodeBitmapArea(bs, bits, bm.size()));

  std::vector<raid::MemberMetadata> md;
  for (int i = 0; i < kMembers; ++i) {
    const raid::MemberWrite& w = plan.members[size_t(i)];
    io::MemDevice& mem = *disks.mems[size_t(i)];
    mem.Poke(8 * 512, w.sb_bytes);
    mem.Poke(w.bitmap_sector * 512, bm);
    mem.Poke(w.bblog_sector * 512, w.bblog_bytes);
    MESHRAID_ASSIGN_OR_RETURN(raid::MemberMetadata m,
                              raid::ReadMemberMetadata(MemSource(mem, disks.names[size_t(i)])));
    md.push_back(std::move(m));
  }
  MESHRAID_ASSIGN_OR_RETURN(raid::AssemblyPlan ap, raid::PlanAssembly(md));
  if (ap.needs_resync != (s.dirty_chunks != 0)) return Status::FailedPrecondition("unexpected resync state");

  std::vector<raid::ArrayMember> am;
  for (int i = 0; i < kMembers; ++i) {
    am.push_back({MemberStack(*disks.mems[size_t(i)], timers, ModelOf(c), seed * 16 + uint64_t(i)),
                  std::move(md[size_t(i)])});
  }
  raid::ArrayOptions opts;
  opts.barrier_mode = s.mode;
  opts.sync = s.sync;
  if (c.verbose) {
    opts.log = [](const std::string& l) {
      std::fprintf(stderr, "  [array %.3f] %s\n", double(NowNs() % 1'000'000'000'000) / 1e9, l.c_str());
    };
  } else {
    opts.log = [](const std::string&) {};
  }
  MESHRAID_ASSIGN_OR_RETURN(std::unique_ptr<raid::Array> a,
                            raid::Array::Create(reactor, io::SystemClock::Get(),
                                                raid::ReactorSleep(reactor), ap, std::move(am), opts));
  Built b;
  b.array = std::move(a);
  b.data_offset_bytes = plan.data_offset * 512;
  b.bitmap_chunk_sectors = bs.ChunkSectors();
  b.bitmap_chunks = bs.Chunks();
  return b;
}

raid::SyncOptions BaseSync(const Config& c) {
  raid::SyncOptions s;
  if (c.sync_depth) s.depth = c.sync_depth;
  if (c.sync_window_kib) s.window_sectors = c.sync_window_kib * 2;
  return s;
}

// ---- Table 1: foreground latency while the resync runs --------------------------------------

enum class Scenario { kNone, kBucket, kGlobal };
const char* ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kNone: return "no resync";
    case Scenario::kBucket: return "bucket + resync";
    case Scenario::kGlobal: return "global + resync";
  }
  return "?";
}

struct Foreground {
  std::vector<uint8_t> allowed_unit;  // per 64 MiB unit of the array: may be written
  uint64_t first_block = 0, blocks = 0;  // 4 KiB blocks
  uint64_t measure_start = UINT64_MAX, measure_end = UINT64_MAX;
  bool stop = false;
  Histogram hist;
  uint64_t errors = 0;
  std::string first_error;
};

io::Task<void> Writer(raid::Array& a, Foreground& fg, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> buf(4096);
  for (auto& b : buf) b = uint8_t(rng());
  const uint64_t unit_blocks = raid::Barrier::kUnitSectors / 8;
  while (!fg.stop) {
    uint64_t block;
    do {
      block = fg.first_block + rng() % (fg.blocks - fg.first_block);
    } while (!fg.allowed_unit[block / unit_blocks]);
    const uint64_t t0 = NowNs();
    Status s = co_await a.Write(block * 4096, buf, io::WriteFlags::kNone);
    const uint64_t t1 = NowNs();
    if (!s.ok()) {
      if (fg.errors++ == 0) fg.first_error = s.message();
      continue;
    }
    if (t0 >= fg.measure_start && t1 <= fg.measure_end) fg.hist.Record(t1 - t0);
  }
}

struct LatencyRow {
  Scenario scenario = Scenario::kNone;
  uint32_t qd = 0;
  bool control = false;  // the members without a bandwidth limit (latency only)
  double seconds = 0;
  Histogram hist;
  uint64_t write_waits = 0;      // foreground writes that waited on a barrier while measured
  uint64_t resync_sectors = 0;   // copied by the resync while measured
  bool resync_running = true;    // still resyncing the region at the end of every segment
  uint64_t segments = 0;
  uint64_t dirty_chunks = 0;     // most bitmap chunks dirty at the end of a segment's window
  double Iops() const { return seconds > 0 ? double(hist.count()) / seconds : 0; }
  double ResyncKibS() const { return seconds > 0 ? double(resync_sectors) / 2 / seconds : 0; }
};

// One measured segment of a row, on a fresh array: warm-up, then `measure_s` seconds measured.
// Adds what it measured to `row`.
io::Task<Status> RunSegment(io::Reactor& reactor, testing::Timers& timers, Disks& disks,
                            const Config& c, double measure_s, uint64_t region_sectors,
                            uint64_t speed_max_kib, uint64_t seed, LatencyRow& row) {
  const Scenario sc = row.scenario;
  const uint32_t qd = row.qd;
  Config cfg = c;
  if (row.control) cfg.bw_mib = 0;
  ArraySetup s;
  s.mode = sc == Scenario::kGlobal ? raid::BarrierMode::kGlobal : raid::BarrierMode::kBucket;
  s.dirty_chunks = sc == Scenario::kNone ? 0 : 1;
  s.sync = BaseSync(c);
  s.sync.speed_max_kib = speed_max_kib;
  MESHRAID_CO_ASSIGN_OR_RETURN(Built b, BuildArray(reactor, timers, disks, cfg, s, seed));
  raid::Array& a = *b.array;
  if (b.bitmap_chunk_sectors != region_sectors) {
    co_return Status::FailedPrecondition(fmt::format("bitmap chunk is {} sectors, expected {}",
                                                     b.bitmap_chunk_sectors, region_sectors));
  }

  Foreground fg;
  const uint64_t array_sectors = a.info().size_bytes / 512;
  const uint64_t units = (array_sectors + raid::Barrier::kUnitSectors - 1) / raid::Barrier::kUnitSectors;
  fg.allowed_unit.assign(size_t(units), 1);
  // The resynced region is unit 0; units hashing to its bucket would wait on its barrier too.
  for (uint64_t u = 0; u < units; ++u) {
    if (u == 0 || raid::Barrier::BucketOf(u * raid::Barrier::kUnitSectors) ==
                      raid::Barrier::BucketOf(0)) {
      fg.allowed_unit[size_t(u)] = 0;
    }
  }
  fg.first_block = region_sectors / 8;
  fg.blocks = array_sectors / 8;

  io::Gate gate(reactor);
  for (uint32_t i = 0; i < qd; ++i) io::Spawn(gate, Writer(a, fg, seed * 1000 + i));
  (void)co_await reactor.Sleep(Seconds(c.warmup_s));
  const raid::SyncProgress p0 = a.sync_progress();
  const uint64_t waits0 = a.barrier().stats().write_waits;
  fg.measure_start = NowNs();
  (void)co_await reactor.Sleep(Seconds(measure_s));
  fg.measure_end = NowNs();
  const raid::SyncProgress p1 = a.sync_progress();
  const uint64_t waits1 = a.barrier().stats().write_waits;
  const uint64_t dirty = a.write_intent() ? a.write_intent()->DirtyCount() : 0;
  fg.stop = true;
  co_await gate.Close();
  a.SetSyncFrozen(true);
  co_await a.WaitSyncIdle();
  Status closed = co_await a.Close();
  if (!closed.ok()) co_return closed.WithPrefix("close");
  if (fg.errors) {
    co_return Status::IoError(fmt::format("{} write errors, first: {}", fg.errors, fg.first_error));
  }
  row.seconds += double(fg.measure_end - fg.measure_start) / 1e9;
  row.hist.Merge(fg.hist);
  row.write_waits += waits1 - waits0;
  row.resync_sectors += p1.copied_sectors - p0.copied_sectors;
  if (sc != Scenario::kNone) {
    row.resync_running &= p1.action == raid::SyncAction::kResync && p1.done_sectors < region_sectors;
  }
  ++row.segments;
  row.dirty_chunks = std::max(row.dirty_chunks, dirty);
  co_return Status::Ok();
}

// ---- Table 2: resync throughput against the members' sequential bandwidth ------------------

// The ideal resync of the first `array_bytes` of the array: both mirror pairs copied member to
// member at once (each pair holds half of those sectors), `depth` in flight per pair.
io::Task<Rate> PairCopy(io::Executor& ex, std::vector<std::unique_ptr<io::BlockDevice>>& st,
                        uint64_t base, uint64_t array_bytes, uint64_t io_bytes, uint32_t depth) {
  Stopwatch sw;
  io::Gate gate(ex);
  io::Spawn(gate, Copy(ex, *st[0], *st[1], base, array_bytes / 2, io_bytes, depth));
  io::Spawn(gate, Copy(ex, *st[2], *st[3], base, array_bytes / 2, io_bytes, depth));
  co_await gate.Close();
  co_return Rate{array_bytes, sw.Seconds(), sw.CpuShare()};
}

// Resync of the first `chunks` bitmap chunks, unthrottled, no foreground: from the array's
// start (its sync thread starts with it) until the sync is idle.
io::Task<Result<Rate>> ResyncRate(io::Reactor& reactor, testing::Timers& timers, Disks& disks,
                                  const Config& c, uint64_t chunks) {
  ArraySetup s;
  s.dirty_chunks = chunks;
  s.sync = BaseSync(c);
  s.sync.speed_max_kib = 0;  // unlimited
  Stopwatch sw;
  MESHRAID_CO_ASSIGN_OR_RETURN(Built b, BuildArray(reactor, timers, disks, c, s, c.seed + 77));
  co_await b.array->WaitSyncIdle();
  Rate r{0, sw.Seconds(), sw.CpuShare()};
  const raid::SyncProgress p = b.array->sync_progress();
  const uint64_t resync_offset = b.array->resync_offset();
  Status closed = co_await b.array->Close();
  if (!closed.ok()) co_return closed.WithPrefix("close");
  if (resync_offset != format::kMaxSector) co_return Status::FailedPrecondition("the resync did not finish");
  r.bytes = p.copied_sectors * 512;
  co_return r;
}

struct Throughput {
  Rate read, write;  // one member, sequential
  struct Row {
    std::string what;
    Rate rate;
    double copy_mib_s = 0;  // the raw copy of the same range
  };
  std::vector<Row> rows;
  uint32_t depth = 0;
};

io::Task<Result<Throughput>> RunThroughput(io::Reactor& reactor, testing::Timers& timers,
                                           Disks& disks, const Config& c, uint64_t data_offset,
                                           uint64_t region_bytes, uint64_t full_bytes) {
  Throughput t;
  const raid::SyncOptions so = BaseSync(c);
  t.depth = c.copy_depth ? c.copy_depth : so.depth;
  const uint64_t io_bytes = 1 * kMiB;
  std::vector<std::unique_ptr<io::BlockDevice>> st;
  for (int i = 0; i < kMembers; ++i) {
    st.push_back(MemberStack(*disks.mems[size_t(i)], timers, ModelOf(c), c.seed * 31 + uint64_t(i)));
  }
  // One member, sequential: what a member can give the sync.
  const uint64_t seq_bytes = std::min<uint64_t>(256 * kMiB, full_bytes / 2);
  t.read = co_await Sequential(reactor, *st[0], false, data_offset, seq_bytes, io_bytes, t.depth);
  t.write = co_await Sequential(reactor, *st[1], true, data_offset, seq_bytes, io_bytes, t.depth);
  const Rate copy_region = co_await PairCopy(reactor, st, data_offset, region_bytes, io_bytes, t.depth);
  const Rate copy_full = co_await PairCopy(reactor, st, data_offset, full_bytes, io_bytes, t.depth);
  st.clear();
  MESHRAID_CO_ASSIGN_OR_RETURN(Rate resync_region, co_await ResyncRate(reactor, timers, disks, c, 1));
  MESHRAID_CO_ASSIGN_OR_RETURN(Rate resync_full, co_await ResyncRate(reactor, timers, disks, c, 1000));
  t.rows.push_back({"raw member->member copy, 64 MiB region", copy_region, copy_region.MibS()});
  t.rows.push_back({"resync, 64 MiB region", resync_region, copy_region.MibS()});
  t.rows.push_back({"raw member->member copy, whole array", copy_full, copy_full.MibS()});
  t.rows.push_back({"resync, whole array", resync_full, copy_full.MibS()});
  // The same resync with other SyncOptions (window KiB x depth), for tuning.
  for (const auto& [window_kib, depth] : c.alt_sync) {
    Config alt = c;
    alt.sync_window_kib = window_kib;
    alt.sync_depth = depth;
    MESHRAID_CO_ASSIGN_OR_RETURN(Rate r, co_await ResyncRate(reactor, timers, disks, alt, 1000));
    t.rows.push_back({fmt::format("resync, whole array, window {} KiB x depth {}", window_kib, depth),
                      r, copy_full.MibS()});
  }
  co_return t;
}

// ---- Output ---------------------------------------------------------------------------------

// Latency CDF per row (x: log latency, y: fraction), one small SVG.
void WriteSvg(const std::string& path, const std::vector<LatencyRow>& rows) {
  const double W = 720, H = 420, L = 60, R = 170, T = 30, B = 50;
  double lo = 1e18, hi = 0;
  for (const LatencyRow& r : rows) {
    if (!r.hist.count() || r.control) continue;
    lo = std::min(lo, double(r.hist.min()));
    hi = std::max(hi, double(r.hist.Percentile(0.9999)));
  }
  if (hi <= lo) return;
  lo = std::pow(10, std::floor(std::log10(lo / 1000))) * 1000;
  hi = std::pow(10, std::ceil(std::log10(hi / 1000))) * 1000;
  auto X = [&](double ns) { return L + (std::log10(ns) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) * (W - L - R); };
  // y: the percentile on a tail scale (p90, p99, p99.9 and p99.99 equally spaced).
  auto Y = [&](double f) {
    double nines = f >= 0.9999 ? 4.0 : -std::log10(1 - f);
    return T + (1 - nines / 4) * (H - T - B);
  };
  std::string s = fmt::format(
      "<svg xmlns='http://www.w3.org/2000/svg' width='{}' height='{}' font-family='sans-serif' "
      "font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n"
      "<text x='{}' y='18' font-size='13'>4 KiB random write latency by percentile while a 64 MiB "
      "resync runs (RAID10 n2 x4)</text>\n",
      W, H, L);
  for (double d = lo; d <= hi * 1.01; d *= 10) {
    s += fmt::format("<line x1='{0}' x2='{0}' y1='{1}' y2='{2}' stroke='#ddd'/><text x='{0}' y='{3}' "
                     "text-anchor='middle'>{4} us</text>\n",
                     X(d), T, H - B, H - B + 15, d / 1000);
  }
  const char* names[] = {"p0", "p90", "p99", "p99.9", "p99.99"};
  for (int n = 0; n <= 4; ++n) {
    const double f = 1 - std::pow(10, -n);
    s += fmt::format("<line x1='{0}' x2='{1}' y1='{2}' y2='{2}' stroke='#ddd'/><text x='{3}' y='{4}' "
                     "text-anchor='end'>{5}</text>\n",
                     L, W - R, Y(f), L - 5, Y(f) + 4, names[n]);
  }
  const char* colors[] = {"#333333", "#1f77b4", "#d62728", "#777777", "#2ca02c", "#ff7f0e"};
  size_t k = 0;
  for (const LatencyRow& r : rows) {
    if (!r.hist.count() || r.control) continue;
    const char* col = colors[k % 6];
    std::string pts;
    for (int i = 0; i <= 400; ++i) {
      double f = 1 - std::pow(10, -4.0 * i / 400);  // dense near the tail
      pts += fmt::format("{:.1f},{:.1f} ", X(std::max<double>(double(r.hist.Percentile(f)), lo)), Y(f));
    }
    s += fmt::format("<polyline fill='none' stroke='{}' stroke-width='1.5' stroke-dasharray='{}' "
                     "points='{}'/>\n",
                     col, r.qd == 1 ? "4,3" : "none", pts);
    s += fmt::format("<line x1='{0}' x2='{1}' y1='{2}' y2='{2}' stroke='{3}' stroke-width='2' "
                     "stroke-dasharray='{4}'/><text x='{5}' y='{6}'>{7}, QD{8}</text>\n",
                     W - R + 10, W - R + 30, T + 14 * double(k), col, r.qd == 1 ? "4,3" : "none",
                     W - R + 35, T + 14 * double(k) + 4, ScenarioName(r.scenario), r.qd);
    ++k;
  }
  s += "</svg>\n";
  std::ofstream(path) << s;
}

io::Task<int> Main(io::Reactor& reactor, const Config& c) {
  testing::ReactorTimers timers(reactor);
  Disks disks;
  const uint64_t member_bytes = c.member_mib * kMiB;
  {
    std::mt19937_64 rng(c.seed);
    std::vector<uint8_t> fill(kMiB);
    for (int i = 0; i < kMembers; ++i) {
      disks.names.push_back(fmt::format("mem{}", i));
      disks.mems.push_back(std::make_unique<io::MemDevice>(
          reactor, io::MemDevice::Options{.size_bytes = member_bytes, .name = disks.names.back()}));
      for (auto& b : fill) b = uint8_t(rng());
      for (uint64_t off = 0; off < member_bytes; off += kMiB) disks.mems.back()->Poke(off, fill);
    }
  }
  // Geometry facts from a throw-away clean array.
  uint64_t data_offset = 0, chunk_sectors = 0, array_bytes = 0, chunks = 0;
  {
    ArraySetup s;
    auto b = BuildArray(reactor, timers, disks, c, s, 0);
    if (!b.ok()) {
      std::fprintf(stderr, "setup: %s\n", b.status().message().c_str());
      co_return 1;
    }
    data_offset = b->data_offset_bytes;
    chunk_sectors = b->bitmap_chunk_sectors;
    chunks = b->bitmap_chunks;
    array_bytes = b->array->info().size_bytes;
    (void)co_await b->array->Close();
  }
  const raid::SyncOptions so = BaseSync(c);
  const uint64_t region_kib = chunk_sectors / 2;
  // Auto: the 64 MiB region takes warm-up + one segment + 1.5 s, so it is still running when
  // a segment's measurement ends.
  const uint64_t speed_max =
      c.sync_max_kib ? c.sync_max_kib
                     : uint64_t(double(region_kib) / (c.warmup_s + c.measure_s / c.rounds + 1.5));
  fmt::print("# meshraid barrier bench\n\n");
  fmt::print("RAID10 n2 over {} MemDevice members of {} MiB (array {} MiB, 512 KiB chunk, bitmap "
             "chunk {} MiB x {}).\n",
             kMembers, c.member_mib, array_bytes / kMiB, chunk_sectors / 2048, chunks);
  fmt::print("Member model: read {} us, write {} us (uniform +-{:.0f}%), {} MiB/s transfer channel "
             "shared round-robin in {} KiB slices{}.\n",
             c.read_us, c.write_us, c.jitter * 100, c.bw_mib, c.quantum_kib,
             c.quantum_kib >= 1024 ? " (i.e. FIFO for the sync's I/O)" : "");
  fmt::print("Sync: window {} KiB, depth {}, speed_min {} KiB/s.\n\n", so.window_sectors / 2,
             so.depth, so.speed_min_kib);

  std::vector<LatencyRow> rows;
  if (c.latency) {
    const Scenario order[] = {Scenario::kNone, Scenario::kBucket, Scenario::kGlobal};
    for (int control = 0; control < (c.control && c.bw_mib ? 2 : 1); ++control) {
      for (uint32_t qd : c.qds) {
        for (Scenario sc : order) {
          rows.emplace_back();
          rows.back().scenario = sc;
          rows.back().qd = qd;
          rows.back().control = control != 0;
        }
      }
    }
    const double segment_s = c.measure_s / c.rounds;
    fmt::print("## Foreground 4 KiB random writes outside the resynced 64 MiB region\n\n");
    fmt::print("Resync of bitmap chunk 0 (array sectors 0..{}) capped at speed_max {} KiB/s. Each "
               "row: {} segments of {:.1f} s warm-up + {:.2f} s measured, each on a fresh array, "
               "the scenarios interleaved round-robin (so machine noise hits them alike). "
               "Members: the model above{}.\n\n",
               chunk_sectors, speed_max, c.rounds, c.warmup_s, segment_s,
               c.control && c.bw_mib ? "; control rows (\"no bw limit\"): the same members "
                                        "without the bandwidth channel (latency only), to separate "
                                        "the barrier from contention for member bandwidth"
                                      : "");
    std::fflush(stdout);
    for (uint32_t round = 0; round < c.rounds; ++round) {
      for (size_t i = 0; i < rows.size(); ++i) {
        // Rotate the scenario order within each QD from round to round.
        const size_t group = i / 3, k = (i % 3 + round) % 3;
        LatencyRow& row = rows[group * 3 + k];
        Status st = co_await RunSegment(reactor, timers, disks, c, segment_s, chunk_sectors,
                                        speed_max, c.seed * 100 + round * 10 + k, row);
        if (!st.ok()) {
          std::fprintf(stderr, "%s QD%u%s: %s\n", ScenarioName(row.scenario), row.qd,
                       row.control ? " (no bw limit)" : "", st.message().c_str());
          co_return 1;
        }
      }
      if (c.verbose) std::fprintf(stderr, "round %u done\n", round + 1);
    }
    fmt::print("| members | scenario | QD | IOPS | p50 us | p99 us | p99.9 us | max us | p99 x "
               "no-resync | p99.9 x no-resync | barrier waits | resync KiB/s |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    double base_p99 = 0, base_p999 = 0;
    for (const LatencyRow& r : rows) {
      const Histogram& h = r.hist;
      const double p99 = double(h.Percentile(0.99));
      const double p999 = double(h.Percentile(0.999));
      if (r.scenario == Scenario::kNone) base_p99 = p99, base_p999 = p999;
      std::string resync = r.scenario == Scenario::kNone ? "-" : fmt::format("{:.0f}", r.ResyncKibS());
      if (r.scenario != Scenario::kNone && !r.resync_running) resync += " (left the region!)";
      fmt::print("| {} | {} | {} | {:.0f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.2f} | {:.2f} | {} | {} |\n",
                 r.control ? std::string("no bw limit") : fmt::format("{} MiB/s", c.bw_mib),
                 ScenarioName(r.scenario), r.qd, r.Iops(), Us(h.Percentile(0.5)), Us(p99),
                 Us(h.Percentile(0.999)), Us(h.max()), base_p99 > 0 ? p99 / base_p99 : 0,
                 base_p999 > 0 ? p999 / base_p999 : 0,
                 r.write_waits, resync);
    }
    uint64_t dirty = 0;
    for (const LatencyRow& r : rows) {
      if (r.scenario != Scenario::kNone) dirty = std::max(dirty, r.dirty_chunks);
    }
    fmt::print("\nBitmap chunks dirty when a resync row's window ended: up to {} of {} (bits the "
               "foreground set; the resync copies only the chunks dirty at assembly).\n\n",
               dirty, chunks);
    std::fflush(stdout);
    if (!c.svg.empty()) WriteSvg(c.svg, rows);
  }

  if (c.throughput && c.bw_mib == 0) {
    fmt::print("(no throughput table: the members have no bandwidth limit)\n");
  } else if (c.throughput) {
    auto t = co_await RunThroughput(reactor, timers, disks, c, data_offset, region_kib * kKiB,
                                    array_bytes);
    if (!t.ok()) {
      std::fprintf(stderr, "throughput: %s\n", t.status().message().c_str());
      co_return 1;
    }
    // Each mirror pair holds half the array: a resync that keeps every member busy at its
    // sequential speed moves pairs × min(read, write) array bytes per second.
    const double pairs = kMembers / 2.0;
    const double ideal = pairs * std::min(t->read.MibS(), t->write.MibS());
    fmt::print("## Resync throughput (speed_max unlimited, no foreground I/O)\n\n");
    fmt::print("Members measured on their own stacks with 1 MiB I/O at depth {}: sequential read "
               "{:.0f} MiB/s (CPU {:.0f}%), sequential write {:.0f} MiB/s (CPU {:.0f}%). Member "
               "reference = {} mirror pairs x min(read, write) = {:.0f} MiB/s of array data; the "
               "raw copy does the resync's data movement straight on the member stacks (1 MiB, "
               "depth {} per pair).\n\n",
               t->depth, t->read.MibS(), t->read.cpu * 100, t->write.MibS(), t->write.cpu * 100,
               pairs, ideal, t->depth);
    fmt::print("| what | array MiB | MiB/s | x member reference | x raw copy | CPU |\n"
               "|---|---|---|---|---|---|\n");
    for (const Throughput::Row& r : t->rows) {
      fmt::print("| {} | {} | {:.0f} | {:.2f} | {:.2f} | {:.0f}% |\n", r.what, r.rate.bytes / kMiB,
                 r.rate.MibS(), r.rate.MibS() / ideal, r.rate.MibS() / r.copy_mib_s, r.rate.cpu * 100);
    }
    fmt::print("\n");
  }
  co_return 0;
}

}  // namespace
}  // namespace meshraid::bench

int main(int argc, char** argv) {
  using meshraid::bench::Config;
  Config c;
  CLI::App app{"meshraid barrier/resync benchmark (in-process, memory members)"};
  std::string qds = "1,16";
  app.add_option("--member-mib", c.member_mib, "member size (MiB)");
  app.add_option("--warmup", c.warmup_s, "warm-up seconds per latency row");
  app.add_option("--measure", c.measure_s, "measured seconds per latency row");
  app.add_option("--rounds", c.rounds, "segments per latency row (interleaved)");
  app.add_option("--qd", qds, "foreground queue depths, comma-separated");
  app.add_option("--read-us", c.read_us, "member read latency (mean, us)");
  app.add_option("--write-us", c.write_us, "member write latency (mean, us)");
  app.add_option("--jitter", c.jitter, "latency spread: uniform in [1-j, 1+j] x mean");
  app.add_option("--bw-mib", c.bw_mib, "member transfer bandwidth (MiB/s; 0: unlimited)");
  app.add_option("--quantum-kib", c.quantum_kib, "transfer slice (KiB)");
  app.add_option("--sync-depth", c.sync_depth, "SyncOptions::depth (0: default)");
  app.add_option("--sync-window-kib", c.sync_window_kib, "SyncOptions::window (0: default)");
  app.add_option("--sync-max-kib", c.sync_max_kib, "resync speed_max for the latency rows (0: auto)");
  app.add_option("--copy-depth", c.copy_depth, "depth of the member reference runs (0: sync depth)");
  std::string alt;
  app.add_option("--alt-sync", alt, "extra whole-array resync rows: WINDOW_KIBxDEPTH,...");
  app.add_option("--svg", c.svg, "write a latency CDF plot here");
  app.add_option("--seed", c.seed, "random seed");
  app.add_flag("--verbose", c.verbose, "print the array's log lines");
  bool no_latency = false, no_throughput = false, no_control = false;
  app.add_flag("--no-control", no_control, "skip the latency rows without bandwidth limit");
  app.add_flag("--no-latency", no_latency, "skip table 1");
  app.add_flag("--no-throughput", no_throughput, "skip table 2");
  CLI11_PARSE(app, argc, argv);
  c.latency = !no_latency;
  c.control = !no_control;
  c.throughput = !no_throughput;
  c.qds.clear();
  for (size_t pos = 0; pos <= qds.size();) {
    size_t end = qds.find(',', pos);
    if (end == std::string::npos) end = qds.size();
    if (end > pos) c.qds.push_back(uint32_t(std::stoul(qds.substr(pos, end - pos))));
    pos = end + 1;
  }
  for (size_t pos = 0; pos < alt.size();) {
    size_t end = alt.find(',', pos);
    if (end == std::string::npos) end = alt.size();
    std::string item = alt.substr(pos, end - pos);
    size_t x = item.find('x');
    if (x == std::string::npos) {
      std::fprintf(stderr, "--alt-sync: '%s' is not WINDOW_KIBxDEPTH\n", item.c_str());
      return 2;
    }
    c.alt_sync.emplace_back(std::stoull(item.substr(0, x)), uint32_t(std::stoul(item.substr(x + 1))));
    pos = end + 1;
  }
  if (c.rounds == 0 || c.qds.empty()) {
    std::fprintf(stderr, "--rounds and --qd must be positive\n");
    return 2;
  }
  auto reactor = meshraid::io::Reactor::Create(meshraid::io::Reactor::Options{.sq_entries = 1024});
  if (!reactor.ok()) {
    std::fprintf(stderr, "reactor: %s\n", reactor.status().message().c_str());
    return 1;
  }
  return (*reactor)->RunUntilComplete(meshraid::bench::Main(**reactor, c));
}
