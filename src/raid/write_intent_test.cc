// WriteIntent in a deterministic world (ManualLoop). The persist callback writes into a plain
// byte vector, the "disk", and can be held (an Event) or told to fail, so the tests check what
// is on disk at the moment each call returns. Every test runs with 512- and 4096-byte blocks.
#include "raid/write_intent.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "format/bitmap.h"
#include "testing/manual_loop.h"

namespace meshraid::raid {
namespace {

// 20003 chunks of 2 sectors, the last one holding a single sector: 2501 bytes of bits (the last
// byte has 5 padding bits), 2757 bytes in all: 6 blocks of 512 bytes, or one of 4096.
constexpr uint64_t kChunks = 20003;
constexpr uint64_t kSyncSize = 2 * kChunks - 1;
constexpr uint64_t kEvents = 10;

format::BitmapSuper MakeSuper(uint64_t events = kEvents) {
  format::BitmapSuper s;
  for (size_t i = 0; i < s.uuid.size(); ++i) s.uuid[i] = uint8_t(0xa0 + i);
  s.events = events;
  s.events_cleared = 3;
  s.sync_size = kSyncSize;
  s.chunksize = 1024;
  s.daemon_sleep = 5;
  s.sectors_reserved = 16;
  return s;
}

class WriteIntentTest : public ::testing::TestWithParam<uint32_t> {
 protected:
  WriteIntentTest() : gate_(loop_.executor()) { gate_.Set(); }
  ~WriteIntentTest() override {
    gate_.Set();  // nothing may stay parked on the gate
    loop_.RunUntilIdle();
    EXPECT_LE(max_active_, 1) << "two persists ran at once";
  }

  uint32_t block() const { return GetParam(); }
  uint64_t ImageBytes() const {  // the bitmap rounded up to blocks: all WriteIntent may write
    return (MakeSuper().TotalBytes() + block() - 1) / block() * block();
  }

  // The area as mdadm/MD lay it out, with one spare block of fill after the bitmap's blocks.
  std::vector<uint8_t> Area(const format::BitmapSuper& s, const std::vector<uint64_t>& set = {}) {
    format::BitmapBits bits(s.Chunks());
    for (uint64_t c : set) bits.Set(c);
    auto area = format::EncodeBitmapArea(s, bits, ImageBytes() + block());
    EXPECT_TRUE(area.ok()) << area.status().ToString();
    return area.ok() ? *area : std::vector<uint8_t>{};
  }

  Result<WriteIntent> TryLoad(std::vector<uint8_t> area, uint64_t md_events = kEvents) {
    disk_ = area;
    return WriteIntent::Load(loop_.executor(), std::move(area), block(), md_events,
                             [this](uint64_t offset, std::span<const uint8_t> bytes) {
                               return Persist(offset, bytes);
                             });
  }
  bool Load(std::vector<uint8_t> area, uint64_t md_events = kEvents) {
    auto r = TryLoad(std::move(area), md_events);
    if (!r.ok()) {
      ADD_FAILURE() << r.status().ToString();
      return false;
    }
    wi_.emplace(std::move(r).value());
    return true;
  }
  WriteIntent& wi() { return *wi_; }

  io::Task<Status> Persist(uint64_t offset, std::span<const uint8_t> bytes) {
    ++calls_;
    writes_.push_back({offset, bytes.size()});
    EXPECT_EQ(offset % block(), 0u);
    EXPECT_EQ(bytes.size() % block(), 0u);
    EXPECT_LE(offset + bytes.size(), ImageBytes());
    ++active_;
    max_active_ = std::max(max_active_, active_);
    co_await gate_.Wait();
    --active_;
    if (fail_) co_return Status::IoError("injected bitmap write error");
    std::copy(bytes.begin(), bytes.end(), disk_.begin() + ptrdiff_t(offset));
    co_return Status::Ok();
  }

  Status Run(io::Task<Status> t) { return loop_.RunUntilComplete(std::move(t)); }
  uint64_t RunSweep(bool degraded, uint64_t md_events) {
    Result<uint64_t> r = loop_.RunUntilComplete(wi().Sweep(degraded, md_events));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ~uint64_t{0};
  }
  // A whole write: StartWrite, then EndWrite.
  Status Write(uint64_t sector, uint64_t sectors) {
    Status st = Run(wi().StartWrite(sector, sectors));
    if (st.ok()) wi().EndWrite(sector, sectors);
    return st;
  }
  static uint64_t SectorOf(uint64_t chunk) { return chunk * 2; }

  // StartWrite, then records whether every bit of the range was on disk when it returned.
  io::Task<Status> StartAndCheck(uint64_t sector, uint64_t sectors, bool* on_disk) {
    Status st = co_await wi().StartWrite(sector, sectors);
    *on_disk = true;
    for (uint64_t c = wi().ChunkOf(sector); c <= wi().ChunkOf(sector + sectors - 1); ++c) {
      if (!DiskBit(c)) *on_disk = false;
    }
    co_return st;
  }

  bool DiskBit(uint64_t c) const { return (disk_[256 + c / 8] >> (c % 8)) & 1; }
  format::BitmapSuper DiskSuper() const {
    auto r = format::DecodeBitmapSuper(disk_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : format::BitmapSuper{};
  }
  std::vector<uint64_t> DiskSetChunks() const {
    auto bits = format::BitmapBits::Decode(std::span<const uint8_t>(disk_).subspan(256), kChunks);
    EXPECT_TRUE(bits.ok()) << bits.status().ToString();
    return bits.ok() ? bits->SetChunks() : std::vector<uint64_t>{};
  }

  struct Written {
    uint64_t offset;
    size_t size;
    bool operator==(const Written&) const = default;
  };

  testing::ManualLoop loop_;
  io::Event gate_;  // persists wait here: Reset() holds them, Set() lets them finish
  bool fail_ = false;
  int calls_ = 0;
  int active_ = 0;
  int max_active_ = 0;
  std::vector<Written> writes_;
  std::vector<uint8_t> disk_;
  std::optional<WriteIntent> wi_;
};

TEST_P(WriteIntentTest, LoadsFreshArea) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  EXPECT_EQ(wi().chunks(), kChunks);
  EXPECT_EQ(wi().chunk_sectors(), 2u);
  EXPECT_EQ(wi().ChunkOf(5), 2u);
  EXPECT_EQ(wi().daemon_sleep_seconds(), 5u);
  EXPECT_EQ(wi().super(), MakeSuper());
  EXPECT_EQ(wi().DirtyCount(), 0u);
  EXPECT_FALSE(wi().Dirty(0));
  EXPECT_FALSE(wi().Dirty(kChunks - 1));
  EXPECT_EQ(calls_, 0);
  EXPECT_TRUE(Run(wi().Flush()).ok());
  EXPECT_EQ(calls_, 0);  // nothing changed: nothing written
}

TEST_P(WriteIntentTest, LoadKeepsSetBits) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {0, 9, kChunks - 1})));
  EXPECT_EQ(wi().DirtyCount(), 3u);
  EXPECT_TRUE(wi().Dirty(9));
  EXPECT_FALSE(wi().Dirty(8));
}

TEST_P(WriteIntentTest, StaleEventsLoadEveryChunkDirty) {
  const std::vector<uint8_t> before = Area(MakeSuper(kEvents - 1), {3});
  ASSERT_TRUE(Load(before, kEvents));
  EXPECT_EQ(wi().DirtyCount(), kChunks);
  EXPECT_TRUE(wi().Dirty(0));
  EXPECT_TRUE(wi().Dirty(kChunks - 1));
  EXPECT_EQ(calls_, 0);  // written on the next persist
  EXPECT_EQ(disk_, before);
  ASSERT_TRUE(Run(wi().Flush()).ok());
  EXPECT_EQ(DiskSetChunks().size(), kChunks);
  // All bits set, padding and fill untouched: exactly what MD would lay out.
  format::BitmapSuper s = MakeSuper(kEvents - 1);
  std::vector<uint64_t> all(kChunks);
  for (uint64_t c = 0; c < kChunks; ++c) all[c] = c;
  EXPECT_EQ(disk_, Area(s, all));
}

TEST_P(WriteIntentTest, StaleFlagLoadsEveryChunkDirtyAndIsDropped) {
  format::BitmapSuper s = MakeSuper();
  s.state = format::kBitmapStale;
  ASSERT_TRUE(Load(Area(s), kEvents));
  EXPECT_EQ(wi().DirtyCount(), kChunks);
  EXPECT_EQ(wi().super().state & format::kBitmapStale, 0u);
  ASSERT_TRUE(Run(wi().Flush()).ok());
  EXPECT_EQ(DiskSuper().state, 0u);
  EXPECT_EQ(DiskSetChunks().size(), kChunks);
}

TEST_P(WriteIntentTest, NewerBitmapIsNotStale) {
  ASSERT_TRUE(Load(Area(MakeSuper(kEvents + 5), {4}), kEvents));
  EXPECT_EQ(wi().DirtyCount(), 1u);
}

TEST_P(WriteIntentTest, RuntimeStateBitsAreMasked) {
  format::BitmapSuper s = MakeSuper();
  s.state = format::kBitmapWriteError | (1u << 5) | (1u << 15);
  ASSERT_TRUE(Load(Area(s)));
  EXPECT_EQ(wi().super().state, 0u);
  EXPECT_EQ(wi().DirtyCount(), 0u);
  ASSERT_TRUE(Run(wi().WriteHeader(kEvents)).ok());
  EXPECT_EQ(DiskSuper().state, 0u);
}

TEST_P(WriteIntentTest, TooShortAreaIsRejected) {
  std::vector<uint8_t> area = Area(MakeSuper());
  area.resize(ImageBytes() - 1);
  auto r = TryLoad(area);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(std::to_string(ImageBytes())), std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  area.resize(ImageBytes(), 0xFF);  // exactly enough
  EXPECT_TRUE(TryLoad(area).ok());
}

TEST_P(WriteIntentTest, BadBlockSizeAndBadHeaderAreRejected) {
  auto bad_block = WriteIntent::Load(loop_.executor(), Area(MakeSuper()), 1000, kEvents, {});
  ASSERT_FALSE(bad_block.ok());
  EXPECT_EQ(bad_block.status().code(), Code::kInvalidArgument);
  auto zero = TryLoad(std::vector<uint8_t>(ImageBytes(), 0));
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), Code::kNotFound);
  std::vector<uint8_t> area = Area(MakeSuper());
  area[0] ^= 1;  // magic
  auto bad_magic = TryLoad(area);
  ASSERT_FALSE(bad_magic.ok());
  EXPECT_EQ(bad_magic.status().code(), Code::kCorruption);
}

TEST_P(WriteIntentTest, StartWriteReturnsOnlyAfterTheBitIsOnDisk) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  gate_.Reset();
  auto w = testing::Start(wi().StartWrite(SectorOf(7), 1));
  loop_.RunUntilIdle();
  EXPECT_FALSE(w.done());  // the persist is held: the write must not go ahead
  EXPECT_EQ(calls_, 1);
  EXPECT_TRUE(wi().Dirty(7));
  EXPECT_FALSE(DiskBit(7));
  gate_.Set();
  loop_.RunUntilIdle();
  ASSERT_TRUE(w.done());
  EXPECT_TRUE(w.value().ok()) << w.value().ToString();
  EXPECT_TRUE(DiskBit(7));
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{7});
  EXPECT_EQ(writes_, (std::vector<Written>{{0, block()}}));  // bit 7 lives in block 0
}

TEST_P(WriteIntentTest, SecondWriteToSameChunkDoesNotPersist) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Run(wi().StartWrite(SectorOf(7), 1)).ok());
  EXPECT_EQ(calls_, 1);
  // The other sector of the same chunk, with the first write still in flight: the bit is
  // already on disk, so the write goes ahead at once (without even running the loop).
  auto w = testing::Start(wi().StartWrite(SectorOf(7) + 1, 1));
  ASSERT_TRUE(w.done());
  EXPECT_TRUE(w.value().ok());
  EXPECT_EQ(calls_, 1);
  wi().EndWrite(SectorOf(7), 1);
  wi().EndWrite(SectorOf(7) + 1, 1);
  EXPECT_TRUE(Write(SectorOf(7), 2).ok());
  EXPECT_EQ(calls_, 1);
}

TEST_P(WriteIntentTest, ConcurrentWritersShareAtMostTwoPersists) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  gate_.Reset();
  bool a_on_disk = false, b_on_disk = false, c_on_disk = false;
  auto a = testing::Start(StartAndCheck(SectorOf(1), 1, &a_on_disk));
  // B and C set their bits while A's persist (which does not hold them) is running.
  auto b = testing::Start(StartAndCheck(SectorOf(5), 1, &b_on_disk));
  auto c = testing::Start(StartAndCheck(SectorOf(kChunks - 1), 1, &c_on_disk));
  loop_.RunUntilIdle();
  EXPECT_EQ(calls_, 1);
  EXPECT_FALSE(a.done() || b.done() || c.done());
  gate_.Set();
  loop_.RunUntilIdle();
  ASSERT_TRUE(a.done() && b.done() && c.done());
  EXPECT_TRUE(a.value().ok() && b.value().ok() && c.value().ok());
  EXPECT_TRUE(a_on_disk);
  EXPECT_TRUE(b_on_disk);
  EXPECT_TRUE(c_on_disk);
  EXPECT_EQ(calls_, block() == 512 ? 3 : 2);  // 512: B's and C's bits are in blocks 0 and 5
  EXPECT_EQ(wi().stats().persists, uint64_t(calls_));
  EXPECT_EQ(DiskSetChunks(), (std::vector<uint64_t>{1, 5, kChunks - 1}));
}

TEST_P(WriteIntentTest, TwoWritersOnOneBlockShareAtMostTwoPersists) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  gate_.Reset();
  bool a_on_disk = false, b_on_disk = false;
  auto a = testing::Start(StartAndCheck(SectorOf(1), 1, &a_on_disk));
  auto b = testing::Start(StartAndCheck(SectorOf(2), 1, &b_on_disk));
  loop_.RunUntilIdle();
  EXPECT_EQ(calls_, 1);
  gate_.Set();
  loop_.RunUntilIdle();
  ASSERT_TRUE(a.done() && b.done());
  EXPECT_TRUE(a.value().ok() && b.value().ok());
  EXPECT_TRUE(a_on_disk);
  EXPECT_TRUE(b_on_disk);
  EXPECT_EQ(calls_, 2);
}

TEST_P(WriteIntentTest, WriterOfAPendingBitWaitsForItsPersist) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  gate_.Reset();
  bool a_on_disk = false, b_on_disk = false;
  auto a = testing::Start(StartAndCheck(SectorOf(3), 1, &a_on_disk));
  // B finds the bit set in memory, but not yet on disk: it waits for A's persist, no other.
  auto b = testing::Start(StartAndCheck(SectorOf(3) + 1, 1, &b_on_disk));
  loop_.RunUntilIdle();
  EXPECT_FALSE(b.done());
  gate_.Set();
  loop_.RunUntilIdle();
  ASSERT_TRUE(a.done() && b.done());
  EXPECT_TRUE(a.value().ok() && b.value().ok());
  EXPECT_TRUE(b_on_disk);
  EXPECT_EQ(calls_, 1);
}

TEST_P(WriteIntentTest, PersistFailurePropagatesToAllWaiters) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  gate_.Reset();
  fail_ = true;
  auto a = testing::Start(wi().StartWrite(SectorOf(1), 1));
  auto same = testing::Start(wi().StartWrite(SectorOf(1) + 1, 1));  // waits on A's persist
  auto later = testing::Start(wi().StartWrite(SectorOf(2), 1));     // needs a persist of its own
  loop_.RunUntilIdle();
  gate_.Set();
  loop_.RunUntilIdle();
  ASSERT_TRUE(a.done() && same.done() && later.done());
  EXPECT_EQ(a.value().code(), Code::kIoError);
  EXPECT_EQ(same.value().code(), Code::kIoError);
  EXPECT_EQ(later.value().code(), Code::kIoError);
  EXPECT_EQ(calls_, 2);
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{});
  wi().EndWrite(SectorOf(1), 1);  // the caller ends a write even when StartWrite failed
  wi().EndWrite(SectorOf(1) + 1, 1);
  wi().EndWrite(SectorOf(2), 1);

  // The failed writes' bits stay set in memory and reach the disk with the next persist.
  fail_ = false;
  EXPECT_TRUE(wi().Dirty(1));
  ASSERT_TRUE(Run(wi().Flush()).ok());
  EXPECT_EQ(DiskSetChunks(), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(RunSweep(false, 20), 0u);  // touched by the failed writes
  EXPECT_EQ(RunSweep(false, 21), 2u);
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{});
}

TEST_P(WriteIntentTest, WriteAfterAFailedPersistRetries) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  fail_ = true;
  EXPECT_FALSE(Run(wi().StartWrite(SectorOf(4), 1)).ok());
  wi().EndWrite(SectorOf(4), 1);
  fail_ = false;
  // The bit is set in memory but was never persisted: the same write must persist it.
  EXPECT_TRUE(Run(wi().StartWrite(SectorOf(4), 1)).ok());
  EXPECT_TRUE(DiskBit(4));
  EXPECT_EQ(calls_, 2);
  wi().EndWrite(SectorOf(4), 1);
}

TEST_P(WriteIntentTest, SweepClearsAfterAWholeIdlePeriod) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Write(SectorOf(3), 2).ok());
  const int after_write = calls_;
  EXPECT_EQ(RunSweep(false, 20), 0u);  // written during this period
  EXPECT_TRUE(DiskBit(3));
  EXPECT_EQ(calls_, after_write);  // nothing changed, nothing written
  EXPECT_EQ(RunSweep(false, 21), 1u);
  EXPECT_FALSE(wi().Dirty(3));
  EXPECT_FALSE(DiskBit(3));
  EXPECT_EQ(wi().super().events_cleared, 21u);
  EXPECT_EQ(DiskSuper().events_cleared, 21u);
  EXPECT_EQ(wi().stats().bits_cleared, 1u);
  // Nothing left to clear: events_cleared stays.
  EXPECT_EQ(RunSweep(false, 22), 0u);
  EXPECT_EQ(DiskSuper().events_cleared, 21u);
}

TEST_P(WriteIntentTest, WriteBetweenSweepsRestartsThePeriod) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Write(SectorOf(3), 1).ok());
  EXPECT_EQ(RunSweep(false, 20), 0u);
  ASSERT_TRUE(Write(SectorOf(3), 1).ok());
  EXPECT_EQ(RunSweep(false, 21), 0u);
  EXPECT_EQ(RunSweep(false, 22), 1u);
}

TEST_P(WriteIntentTest, SweepKeepsChunksWithWritesInFlight) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Run(wi().StartWrite(SectorOf(3), 1)).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(RunSweep(false, 20), 0u);
  EXPECT_TRUE(DiskBit(3));
  wi().EndWrite(SectorOf(3), 1);
  EXPECT_EQ(RunSweep(false, 20), 0u);  // the write ended during this period
  EXPECT_EQ(RunSweep(false, 21), 1u);
  EXPECT_FALSE(DiskBit(3));
}

TEST_P(WriteIntentTest, DegradedSweepClearsNothing) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Write(SectorOf(3), 1).ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(RunSweep(true, 20 + i), 0u);
  EXPECT_TRUE(wi().Dirty(3));
  EXPECT_TRUE(DiskBit(3));
  EXPECT_EQ(wi().super().events_cleared, 3u);
  EXPECT_EQ(DiskSuper().events_cleared, 3u);
  // Healthy again: the chunk has been idle for more than a period.
  EXPECT_EQ(RunSweep(false, 30), 1u);
  EXPECT_FALSE(DiskBit(3));
  EXPECT_EQ(DiskSuper().events_cleared, 30u);
}

TEST_P(WriteIntentTest, LoadedBitsStayWhileTheCallerSaysDegraded) {
  // Bits found on disk (a crash) must survive until the resync copied them: the caller sweeps
  // with degraded=true meanwhile, and MarkSynced clears what the resync has done.
  ASSERT_TRUE(Load(Area(MakeSuper(), {2, 700})));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(RunSweep(true, 20), 0u);
  EXPECT_EQ(DiskSetChunks(), (std::vector<uint64_t>{2, 700}));
  wi().MarkSynced(2);
  EXPECT_EQ(RunSweep(true, 21), 0u);  // cleared by MarkSynced, persisted by the sweep
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{700});
  EXPECT_EQ(DiskSuper().events_cleared, 3u);
  // Once healthy, an idle loaded bit goes at the next sweep.
  EXPECT_EQ(RunSweep(false, 22), 1u);
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{});
  EXPECT_EQ(DiskSuper().events_cleared, 22u);
}

TEST_P(WriteIntentTest, SetAllMarksEveryChunkDirty) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {7})));
  wi().SetAll();
  EXPECT_EQ(wi().DirtyCount(), kChunks);
  EXPECT_EQ(calls_, 0);
  ASSERT_TRUE(Run(wi().Flush()).ok());
  EXPECT_EQ(DiskSetChunks().size(), kChunks);
  // Written blocks: every block holding bits (at 512: all six, in one call).
  EXPECT_EQ(writes_, (std::vector<Written>{{0, ImageBytes()}}));
  EXPECT_EQ(wi().stats().bits_set, kChunks - 1);
  ASSERT_TRUE(Write(SectorOf(5), 1).ok());
  EXPECT_EQ(calls_, 1);  // already on disk
  EXPECT_EQ(RunSweep(false, 20), kChunks - 1);
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{5});
}

TEST_P(WriteIntentTest, MarkSyncedThenFlushClearsOnDisk) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {2, 3, kChunks - 1})));
  wi().MarkSynced(3);
  wi().MarkSynced(kChunks - 1);
  EXPECT_FALSE(wi().Dirty(3));
  EXPECT_EQ(wi().DirtyCount(), 1u);
  EXPECT_TRUE(DiskBit(3));  // not yet persisted
  EXPECT_EQ(calls_, 0);
  ASSERT_TRUE(Run(wi().Flush()).ok());
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{2});
  // MarkSynced does not move events_cleared (only a sweep does).
  EXPECT_EQ(DiskSuper().events_cleared, 3u);
  EXPECT_EQ(disk_, Area(MakeSuper(), {2}));
}

TEST_P(WriteIntentTest, MarkSyncedKeepsTheBitOfAChunkWithAWriteInFlight) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {2})));
  ASSERT_TRUE(Run(wi().StartWrite(SectorOf(2), 1)).ok());
  wi().MarkSynced(2);
  EXPECT_TRUE(wi().Dirty(2));
  wi().EndWrite(SectorOf(2), 1);
  wi().MarkSynced(2);
  EXPECT_FALSE(wi().Dirty(2));
  ASSERT_TRUE(Run(wi().Flush()).ok());
  EXPECT_FALSE(DiskBit(2));
}

TEST_P(WriteIntentTest, PendingClearsDoNotSlowDownWrites) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {2, 3})));
  wi().MarkSynced(2);  // an unpersisted clear in block 0
  auto w = testing::Start(wi().StartWrite(SectorOf(3), 1));  // bit 3 is on disk already
  ASSERT_TRUE(w.done());
  EXPECT_TRUE(w.value().ok());
  EXPECT_EQ(calls_, 0);
  wi().EndWrite(SectorOf(3), 1);
}

TEST_P(WriteIntentTest, WriteHeaderPersistsEventsInBlockZero) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {1})));
  ASSERT_TRUE(Run(wi().WriteHeader(42)).ok());
  EXPECT_EQ(writes_, (std::vector<Written>{{0, block()}}));
  EXPECT_EQ(wi().super().events, 42u);
  format::BitmapSuper expected = MakeSuper();
  expected.events = 42;
  EXPECT_EQ(DiskSuper(), expected);
  EXPECT_EQ(disk_, Area(expected, {1}));
}

TEST_P(WriteIntentTest, WriteHeaderWaitsForTheRunningPersist) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  gate_.Reset();
  auto w = testing::Start(wi().StartWrite(SectorOf(6), 1));
  auto h = testing::Start(wi().WriteHeader(50));
  loop_.RunUntilIdle();
  EXPECT_EQ(calls_, 1);  // serialized behind the write's persist
  EXPECT_FALSE(h.done());
  gate_.Set();
  loop_.RunUntilIdle();
  ASSERT_TRUE(w.done() && h.done());
  EXPECT_TRUE(w.value().ok() && h.value().ok());
  EXPECT_EQ(calls_, 2);
  EXPECT_EQ(DiskSuper().events, 50u);
  EXPECT_TRUE(DiskBit(6));
  wi().EndWrite(SectorOf(6), 1);
}

TEST_P(WriteIntentTest, WriteHeaderFailureIsReturned) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  fail_ = true;
  EXPECT_EQ(Run(wi().WriteHeader(50)).code(), Code::kIoError);
  fail_ = false;
  ASSERT_TRUE(Run(wi().Flush()).ok());  // still changed: the flush writes it
  EXPECT_EQ(DiskSuper().events, 50u);
}

TEST_P(WriteIntentTest, RangeSpanningSeveralChunksAndBlocks) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  // Chunks 2040..2060: at 512-byte blocks, bit 2048 starts block 1.
  ASSERT_TRUE(Write(SectorOf(2040) + 1, SectorOf(2060) - SectorOf(2040)).ok());
  std::vector<uint64_t> expected;
  for (uint64_t c = 2040; c <= 2060; ++c) expected.push_back(c);
  EXPECT_EQ(DiskSetChunks(), expected);
  // One call for the contiguous run of changed blocks.
  EXPECT_EQ(writes_, (std::vector<Written>{{0, block() == 512 ? 1024u : 4096u}}));
  EXPECT_EQ(wi().stats().bits_set, 21u);
  EXPECT_EQ(RunSweep(false, 20), 0u);
  EXPECT_EQ(RunSweep(false, 21), 21u);
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{});
}

TEST_P(WriteIntentTest, NonAdjacentBlocksArePersistedSeparately) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {0, 12000})));
  wi().MarkSynced(0);
  wi().MarkSynced(12000);  // (256 + 1500) / 512: block 3
  ASSERT_TRUE(Run(wi().Flush()).ok());
  if (block() == 512) {
    EXPECT_EQ(writes_, (std::vector<Written>{{0, 512}, {1536, 512}}));
  } else {
    EXPECT_EQ(writes_, (std::vector<Written>{{0, 4096}}));
  }
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{});
}

TEST_P(WriteIntentTest, LastPartialChunk) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Write(kSyncSize - 1, 1).ok());  // the last chunk holds this one sector
  EXPECT_EQ(DiskSetChunks(), std::vector<uint64_t>{kChunks - 1});
  EXPECT_EQ(disk_, Area(MakeSuper(), {kChunks - 1}));  // padding bits and fill still set
  EXPECT_EQ(disk_[256 + kChunks / 8] & 0xF8, 0xF8);
  EXPECT_EQ(Run(wi().StartWrite(kSyncSize - 1, 2)).code(), Code::kInvalidArgument);
  EXPECT_EQ(Run(wi().StartWrite(kSyncSize, 1)).code(), Code::kInvalidArgument);
  wi().EndWrite(kSyncSize - 1, 2);  // the caller's EndWrite after a refused StartWrite: ignored
  wi().EndWrite(kSyncSize, 1);
  EXPECT_EQ(RunSweep(false, 20), 0u);
  EXPECT_EQ(RunSweep(false, 21), 1u);
  EXPECT_EQ(disk_, Area([] {
              format::BitmapSuper s = MakeSuper();
              s.events_cleared = 21;
              return s;
            }()));
}

TEST_P(WriteIntentTest, EmptyWriteDoesNothing) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  EXPECT_TRUE(Run(wi().StartWrite(SectorOf(3), 0)).ok());
  wi().EndWrite(SectorOf(3), 0);
  EXPECT_EQ(wi().DirtyCount(), 0u);
  EXPECT_EQ(calls_, 0);
}

TEST_P(WriteIntentTest, RoundTripAfterMixedOperations) {
  ASSERT_TRUE(Load(Area(MakeSuper(), {100})));
  ASSERT_TRUE(Write(SectorOf(0), 1).ok());
  ASSERT_TRUE(Write(SectorOf(9000), 4).ok());                  // chunks 9000, 9001
  ASSERT_TRUE(Run(wi().StartWrite(SectorOf(15000), 1)).ok());  // stays in flight
  wi().MarkSynced(100);
  EXPECT_EQ(RunSweep(true, 11), 0u);  // persists the MarkSynced clear
  ASSERT_TRUE(Write(SectorOf(9001), 1).ok());
  EXPECT_EQ(RunSweep(false, 12), 2u);  // 0 and 9000; 9001 was written again
  ASSERT_TRUE(Run(wi().WriteHeader(13)).ok());
  wi().EndWrite(SectorOf(15000), 1);

  format::BitmapSuper expected = MakeSuper();
  expected.events = 13;
  expected.events_cleared = 12;
  EXPECT_EQ(DiskSuper(), expected);
  EXPECT_EQ(DiskSetChunks(), (std::vector<uint64_t>{9001, 15000}));
  EXPECT_EQ(disk_, Area(expected, {9001, 15000}));  // padding bits and fill as MD has them
  // And it loads back into the same state.
  auto again = TryLoad(disk_, 13);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->super(), expected);
  EXPECT_EQ(again->DirtyCount(), 2u);
}

TEST_P(WriteIntentTest, StatsCountPersistsBytesAndBits) {
  ASSERT_TRUE(Load(Area(MakeSuper())));
  ASSERT_TRUE(Write(SectorOf(1), 4).ok());  // chunks 1, 2
  ASSERT_TRUE(Run(wi().WriteHeader(11)).ok());
  EXPECT_EQ(RunSweep(false, 11), 0u);
  EXPECT_EQ(RunSweep(false, 11), 2u);
  const WriteIntent::Stats& s = wi().stats();
  EXPECT_EQ(s.persists, 3u);
  EXPECT_EQ(s.bytes_written, 3u * block());
  EXPECT_EQ(s.bits_set, 2u);
  EXPECT_EQ(s.bits_cleared, 2u);
}

INSTANTIATE_TEST_SUITE_P(WriteIntent, WriteIntentTest, ::testing::Values(512u, 4096u),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return "Block" + std::to_string(info.param);
                         });

}  // namespace
}  // namespace meshraid::raid
