#include "io/mem_device.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "io/reactor.h"
#include "io/when_all.h"

namespace meshraid::io {
namespace {

class MemDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Reactor::Create();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reactor_ = std::move(r).value();
    dev_ = std::make_unique<MemDevice>(*reactor_, MemDevice::Options{.size_bytes = 1ull << 30});
  }
  Status Run(Task<Status> t) { return reactor_->RunUntilComplete(std::move(t)); }

  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<MemDevice> dev_;
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(seed + i * 7);
  return v;
}

TEST_F(MemDeviceTest, LargeDeviceIsSparseAndReadsZeroes) {
  EXPECT_EQ(dev_->info().size_bytes, 1ull << 30);
  EXPECT_EQ(dev_->allocated_bytes(), 0u);
  std::vector<uint8_t> buf(4096, 0xff);
  ASSERT_TRUE(Run(dev_->Read((1ull << 30) - 4096, buf)).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
}

TEST_F(MemDeviceTest, WriteReadAcrossChunksAndPeekPoke) {
  const uint64_t off = MemDevice::kChunkBytes - 1024;
  auto data = Pattern(8192, 3);
  BlockDevice& dev = *dev_;
  ASSERT_TRUE(Run(dev.Write(off, data, WriteFlags::kFua)).ok());
  EXPECT_EQ(dev_->allocated_bytes(), 2 * MemDevice::kChunkBytes);
  std::vector<uint8_t> back(8192);
  ASSERT_TRUE(Run(dev.Read(off, back)).ok());
  EXPECT_EQ(back, data);
  EXPECT_EQ(dev_->Peek(off, 8192), data);
  dev_->Poke(off + 512, std::vector<uint8_t>(512, 0xab));
  ASSERT_TRUE(Run(dev.Read(off, back)).ok());
  EXPECT_EQ(back[512], 0xab);
  EXPECT_EQ(dev_->counters().fua_writes, 1u);
  EXPECT_EQ(dev_->counters().reads, 2u);
}

TEST_F(MemDeviceTest, DiscardAndWriteZeroesZeroAndFreeWholeChunks) {
  auto data = Pattern(3 * MemDevice::kChunkBytes, 9);
  ASSERT_TRUE(Run(dev_->Write(0, data)).ok());
  ASSERT_TRUE(Run(dev_->Discard(512, MemDevice::kChunkBytes * 2)).ok());  // frees chunk 1 only
  EXPECT_EQ(dev_->allocated_bytes(), 2 * MemDevice::kChunkBytes);
  auto now = dev_->Peek(0, data.size());
  EXPECT_EQ(now[511], data[511]);
  EXPECT_EQ(now[512], 0);
  EXPECT_EQ(now[2 * MemDevice::kChunkBytes + 511], 0);
  EXPECT_EQ(now[2 * MemDevice::kChunkBytes + 512], data[2 * MemDevice::kChunkBytes + 512]);
  ASSERT_TRUE(Run(dev_->WriteZeroes(0, data.size(), ZeroFlags::kNoHole)).ok());
  EXPECT_EQ(dev_->Peek(0, data.size()), std::vector<uint8_t>(data.size(), 0));
  EXPECT_EQ(dev_->allocated_bytes(), 0u);
}

TEST_F(MemDeviceTest, RejectsUnalignedAndOutOfRangeAndAfterClose) {
  std::vector<uint8_t> buf(512);
  EXPECT_EQ(Run(dev_->Read(100, buf)).code(), Code::kInvalidArgument);
  EXPECT_EQ(Run(dev_->Read(1ull << 30, buf)).code(), Code::kInvalidArgument);
  EXPECT_EQ(Run(dev_->Write((1ull << 30) - 256, std::span<const uint8_t>(buf.data(), 512))).code(),
            Code::kInvalidArgument);
  ASSERT_TRUE(Run(dev_->Flush()).ok());
  ASSERT_TRUE(Run(dev_->Close()).ok());
  EXPECT_EQ(Run(dev_->Read(0, buf)).code(), Code::kFailedPrecondition);
}

TEST_F(MemDeviceTest, CompletionsGoThroughTheRunQueue) {
  // Two writes to the same block issued together: both are pending when started, and apply in
  // issue order (FIFO run queue).
  std::vector<uint8_t> a(512, 1), b(512, 2);
  std::vector<Task<Status>> t;
  t.push_back(dev_->Write(0, a));
  t.push_back(dev_->Write(0, b));
  EXPECT_TRUE(reactor_->RunUntilComplete(WhenAllOk(std::move(t))).ok());
  EXPECT_EQ(dev_->Peek(0, 512), b);
}

TEST_F(MemDeviceTest, ManyConcurrentOpsCompleteOnce) {
  std::vector<std::vector<uint8_t>> bufs;
  for (int i = 0; i < 256; ++i) bufs.push_back(Pattern(4096, uint8_t(i)));
  std::vector<Task<Status>> writes;
  for (int i = 0; i < 256; ++i) writes.push_back(dev_->Write(uint64_t(i) * 4096, bufs[i]));
  ASSERT_TRUE(reactor_->RunUntilComplete(WhenAllOk(std::move(writes))).ok());
  EXPECT_EQ(dev_->counters().writes, 256u);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(dev_->Peek(uint64_t(i) * 4096, 4096), bufs[i]);
}

}  // namespace
}  // namespace meshraid::io
