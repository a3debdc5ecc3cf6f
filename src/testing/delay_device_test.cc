#include "testing/delay_device.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "io/mem_device.h"
#include "io/reactor.h"
#include "io/when_all.h"
#include "testing/manual_loop.h"

namespace meshraid::testing {
namespace {

using std::chrono::microseconds;
constexpr uint64_t kUs = 1000;

class DelayDeviceTest : public ::testing::Test {
 protected:
  std::unique_ptr<DelayDevice> Make(uint64_t seed = 1,
                                    DelayDevice::Point point = DelayDevice::Point::kBeforeTarget) {
    auto mem = std::make_unique<io::MemDevice>(loop_.executor(),
                                               io::MemDevice::Options{.size_bytes = 1 << 20});
    return std::make_unique<DelayDevice>(std::move(mem), loop_.timers(),
                                         DelayDevice::Options{.seed = seed, .point = point});
  }
  Status Run(io::Task<Status> t) { return loop_.RunUntilComplete(std::move(t)); }

  ManualLoop loop_{1'000'000};
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(4096, 0x5a);
};

TEST_F(DelayDeviceTest, FixedLatencyPerOpTypeIsExactInVirtualTime) {
  auto dev = Make();
  dev->SetLatency(Op::kRead, Latency::Fixed(microseconds(250)));
  dev->SetLatency(Op::kWrite | Op::kFlush, Latency::Fixed(microseconds(1000)));
  ASSERT_TRUE(Run(dev->Write(0, buf_, io::WriteFlags::kNone)).ok());
  ASSERT_TRUE(Run(dev->Read(0, buf_)).ok());
  ASSERT_TRUE(Run(dev->Flush()).ok());
  ASSERT_TRUE(Run(dev->Discard(0, 4096)).ok());
  ASSERT_EQ(dev->records().size(), 4u);
  const auto& r = dev->records();
  EXPECT_EQ(r[0].op, Op::kWrite);
  EXPECT_EQ(r[0].submit_ns, 1'000'000u);
  EXPECT_EQ(r[0].latency_ns(), 1000 * kUs);
  EXPECT_EQ(r[1].op, Op::kRead);
  EXPECT_EQ(r[1].latency_ns(), 250 * kUs);
  EXPECT_EQ(r[1].offset, 0u);
  EXPECT_EQ(r[1].length, 4096u);
  EXPECT_EQ(r[2].latency_ns(), 1000 * kUs);
  EXPECT_EQ(r[3].latency_ns(), 0u);  // discard: no latency set
  EXPECT_EQ(loop_.NowNs(), 1'000'000 + 2250 * kUs);
  EXPECT_EQ(dev->stats(Op::kRead).count, 1u);
  EXPECT_EQ(dev->stats(Op::kWrite).max_ns, 1000 * kUs);
  dev->ClearRecords();
  EXPECT_TRUE(dev->records().empty());
  EXPECT_EQ(dev->stats(Op::kRead).count, 0u);
}

TEST_F(DelayDeviceTest, ConcurrentOpsCompleteInDelayOrder) {
  auto dev = Make();
  dev->SetLatency(Op::kRead, Latency::Fixed(microseconds(500)));
  dev->SetLatency(Op::kWrite, Latency::Fixed(microseconds(100)));
  std::vector<uint8_t> rbuf(4096);
  std::vector<io::Task<Status>> ops;
  ops.push_back(dev->Read(0, rbuf));
  ops.push_back(dev->Write(8192, buf_, io::WriteFlags::kNone));
  auto all = Start(io::WhenAllOk(std::move(ops)));
  loop_.RunReady();
  EXPECT_EQ(dev->in_flight(), 2u);
  ASSERT_TRUE(loop_.RunUntil([&] { return all.done(); }));
  ASSERT_EQ(dev->records().size(), 2u);
  EXPECT_EQ(dev->records()[0].op, Op::kWrite);  // records are in completion order
  EXPECT_EQ(dev->records()[1].op, Op::kRead);
  EXPECT_EQ(dev->records()[1].complete_ns - dev->records()[0].complete_ns, 400 * kUs);
}

TEST_F(DelayDeviceTest, SwappingLatenciesWhileIoRunsAffectsOnlyNewOps) {
  auto fast = Make();
  auto slow = Make();
  fast->SetLatency(Op::kRead, Latency::Fixed(microseconds(100)));
  slow->SetLatency(Op::kRead, Latency::Fixed(microseconds(900)));
  std::vector<uint8_t> a(4096), b(4096);
  auto first = Start(slow->Read(0, a));  // drew 900 µs
  loop_.AdvanceBy(50 * kUs);
  fast->SwapLatencies(*slow);
  Rng rng(1);
  EXPECT_EQ(slow->latency(Op::kRead).SampleNs(rng), 100 * kUs);
  auto second = Start(slow->Read(4096, b));  // now 100 µs
  ASSERT_TRUE(loop_.RunUntil([&] { return first.done() && second.done(); }));
  ASSERT_EQ(slow->records().size(), 2u);
  EXPECT_EQ(slow->records()[0].offset, 4096u);  // the new, fast op finished first
  EXPECT_EQ(slow->records()[0].latency_ns(), 100 * kUs);
  EXPECT_EQ(slow->records()[1].latency_ns(), 900 * kUs);
  ASSERT_TRUE(Run(fast->Read(0, a)).ok());
  EXPECT_EQ(fast->records().back().latency_ns(), 900 * kUs);
}

std::vector<uint64_t> DelaysWithSeed(std::unique_ptr<DelayDevice> dev, ManualLoop& loop) {
  dev->SetLatency(Op::kAll, Latency::Uniform(microseconds(10), microseconds(1000)));
  std::vector<uint8_t> buf(512);
  std::vector<io::Task<Status>> ops;
  for (int i = 0; i < 20; ++i) ops.push_back(dev->Read(uint64_t(i) * 512, buf));
  EXPECT_TRUE(loop.RunUntilComplete(io::WhenAllOk(std::move(ops))).ok());
  std::vector<uint64_t> delays;
  for (const auto& r : dev->records()) delays.push_back(r.offset * 1'000'000 + r.delay_ns);
  return delays;
}

TEST_F(DelayDeviceTest, SameSeedSameDelaysAndCompletionOrder) {
  const auto a = DelaysWithSeed(Make(42), loop_);
  const auto b = DelaysWithSeed(Make(42), loop_);
  const auto c = DelaysWithSeed(Make(43), loop_);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  auto d = Make(42);
  d->Reseed(42);
  EXPECT_EQ(DelaysWithSeed(std::move(d), loop_), a);
}

TEST_F(DelayDeviceTest, AfterTargetPointAppliesTheWriteBeforeCompleting) {
  auto dev = Make(1, DelayDevice::Point::kAfterTarget);
  dev->SetLatency(Op::kWrite, Latency::Fixed(microseconds(300)));
  auto w = Start(dev->Write(0, buf_, io::WriteFlags::kNone));
  loop_.RunReady();
  EXPECT_FALSE(w.done());
  auto& target = static_cast<io::MemDevice&>(dev->target());
  EXPECT_EQ(target.Peek(0, 4096), buf_);  // already on the device, completion still held
  loop_.AdvanceBy(300 * kUs - 1);
  EXPECT_FALSE(w.done());
  loop_.AdvanceBy(1);
  EXPECT_TRUE(w.done());
}

TEST_F(DelayDeviceTest, BeforeTargetPointHoldsTheWriteBackUntilTheDelay) {
  auto dev = Make();
  dev->SetLatency(Op::kWrite, Latency::Fixed(microseconds(300)));
  auto w = Start(dev->Write(0, buf_, io::WriteFlags::kNone));
  loop_.RunReady();
  auto& target = static_cast<io::MemDevice&>(dev->target());
  EXPECT_EQ(target.Peek(0, 1), std::vector<uint8_t>{0});
  loop_.AdvanceBy(300 * kUs);
  EXPECT_TRUE(w.done());
  EXPECT_EQ(target.Peek(0, 4096), buf_);
}

TEST(DelayDeviceReactorTest, RealTimersNeverCompleteEarly) {
  auto r = io::Reactor::Create();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  io::Reactor& reactor = **r;
  ReactorTimers timers(reactor);
  DelayDevice dev(
      std::make_unique<io::MemDevice>(reactor, io::MemDevice::Options{.size_bytes = 1 << 20}),
      timers);
  dev.SetLatency(Op::kRead, Latency::Fixed(microseconds(1500)));
  std::vector<uint8_t> buf(4096);
  ASSERT_TRUE(reactor.RunUntilComplete(dev.Read(0, buf)).ok());
  ASSERT_EQ(dev.records().size(), 1u);
  EXPECT_EQ(dev.records()[0].delay_ns, 1500 * kUs);
  EXPECT_GE(dev.records()[0].latency_ns(), 1500 * kUs);
}

}  // namespace
}  // namespace meshraid::testing
