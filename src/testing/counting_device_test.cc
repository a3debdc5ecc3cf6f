#include "testing/counting_device.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "io/mem_device.h"
#include "io/when_all.h"
#include "testing/delay_device.h"
#include "testing/fault_device.h"
#include "testing/manual_loop.h"

namespace meshraid::testing {
namespace {

class CountingDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = std::make_unique<CountingDevice>(std::make_unique<io::MemDevice>(
        loop_.executor(), io::MemDevice::Options{.size_bytes = 1 << 20}));
  }
  Status Run(io::Task<Status> t) { return loop_.RunUntilComplete(std::move(t)); }
  Status WriteAt(uint64_t off, size_t len) {
    std::vector<uint8_t> b(len, 1);
    return Run(dev_->Write(off, b, io::WriteFlags::kNone));
  }

  ManualLoop loop_;
  std::unique_ptr<CountingDevice> dev_;
};

TEST_F(CountingDeviceTest, CountsOpsAndBytesPerType) {
  ASSERT_TRUE(WriteAt(0, 8192).ok());
  ASSERT_TRUE(WriteAt(65536, 512).ok());
  std::vector<uint8_t> r(4096);
  ASSERT_TRUE(Run(dev_->Read(0, r)).ok());
  ASSERT_TRUE(Run(dev_->Flush()).ok());
  ASSERT_TRUE(Run(dev_->Discard(0, 1024)).ok());
  ASSERT_TRUE(Run(dev_->WriteZeroes(4096, 4096, io::ZeroFlags::kNone)).ok());
  EXPECT_EQ(dev_->counters(Op::kWrite).issued, 2u);
  EXPECT_EQ(dev_->counters(Op::kWrite).ok, 2u);
  EXPECT_EQ(dev_->counters(Op::kWrite).bytes, 8704u);
  EXPECT_EQ(dev_->counters(Op::kRead).bytes, 4096u);
  EXPECT_EQ(dev_->counters(Op::kFlush).ok, 1u);
  EXPECT_EQ(dev_->counters(Op::kDiscard).bytes, 1024u);
  EXPECT_EQ(dev_->counters(Op::kWriteZeroes).bytes, 4096u);
}

TEST_F(CountingDeviceTest, AnswersRangeQuestions) {
  ASSERT_TRUE(WriteAt(0, 8192).ok());
  ASSERT_TRUE(WriteAt(4096, 8192).ok());  // overlaps the first
  ASSERT_TRUE(WriteAt(65536, 4096).ok());
  EXPECT_EQ(dev_->Bytes(Op::kWrite, {0, 4096}), 4096u);
  EXPECT_EQ(dev_->Bytes(Op::kWrite, {4096, 4096}), 8192u);  // written twice
  EXPECT_EQ(dev_->Bytes(Op::kWrite, {0, 1 << 20}), 20480u);
  EXPECT_EQ(dev_->Ops(Op::kWrite, {6144, 512}), 2u);
  EXPECT_EQ(dev_->Ops(Op::kRead, {0, 1 << 20}), 0u);
  EXPECT_TRUE(dev_->Touched(Op::kWrite, {12000, 1000}));
  EXPECT_FALSE(dev_->Touched(Op::kWrite, {12288, 4096}));
  EXPECT_TRUE(dev_->Covered(Op::kWrite, {0, 12288}));  // by two ops together
  EXPECT_FALSE(dev_->Covered(Op::kWrite, {0, 16384}));
  EXPECT_FALSE(dev_->Covered(Op::kWrite, {8192, 65536}));  // a hole in the middle
  ASSERT_TRUE(Run(dev_->WriteZeroes(12288, 53248, io::ZeroFlags::kNone)).ok());
  EXPECT_TRUE(dev_->Covered(Op::kWrite | Op::kWriteZeroes, {0, 69632}));
  EXPECT_FALSE(dev_->Covered(Op::kWrite, {0, 69632}));
  dev_->Reset();
  EXPECT_EQ(dev_->Bytes(Op::kAll, {0, 1 << 20}), 0u);
  EXPECT_EQ(dev_->counters(Op::kWrite).issued, 0u);
}

TEST_F(CountingDeviceTest, FailedOpsAreCountedButNotInRanges) {
  auto fault = std::make_unique<FaultDevice>(
      std::make_unique<io::MemDevice>(loop_.executor(),
                                      io::MemDevice::Options{.size_bytes = 1 << 20}),
      loop_.executor());
  fault->Inject({.ops = Op::kWrite, .offset = 0, .length = 4096, .count = 1});
  dev_ = std::make_unique<CountingDevice>(std::move(fault));
  EXPECT_FALSE(WriteAt(0, 4096).ok());
  EXPECT_TRUE(WriteAt(0, 4096).ok());
  EXPECT_EQ(dev_->counters(Op::kWrite).issued, 2u);
  EXPECT_EQ(dev_->counters(Op::kWrite).failed, 1u);
  EXPECT_EQ(dev_->counters(Op::kWrite).ok, 1u);
  EXPECT_EQ(dev_->counters(Op::kWrite).bytes, 4096u);
  EXPECT_EQ(dev_->Ops(Op::kWrite, {0, 4096}), 1u);
}

TEST_F(CountingDeviceTest, TracksInFlightAndItsMaximum) {
  auto delay = std::make_unique<DelayDevice>(
      std::make_unique<io::MemDevice>(loop_.executor(),
                                      io::MemDevice::Options{.size_bytes = 1 << 20}),
      loop_.timers());
  delay->SetLatency(Op::kRead, Latency::Fixed(std::chrono::microseconds(100)));
  dev_ = std::make_unique<CountingDevice>(std::move(delay), /*record_ranges=*/false);
  std::vector<std::vector<uint8_t>> bufs(3, std::vector<uint8_t>(512));
  std::vector<io::Task<Status>> ops;
  for (size_t i = 0; i < bufs.size(); ++i) ops.push_back(dev_->Read(i * 512, bufs[i]));
  auto all = Start(io::WhenAllOk(std::move(ops)));
  loop_.RunReady();
  EXPECT_EQ(dev_->in_flight(), 3u);
  ASSERT_TRUE(loop_.RunUntil([&] { return all.done(); }));
  EXPECT_EQ(dev_->in_flight(), 0u);
  EXPECT_EQ(dev_->max_in_flight(), 3u);
  EXPECT_EQ(dev_->counters(Op::kRead).ok, 3u);
  EXPECT_EQ(dev_->Ops(Op::kRead, {0, 1 << 20}), 0u);  // ranges not recorded
  dev_->Reset();
  EXPECT_EQ(dev_->max_in_flight(), 0u);
}

}  // namespace
}  // namespace meshraid::testing
