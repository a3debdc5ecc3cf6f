#include "testing/crash_device.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

#include "io/mem_device.h"
#include "testing/borrowed_device.h"
#include "testing/delay_device.h"
#include "testing/manual_loop.h"
#include "testing/mem_copy.h"

namespace meshraid::testing {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kDiskBytes = 1 << 20;

class CrashDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override { dev_ = MakeOver(disk_); }
  std::unique_ptr<CrashDevice> MakeOver(io::MemDevice& disk) {
    return std::make_unique<CrashDevice>(std::make_unique<BorrowedDevice>(disk), loop_.executor());
  }
  Status Run(io::Task<Status> t) { return loop_.RunUntilComplete(std::move(t)); }
  Status Put(CrashDevice& d, uint64_t block, uint8_t v, io::WriteFlags f = io::WriteFlags::kNone) {
    const std::vector<uint8_t> b(kBlock, v);
    return Run(d.Write(block * kBlock, b, f));
  }
  Status Put(uint64_t block, uint8_t v, io::WriteFlags f = io::WriteFlags::kNone) {
    return Put(*dev_, block, v, f);
  }
  // The byte value of `block` through the device (cache included), or -1 on error.
  int Get(uint64_t block) {
    std::vector<uint8_t> b(kBlock);
    if (!Run(dev_->Read(block * kBlock, b)).ok()) return -1;
    return b[0];
  }
  int OnDisk(io::MemDevice& disk, uint64_t block) { return disk.Peek(block * kBlock, 1)[0]; }
  int OnDisk(uint64_t block) { return OnDisk(disk_, block); }

  ManualLoop loop_;
  io::MemDevice disk_{loop_.executor(), io::MemDevice::Options{.size_bytes = kDiskBytes}};
  std::unique_ptr<CrashDevice> dev_;
};

TEST_F(CrashDeviceTest, ReadsSeeCachedWritesTheDurableImageDoesNot) {
  ASSERT_TRUE(Put(1, 0xaa).ok());
  EXPECT_EQ(Get(1), 0xaa);
  EXPECT_EQ(OnDisk(1), 0);
  EXPECT_EQ(dev_->unflushed_writes(), 1u);
  EXPECT_EQ(dev_->unflushed_bytes(), kBlock);
  std::vector<uint8_t> b(kBlock);
  ASSERT_TRUE(Run(dev_->DurableImage().Read(kBlock, b)).ok());
  EXPECT_EQ(b[0], 0);
  ASSERT_TRUE(Run(dev_->Flush()).ok());
  EXPECT_EQ(OnDisk(1), 0xaa);
  EXPECT_EQ(dev_->unflushed_writes(), 0u);
}

TEST_F(CrashDeviceTest, FlushedDataAlwaysSurvivesUnflushedMayNot) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    ASSERT_TRUE(Put(0, uint8_t(seed)).ok());
    ASSERT_TRUE(Run(dev_->Flush()).ok());
    ASSERT_TRUE(Put(0, 0xee).ok());
    ASSERT_TRUE(Put(1, 0xee).ok());
    ASSERT_TRUE(Run(dev_->Crash({.seed = seed})).ok());
    EXPECT_TRUE(OnDisk(0) == int(seed) || OnDisk(0) == 0xee);
    dev_->Restart();
  }
  ASSERT_TRUE(Put(2, 0x22).ok());
  ASSERT_TRUE(Run(dev_->Crash({.keep_probability = 0.0})).ok());
  EXPECT_EQ(OnDisk(2), 0);
  EXPECT_EQ(dev_->last_crash().writes_dropped, 1u);
}

TEST_F(CrashDeviceTest, KeptWritesLandInOrderNewestWins) {
  ASSERT_TRUE(Put(3, 1).ok());
  ASSERT_TRUE(Put(3, 2).ok());
  ASSERT_TRUE(Run(dev_->Discard(4 * kBlock, kBlock)).ok());
  ASSERT_TRUE(Run(dev_->WriteZeroes(5 * kBlock, kBlock, io::ZeroFlags::kNone)).ok());
  disk_.Poke(4 * kBlock, std::vector<uint8_t>(2 * kBlock, 9));
  EXPECT_EQ(Get(4), 0);
  ASSERT_TRUE(Run(dev_->Crash({.keep_probability = 1.0})).ok());
  EXPECT_EQ(OnDisk(3), 2);
  EXPECT_EQ(OnDisk(4), 0);
  EXPECT_EQ(OnDisk(5), 0);
  EXPECT_EQ(dev_->last_crash().writes_kept, 4u);
}

TEST_F(CrashDeviceTest, FuaIsDurableAtOnceAndSupersedesOlderCachedData) {
  ASSERT_TRUE(Put(0, 0x01).ok());                        // cached
  ASSERT_TRUE(Put(0, 0x02, io::WriteFlags::kFua).ok());  // durable, replaces 0x01
  EXPECT_EQ(OnDisk(0), 0x02);
  EXPECT_EQ(Get(0), 0x02);
  ASSERT_TRUE(Put(0, 0x03).ok());  // newer than the FUA write
  EXPECT_EQ(Get(0), 0x03);
  const std::vector<uint8_t> half(kBlock / 2, 0x04);
  ASSERT_TRUE(
      Run(dev_->Write(kBlock * 8, std::vector<uint8_t>(3 * kBlock, 0x05), io::WriteFlags::kNone))
          .ok());
  ASSERT_TRUE(Run(dev_->Write(kBlock * 9, half, io::WriteFlags::kFua)).ok());  // punches the middle
  EXPECT_EQ(Get(9), 0x04);
  EXPECT_EQ(dev_->unflushed_writes(), 3u);  // 0x03, and 0x05 before and after the cut
  ASSERT_TRUE(Run(dev_->Crash({.keep_probability = 1.0})).ok());
  EXPECT_EQ(OnDisk(0), 0x03);
  EXPECT_EQ(disk_.Peek(9 * kBlock, kBlock / 2), half);
  EXPECT_EQ(disk_.Peek(9 * kBlock + kBlock / 2, 1)[0], 0x05);
  EXPECT_EQ(OnDisk(8), 0x05);
  EXPECT_EQ(OnDisk(10), 0x05);
  dev_->Restart();
  ASSERT_TRUE(Put(0, 0x06, io::WriteFlags::kFua).ok());
  ASSERT_TRUE(Put(1, 0x07).ok());
  ASSERT_TRUE(Run(dev_->Crash({.keep_probability = 0.0})).ok());
  EXPECT_EQ(OnDisk(0), 0x06);
  EXPECT_EQ(OnDisk(1), 0);
}

TEST_F(CrashDeviceTest, SameSeedSameSurvivorsOtherSeedOthers) {
  auto run = [&](uint64_t seed) {
    io::MemDevice disk(loop_.executor(), io::MemDevice::Options{.size_bytes = kDiskBytes});
    auto dev = MakeOver(disk);
    for (uint64_t b = 0; b < 64; ++b) EXPECT_TRUE(Put(*dev, b, uint8_t(b + 1)).ok());
    EXPECT_TRUE(Run(dev->Crash({.seed = seed})).ok());
    std::vector<int> image;
    for (uint64_t b = 0; b < 64; ++b) image.push_back(OnDisk(disk, b));
    return image;
  };
  const auto a = run(5);
  EXPECT_EQ(a, run(5));
  EXPECT_NE(a, run(6));
  const auto kept = 64 - std::count(a.begin(), a.end(), 0);
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 64);
}

TEST_F(CrashDeviceTest, TearingKeepsSomeBlocksOfOneWrite) {
  ASSERT_TRUE(
      Run(dev_->Write(0, std::vector<uint8_t>(64 * kBlock, 0x77), io::WriteFlags::kNone)).ok());
  ASSERT_TRUE(Run(dev_->Crash({.seed = 3, .tear = true, .tear_block_bytes = kBlock})).ok());
  int kept = 0;
  for (uint64_t b = 0; b < 64; ++b) {
    const auto blk = disk_.Peek(b * kBlock, kBlock);
    ASSERT_TRUE(blk == std::vector<uint8_t>(kBlock, 0x77) ||
                blk == std::vector<uint8_t>(kBlock, 0));
    kept += blk[0] == 0x77;
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 64);
  EXPECT_EQ(dev_->last_crash().writes_torn, 1u);
  EXPECT_EQ(dev_->last_crash().bytes_kept, uint64_t(kept) * kBlock);
}

TEST_F(CrashDeviceTest, OpsFailAfterCrashUntilRestartThenSeeTheSurvivors) {
  ASSERT_TRUE(Put(0, 0x10).ok());
  ASSERT_TRUE(Run(dev_->Flush()).ok());
  ASSERT_TRUE(Put(1, 0x11).ok());
  ASSERT_TRUE(Run(dev_->Crash({.keep_probability = 0.0})).ok());
  EXPECT_TRUE(dev_->crashed());
  Status s = Put(2, 0x12);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.scope(), Scope::kDevice);
  EXPECT_EQ(Get(0), -1);
  EXPECT_FALSE(Run(dev_->Flush()).ok());
  dev_->Restart();
  EXPECT_EQ(Get(0), 0x10);
  EXPECT_EQ(Get(1), 0);
  EXPECT_EQ(Get(2), 0);
}

TEST_F(CrashDeviceTest, SurvivingImageCopiesIntoAFreshMemDevice) {
  ASSERT_TRUE(Put(2, 0x42, io::WriteFlags::kFua).ok());
  ASSERT_TRUE(Put(200, 0x43).ok());
  ASSERT_TRUE(Run(dev_->Crash({.keep_probability = 0.0})).ok());
  auto copy = loop_.RunUntilComplete(CopyToMemDevice(dev_->DurableImage(), loop_.executor()));
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  io::MemDevice& fresh = **copy;
  EXPECT_EQ(fresh.info().size_bytes, kDiskBytes);
  EXPECT_EQ(fresh.Peek(0, kDiskBytes), disk_.Peek(0, kDiskBytes));
  EXPECT_EQ(fresh.allocated_bytes(), io::MemDevice::kChunkBytes);  // stays sparse
  // A new stack over the same disk, as a reassembly after power loss would build.
  dev_.reset();
  auto again = MakeOver(disk_);
  std::vector<uint8_t> b(kBlock);
  ASSERT_TRUE(Run(again->Read(2 * kBlock, b)).ok());
  EXPECT_EQ(b[0], 0x42);
  ASSERT_TRUE(Run(again->Close()).ok());
  EXPECT_FALSE(disk_.closed());  // borrowed: the owner closes it
}

TEST_F(CrashDeviceTest, CrashDuringAFlushKeepsWhatReachedTheDisk) {
  dev_ = std::make_unique<CrashDevice>(
      [&] {
        auto d =
            std::make_unique<DelayDevice>(std::make_unique<BorrowedDevice>(disk_), loop_.timers());
        d->SetLatency(Op::kWrite, Latency::Fixed(std::chrono::microseconds(100)));
        return d;
      }(),
      loop_.executor());
  for (uint64_t b = 0; b < 3; ++b) ASSERT_TRUE(Put(b, uint8_t(0x30 + b)).ok());
  auto flush = Start(dev_->Flush());
  loop_.AdvanceBy(150'000);  // block 0 written; block 1 under way
  EXPECT_EQ(OnDisk(0), 0x30);
  EXPECT_EQ(OnDisk(1), 0);
  auto crash = Start(dev_->Crash({.keep_probability = 0.0}));
  EXPECT_EQ(Get(0), -1);
  ASSERT_TRUE(loop_.RunUntil([&] { return flush.done() && crash.done(); }));
  EXPECT_EQ(flush.value().code(), Code::kUnavailable);  // never acknowledged
  EXPECT_TRUE(crash.value().ok());
  EXPECT_EQ(OnDisk(0), 0x30);
  EXPECT_EQ(OnDisk(1), 0x31);  // it had reached the disk
  EXPECT_EQ(OnDisk(2), 0);     // dropped
}

// The crash harness property: random writes (some FUA) and flushes, a crash at a random point;
// every block then holds its value as of the last flush (or FUA write) or a value written
// after it — never anything else, and never older data.
TEST_F(CrashDeviceTest, RandomHistoriesKeepEveryAcknowledgedFlush) {
  const uint64_t seed = uint64_t(::testing::UnitTest::GetInstance()->random_seed());
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Rng rng(seed);
  constexpr uint64_t kBlocks = 16;
  for (int round = 0; round < 30; ++round) {
    io::MemDevice disk(loop_.executor(), io::MemDevice::Options{.size_bytes = kBlocks * kBlock});
    auto dev = MakeOver(disk);
    std::vector<int> durable(kBlocks, 0), latest(kBlocks, 0);
    std::vector<std::set<int>> since_flush(kBlocks);
    uint8_t next = 1;
    const int ops = 1 + int(rng() % 40);
    for (int i = 0; i < ops; ++i) {
      const uint64_t kind = rng() % 10;
      if (kind == 0) {
        ASSERT_TRUE(Run(dev->Flush()).ok());
        for (uint64_t b = 0; b < kBlocks; ++b) {
          durable[b] = latest[b];
          since_flush[b].clear();
        }
        continue;
      }
      const uint64_t b = rng() % kBlocks;
      const bool fua = kind == 1;
      const uint8_t v = next++;  // at most 40 writes a round: values stay distinct
      ASSERT_TRUE(Put(*dev, b, v, fua ? io::WriteFlags::kFua : io::WriteFlags::kNone).ok());
      latest[b] = v;
      if (fua) {
        durable[b] = v;
        since_flush[b].clear();
      } else {
        since_flush[b].insert(v);
      }
    }
    ASSERT_TRUE(Run(dev->Crash({.seed = rng(), .tear = (round % 2) == 1})).ok());
    for (uint64_t b = 0; b < kBlocks; ++b) {
      const int got = OnDisk(disk, b);
      EXPECT_TRUE(got == durable[b] || since_flush[b].count(got))
          << "round " << round << " block " << b;
    }
  }
}

}  // namespace
}  // namespace meshraid::testing
