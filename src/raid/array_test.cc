// The running array on memory members in a deterministic world (ManualLoop: virtual time, run
// queue). Failure injection wrappers are local to this file.
#include "raid/array.h"

#include <gtest/gtest.h>

#include <random>

#include "format/superblock.h"
#include "io/mem_device.h"
#include "raid/create.h"
#include "testing/borrowed_device.h"
#include "testing/crash_device.h"
#include "testing/manual_loop.h"

namespace meshraid::raid {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kDataOffset = 2048 * 512;  // bytes, for members of this size
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
  };
  TestMember(std::unique_ptr<io::BlockDevice> dev, io::Executor& ex)
      : BlockDeviceWrapper(std::move(dev)), hold_(ex) {
    hold_.Set();
  }

  void Fail(Rule r) { rules_.push_back(r); }
  void HoldWrites() { hold_.Reset(); }
  void ReleaseWrites() { hold_.Set(); }
  std::vector<Op> ops;

  io::Task<Status> Read(uint64_t off, std::span<uint8_t> buf) override {
    ops.push_back({'r', off, buf.size(), false});
    if (Status s = Check('r', off, buf.size()); !s.ok()) co_return s;
    co_return co_await target().Read(off, buf);
  }
  io::Task<Status> Write(uint64_t off, std::span<const uint8_t> buf, io::WriteFlags f) override {
    if (off >= kDataOffset) co_await hold_.Wait();
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
    ops.push_back({'z', off, len, false});
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
};

struct Fixture {
  testing::ManualLoop loop;
  bool crash_mode = false;  // members behind CrashDevices (volatile caches until flushed)
  std::vector<std::unique_ptr<io::MemDevice>> mems;  // the durable media
  std::vector<testing::CrashDevice*> crashes;
  std::vector<TestMember*> members;
  std::unique_ptr<Array> array;
  std::vector<std::string> log;
  uint64_t member_bytes = 0;

  ~Fixture() {
    if (array) (void)loop.RunUntilComplete(array->Close());
  }

  void Build(int level, int n, const char* layout = "n2", uint64_t chunk = 128,
             uint64_t member_mib = 64, ArrayOptions options = {}) {
    member_bytes = member_mib * kMiB;
    CreateOptions o;
    o.level = level;
    o.raid_devices = n;
    o.assume_clean = true;
    o.bitmap = BitmapChoice::kNone;
    o.now_seconds = 1000;
    if (level == 10) {
      o.raid10_layout = *layout::Raid10Layout::Parse(layout);
      o.chunk_sectors = chunk;
    }
    std::vector<CreateMember> cm;
    for (int i = 0; i < n; ++i) cm.push_back({"m" + std::to_string(i), member_bytes / 512});
    auto plan = PlanCreate(o, cm);
    ASSERT_TRUE(plan.ok()) << plan.status().message();
    ASSERT_EQ(plan->data_offset * 512, kDataOffset);
    std::vector<MemberMetadata> md;
    std::vector<ArrayMember> am;
    for (int i = 0; i < n; ++i) {
      mems.push_back(std::make_unique<io::MemDevice>(
          loop.executor(), io::MemDevice::Options{.size_bytes = member_bytes, .name = cm[size_t(i)].name}));
      mems.back()->Poke(kSbOffset, plan->members[size_t(i)].sb_bytes);
      std::unique_ptr<io::BlockDevice> dev = std::make_unique<testing::BorrowedDevice>(*mems.back());
      if (crash_mode) {
        auto crash = std::make_unique<testing::CrashDevice>(std::move(dev), loop.executor());
        crashes.push_back(crash.get());
        dev = std::move(crash);
      }
      auto tm = std::make_unique<TestMember>(std::move(dev), loop.executor());
      members.push_back(tm.get());
      MemberMetadata m;
      m.path = cm[size_t(i)].name;
      m.device_sectors = member_bytes / 512;
      m.sb_sector = 8;
      m.sb = plan->members[size_t(i)].sb;
      md.push_back(m);
      am.push_back({std::move(tm), m});
    }
    auto ap = PlanAssembly(md);
    ASSERT_TRUE(ap.ok()) << ap.status().message();
    options.log = [this](const std::string& l) { log.push_back(l); };
    options.wall_seconds = [] { return uint64_t(2000); };
    auto a = Array::Create(loop.executor(), loop.clock(), Sleep(), *ap, std::move(am), options);
    ASSERT_TRUE(a.ok()) << a.status().message();
    array = std::move(a).value();
  }
  SleepFn Sleep() {
    return [this](uint64_t ns) -> io::Task<void> {
      return [](testing::ManualTimers& t, uint64_t n) -> io::Task<void> {
        co_await t.SleepFor(n);
      }(loop.timers(), ns);
    };
  }
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
  format::Superblock Sb(int i) {
    auto bytes = mems[size_t(i)]->Peek(kSbOffset, 4096);
    auto sb = format::Decode(bytes, {.device_sectors = member_bytes / 512});
    EXPECT_TRUE(sb.ok()) << sb.status().message();
    return sb.ok() ? *sb : format::Superblock{};
  }
  std::vector<uint8_t> MemberData(int i, uint64_t member_sector, uint64_t len) {
    return mems[size_t(i)]->Peek(kDataOffset + member_sector * 512, len);
  }
};

std::vector<uint8_t> Pattern(size_t len, uint32_t seed) {
  std::vector<uint8_t> v(len);
  std::mt19937 rng(seed);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

TEST(Array, WriteReachesEveryMirror) {
  Fixture f;
  f.Build(1, 3);
  auto data = Pattern(64 * 1024, 1);
  ASSERT_TRUE(f.Write(4096, data).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.MemberData(i, 8, data.size()), data) << "member " << i;
  auto back = f.Read(4096, data.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

// Random writes on every RAID10 layout read back like a plain buffer, and each copy sits where
// the geometry says.
TEST(Array, Raid10LayoutsMatchAModelBuffer) {
  for (const char* layout : {"n2", "f2", "o2"}) {
    Fixture f;
    f.Build(10, 4, layout, 128);
    const uint64_t size = f.array->info().size_bytes;
    std::vector<uint8_t> model(size_t(size), 0);
    std::mt19937 rng(7);
    for (int k = 0; k < 40; ++k) {
      uint64_t off = (rng() % (size / 512 - 600)) * 512;
      uint64_t len = (1 + rng() % 512) * 512;
      auto data = Pattern(len, uint32_t(k));
      ASSERT_TRUE(f.Write(off, data).ok());
      std::copy(data.begin(), data.end(), model.begin() + long(off));
      uint64_t v = off / 512;
      for (const layout::Copy& c : f.array->geometry().Map(v)) {
        EXPECT_EQ(f.MemberData(c.disk, c.sector, 512),
                  std::vector<uint8_t>(data.begin(), data.begin() + 512))
            << layout << " copy on disk " << c.disk;
      }
    }
    auto back = f.Read(0, size);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == model) << layout;
  }
}

TEST(Array, ReadErrorIsRetriedAndTheBadCopyRewritten) {
  Fixture f;
  f.Build(1, 2);
  auto data = Pattern(8192, 2);
  ASSERT_TRUE(f.Write(0, data).ok());
  // The balancer reads member 0 first (lowest index); make it fail once there.
  f.members[0]->Fail({.reads = true, .lo = kDataOffset, .hi = kDataOffset + 8192, .count = 1});
  auto back = f.Read(0, 8192);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, data);
  EXPECT_EQ(f.array->member_state(0), MemberState::kInSync);
  EXPECT_EQ(f.array->member_stats(0).corrected_errors, 16u);
  // The repair wrote the data back to member 0.
  bool rewritten = false;
  for (const auto& op : f.members[0]->ops) rewritten |= op.kind == 'w' && op.offset == kDataOffset && op.length == 8192;
  EXPECT_TRUE(rewritten);
  EXPECT_EQ(f.MemberData(0, 0, 8192), data);
}

TEST(Array, TooManyReadErrorsFailTheMember) {
  Fixture f;
  ArrayOptions o;
  o.max_read_errors = 2;
  f.Build(1, 2, "n2", 128, 64, o);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 3)).ok());
  f.members[0]->Fail({.reads = true, .lo = kDataOffset, .hi = kDataOffset + 4096});
  f.members[0]->Fail({.writes = true, .lo = kDataOffset, .hi = kDataOffset + 4096});
  for (int i = 0; i < 3; ++i) {
    auto back = f.Read(0, 4096);
    ASSERT_TRUE(back.ok()) << back.status().message();
  }
  EXPECT_EQ(f.array->member_state(0), MemberState::kFaulty);
}

TEST(Array, WriteErrorFailsTheMemberBeforeTheWriteIsAcknowledged) {
  Fixture f;
  f.Build(1, 2);
  uint64_t events = f.Sb(0).events;
  f.members[1]->Fail({.writes = true, .lo = kDataOffset});
  auto data = Pattern(16384, 4);
  ASSERT_TRUE(f.Write(8192, data).ok());
  EXPECT_EQ(f.array->member_state(1), MemberState::kFaulty);
  EXPECT_EQ(f.array->degraded(), 1);
  format::Superblock sb = f.Sb(0);
  EXPECT_GT(sb.events, events);
  EXPECT_EQ(sb.dev_roles[1], format::kRoleFaulty);
  // The survivor holds the acknowledged data; later writes go to it alone.
  EXPECT_EQ(f.MemberData(0, 16, data.size()), data);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 5)).ok());
  auto back = f.Read(8192, data.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(f.log.empty());
}

TEST(Array, TheLastCopyIsNeverFailed) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  f.members[0]->Fail({.writes = true, .lo = kDataOffset});
  Status s = f.Write(0, Pattern(4096, 6));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(f.array->broken());
  EXPECT_EQ(f.array->member_state(0), MemberState::kInSync);
  EXPECT_FALSE(f.Write(4096, Pattern(4096, 7)).ok());  // a broken array refuses writes
  // Reads of data still on the last copy work.
  EXPECT_TRUE(f.Read(8192, 4096).ok());
}

TEST(Array, Raid10FailsOnlyWhatTheCopyGroupsAllow) {
  Fixture f;
  f.Build(10, 4, "n2", 128);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(0, "test")).ok());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->FailMember(2, "test")).ok());
  // Slots 1 and 3 now hold the only copies.
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->FailMember(1, "test")).ok());
  EXPECT_TRUE(f.array->broken());
}

TEST(Array, SafeModeMarksActiveBeforeTheFirstWriteAndCleanWhenIdle) {
  Fixture f;
  f.Build(1, 2);
  EXPECT_TRUE(f.Sb(0).Clean());
  ASSERT_TRUE(f.Write(0, Pattern(4096, 8)).ok());
  // The superblock write (FUA, at 4 KiB) reached each member before the data write.
  for (int i = 0; i < 2; ++i) {
    const auto& ops = f.members[size_t(i)]->ops;
    size_t sb = ops.size(), data = ops.size();
    for (size_t k = 0; k < ops.size(); ++k) {
      if (ops[k].kind == 'w' && ops[k].offset == kSbOffset && sb == ops.size()) sb = k;
      if (ops[k].kind == 'w' && ops[k].offset == kDataOffset && data == ops.size()) data = k;
    }
    ASSERT_LT(sb, data) << "member " << i;
    EXPECT_TRUE(ops[sb].fua);
  }
  EXPECT_EQ(f.Sb(0).resync_offset, 0u);
  EXPECT_TRUE(f.array->active());
  f.loop.AdvanceBy(150'000'000);
  EXPECT_TRUE(f.array->active());
  ASSERT_TRUE(f.Write(0, Pattern(4096, 9)).ok());  // resets the idle time
  f.loop.AdvanceBy(150'000'000);
  EXPECT_TRUE(f.array->active());
  f.loop.AdvanceBy(60'000'000);
  EXPECT_FALSE(f.array->active());
  EXPECT_TRUE(f.Sb(0).Clean());
  EXPECT_TRUE(f.Sb(1).Clean());
}

// Power loss while the array is active: each member loses a different random part of its
// unflushed writes; reassembly from what survived on the media says a resync is needed, and
// the flushed data is there on every member.
TEST(Array, CrashWhileActiveIsSeenAtReassembly) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    Fixture f;
    f.crash_mode = true;
    f.Build(1, 2);
    auto flushed = Pattern(8192, 10);
    ASSERT_TRUE(f.Write(0, flushed).ok());
    ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Flush()).ok());
    ASSERT_TRUE(f.Write(65536, Pattern(8192, 11)).ok());  // never flushed
    for (size_t i = 0; i < f.crashes.size(); ++i) {
      ASSERT_TRUE(f.loop.RunUntilComplete(f.crashes[i]->Crash({.seed = seed * 10 + i})).ok());
    }
    std::vector<MemberMetadata> md;
    for (int i = 0; i < 2; ++i) {
      MemberMetadata m;
      m.path = "m" + std::to_string(i);
      m.sb = f.Sb(i);
      md.push_back(m);
      EXPECT_EQ(f.MemberData(i, 0, flushed.size()), flushed) << "seed " << seed;
    }
    auto plan = PlanAssembly(md);
    ASSERT_TRUE(plan.ok());
    EXPECT_TRUE(plan->needs_resync) << "seed " << seed;
  }
}

TEST(Array, FlushAndFuaReachEveryMember) {
  Fixture f;
  f.Build(10, 4, "n2", 128);
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Flush()).ok());
  for (auto* m : f.members) {
    bool flushed = false;
    for (const auto& op : m->ops) flushed |= op.kind == 'f';
    EXPECT_TRUE(flushed);
  }
  // A FUA write spanning all four members (two chunks) is FUA on every copy.
  ASSERT_TRUE(f.Write(0, Pattern(2 * 64 * 1024, 11), io::WriteFlags::kFua).ok());
  for (auto* m : f.members) {
    bool fua = false;
    for (const auto& op : m->ops) fua |= op.kind == 'w' && op.offset >= kDataOffset && op.fua;
    EXPECT_TRUE(fua);
  }
}

TEST(Array, OverlappingWritesNeverInterleave) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 0)).ok());  // array active now
  f.members[0]->HoldWrites();
  auto a = Pattern(8192, 12), b = Pattern(8192, 13);
  auto wa = testing::Start(f.array->Write(0, a));
  auto wb = testing::Start(f.array->Write(4096, b));  // overlaps a by one 4 KiB block
  f.loop.RunUntilIdle();
  // a waits on member 0; b must not have reached member 1 before a completed.
  size_t b_on_1 = 0;
  for (const auto& op : f.members[1]->ops) b_on_1 += op.kind == 'w' && op.offset == kDataOffset + 4096;
  EXPECT_EQ(b_on_1, 0u);
  f.members[0]->ReleaseWrites();
  f.loop.RunUntilIdle();
  ASSERT_TRUE(wa.done() && wb.done());
  EXPECT_TRUE(wa.value().ok());
  EXPECT_TRUE(wb.value().ok());
  // Both mirrors agree: b's data wins in the overlap on both.
  EXPECT_EQ(f.MemberData(0, 0, 12288), f.MemberData(1, 0, 12288));
  EXPECT_EQ(f.MemberData(0, 8, 8192), b);
}

TEST(Array, WritesAreSplitAt64MiBUnits) {
  Fixture f;
  f.Build(1, 2, "n2", 128, 256);
  uint64_t unit = 64 * kMiB;
  auto data = Pattern(8192, 14);
  ASSERT_TRUE(f.Write(unit - 4096, data).ok());
  size_t pieces = 0;
  for (const auto& op : f.members[0]->ops) pieces += op.kind == 'w' && op.offset >= kDataOffset;
  EXPECT_EQ(pieces, 2u);
  auto back = f.Read(unit - 4096, 8192);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST(Array, WriteZeroesReachesEveryCopy) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.Write(0, Pattern(8192, 15)).ok());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->WriteZeroes(0, 8192)).ok());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(f.MemberData(i, 0, 8192), std::vector<uint8_t>(8192, 0));
}

TEST(Array, RejectsOutOfRange) {
  Fixture f;
  f.Build(1, 2);
  std::vector<uint8_t> buf(4096);
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->Read(f.array->info().size_bytes, buf)).ok());
  EXPECT_FALSE(f.loop.RunUntilComplete(f.array->Read(100, buf)).ok());
}

TEST(Array, CloseMarksClean) {
  Fixture f;
  f.Build(1, 2);
  ASSERT_TRUE(f.Write(0, Pattern(4096, 16)).ok());
  EXPECT_FALSE(f.Sb(0).Clean());
  ASSERT_TRUE(f.loop.RunUntilComplete(f.array->Close()).ok());
  EXPECT_TRUE(f.Sb(0).Clean());
  EXPECT_TRUE(f.Sb(1).Clean());
}

}  // namespace
}  // namespace meshraid::raid
