// meshraid_reshape_bench: what the online RAID1 -> RAID10 takeover and the online RAID10 near
// grow (reshape, 2 -> 4 members) cost, in one process on one io::Reactor (real time, real
// io_uring timers; no root, no files). bench/reshape_bench.sh builds and runs it.
//
// Members: MemDevices (sparse; the 512 MiB ones filled once) behind testing::DelayDevice
// (NVMe-like per-operation latency, uniform ±jitter) behind BandwidthDevice (a finite transfer
// channel shared round-robin in slices; bench/barrier/bandwidth_device.h), the model
// meshraid_barrier_bench uses (bench/bench_common.h), behind a CountingMember that counts what
// the array sends (reads, writes, flushes, superblock writes). Arrays are made by PlanCreate,
// their bytes poked onto the MemDevices, read back with ReadMemberMetadata, assembled and
// started with Array::Create, like `meshraid run` does.
//
// Part 1 (takeover): Array::Takeover(10) (and back, Takeover(1)) on a RAID1 of 2 members of
// 1 GiB and of 64 GiB (sparse), with an internal bitmap, after a write and the return to clean:
// wall time and what each member was sent. The 64 GiB / 1 GiB ratio should be 1.
//
// Part 2 (reshape throughput): a RAID10 n2 over 2 members (512 MiB each, every 4 KiB block of
// the array holding a recognisable pattern), 2 spares added, Reshape(4) with speed_max
// unlimited and no foreground I/O, timed until the move ends (reshaping() false), then the
// resync of the new space; the array is read back and compared with the pattern. References,
// on the same member stacks in the same run: the members' sequential read and write bandwidth,
// and raw copies that do the reshape's data movement straight on the member stacks (read an
// old-layout copy, write both new-layout copies, window by window with the array's window):
// one window at a time or 4 in flight (sliding, or in batches that each wait for all of their
// windows), reads from the first old copy or alternating over both. The best of them (4
// sliding, alternating) is what the members allow.
//
// Part 3 (foreground during a reshape): a closed-loop generator does 4 KiB random reads and
// writes (70/30 by default) over the old array size at each QD, every read checked against the
// last write of its block, (a) on the 2-member array with 2 spares and no reshape, (b) while
// the reshape runs, throttled by speed_max so that it outlasts each measurement, (c) on a
// 4-member RAID10 n2 (the shape after the reshape, same array range). Each row sums `rounds`
// short segments on a fresh array, the scenarios interleaved so machine noise hits them alike.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_common.h"
#include "format/superblock.h"
#include "io/clock.h"
#include "io/gate.h"
#include "io/mem_device.h"
#include "io/reactor.h"
#include "io/when_all.h"
#include "layout/geometry.h"
#include "raid/array.h"
#include "raid/assemble.h"
#include "raid/create.h"
#include "raid/member_metadata.h"
#include "testing/timers.h"
#include "util/histogram.h"

namespace meshraid::bench {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kSbByte = 8 * 512;  // v1.2 superblock
constexpr uint32_t kUnknown = UINT32_MAX;  // a block whose last write failed
constexpr uint64_t kSlowNs = 1'000'000;    // "slow" foreground requests (part 3's second table)

struct Config {
  uint64_t member_mib = 512;
  uint64_t takeover_small_gib = 1;
  uint64_t takeover_big_gib = 64;
  uint32_t takeover_reps = 7;
  double warmup_s = 0.5;
  double measure_s = 5;  // per row, split into `rounds` segments
  uint32_t rounds = 5;
  std::vector<uint32_t> qds{1, 16};
  uint32_t read_pct = 70;
  MemberModel model;
  uint64_t fg_speed_max_kib = 0;  // 0: chosen so the reshape outlasts each segment
  uint64_t window_kib = 0;        // SyncOptions::window (0: the array's default)
  bool takeover = true, throughput = true, foreground = true, after_row = true;
  uint64_t seed = 1;
  bool verbose = false;
};

// Counts what the array sends a member.
class CountingMember : public io::BlockDeviceWrapper {
 public:
  struct Counts {
    uint64_t reads = 0, read_bytes = 0;
    uint64_t writes = 0, write_bytes = 0;
    uint64_t sb_writes = 0;          // writes covering the superblock's first byte
    uint64_t low_write_bytes = 0;    // bytes written below `data_start` (metadata)
    uint64_t flushes = 0;
  };
  CountingMember(std::unique_ptr<io::BlockDevice> target, uint64_t data_start)
      : BlockDeviceWrapper(std::move(target)), data_start_(data_start) {}

  io::Task<Status> Read(uint64_t offset, std::span<uint8_t> buf) override {
    ++c_.reads;
    c_.read_bytes += buf.size();
    return target().Read(offset, buf);
  }
  io::Task<Status> Write(uint64_t offset, std::span<const uint8_t> buf,
                         io::WriteFlags flags) override {
    Wrote(offset, buf.size());
    return target().Write(offset, buf, flags);
  }
  io::Task<Status> WriteZeroes(uint64_t offset, uint64_t length, io::ZeroFlags flags) override {
    Wrote(offset, length);
    return target().WriteZeroes(offset, length, flags);
  }
  io::Task<Status> Flush() override {
    ++c_.flushes;
    return target().Flush();
  }
  const Counts& counts() const { return c_; }
  void Reset() { c_ = {}; }
  std::function<void()> on_sb_write;  // called as a superblock write is issued

 private:
  void Wrote(uint64_t offset, uint64_t length) {
    ++c_.writes;
    c_.write_bytes += length;
    if (offset <= kSbByte && offset + length > kSbByte) {
      ++c_.sb_writes;
      if (on_sb_write) on_sb_write();
    }
    if (offset < data_start_) c_.low_write_bytes += std::min(length, data_start_ - offset);
  }
  uint64_t data_start_;
  Counts c_;
};

// ---- The array's contents: block b holds (b, version, pattern) ------------------------------

void FillBlock(uint64_t block, uint32_t version, uint8_t* out) {
  const uint64_t head[2] = {block, version};
  std::memcpy(out, head, sizeof head);
  const uint64_t w = block * 0x9E3779B97F4A7C15ull ^ (uint64_t{version} + 1) * 0xC2B2AE3D27D4EB4Full;
  for (uint64_t i = 2; i < kBlock / 8; ++i) {
    const uint64_t x = w + i;
    std::memcpy(out + i * 8, &x, 8);
  }
}

struct Disks {
  std::vector<std::unique_ptr<io::MemDevice>> mems;
  std::vector<std::string> names;
};

// Pokes the first model.size() blocks of an array with geometry `g` onto the disks (slot i is
// disk i), as the model says; a block of unknown content becomes version 0.
void FillArray(Disks& d, const layout::Geometry& g, uint64_t data_offset_bytes,
               std::vector<uint32_t>& model) {
  const uint64_t total = model.size() * 8;
  std::vector<uint8_t> buf(kMiB);
  for (uint64_t v = 0; v < total;) {
    const uint64_t n = std::min({g.ContiguousSectors(v), total - v, uint64_t{2048}});
    for (uint64_t k = 0; k < n / 8; ++k) {
      uint32_t& ver = model[v / 8 + k];
      if (ver == kUnknown) ver = 0;
      FillBlock(v / 8 + k, ver, buf.data() + k * kBlock);
    }
    for (const layout::Copy& c : g.Map(v)) {
      d.mems[size_t(c.disk)]->Poke(data_offset_bytes + c.sector * 512,
                                   std::span<const uint8_t>(buf.data(), n * 512));
    }
    v += n;
  }
}

// ---- Building an array ----------------------------------------------------------------------

struct Built {
  std::unique_ptr<raid::Array> array;
  std::vector<CountingMember*> counters;  // by input
  uint64_t data_offset_bytes = 0;
};

// `level` 1 or 10 (near=2), over disks [0, members); the others stay free for spares.
Result<Built> BuildArray(io::Reactor& reactor, testing::Timers& timers, Disks& disks,
                         const Config& c, int level, int members, raid::SyncOptions sync,
                         uint64_t seed) {
  raid::CreateOptions o;
  o.level = level;
  o.raid_devices = members;
  if (level == 10) {
    MESHRAID_ASSIGN_OR_RETURN(o.raid10_layout, layout::Raid10Layout::Parse("n2"));
  }
  o.bitmap = raid::BitmapChoice::kInternal;
  o.name = "bench";
  o.assume_clean = true;
  o.force = true;
  o.now_seconds = 1000;
  for (size_t i = 0; i < o.set_uuid.size(); ++i) o.set_uuid[i] = uint8_t(0xB0 + i);
  std::vector<raid::CreateMember> cm;
  for (int i = 0; i < members; ++i) {
    format::Uuid u{};
    for (size_t k = 0; k < u.size(); ++k) u[k] = uint8_t(16 * i + k + 1);
    o.device_uuids.push_back(u);
    cm.push_back({disks.names[size_t(i)], disks.mems[size_t(i)]->info().size_bytes / 512});
  }
  MESHRAID_ASSIGN_OR_RETURN(raid::CreatePlan plan, raid::PlanCreate(o, cm));
  std::vector<raid::MemberMetadata> md;
  for (int i = 0; i < members; ++i) {
    const raid::MemberWrite& w = plan.members[size_t(i)];
    io::MemDevice& mem = *disks.mems[size_t(i)];
    mem.Poke(kSbByte, w.sb_bytes);
    if (w.bitmap_sector) mem.Poke(w.bitmap_sector * 512, w.bitmap_bytes);
    if (w.bblog_sector) mem.Poke(w.bblog_sector * 512, w.bblog_bytes);
    MESHRAID_ASSIGN_OR_RETURN(raid::MemberMetadata m,
                              raid::ReadMemberMetadata(MemSource(mem, disks.names[size_t(i)])));
    md.push_back(std::move(m));
  }
  MESHRAID_ASSIGN_OR_RETURN(raid::AssemblyPlan ap, raid::PlanAssembly(md));
  if (ap.needs_resync) return Status::FailedPrecondition("a clean array needs a resync");
  Built b;
  b.data_offset_bytes = plan.data_offset * 512;
  std::vector<raid::ArrayMember> am;
  for (int i = 0; i < members; ++i) {
    auto counting = std::make_unique<CountingMember>(
        MemberStack(*disks.mems[size_t(i)], timers, c.model, seed * 16 + uint64_t(i)),
        b.data_offset_bytes);
    b.counters.push_back(counting.get());
    am.push_back({std::move(counting), std::move(md[size_t(i)])});
  }
  raid::ArrayOptions opts;
  opts.sync = sync;
  if (c.verbose) {
    opts.log = [](const std::string& l) {
      std::fprintf(stderr, "  [array %.3f] %s\n", double(NowNs() % 1'000'000'000'000) / 1e9, l.c_str());
    };
  } else {
    opts.log = [](const std::string&) {};
  }
  MESHRAID_ASSIGN_OR_RETURN(b.array, raid::Array::Create(reactor, io::SystemClock::Get(),
                                                         raid::ReactorSleep(reactor), ap,
                                                         std::move(am), opts));
  for (int i = 0; i < members; ++i) {
    if (b.array->member_slot(size_t(i)) != i) return Status::Aborted("member slots out of order");
  }
  return b;
}

// Adds disks [from, to) as spares; they must take those inputs and, in a reshape, those slots.
io::Task<Status> AddSpares(testing::Timers& timers, Disks& disks, const Config& c, Built& b,
                           int from, int to, uint64_t seed) {
  for (int i = from; i < to; ++i) {
    auto counting = std::make_unique<CountingMember>(
        MemberStack(*disks.mems[size_t(i)], timers, c.model, seed * 16 + uint64_t(i)),
        b.data_offset_bytes);
    CountingMember* counter = counting.get();
    MESHRAID_CO_ASSIGN_OR_RETURN(size_t input,
                                 co_await b.array->AddMember(std::move(counting), disks.names[size_t(i)]));
    if (input != size_t(i)) co_return Status::Aborted("spare took an unexpected input");
    b.counters.push_back(counter);
  }
  co_return Status::Ok();
}

io::Task<void> Sleep(io::Reactor& reactor, double s) { (void)co_await reactor.Sleep(Seconds(s)); }

// Reads the array's first model.size() blocks back (1 MiB reads, 4 in flight) and compares
// them with the model. Returns the number of blocks that differ; `first` describes the first.
io::Task<uint64_t> ReadBack(io::Executor& ex, raid::Array& a, const std::vector<uint32_t>& model,
                            std::string* first) {
  uint64_t next = 0, bad = 0;
  io::Gate gate(ex);
  auto worker = [](raid::Array& a, const std::vector<uint32_t>& model, uint64_t* cursor,
                   uint64_t* bad, std::string* first) -> io::Task<void> {
    std::vector<uint8_t> buf(kMiB), want(kBlock);
    const uint64_t per = kMiB / kBlock;
    while (*cursor < model.size()) {
      const uint64_t b0 = *cursor, n = std::min<uint64_t>(per, model.size() - b0);
      *cursor += n;
      Status s = co_await a.Read(b0 * kBlock, std::span<uint8_t>(buf.data(), n * kBlock));
      if (!s.ok()) {
        if ((*bad)++ == 0) *first = fmt::format("read of blocks {}+{} failed: {}", b0, n, s.message());
        *bad += n - 1;
        continue;
      }
      for (uint64_t k = 0; k < n; ++k) {
        if (model[b0 + k] == kUnknown) continue;
        FillBlock(b0 + k, model[b0 + k], want.data());
        if (std::memcmp(want.data(), buf.data() + k * kBlock, kBlock) == 0) continue;
        if ((*bad)++ == 0) {
          uint64_t head[2];
          std::memcpy(head, buf.data() + k * kBlock, sizeof head);
          *first = fmt::format("block {} (array byte {}): expected version {}, found a block "
                               "claiming to be block {} version {}",
                               b0 + k, (b0 + k) * kBlock, model[b0 + k], head[0], head[1]);
        }
      }
    }
  };
  for (int i = 0; i < 4; ++i) io::Spawn(gate, worker(a, model, &next, &bad, first));
  co_await gate.Close();
  co_return bad;
}

// ---- Part 1: takeover ------------------------------------------------------------------------

struct TakeoverRow {
  std::string what;
  uint64_t gib = 0;
  Histogram wall;  // ns
  CountingMember::Counts max;  // the most any member was sent in one takeover
  uint64_t data_write_bytes = 0;  // at or above the data offset, all members, all takeovers
  uint64_t reps = 0;
};

void MaxInto(CountingMember::Counts& m, const CountingMember::Counts& c) {
  m.reads = std::max(m.reads, c.reads);
  m.read_bytes = std::max(m.read_bytes, c.read_bytes);
  m.writes = std::max(m.writes, c.writes);
  m.write_bytes = std::max(m.write_bytes, c.write_bytes);
  m.sb_writes = std::max(m.sb_writes, c.sb_writes);
  m.low_write_bytes = std::max(m.low_write_bytes, c.low_write_bytes);
  m.flushes = std::max(m.flushes, c.flushes);
}

// One array size: RAID1 of 2, a 1 MiB write, back to clean, then `reps` x (Takeover(10),
// Takeover(1)), each timed and counted. Also the floor: a 4 KiB write + flush on both members.
io::Task<Status> RunTakeover(io::Reactor& reactor, testing::Timers& timers, const Config& c,
                             uint64_t gib, TakeoverRow& up, TakeoverRow& down, Histogram& floor) {
  Disks disks;
  for (int i = 0; i < 2; ++i) {
    disks.names.push_back(fmt::format("sparse{}g-{}", gib, i));
    disks.mems.push_back(std::make_unique<io::MemDevice>(
        reactor, io::MemDevice::Options{.size_bytes = gib << 30, .name = disks.names.back()}));
  }
  MESHRAID_CO_ASSIGN_OR_RETURN(Built b, BuildArray(reactor, timers, disks, c, 1, 2, {}, c.seed + gib));
  raid::Array& a = *b.array;
  std::vector<uint8_t> data(kMiB, 0x6B);
  MESHRAID_CO_RETURN_IF_ERROR(co_await a.Write(3 * kMiB, data, io::WriteFlags::kNone));
  for (int i = 0; i < 300 && a.active(); ++i) co_await Sleep(reactor, 0.01);
  if (a.active()) co_return Status::Aborted("the array did not go clean after a write");
  for (uint32_t r = 0; r < c.takeover_reps; ++r) {
    for (int dir = 0; dir < 2; ++dir) {
      TakeoverRow& row = dir == 0 ? up : down;
      for (CountingMember* m : b.counters) m->Reset();
      const uint64_t t0 = NowNs();
      Status s = co_await a.Takeover(dir == 0 ? 10 : 1);
      const uint64_t t1 = NowNs();
      if (!s.ok()) co_return s.WithPrefix(fmt::format("takeover to raid{}", dir == 0 ? 10 : 1));
      if (a.geometry().level() != (dir == 0 ? 10 : 1)) co_return Status::Aborted("level did not change");
      row.wall.Record(t1 - t0);
      for (CountingMember* m : b.counters) {
        MaxInto(row.max, m->counts());
        row.data_write_bytes += m->counts().write_bytes - m->counts().low_write_bytes;
      }
      ++row.reps;
    }
  }
  std::vector<uint8_t> back(kMiB);
  MESHRAID_CO_RETURN_IF_ERROR(co_await a.Read(3 * kMiB, back));
  if (back != data) co_return Status::Corruption("the data written before the takeovers reads back differently");
  MESHRAID_CO_RETURN_IF_ERROR((co_await a.Close()).WithPrefix("close"));
  b.array.reset();
  // The floor: what one metadata update costs on these members at least.
  std::vector<std::unique_ptr<io::BlockDevice>> st;
  for (int i = 0; i < 2; ++i) st.push_back(MemberStack(*disks.mems[size_t(i)], timers, c.model, 99 + uint64_t(i)));
  std::vector<uint8_t> page(kBlock, 0);
  for (uint32_t r = 0; r < c.takeover_reps; ++r) {
    auto one = [](io::BlockDevice& d, std::span<const uint8_t> p) -> io::Task<Status> {
      MESHRAID_CO_RETURN_IF_ERROR(co_await d.Write(64 * kMiB, p, io::WriteFlags::kNone));
      co_return co_await d.Flush();
    };
    std::vector<io::Task<Status>> t;
    const uint64_t t0 = NowNs();
    for (auto& d : st) t.push_back(one(*d, page));
    MESHRAID_CO_RETURN_IF_ERROR(co_await io::WhenAllOk(std::move(t)));
    floor.Record(NowNs() - t0);
  }
  co_return Status::Ok();
}

// ---- Part 2: reshape throughput --------------------------------------------------------------

// One window of the reshape's data movement straight on the member stacks: read array sectors
// [sector, sector + n) from old-layout copy `pick` piece by piece, then write every new-layout
// copy at once.
struct RawMove {
  std::vector<std::unique_ptr<io::BlockDevice>>& st;
  const layout::Geometry& og;
  const layout::Geometry& ng;
  uint64_t old_offset, new_offset;
};
io::Task<void> RawWindow(const RawMove& m, uint64_t sector, uint64_t n, size_t pick) {
  std::vector<uint8_t> data(n * 512);
  for (uint64_t v = sector; v < sector + n;) {
    const uint64_t k = std::min(sector + n - v, m.og.ContiguousSectors(v));
    const layout::Copy c = m.og.Map(v)[pick];
    Status s = co_await m.st[size_t(c.disk)]->Read(
        m.old_offset + c.sector * 512, std::span<uint8_t>(data.data() + (v - sector) * 512, k * 512));
    if (!s.ok()) std::fprintf(stderr, "raw copy read failed: %s\n", s.message().c_str());
    v += k;
  }
  std::vector<io::Task<Status>> writes;
  for (uint64_t v = sector; v < sector + n;) {
    const uint64_t k = std::min(sector + n - v, m.ng.ContiguousSectors(v));
    for (const layout::Copy& c : m.ng.Map(v)) {
      writes.push_back(m.st[size_t(c.disk)]->Write(
          m.new_offset + c.sector * 512,
          std::span<const uint8_t>(data.data() + (v - sector) * 512, k * 512), io::WriteFlags::kNone));
    }
    v += k;
  }
  Status s = co_await io::WhenAllOk(std::move(writes));
  if (!s.ok()) std::fprintf(stderr, "raw copy write failed: %s\n", s.message().c_str());
}

// The whole move, windows of `window` array sectors (not crossing a 64 MiB unit, like the
// array's), reads from the first old copy or alternately from each; `depth` windows in flight,
// either sliding (a new window starts as soon as one ends) or in batches (`depth` windows start
// together and the next batch waits for all of them).
io::Task<Rate> RawReshapeCopy(io::Executor& ex, const RawMove& m, uint64_t window, uint32_t depth,
                              bool alternate, bool batches) {
  const uint64_t total = m.og.ArraySectors();
  const size_t copies = m.og.Map(0).size();
  uint64_t next = 0, windows = 0;
  auto take = [&](uint64_t* sector, uint64_t* n, size_t* pick) {
    *sector = next;
    *n = std::min({window, total - next, raid::Barrier::ToUnitEnd(next)});
    next += *n;
    *pick = alternate ? size_t(windows++ % copies) : 0;
  };
  Stopwatch sw;
  if (batches) {
    while (next < total) {
      std::vector<io::Task<void>> batch;
      for (uint32_t i = 0; i < depth && next < total; ++i) {
        uint64_t sector, n;
        size_t pick;
        take(&sector, &n, &pick);
        batch.push_back(RawWindow(m, sector, n, pick));
      }
      co_await io::WhenAll(std::move(batch));
    }
  } else {
    io::Gate gate(ex);
    auto worker = [](const RawMove& m, uint64_t total, uint64_t* cursor,
                     std::function<void(uint64_t*, uint64_t*, size_t*)> take) -> io::Task<void> {
      while (*cursor < total) {
        uint64_t sector, n;
        size_t pick;
        take(&sector, &n, &pick);
        co_await RawWindow(m, sector, n, pick);
      }
    };
    for (uint32_t i = 0; i < depth; ++i) io::Spawn(gate, worker(m, total, &next, take));
    co_await gate.Close();
  }
  co_return Rate{total * 512, sw.Seconds(), sw.CpuShare()};
}

struct ThroughputResult {
  Rate seq_read, seq_write;  // one member, 1 MiB, depth 4
  Rate reshape, resync;      // the engine: the move; the new space's resync
  std::vector<std::pair<std::string, Rate>> raw;  // the last one is the best

  uint64_t window_sectors = 0, chunk_sectors = 0, offset_change = 0;
  std::vector<CountingMember::Counts> during;  // per member, during the move
  uint64_t verify_bad = 0;
  std::string verify_first;
  uint64_t old_mib = 0, new_mib = 0;
  double poll_lag_ms = 0;
  double move_ms = 0;
  struct SbWrite {
    double ms;            // since the Reshape() call
    bool reshaping;
    uint64_t position;    // reshape_position() (array sectors) when it was issued
  };
  std::vector<SbWrite> sb_writes;  // member 0's, from the Reshape() call to the sync's end
};

io::Task<Result<ThroughputResult>> RunThroughput(io::Reactor& reactor, testing::Timers& timers,
                                                 Disks& disks, const Config& c,
                                                 std::vector<uint32_t>& model) {
  ThroughputResult t;
  raid::SyncOptions so;
  so.speed_max_kib = 0;  // unlimited
  if (c.window_kib) so.window_sectors = c.window_kib * 2;
  MESHRAID_CO_ASSIGN_OR_RETURN(Built b, BuildArray(reactor, timers, disks, c, 10, 2, so, c.seed + 7));
  raid::Array& a = *b.array;
  const layout::Geometry old_geo = a.geometry();
  const uint64_t old_offset = b.data_offset_bytes;
  FillArray(disks, old_geo, old_offset, model);
  MESHRAID_CO_RETURN_IF_ERROR(co_await AddSpares(timers, disks, c, b, 2, 4, c.seed + 7));
  for (CountingMember* m : b.counters) m->Reset();

  const uint64_t cpu0 = CpuNs(), t0 = NowNs();
  b.counters[0]->on_sb_write = [&t, &a, t0] {
    t.sb_writes.push_back({double(NowNs() - t0) / 1e6, a.reshaping(), a.reshape_position()});
  };
  MESHRAID_CO_RETURN_IF_ERROR((co_await a.Reshape(4)).WithPrefix("reshape"));
  uint64_t last_seen = NowNs();
  while (a.reshaping()) {
    co_await Sleep(reactor, 0.001);
    last_seen = NowNs();
  }
  const uint64_t t1 = NowNs(), cpu1 = CpuNs();
  t.poll_lag_ms = double(t1 - last_seen) / 1e6;
  for (CountingMember* m : b.counters) t.during.push_back(m->counts());
  const raid::SyncProgress p1 = a.sync_progress();
  co_await a.WaitSyncIdle();
  const uint64_t t2 = NowNs(), cpu2 = CpuNs();
  b.counters[0]->on_sb_write = nullptr;
  t.move_ms = double(t1 - t0) / 1e6;
  const raid::SyncProgress p2 = a.sync_progress();
  t.reshape = Rate{old_geo.ArraySectors() * 512, double(t1 - t0) / 1e9, double(cpu1 - cpu0) / double(t1 - t0)};
  t.resync = Rate{(p2.copied_sectors - p1.copied_sectors) * 512, double(t2 - t1) / 1e9,
                  double(cpu2 - cpu1) / double(std::max<uint64_t>(t2 - t1, 1))};
  const layout::Geometry new_geo = a.geometry();
  if (new_geo.raid_disks() != 4) co_return Status::Aborted("the array did not grow to 4 members");
  if (a.info().size_bytes != 2 * old_geo.ArraySectors() * 512) {
    co_return Status::Aborted(fmt::format("array size after the reshape: {} bytes, expected {}",
                                           a.info().size_bytes, 2 * old_geo.ArraySectors() * 512));
  }
  if (a.resync_offset() != format::kMaxSector) co_return Status::Aborted("the new space was not resynced");
  t.old_mib = old_geo.ArraySectors() / 2048;
  t.new_mib = new_geo.ArraySectors() / 2048;
  t.chunk_sectors = new_geo.chunk_sectors();
  t.window_sectors = std::max(t.chunk_sectors, a.sync_options().window_sectors / t.chunk_sectors * t.chunk_sectors);
  const uint64_t new_offset = a.member_metadata(0).sb.data_offset * 512;
  t.offset_change = (old_offset - new_offset) / 512;
  t.verify_bad = co_await ReadBack(reactor, a, model, &t.verify_first);
  MESHRAID_CO_RETURN_IF_ERROR((co_await a.Close()).WithPrefix("close"));
  b.array.reset();

  // References on fresh stacks over the same disks.
  std::vector<std::unique_ptr<io::BlockDevice>> st;
  for (int i = 0; i < 4; ++i) st.push_back(MemberStack(*disks.mems[size_t(i)], timers, c.model, c.seed * 31 + uint64_t(i)));
  const uint64_t seq = std::min<uint64_t>(256 * kMiB, old_geo.ArraySectors() * 512);
  t.seq_read = co_await Sequential(reactor, *st[0], false, old_offset, seq, kMiB, 4);
  t.seq_write = co_await Sequential(reactor, *st[1], true, old_offset, seq, kMiB, 4);
  const RawMove move{st, old_geo, new_geo, old_offset, new_offset};
  struct Variant {
    uint32_t depth;
    bool alternate, batches;
  };
  const Variant variants[] = {{1, false, false}, {1, true, false}, {4, false, false},
                              {4, true, true}, {4, true, false}};
  for (const Variant& v : variants) {
    Rate r = co_await RawReshapeCopy(reactor, move, t.window_sectors, v.depth, v.alternate, v.batches);
    std::string what = v.depth == 1 ? "raw copy, 1 window at a time"
                                    : fmt::format("raw copy, {} windows in flight{}", v.depth,
                                                  v.batches ? " in batches (each batch waits for all of its windows)"
                                                            : " (sliding)");
    what += v.alternate ? ", reads alternating over the old copies" : ", reads from the first copy";
    t.raw.emplace_back(what, r);
  }
  co_return t;
}

// ---- Part 3: foreground I/O during the reshape ----------------------------------------------

enum class Scenario { kBefore, kReshape, kAfter };
const char* ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kBefore: return "no reshape (2 members + 2 spares)";
    case Scenario::kReshape: return "during reshape 2->4";
    case Scenario::kAfter: return "no reshape (4 members)";
  }
  return "?";
}

struct Foreground {
  std::vector<uint32_t>* model = nullptr;
  uint32_t qd = 1, read_pct = 70;
  uint64_t measure_start = UINT64_MAX, measure_end = UINT64_MAX;
  bool stop = false;
  Histogram all, reads, writes;
  uint64_t slow = 0, slow_ns = 0;  // measured requests over kSlowNs, and their time
  uint64_t slow_reads = 0;
  uint64_t errors = 0, mismatches = 0;
  std::string first_error, first_mismatch;
};

// Worker `index` of fg.qd owns the blocks b with b % qd == index, so no two requests in flight
// touch one block and the model knows what each read must return.
io::Task<void> Worker(raid::Array& a, Foreground& fg, uint32_t index, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> buf(kBlock), want(kBlock);
  std::vector<uint32_t>& model = *fg.model;
  const uint64_t per = model.size() / fg.qd;
  while (!fg.stop) {
    const uint64_t block = (rng() % per) * fg.qd + index;
    const bool read = rng() % 100 < fg.read_pct;
    const uint64_t t0 = NowNs();
    Status s;
    if (read) {
      s = co_await a.Read(block * kBlock, buf);
      if (s.ok() && model[block] != kUnknown) {
        FillBlock(block, model[block], want.data());
        if (std::memcmp(want.data(), buf.data(), kBlock) != 0 && fg.mismatches++ == 0) {
          uint64_t head[2];
          std::memcpy(head, buf.data(), sizeof head);
          fg.first_mismatch = fmt::format(
              "read of block {} (array byte {}): expected version {}, found a block claiming to "
              "be block {} version {}", block, block * kBlock, model[block], head[0], head[1]);
        }
      }
    } else {
      const uint32_t v = model[block] == kUnknown ? 1 : model[block] + 1;
      FillBlock(block, v, buf.data());
      s = co_await a.Write(block * kBlock, buf, io::WriteFlags::kNone);
      model[block] = s.ok() ? v : kUnknown;
    }
    const uint64_t t1 = NowNs();
    if (!s.ok()) {
      if (fg.errors++ == 0) fg.first_error = s.message();
      continue;
    }
    if (t0 >= fg.measure_start && t1 <= fg.measure_end) {
      fg.all.Record(t1 - t0);
      (read ? fg.reads : fg.writes).Record(t1 - t0);
      if (t1 - t0 > kSlowNs) ++fg.slow, fg.slow_ns += t1 - t0, fg.slow_reads += read;
    }
  }
}

struct LatencyRow {
  Scenario scenario = Scenario::kBefore;
  uint32_t qd = 0;
  double seconds = 0;
  Histogram all, reads, writes;
  uint64_t slow = 0, slow_ns = 0, slow_reads = 0;
  uint64_t write_waits = 0;
  uint64_t reshape_sectors = 0;  // moved while measured
  bool reshape_running = true;   // still reshaping at the end of every segment
  uint64_t mismatches = 0, errors = 0;
  std::string first_problem;
  double Iops() const { return seconds > 0 ? double(all.count()) / seconds : 0; }
  double ReshapeMibS() const { return seconds > 0 ? double(reshape_sectors) / 2048 / seconds : 0; }
};

io::Task<Status> RunSegment(io::Reactor& reactor, testing::Timers& timers, Disks& disks,
                            const Config& c, std::vector<uint32_t>& model, double measure_s,
                            uint64_t speed_max_kib, uint64_t seed, LatencyRow& row) {
  raid::SyncOptions so;
  if (c.window_kib) so.window_sectors = c.window_kib * 2;
  so.speed_max_kib = speed_max_kib;
  const bool after = row.scenario == Scenario::kAfter;
  MESHRAID_CO_ASSIGN_OR_RETURN(Built b, BuildArray(reactor, timers, disks, c, 10, after ? 4 : 2, so, seed));
  raid::Array& a = *b.array;
  FillArray(disks, a.geometry(), b.data_offset_bytes, model);
  if (!after) MESHRAID_CO_RETURN_IF_ERROR(co_await AddSpares(timers, disks, c, b, 2, 4, seed));
  if (row.scenario == Scenario::kReshape) {
    MESHRAID_CO_RETURN_IF_ERROR((co_await a.Reshape(4)).WithPrefix("reshape"));
  }
  Foreground fg;
  fg.model = &model;
  fg.qd = row.qd;
  fg.read_pct = c.read_pct;
  io::Gate gate(reactor);
  for (uint32_t i = 0; i < row.qd; ++i) io::Spawn(gate, Worker(a, fg, i, seed * 1000 + i));
  co_await Sleep(reactor, c.warmup_s);
  const raid::SyncProgress p0 = a.sync_progress();
  const uint64_t waits0 = a.barrier().stats().write_waits;
  fg.measure_start = NowNs();
  co_await Sleep(reactor, measure_s);
  fg.measure_end = NowNs();
  const raid::SyncProgress p1 = a.sync_progress();
  const uint64_t waits1 = a.barrier().stats().write_waits;
  const bool reshaping = a.reshaping();
  fg.stop = true;
  co_await gate.Close();
  a.SetSyncFrozen(true);
  co_await a.WaitSyncIdle();
  MESHRAID_CO_RETURN_IF_ERROR((co_await a.Close()).WithPrefix("close"));
  row.seconds += double(fg.measure_end - fg.measure_start) / 1e9;
  row.all.Merge(fg.all);
  row.reads.Merge(fg.reads);
  row.writes.Merge(fg.writes);
  row.slow += fg.slow;
  row.slow_ns += fg.slow_ns;
  row.slow_reads += fg.slow_reads;
  row.write_waits += waits1 - waits0;
  if (row.scenario == Scenario::kReshape) {
    row.reshape_sectors += p1.done_sectors - p0.done_sectors;
    row.reshape_running &= reshaping && p1.action == raid::SyncAction::kReshape;
  }
  row.mismatches += fg.mismatches;
  row.errors += fg.errors;
  if (row.first_problem.empty() && fg.errors) row.first_problem = "error: " + fg.first_error;
  if (row.first_problem.empty() && fg.mismatches) row.first_problem = "mismatch: " + fg.first_mismatch;
  co_return Status::Ok();
}

// ---- Output ---------------------------------------------------------------------------------

std::string Ratio(double ours, double ref) { return ref > 0 ? fmt::format("{:.2f}", ours / ref) : "-"; }

io::Task<int> Main(io::Reactor& reactor, const Config& c) {
  testing::ReactorTimers timers(reactor);
  fmt::print("# meshraid takeover / reshape bench\n\n");
  fmt::print("Member model: read {} us, write {} us (uniform +-{:.0f}%), {} MiB/s transfer channel "
             "shared round-robin in {} KiB slices (bench/barrier/bandwidth_device.h).\n\n",
             c.model.read_us, c.model.write_us, c.model.jitter * 100, c.model.bw_mib, c.model.quantum_kib);
  std::fflush(stdout);

  if (c.takeover) {
    std::vector<TakeoverRow> up(2), down(2);
    Histogram floor;
    const uint64_t sizes[2] = {c.takeover_small_gib, c.takeover_big_gib};
    for (int k = 0; k < 2; ++k) {
      up[size_t(k)].gib = down[size_t(k)].gib = sizes[k];
      Status s = co_await RunTakeover(reactor, timers, c, sizes[k], up[size_t(k)], down[size_t(k)], floor);
      if (!s.ok()) {
        std::fprintf(stderr, "takeover, %lu GiB: %s\n", (unsigned long)sizes[k], s.message().c_str());
        co_return 1;
      }
    }
    fmt::print("## 1. Online takeover (Array::Takeover) on a RAID1 of 2 members, internal bitmap\n\n");
    fmt::print("Sparse MemDevice members; a 1 MiB write, back to clean, then {} x (raid1 -> raid10, "
               "raid10 -> raid1), each timed from the call to its return (drain, superblock and "
               "bitmap-header writes, unfreeze). Counts are per member per takeover (the larger "
               "member's). Floor: one 4 KiB write + flush on both members at once, same model "
               "(median {:.1f} us).\n\n",
               c.takeover_reps, Us(floor.Percentile(0.5)));
    fmt::print("| takeover | array | wall p50 us | min us | max us | x floor | writes/member | bytes "
               "written/member | superblock writes | flushes | bytes read | data bytes written | "
               "wall x {0} GiB | bytes x {0} GiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
               c.takeover_small_gib);
    for (auto* rows : {&up, &down}) {
      for (int k = 0; k < 2; ++k) {
        const TakeoverRow& r = (*rows)[size_t(k)];
        const TakeoverRow& ref = (*rows)[0];
        fmt::print("| {} | {} GiB | {:.1f} | {:.1f} | {:.1f} | {:.2f} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                   rows == &up ? "raid1 -> raid10" : "raid10 -> raid1", r.gib, Us(r.wall.Percentile(0.5)),
                   Us(r.wall.min()), Us(r.wall.max()),
                   double(r.wall.Percentile(0.5)) / double(std::max<uint64_t>(floor.Percentile(0.5), 1)),
                   r.max.writes, r.max.write_bytes, r.max.sb_writes, r.max.flushes, r.max.read_bytes,
                   r.data_write_bytes, Ratio(double(r.wall.Percentile(0.5)), double(ref.wall.Percentile(0.5))),
                   Ratio(double(r.max.write_bytes), double(ref.max.write_bytes)));
      }
    }
    fmt::print("\n");
    std::fflush(stdout);
  }

  if (!c.throughput && !c.foreground) co_return 0;
  Disks disks;
  const uint64_t member_bytes = c.member_mib * kMiB;
  {
    std::vector<uint8_t> fill(kMiB, 0xEE);
    for (int i = 0; i < 4; ++i) {
      disks.names.push_back(fmt::format("mem{}", i));
      disks.mems.push_back(std::make_unique<io::MemDevice>(
          reactor, io::MemDevice::Options{.size_bytes = member_bytes, .name = disks.names.back()}));
      // Every chunk allocated once, so no run pays for first-touch allocation.
      for (uint64_t off = 0; off < member_bytes; off += kMiB) disks.mems.back()->Poke(off, fill);
    }
  }
  // The old array's size in blocks, from a throw-away 2-member array.
  uint64_t old_blocks = 0;
  {
    auto b = BuildArray(reactor, timers, disks, c, 10, 2, {}, 0);
    if (!b.ok()) {
      std::fprintf(stderr, "setup: %s\n", b.status().message().c_str());
      co_return 1;
    }
    old_blocks = b->array->info().size_bytes / kBlock;
    (void)co_await b->array->Close();
  }
  std::vector<uint32_t> model(old_blocks, 0);

  if (c.throughput) {
    auto t = co_await RunThroughput(reactor, timers, disks, c, model);
    if (!t.ok()) {
      std::fprintf(stderr, "reshape throughput: %s\n", t.status().message().c_str());
      co_return 1;
    }
    // Per array byte the move reads one old copy and writes two new ones; the old copies live
    // on 2 members, the new ones on 4. With the reads spread over both old copies, each old
    // member carries 1/2 read + 1/2 write per array byte and each new member 1/2 write: the
    // old members bound the move at min(read, write) of one member.
    const double ref = std::min(t->seq_read.MibS(), t->seq_write.MibS());
    // The new space's resync: 2 mirror pairs, each at min(read, write).
    const double resync_ref = 2 * ref;
    fmt::print("## 2. Reshape throughput: RAID10 n2, 2 -> 4 members, speed_max unlimited, no "
               "foreground I/O\n\n");
    fmt::print("Members of {} MiB; the array: {} MiB -> {} MiB, chunk {} KiB, internal bitmap; the "
               "reshape moves {} MiB of array data in windows of {} KiB, data offset moves down {} "
               "sectors. Members measured on their own stacks with 1 MiB I/O at depth 4: "
               "sequential read {:.0f} MiB/s, write {:.0f} MiB/s. Member reference = min(read, "
               "write) = {:.0f} MiB/s of array data (each array byte is read from one of the 2 "
               "old members and written to 2 of the 4: with the reads spread over both old copies "
               "an old member moves 1 byte per array byte). Raw copies do the reshape's data "
               "movement on the member stacks with the array's window, in the ways listed.\n\n",
               c.member_mib, t->old_mib, t->new_mib, t->chunk_sectors / 2, t->old_mib,
               t->window_sectors / 2, t->offset_change, t->seq_read.MibS(), t->seq_write.MibS(), ref);
    const double best = t->raw.back().second.MibS();
    fmt::print("| what | array MiB | seconds | MiB/s | x member reference | x best raw copy | CPU |\n"
               "|---|---|---|---|---|---|---|\n");
    auto row = [&](const std::string& what, const Rate& r, double reference, double raw) {
      fmt::print("| {} | {} | {:.2f} | {:.0f} | {:.2f} | {} | {:.0f}% |\n", what, r.bytes / kMiB,
                 r.seconds, r.MibS(), r.MibS() / reference, raw > 0 ? Ratio(r.MibS(), raw) : "-",
                 r.cpu * 100);
    };
    row("**reshape move (Array::Reshape)**", t->reshape, ref, best);
    for (const auto& [what, r] : t->raw) row(what, r, ref, best);
    row(fmt::format("resync of the new space after the move (reference 2 pairs x {:.0f})", ref),
        t->resync, resync_ref, 0);
    fmt::print("\nDuring the move (Reshape() call to reshaping() false, polled every 1 ms, so up to "
               "1 ms of the new space's resync, which starts at once, is in these counts; last "
               "poll lag {:.1f} ms), per member:\n\n",
               t->poll_lag_ms);
    fmt::print("| member | reads | read MiB | writes | written MiB | superblock writes | flushes |\n"
               "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < t->during.size(); ++i) {
      const auto& m = t->during[i];
      fmt::print("| {} | {} | {:.1f} | {} | {:.1f} | {} | {} |\n", i, m.reads,
                 double(m.read_bytes) / kMiB, m.writes, double(m.write_bytes) / kMiB, m.sb_writes, m.flushes);
    }
    std::string when;
    for (const auto& w : t->sb_writes) {
      when += w.reshaping ? fmt::format(" {:.0f} ms @ {:.1f} MiB,", w.ms, double(w.position) / 2048)
                          : fmt::format(" {:.0f} ms{},", w.ms, w.ms <= t->move_ms + 1 ? " (end)" : " (resync)");
    }
    if (!when.empty()) when.pop_back();
    fmt::print("\nSuperblock writes per member in the table: {}. Member 0's, from the Reshape() "
               "call to the end of the new space's resync, by time since the call and the reshape "
               "position when issued (the move ended at {:.0f} ms; the end's write may fall just "
               "after the poll):{}.\n",
               t->during.empty() ? 0 : t->during[0].sb_writes, t->move_ms, when);
    if (t->verify_bad == 0) {
      fmt::print("Read-back after the reshape: all {} MiB of the old array match what was there "
                 "before.\n\n", t->old_mib);
    } else {
      fmt::print("**Read-back after the reshape: {} of {} blocks differ**; first: {}\n\n",
                 t->verify_bad, model.size(), t->verify_first);
    }
    std::fflush(stdout);
  }

  if (c.foreground) {
    const double segment_s = c.measure_s / c.rounds;
    const uint64_t old_kib = old_blocks * kBlock / kKiB;
    const uint64_t speed_max =
        c.fg_speed_max_kib
            ? c.fg_speed_max_kib
            : std::min<uint64_t>(200000, uint64_t(double(old_kib) / (c.warmup_s + segment_s + 1.5)));
    std::vector<LatencyRow> rows;
    const Scenario order[] = {Scenario::kBefore, Scenario::kReshape, Scenario::kAfter};
    const size_t per_qd = c.after_row ? 3 : 2;
    for (uint32_t qd : c.qds) {
      for (size_t k = 0; k < per_qd; ++k) {
        rows.emplace_back();
        rows.back().scenario = order[k];
        rows.back().qd = qd;
      }
    }
    fmt::print("## 3. Foreground 4 KiB random I/O ({}% reads) during the reshape vs no reshape\n\n",
               c.read_pct);
    fmt::print("Over the old array's {} MiB; every read checked against its block's last write. "
               "Reshape throttled to speed_max {} KiB/s ({:.0f} MiB/s; MD's default is 200000) so "
               "that it is still moving at the end of each segment; speed_min {} KiB/s. Each row: "
               "{} segments of {:.1f} s warm-up + {:.2f} s measured, each on a fresh array, the "
               "scenarios interleaved. Ratios against the no-reshape 2-member row of the same "
               "QD.\n\n",
               old_blocks * kBlock / kMiB, speed_max, double(speed_max) / 1024,
               raid::SyncOptions{}.speed_min_kib, c.rounds, c.warmup_s, segment_s);
    std::fflush(stdout);
    for (uint32_t round = 0; round < c.rounds; ++round) {
      for (size_t i = 0; i < rows.size(); ++i) {
        const size_t group = i / per_qd, k = (i % per_qd + round) % per_qd;
        LatencyRow& row = rows[group * per_qd + k];
        Status st = co_await RunSegment(reactor, timers, disks, c, model, segment_s, speed_max,
                                        c.seed * 100 + round * 10 + k, row);
        if (!st.ok()) {
          std::fprintf(stderr, "%s QD%u: %s\n", ScenarioName(row.scenario), row.qd, st.message().c_str());
          co_return 1;
        }
      }
      if (c.verbose) std::fprintf(stderr, "round %u done\n", round + 1);
    }
    fmt::print("| scenario | QD | IOPS | p50 us | p99 us | p99.9 us | max us | read p50 | read p99 | "
               "write p50 | write p99 | IOPS x | p50 x | p99 x | barrier waits | reshape MiB/s | "
               "checked |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    const LatencyRow* base = nullptr;
    uint64_t problems = 0;
    for (const LatencyRow& r : rows) {
      if (r.scenario == Scenario::kBefore) base = &r;
      const double p50 = double(r.all.Percentile(0.5)), p99 = double(r.all.Percentile(0.99));
      std::string mv = "-";
      if (r.scenario == Scenario::kReshape) {
        mv = fmt::format("{:.0f}", r.ReshapeMibS());
        if (!r.reshape_running) mv += " (finished early!)";
      }
      std::string checked = r.mismatches || r.errors
                                ? fmt::format("**{} mismatches, {} errors**", r.mismatches, r.errors)
                                : "ok";
      problems += r.mismatches + r.errors;
      fmt::print("| {} | {} | {:.0f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | "
                 "{:.1f} | {} | {} | {} | {} | {} | {} |\n",
                 ScenarioName(r.scenario), r.qd, r.Iops(), Us(uint64_t(p50)), Us(uint64_t(p99)),
                 Us(r.all.Percentile(0.999)), Us(r.all.max()), Us(r.reads.Percentile(0.5)),
                 Us(r.reads.Percentile(0.99)), Us(r.writes.Percentile(0.5)), Us(r.writes.Percentile(0.99)),
                 Ratio(r.Iops(), base->Iops()), Ratio(p50, double(base->all.Percentile(0.5))),
                 Ratio(p99, double(base->all.Percentile(0.99))), r.write_waits, mv, checked);
    }
    fmt::print("\nWhere the time went: requests slower than {} ms against the rest. A write "
               "to the 64 MiB bucket the reshape is moving waits for its barrier (reads never "
               "do); the rest is contention for member bandwidth and CPU.\n\n"
               "| scenario | QD | mean us | requests > {} ms (reads + writes) | their share of "
               "requests | their share of request time | writes that waited on the barrier | mean "
               "us of the rest | rest x no reshape |\n"
               "|---|---|---|---|---|---|---|---|---|\n",
               kSlowNs / 1'000'000, kSlowNs / 1'000'000);
    double base_rest = 0;
    for (const LatencyRow& r : rows) {
      const uint64_t n = r.all.count();
      const double rest = n > r.slow ? double(r.all.sum() - r.slow_ns) / double(n - r.slow) : 0;
      if (r.scenario == Scenario::kBefore) base_rest = rest;
      fmt::print("| {} | {} | {:.1f} | {} ({} + {}) | {:.2f}% | {:.1f}% | {} | {:.1f} | {} |\n",
                 ScenarioName(r.scenario), r.qd, Us(r.all.Mean()), r.slow, r.slow_reads,
                 r.slow - r.slow_reads, n ? 100.0 * double(r.slow) / double(n) : 0,
                 r.all.sum() ? 100.0 * double(r.slow_ns) / double(r.all.sum()) : 0, r.write_waits,
                 rest / 1000, Ratio(rest, base_rest));
    }
    fmt::print("\n");
    for (const LatencyRow& r : rows) {
      if (!r.first_problem.empty()) {
        fmt::print("**{} QD{}**: first {}\n", ScenarioName(r.scenario), r.qd, r.first_problem);
      }
    }
    if (problems) fmt::print("\n");
  }
  co_return 0;
}

}  // namespace
}  // namespace meshraid::bench

int main(int argc, char** argv) {
  using meshraid::bench::Config;
  Config c;
  CLI::App app{"meshraid takeover/reshape benchmark (in-process, memory members)"};
  std::string qds = "1,16";
  app.add_option("--member-mib", c.member_mib, "member size for the reshape parts (MiB)");
  app.add_option("--takeover-small-gib", c.takeover_small_gib, "smaller takeover array (GiB)");
  app.add_option("--takeover-big-gib", c.takeover_big_gib, "larger takeover array (GiB, sparse)");
  app.add_option("--takeover-reps", c.takeover_reps, "takeovers per size and direction");
  app.add_option("--warmup", c.warmup_s, "warm-up seconds per foreground segment");
  app.add_option("--measure", c.measure_s, "measured seconds per foreground row");
  app.add_option("--rounds", c.rounds, "segments per foreground row (interleaved)");
  app.add_option("--qd", qds, "foreground queue depths, comma-separated");
  app.add_option("--read-pct", c.read_pct, "foreground reads, percent");
  app.add_option("--read-us", c.model.read_us, "member read latency (mean, us)");
  app.add_option("--write-us", c.model.write_us, "member write latency (mean, us)");
  app.add_option("--jitter", c.model.jitter, "latency spread: uniform in [1-j, 1+j] x mean");
  app.add_option("--bw-mib", c.model.bw_mib, "member transfer bandwidth (MiB/s; 0: unlimited)");
  app.add_option("--quantum-kib", c.model.quantum_kib, "transfer slice (KiB)");
  app.add_option("--fg-speed-max-kib", c.fg_speed_max_kib, "reshape speed_max in part 3 (0: auto)");
  app.add_option("--window-kib", c.window_kib, "SyncOptions::window (0: the array's default)");
  app.add_option("--seed", c.seed, "random seed");
  app.add_flag("--verbose", c.verbose, "print the array's log lines");
  bool no_takeover = false, no_throughput = false, no_foreground = false, no_after = false;
  app.add_flag("--no-takeover", no_takeover, "skip part 1");
  app.add_flag("--no-throughput", no_throughput, "skip part 2");
  app.add_flag("--no-foreground", no_foreground, "skip part 3");
  app.add_flag("--no-after-row", no_after, "part 3 without the 4-member rows");
  CLI11_PARSE(app, argc, argv);
  c.takeover = !no_takeover;
  c.throughput = !no_throughput;
  c.foreground = !no_foreground;
  c.after_row = !no_after;
  c.qds.clear();
  for (size_t pos = 0; pos <= qds.size();) {
    size_t end = qds.find(',', pos);
    if (end == std::string::npos) end = qds.size();
    if (end > pos) c.qds.push_back(uint32_t(std::stoul(qds.substr(pos, end - pos))));
    pos = end + 1;
  }
  if (c.rounds == 0 || c.qds.empty() || c.takeover_reps == 0 || c.read_pct > 100) {
    std::fprintf(stderr, "--rounds, --qd and --takeover-reps must be positive, --read-pct <= 100\n");
    return 2;
  }
  auto reactor = meshraid::io::Reactor::Create(meshraid::io::Reactor::Options{.sq_entries = 1024});
  if (!reactor.ok()) {
    std::fprintf(stderr, "reactor: %s\n", reactor.status().message().c_str());
    return 1;
  }
  return (*reactor)->RunUntilComplete(meshraid::bench::Main(**reactor, c));
}
