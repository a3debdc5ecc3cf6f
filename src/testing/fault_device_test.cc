#include "testing/fault_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "io/mem_device.h"
#include "testing/manual_loop.h"

namespace meshraid::testing {
namespace {

class FaultDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mem = std::make_unique<io::MemDevice>(loop_.executor(),
                                               io::MemDevice::Options{.size_bytes = 1 << 20});
    mem_ = mem.get();
    dev_ = std::make_unique<FaultDevice>(std::move(mem), loop_.executor(), /*seed=*/7);
    data_.resize(4096);
    for (size_t i = 0; i < data_.size(); ++i) data_[i] = uint8_t(i * 13 + 1);
    mem_->Poke(0, data_);
  }
  Status Run(io::Task<Status> t) { return loop_.RunUntilComplete(std::move(t)); }
  Status ReadAt(uint64_t off) { return Run(dev_->Read(off, buf_)); }
  Status WriteAt(uint64_t off) { return Run(dev_->Write(off, data_, io::WriteFlags::kNone)); }

  ManualLoop loop_;
  io::MemDevice* mem_ = nullptr;
  std::unique_ptr<FaultDevice> dev_;
  std::vector<uint8_t> data_;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(4096);
};

TEST_F(FaultDeviceTest, FailsTheFirstNMatchingOpsInTheRangeWithTheErrno) {
  const auto id =
      dev_->Inject({.ops = Op::kRead, .offset = 0, .length = 65536, .error = EIO, .count = 2});
  Status s = ReadAt(0);
  EXPECT_EQ(s.code(), Code::kIoError);
  EXPECT_EQ(s.err(), EIO);
  EXPECT_EQ(s.scope(), Scope::kRange);
  EXPECT_NE(s.message().find("injected fault on read at 0 length 4096"), std::string::npos);
  EXPECT_TRUE(ReadAt(65536).ok());   // outside the range
  EXPECT_TRUE(WriteAt(0).ok());      // another op type
  EXPECT_FALSE(ReadAt(61440).ok());  // overlaps the end of the range
  EXPECT_TRUE(ReadAt(0).ok());       // count used up
  EXPECT_EQ(buf_, data_);
  EXPECT_EQ(dev_->hits(id), 2u);
  EXPECT_EQ(mem_->counters().reads, 2u);  // failed ops never reached the target
}

TEST_F(FaultDeviceTest, SkipLetsEarlierOpsPass) {
  dev_->Inject({.ops = Op::kWrite, .error = ENOSPC, .count = 1, .skip = 2});
  EXPECT_TRUE(WriteAt(0).ok());
  EXPECT_TRUE(WriteAt(4096).ok());
  EXPECT_EQ(WriteAt(8192).code(), Code::kNoSpace);
  EXPECT_TRUE(WriteAt(8192).ok());
}

TEST_F(FaultDeviceTest, DeviceScopedErrnoAndFlushMatchesOnlyWholeDeviceRules) {
  dev_->Inject({.ops = Op::kAll, .offset = 0, .length = 4096, .error = EIO});
  EXPECT_TRUE(Run(dev_->Flush()).ok());
  dev_->Inject({.ops = Op::kFlush, .error = ENODEV});
  Status s = Run(dev_->Flush());
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.scope(), Scope::kDevice);
}

TEST_F(FaultDeviceTest, RulesSwitchAtRunTime) {
  const auto a = dev_->Inject({.ops = Op::kRead});
  EXPECT_FALSE(ReadAt(0).ok());
  EXPECT_TRUE(dev_->Enable(a, false));
  EXPECT_TRUE(ReadAt(0).ok());
  EXPECT_TRUE(dev_->Enable(a, true));
  dev_->set_enabled(false);
  EXPECT_TRUE(ReadAt(0).ok());
  dev_->set_enabled(true);
  EXPECT_FALSE(ReadAt(0).ok());
  EXPECT_TRUE(dev_->Remove(a));
  EXPECT_FALSE(dev_->Remove(a));
  EXPECT_FALSE(dev_->Enable(a, true));
  EXPECT_TRUE(ReadAt(0).ok());
  dev_->Inject({.ops = Op::kWrite | Op::kDiscard});
  EXPECT_FALSE(Run(dev_->Discard(0, 512)).ok());
  dev_->Clear();
  EXPECT_TRUE(Run(dev_->Discard(0, 512)).ok());
}

TEST_F(FaultDeviceTest, FirstFiringRuleDecides) {
  dev_->Inject({.ops = Op::kRead, .error = EIO, .count = 1});
  const auto second = dev_->Inject({.ops = Op::kRead, .error = EILSEQ, .count = 1});
  EXPECT_EQ(ReadAt(0).err(), EIO);
  EXPECT_EQ(ReadAt(0).err(), EILSEQ);
  EXPECT_TRUE(ReadAt(0).ok());
  EXPECT_EQ(dev_->hits(second), 1u);
}

std::vector<bool> Outcomes(FaultDevice& dev, ManualLoop& loop, int n) {
  std::vector<bool> v;
  std::vector<uint8_t> buf(512);
  for (int i = 0; i < n; ++i) v.push_back(loop.RunUntilComplete(dev.Read(0, buf)).ok());
  return v;
}

TEST_F(FaultDeviceTest, ProbabilityIsSeededAndReproducible) {
  dev_->Inject({.ops = Op::kRead, .probability = 0.25});
  dev_->Reseed(99);
  const auto a = Outcomes(*dev_, loop_, 400);
  dev_->Reseed(99);
  const auto b = Outcomes(*dev_, loop_, 400);
  dev_->Reseed(100);
  const auto c = Outcomes(*dev_, loop_, 400);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const auto failures = std::count(a.begin(), a.end(), false);
  EXPECT_GT(failures, 60);  // about 100 expected; fixed seed, so never flaky
  EXPECT_LT(failures, 140);
}

TEST_F(FaultDeviceTest, TriggerFileTurnsTheRuleOnWhileItExists) {
  char path[] = "/tmp/meshraid_fault_triggerXXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  dev_->Inject({.ops = Op::kWrite, .trigger_file = path});
  EXPECT_FALSE(WriteAt(0).ok());
  ASSERT_EQ(::unlink(path), 0);
  EXPECT_TRUE(WriteAt(0).ok());
  const int fd2 = ::open(path, O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd2, 0);
  ::close(fd2);
  EXPECT_FALSE(WriteAt(0).ok());
  ::unlink(path);
}

TEST_F(FaultDeviceTest, HangHoldsOpsUntilReleased) {
  dev_->Inject({.ops = Op::kWrite, .action = FaultAction::kHang});
  std::vector<uint8_t> other(4096, 0xee);
  auto w1 = Start(dev_->Write(0, other, io::WriteFlags::kNone));
  auto w2 = Start(dev_->Write(8192, other, io::WriteFlags::kNone));
  loop_.RunUntilIdle();  // nothing can make progress
  EXPECT_FALSE(w1.done());
  EXPECT_EQ(dev_->hung(), 2u);
  EXPECT_EQ(mem_->Peek(0, 4096), data_);  // never reached the target
  EXPECT_TRUE(ReadAt(0).ok());            // other ops still work
  dev_->Clear();                          // removing the rule does not release
  EXPECT_EQ(dev_->hung(), 2u);
  EXPECT_EQ(dev_->ReleaseHung(), 2u);
  EXPECT_FALSE(w1.done());  // resumed through the executor, not inline
  loop_.RunUntilIdle();
  ASSERT_TRUE(w1.done() && w2.done());
  EXPECT_TRUE(w1.value().ok());
  EXPECT_EQ(mem_->Peek(0, 4096), other);
}

TEST_F(FaultDeviceTest, HungOpsCanBeReleasedWithAnError) {
  dev_->Inject({.ops = Op::kRead, .action = FaultAction::kHang});
  auto r = Start(dev_->Read(0, buf_));
  loop_.RunUntilIdle();
  EXPECT_EQ(dev_->ReleaseHung(ETIMEDOUT), 1u);
  loop_.RunUntilIdle();
  ASSERT_TRUE(r.done());
  EXPECT_EQ(r.value().code(), Code::kTimedOut);
  EXPECT_EQ(mem_->counters().reads, 0u);
}

TEST_F(FaultDeviceTest, HangAfterLetsTheWriteLandButHoldsItsCompletion) {
  dev_->Inject({.ops = Op::kWrite, .action = FaultAction::kHangAfter, .count = 1});
  std::vector<uint8_t> other(4096, 0x11);
  auto w = Start(dev_->Write(0, other, io::WriteFlags::kNone));
  loop_.RunUntilIdle();
  EXPECT_FALSE(w.done());
  EXPECT_EQ(mem_->Peek(0, 4096), other);
  dev_->ReleaseHung();
  loop_.RunUntilIdle();
  ASSERT_TRUE(w.done());
  EXPECT_TRUE(w.value().ok());
}

TEST_F(FaultDeviceTest, CorruptReadInvertsOnlyTheRuleRange) {
  dev_->Inject({.ops = Op::kRead, .action = FaultAction::kCorrupt, .offset = 1024, .length = 512});
  ASSERT_TRUE(ReadAt(0).ok());  // silently wrong, like bit rot
  for (size_t i = 0; i < 4096; ++i) {
    const bool hit = i >= 1024 && i < 1536;
    ASSERT_EQ(buf_[i], hit ? uint8_t(~data_[i]) : data_[i]) << i;
  }
  EXPECT_EQ(mem_->Peek(0, 4096), data_);  // the stored data is intact
}

TEST_F(FaultDeviceTest, CorruptWriteStoresInvertedDataAndLeavesTheCallersBuffer) {
  dev_->Inject({.ops = Op::kWrite, .action = FaultAction::kCorrupt, .count = 1});
  const std::vector<uint8_t> copy = data_;
  ASSERT_TRUE(WriteAt(8192).ok());
  EXPECT_EQ(data_, copy);
  const auto stored = mem_->Peek(8192, 4096);
  for (size_t i = 0; i < 4096; ++i) ASSERT_EQ(stored[i], uint8_t(~data_[i]));
}

}  // namespace
}  // namespace meshraid::testing
