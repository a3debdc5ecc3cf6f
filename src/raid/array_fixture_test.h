// The test world of the running array (array_test.cc, array_sync_test.cc, array_crash_test.cc):
// memory members in a ManualLoop (virtual time, run queue), optionally behind CrashDevices
// (volatile write caches until flushed), each wrapped in a TestMember that injects errors,
// holds writes and records what reached it. Members are formatted the way PlanCreate says
// (superblock, internal bitmap, bad-block log), their metadata is read back with
// ReadMemberMetadata and assembled with PlanAssembly, so a test can stop or crash the array and
// assemble it again from what is on the "disks".
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/bitmap.h"
#include "format/superblock.h"
#include "io/mem_device.h"
#include "io/run_queue.h"
#include "raid/array.h"
#include "raid/create.h"
#include "raid/member_metadata.h"
#include "testing/borrowed_device.h"
#include "testing/crash_device.h"
#include "testing/manual_loop.h"

namespace meshraid::raid {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kDataOffset = 2048 * 512;  // bytes, for members of the sizes used here
constexpr uint64_t kSbOffset = 8 * 512;

// A member that can fail or hold operations on request, and records what reached it.
class TestMember : public io::BlockDeviceWrapper {
 public:
  struct Rule {
    bool reads = false, writes = false, flushes = false;
    uint64_t lo = 0, hi = ~uint64_t{0};  // bytes
    int err = EIO;
    int count = -1;  // -1: every time
  };
  struct Op {
    char kind;  // 'r', 'w', 'f', 'z'
    uint64_t offset, length;
    bool fua;
    bool deallocate = false;  // 'z' with ZeroFlags::kDeallocate
  };
  TestMember(std::unique_ptr<io::BlockDevice> dev, io::Executor& ex)
      : BlockDeviceWrapper(std::move(dev)), hold_(ex) {
    hold_.Set();
  }

  void Fail(Rule r) { rules_.push_back(r); }
  // Where the member's data area starts (bytes): the defaults of HoldWrites and BytesWritten.
  uint64_t data_offset = kDataOffset;
  // Holds writes overlapping [lo, hi) bytes (by default: the whole data area) until released.
  void HoldWrites() { HoldWrites(data_offset, ~uint64_t{0}); }
  void HoldWrites(uint64_t lo, uint64_t hi) {
    hold_lo_ = lo;
    hold_hi_ = hi;
    hold_.Reset();
  }
  void ReleaseWrites() { hold_.Set(); }
  uint32_t held() const { return held_; }  // writes waiting in HoldWrites now
  std::vector<Op> ops;

  // Bytes written (writes and write-zeroes) in the data area since ops was last cleared.
  uint64_t BytesWritten() const { return BytesWritten(data_offset); }
  uint64_t BytesWritten(uint64_t from) const {
    uint64_t n = 0;
    for (const Op& op : ops) {
      if ((op.kind == 'w' || op.kind == 'z') && op.offset >= from) n += op.length;
    }
    return n;
  }

  io::Task<Status> Read(uint64_t off, std::span<uint8_t> buf) override {
    ops.push_back({'r', off, buf.size(), false});
    if (Status s = Check('r', off, buf.size()); !s.ok()) co_return s;
    co_return co_await target().Read(off, buf);
  }
  io::Task<Status> Write(uint64_t off, std::span<const uint8_t> buf, io::WriteFlags f) override {
    if (!hold_.is_set() && off < hold_hi_ && off + buf.size() > hold_lo_) {
      ++held_;
      co_await hold_.Wait();
      --held_;
    }
    ops.push_back({'w', off, buf.size(), f == io::WriteFlags::kFua});
    if (Status s = Check('w', off, buf.size()); !s.ok()) co_return s;
    co_return co_await target().Write(off, buf, f);
  }
  io::Task<Status> Flush() override {
    ops.push_back({'f', 0, 0, false});
    if (Status s = Check('f', 0, 0); !s.ok()) co_return s;
    co_return co_await target().Flush();
  }
  io::Task<Status> WriteZeroes(uint64_t off, uint64_t len, io::ZeroFlags f) override {
    const bool dealloc = (uint32_t(f) & uint32_t(io::ZeroFlags::kDeallocate)) != 0;
    ops.push_back({'z', off, len, false, dealloc});
    co_return co_await target().WriteZeroes(off, len, f);
  }

 private:
  Status Check(char kind, uint64_t off, uint64_t len) {
    for (Rule& r : rules_) {
      bool op = (kind == 'r' && r.reads) || (kind == 'w' && r.writes) || (kind == 'f' && r.flushes);
      if (!op || r.count == 0 || off + len <= r.lo || off >= r.hi) continue;
      if (r.count > 0) --r.count;
      return Status::FromErrno(r.err, "injected");
    }
    return Status::Ok();
  }
  std::vector<Rule> rules_;
  io::Event hold_;
  uint64_t hold_lo_ = kDataOffset, hold_hi_ = ~uint64_t{0};
  uint32_t held_ = 0;
};

// ReadMemberMetadata over a MemDevice's durable content (Peek), as if it were a file.
class MemSource : public MetadataSource {
 public:
  MemSource(const io::MemDevice& d, std::string path) : dev_(d), path_(std::move(path)) {}
  const std::string& path() const override { return path_; }
  uint64_t size_bytes() const override { return dev_.info().size_bytes; }
  Status ReadAt(uint64_t offset, std::span<uint8_t> buf) const override {
    std::vector<uint8_t> b = dev_.Peek(offset, buf.size());
    std::copy(b.begin(), b.end(), buf.begin());
    return Status::Ok();
  }

 private:
  const io::MemDevice& dev_;
  std::string path_;
};

// How the members are formatted (PlanCreate's inputs plus test-only tweaks).
struct FormatOptions {
  int level = 1;
  int n = 2;
  const char* layout = "n2";
  uint64_t chunk = 128;  // RAID10 chunk, sectors
  uint64_t member_mib = 64;
  bool bitmap = false;                // internal write-intent bitmap
  uint64_t bitmap_chunk_bytes = 0;    // 0: mdadm's default (at least 64 MiB)
  bool assume_clean = true;           // false: a new array that needs a full resync
  // An unclean shutdown with a bitmap: these chunks' bits are set and resync_offset is 0.
  std::vector<uint64_t> dirty_chunks;
};

struct Fixture {
  testing::ManualLoop loop;
  bool crash_mode = false;  // members behind CrashDevices (volatile caches until flushed)
  std::vector<std::unique_ptr<io::MemDevice>> mems;  // the durable media, by input
  std::vector<std::string> names;                    // member paths, by input
  std::vector<testing::CrashDevice*> crashes;        // crash_mode: by input (null: none)
  std::vector<TestMember*> members;                  // by input of the current array
  std::unique_ptr<Array> array;
  std::vector<std::string> log;
  uint64_t member_bytes = 0;
  uint64_t data_offset = 0;  // bytes, the same on every member (kDataOffset up to 256 MiB)
  ArrayOptions array_options;
  std::vector<MemberMetadata> metadata;  // as read at the last assembly
  AssemblyPlan plan;                      // of the last assembly

  ~Fixture() {
    if (array) (void)loop.RunUntilComplete(array->Close());
  }

  void Build(int level, int n, const char* layout = "n2", uint64_t chunk = 128,
             uint64_t member_mib = 64, ArrayOptions options = {}) {
    FormatOptions f;
    f.level = level;
    f.n = n;
    f.layout = layout;
    f.chunk = chunk;
    f.member_mib = member_mib;
    Build(f, std::move(options));
    ASSERT_EQ(data_offset, kDataOffset);  // what the tests of array_test.cc assume
  }
  void Build(const FormatOptions& f, ArrayOptions options = {}) {
    Format(f);
    if (::testing::Test::HasFatalFailure()) return;
    Assemble(std::move(options));
  }

  // Writes what PlanCreate says to fresh memory members (superblock, bitmap, bad-block log).
  void Format(const FormatOptions& f) {
    member_bytes = f.member_mib * kMiB;
    CreateOptions o;
    o.level = f.level;
    o.raid_devices = f.n;
    o.assume_clean = f.assume_clean;
    o.bitmap = f.bitmap ? BitmapChoice::kInternal : BitmapChoice::kNone;
    o.now_seconds = 1000;
    if (f.level == 10) {
      o.raid10_layout = *layout::Raid10Layout::Parse(f.layout);
      o.chunk_sectors = f.chunk;
    }
    std::vector<CreateMember> cm;
    for (int i = 0; i < f.n; ++i) cm.push_back({fmt::format("m{}", i), member_bytes / 512});
    auto p = PlanCreate(o, cm);
    ASSERT_TRUE(p.ok()) << p.status().message();
    data_offset = p->data_offset * 512;
    for (int i = 0; i < f.n; ++i) {
      MemberWrite w = p->members[size_t(i)];
      if (f.bitmap && (f.bitmap_chunk_bytes != 0 || !f.dirty_chunks.empty())) {
        auto b = format::DecodeBitmapSuper(w.bitmap_bytes);
        ASSERT_TRUE(b.ok()) << b.status().message();
        if (f.bitmap_chunk_bytes != 0) b->chunksize = uint32_t(f.bitmap_chunk_bytes);
        format::BitmapBits bits(b->Chunks());
        for (uint64_t c = 0; c < b->Chunks(); ++c) {
          if (!f.assume_clean) bits.Set(c);
        }
        for (uint64_t c : f.dirty_chunks) {
          ASSERT_LT(c, b->Chunks());
          bits.Set(c);
        }
        auto area = format::EncodeBitmapArea(*b, bits, w.bitmap_bytes.size());
        ASSERT_TRUE(area.ok()) << area.status().message();
        w.bitmap_bytes = std::move(area).value();
      }
      if (!f.dirty_chunks.empty()) {  // power lost while active
        w.sb.resync_offset = 0;
        w.sb_bytes = format::Encode(w.sb);
      }
      mems.push_back(std::make_unique<io::MemDevice>(
          loop.executor(), io::MemDevice::Options{.size_bytes = member_bytes, .name = cm[size_t(i)].name}));
      names.push_back(cm[size_t(i)].name);
      mems.back()->Poke(kSbOffset, w.sb_bytes);
      if (!w.bitmap_bytes.empty()) mems.back()->Poke(w.bitmap_sector * 512, w.bitmap_bytes);
      if (!w.bblog_bytes.empty()) mems.back()->Poke(w.bblog_sector * 512, w.bblog_bytes);
    }
  }

  // The device stack of one member: BorrowedDevice(mem) [-> CrashDevice] -> TestMember.
  std::unique_ptr<TestMember> Stack(size_t i) {
    std::unique_ptr<io::BlockDevice> dev = std::make_unique<testing::BorrowedDevice>(*mems[i]);
    if (crashes.size() <= i) crashes.resize(i + 1, nullptr);
    crashes[i] = nullptr;
    if (crash_mode) {
      auto crash = std::make_unique<testing::CrashDevice>(std::move(dev), loop.executor());
      crashes[i] = crash.get();
      dev = std::move(crash);
    }
    auto tm = std::make_unique<TestMember>(std::move(dev), loop.executor());
    tm->data_offset = data_offset;
    return tm;
  }

  // A fresh, unformatted member of the same size (for AddMember). Its input will be the next.
  std::unique_ptr<io::BlockDevice> NewMember(std::string* path) {
    size_t i = mems.size();
    names.push_back(fmt::format("m{}", i));
    mems.push_back(std::make_unique<io::MemDevice>(
        loop.executor(), io::MemDevice::Options{.size_bytes = member_bytes, .name = names.back()}));
    auto tm = Stack(i);
    if (members.size() <= i) members.resize(i + 1, nullptr);
    members[i] = tm.get();
    *path = names.back();
    return tm;
  }
  // A new stack over the existing medium of input `i` (for ReAddMember).
  std::unique_ptr<io::BlockDevice> ReopenMember(size_t i) {
    auto tm = Stack(i);
    members[i] = tm.get();
    return tm;
  }

  // Reads every member's metadata from its medium, plans the assembly and starts the array.
  void Assemble(ArrayOptions options = {}) {
    metadata.clear();
    members.clear();
    std::vector<ArrayMember> am;
    for (size_t i = 0; i < mems.size(); ++i) {
      auto md = ReadMemberMetadata(MemSource(*mems[i], names[i]));
      ASSERT_TRUE(md.ok()) << md.status().message();
      metadata.push_back(*md);
      auto tm = Stack(i);
      members.push_back(tm.get());
      am.push_back({std::move(tm), std::move(md).value()});
    }
    auto ap = PlanAssembly(metadata);
    ASSERT_TRUE(ap.ok()) << ap.status().message();
    plan = *ap;
    options.log = [this](const std::string& l) { log.push_back(l); };
    options.wall_seconds = [] { return uint64_t(2000); };
    array_options = options;
    auto a = Array::Create(loop.executor(), loop.clock(), Sleep(), *ap, std::move(am), options);
    ASSERT_TRUE(a.ok()) << a.status().message();
    array = std::move(a).value();
  }
  // Stops the array (Close) and assembles it again from the media, with the same options
  // unless others are given.
  void Reassemble() { Reassemble(array_options); }
  void Reassemble(ArrayOptions options) {
    if (array) {
      (void)loop.RunUntilComplete(array->Close());
      array.reset();
    }
    Assemble(std::move(options));
  }

  SleepFn Sleep() {
    return [this](uint64_t ns) -> io::Task<void> {
      return [](testing::ManualTimers& t, uint64_t n) -> io::Task<void> {
        co_await t.SleepFor(n);
      }(loop.timers(), ns);
    };
  }
  // Runs one ready coroutine (a finer step than RunReady, for crash points).
  size_t Step() { return static_cast<io::RunQueue&>(loop.executor()).RunReady(1); }

  Status Write(uint64_t off, const std::vector<uint8_t>& data,
               io::WriteFlags f = io::WriteFlags::kNone) {
    return loop.RunUntilComplete(array->Write(off, data, f));
  }
  Result<std::vector<uint8_t>> Read(uint64_t off, uint64_t len) {
    std::vector<uint8_t> buf(len);
    Status s = loop.RunUntilComplete(array->Read(off, buf));
    if (!s.ok()) return s;
    return buf;
  }
  void WaitSyncIdle() { loop.RunUntilComplete(array->WaitSyncIdle()); }
  format::Superblock Sb(int i) {
    auto bytes = mems[size_t(i)]->Peek(kSbOffset, 4096);
    auto sb = format::Decode(bytes, {.device_sectors = mems[size_t(i)]->info().size_bytes / 512});
    EXPECT_TRUE(sb.ok()) << sb.status().message();
    return sb.ok() ? *sb : format::Superblock{};
  }
  std::vector<uint8_t> MemberData(int i, uint64_t member_sector, uint64_t len) {
    return mems[size_t(i)]->Peek(data_offset + member_sector * 512, len);
  }
  // Every copy of array sectors [sector, sector + sectors) on the in-sync members, by slot.
  std::vector<std::vector<uint8_t>> Copies(uint64_t sector, uint64_t sectors) {
    std::vector<std::vector<uint8_t>> out;
    for (const layout::Copy& c : array->geometry().Map(sector)) {
      int input = -1;
      for (size_t i = 0; i < array->member_count(); ++i) {
        if (array->member_slot(i) == c.disk && array->member_state(i) == MemberState::kInSync) {
          input = int(i);
        }
      }
      if (input < 0) continue;
      out.push_back(MemberData(input, c.sector, sectors * 512));
    }
    return out;
  }
  // True when every copy of every array sector is identical (walked piece by piece).
  bool CopiesIdentical(uint64_t* first_difference = nullptr) {
    const uint64_t total = array->geometry().ArraySectors();
    for (uint64_t v = 0; v < total;) {
      uint64_t n = std::min({total - v, array->geometry().ContiguousSectors(v), uint64_t{8192}});
      auto copies = Copies(v, n);
      for (size_t k = 1; k < copies.size(); ++k) {
        if (copies[k] != copies[0]) {
          if (first_difference) *first_difference = v;
          return false;
        }
      }
      v += n;
    }
    return true;
  }
};

inline std::vector<uint8_t> Pattern(size_t len, uint32_t seed) {
  std::vector<uint8_t> v(len);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

}  // namespace
}  // namespace meshraid::raid
