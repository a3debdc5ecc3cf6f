// The decorators stacked as the RAID tests use them: Counting over Fault over Delay over a
// MemDevice, all on a ManualLoop, so a whole scenario is deterministic and runs in virtual time.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "io/mem_device.h"
#include "io/when_all.h"
#include "testing/counting_device.h"
#include "testing/crash_device.h"
#include "testing/delay_device.h"
#include "testing/fault_device.h"
#include "testing/manual_loop.h"

namespace meshraid::testing {
namespace {

using std::chrono::microseconds;
constexpr uint64_t kUs = 1000;

struct Stack {
  io::MemDevice* mem;
  DelayDevice* delay;
  FaultDevice* fault;
  std::unique_ptr<CountingDevice> top;
};

Stack Build(ManualLoop& loop, uint64_t seed) {
  Stack s;
  auto mem = std::make_unique<io::MemDevice>(loop.executor(),
                                             io::MemDevice::Options{.size_bytes = 1 << 20});
  s.mem = mem.get();
  auto delay = std::make_unique<DelayDevice>(std::move(mem), loop.timers(),
                                             DelayDevice::Options{.seed = seed});
  s.delay = delay.get();
  auto fault = std::make_unique<FaultDevice>(std::move(delay), loop.executor(), seed);
  s.fault = fault.get();
  s.top = std::make_unique<CountingDevice>(std::move(fault));
  return s;
}

TEST(StackTest, CountingOverFaultOverDelayOverMemory) {
  ManualLoop loop;
  Stack s = Build(loop, 1);
  s.delay->SetLatency(Op::kRead | Op::kWrite, Latency::Fixed(microseconds(200)));
  s.fault->Inject({.ops = Op::kRead, .offset = 0, .length = 4096, .error = EIO, .count = 1});
  const std::vector<uint8_t> data(8192, 0x3c);
  ASSERT_TRUE(loop.RunUntilComplete(s.top->Write(0, data, io::WriteFlags::kNone)).ok());
  EXPECT_EQ(loop.NowNs(), 200 * kUs);
  std::vector<uint8_t> buf(8192);
  Status err = loop.RunUntilComplete(s.top->Read(0, buf));
  EXPECT_EQ(err.err(), EIO);
  EXPECT_EQ(loop.NowNs(), 200 * kUs);  // failed above the delay: no latency
  ASSERT_TRUE(loop.RunUntilComplete(s.top->Read(0, buf)).ok());
  EXPECT_EQ(buf, data);
  EXPECT_EQ(loop.NowNs(), 400 * kUs);
  EXPECT_EQ(s.top->counters(Op::kRead).failed, 1u);
  EXPECT_EQ(s.top->counters(Op::kRead).ok, 1u);
  EXPECT_EQ(s.top->Bytes(Op::kWrite, {0, 4096}), 4096u);
  EXPECT_EQ(s.delay->records().size(), 2u);
  EXPECT_EQ(s.mem->counters().reads, 1u);
}

// A mirror-like fan-out to two stacks while their speeds are swapped, and a hung leg released:
// the whole trace is a function of the seeds.
std::vector<uint64_t> Scenario(uint64_t seed) {
  ManualLoop loop;
  Stack a = Build(loop, seed);
  Stack b = Build(loop, seed + 1);
  a.delay->SetLatency(Op::kAll, Latency::Exponential(microseconds(100)));
  b.delay->SetLatency(Op::kAll, Latency::Uniform(microseconds(500), microseconds(900)));
  std::vector<uint8_t> data(4096, 1);
  std::vector<uint64_t> trace;
  for (int i = 0; i < 20; ++i) {
    if (i == 10) a.delay->SwapLatencies(*b.delay);
    if (i == 15) b.fault->Inject({.ops = Op::kWrite, .action = FaultAction::kHang, .count = 1});
    std::vector<io::Task<Status>> legs;
    legs.push_back(a.top->Write(uint64_t(i) * 4096, data, io::WriteFlags::kNone));
    legs.push_back(b.top->Write(uint64_t(i) * 4096, data, io::WriteFlags::kNone));
    auto both = Start(io::WhenAllOk(std::move(legs)));
    if (!loop.RunUntil([&] { return both.done(); })) {
      trace.push_back(b.fault->hung());  // the hung leg: release it and go on
      b.fault->ReleaseHung();
      EXPECT_TRUE(loop.RunUntil([&] { return both.done(); }));
    }
    EXPECT_TRUE(both.value().ok());
    trace.push_back(loop.NowNs());
  }
  return trace;
}

TEST(StackTest, SameSeedsSameTrace) {
  const auto t = Scenario(17);
  EXPECT_EQ(t.size(), 21u);  // one hang
  EXPECT_EQ(t, Scenario(17));
  EXPECT_NE(t, Scenario(18));
}

TEST(StackTest, CrashDeviceUnderTheStack) {
  ManualLoop loop;
  io::MemDevice* disk = nullptr;
  auto mem = std::make_unique<io::MemDevice>(loop.executor(),
                                             io::MemDevice::Options{.size_bytes = 1 << 20});
  disk = mem.get();
  auto crash = std::make_unique<CrashDevice>(std::move(mem), loop.executor());
  CrashDevice* c = crash.get();
  CountingDevice top(std::make_unique<FaultDevice>(std::move(crash), loop.executor()));
  const std::vector<uint8_t> data(4096, 9);
  ASSERT_TRUE(loop.RunUntilComplete(top.Write(0, data, io::WriteFlags::kNone)).ok());
  ASSERT_TRUE(loop.RunUntilComplete(top.Flush()).ok());
  ASSERT_TRUE(loop.RunUntilComplete(top.Write(4096, data, io::WriteFlags::kNone)).ok());
  ASSERT_TRUE(loop.RunUntilComplete(c->Crash({.keep_probability = 0.0})).ok());
  EXPECT_EQ(disk->Peek(0, 4096), data);
  EXPECT_EQ(disk->Peek(4096, 1)[0], 0);
  EXPECT_TRUE(top.Covered(Op::kWrite, {0, 8192}));  // both were acknowledged
}

}  // namespace
}  // namespace meshraid::testing
