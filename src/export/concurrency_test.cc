// Concurrency in the server: out-of-order replies, pipelining beyond the in-flight bound,
// several connections, and shutdown or disconnects with requests still in flight.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "export/nbd_test_harness.h"
#include "export/raw_nbd_client.h"

namespace meshraid::exports::testing {
namespace {

using namespace proto;

constexpr uint64_t kMs = 1'000'000;

HarnessOptions SlowFirstBlock(uint64_t ns) {
  HarnessOptions o;
  o.slow_from = 0;
  o.slow_to = 4096;
  o.slow_ns = ns;
  return o;
}

TEST(ConcurrencyTest, RepliesComeOutOfOrderWhenAnEarlierRequestIsSlower) {
  ServerHarness h(SlowFirstBlock(200 * kMs));
  RawClient c(h.Connect());
  ASSERT_TRUE(c.Connect(/*structured=*/true));
  ASSERT_TRUE(c.SendRequest(kCmdRead, 1, 0, 4096));     // slow
  ASSERT_TRUE(c.SendRequest(kCmdRead, 2, 8192, 4096));  // fast
  auto first = c.ReadChunk();
  auto second = c.ReadChunk();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->cookie, 2u);
  EXPECT_EQ(second->cookie, 1u);
  EXPECT_EQ(second->payload.size(), 8u + 4096);
}

TEST(ConcurrencyTest, PipelinedRequestsBeyondTheInFlightBoundAreAllAnswered) {
  HarnessOptions o;
  o.session.max_in_flight = 4;
  ServerHarness h(o);
  RawClient c(h.Connect());
  ASSERT_TRUE(c.Connect(/*structured=*/false));
  constexpr int kN = 300;
  std::thread writer([&] {
    for (int i = 0; i < kN; ++i) {
      ASSERT_TRUE(c.SendRequest(kCmdWrite, 1000 + i, uint64_t(i) * 4096, 4096, 0, Pattern(4096, i)));
    }
  });
  std::set<uint64_t> cookies;
  for (int i = 0; i < kN; ++i) {
    auto r = c.ReadSimpleReply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error, 0u);
    cookies.insert(r->cookie);
  }
  writer.join();
  EXPECT_EQ(cookies.size(), size_t(kN));  // each answered exactly once
  EXPECT_EQ(*cookies.begin(), 1000u);
  EXPECT_EQ(*cookies.rbegin(), 1000u + kN - 1);
  for (int i = 0; i < kN; i += 37) EXPECT_EQ(h.Peek(uint64_t(i) * 4096, 4096), Pattern(4096, i));
}

TEST(ConcurrencyTest, SeveralConnectionsAtOnce) {
  ServerHarness h;
  std::vector<std::thread> clients;
  for (int k = 0; k < 4; ++k) {
    const int fd = h.Connect();
    clients.emplace_back([fd, k] {
      RawClient c(fd);
      ASSERT_TRUE(c.Connect(/*structured=*/k % 2 == 0));
      const auto data = Pattern(256 * 1024, 100 + k);
      const uint64_t off = uint64_t(k) << 20;
      ASSERT_TRUE(c.SendRequest(kCmdWrite, 1, off, uint32_t(data.size()), kCmdFlagFua, data));
      ASSERT_EQ(c.ReadSimpleReply()->error, 0u);
      ASSERT_TRUE(c.SendRequest(kCmdRead, 2, off, uint32_t(data.size())));
      if (k % 2 == 0) {
        auto ch = c.ReadChunk();
        ASSERT_TRUE(ch);
        EXPECT_TRUE(std::equal(data.begin(), data.end(), ch->payload.begin() + 8));
      } else {
        auto r = c.ReadSimpleRead(uint32_t(data.size()));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->second, data);
      }
      ASSERT_TRUE(c.SendRequest(kCmdDisc, 3, 0, 0));
      EXPECT_TRUE(c.WaitClosed());
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(h.counters().fua_writes, 4u);
}

TEST(ConcurrencyTest, DiscAnswersEverythingInFlightBeforeClosing) {
  ServerHarness h(SlowFirstBlock(100 * kMs));
  RawClient c(h.Connect());
  ASSERT_TRUE(c.Connect(/*structured=*/false));
  ASSERT_TRUE(c.SendRequest(kCmdRead, 1, 0, 4096));
  ASSERT_TRUE(c.SendRequest(kCmdDisc, 2, 0, 0));
  auto r = c.ReadSimpleRead(4096);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first.cookie, 1u);
  EXPECT_EQ(r->first.error, 0u);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(ConcurrencyTest, ClientVanishingWithRequestsInFlightLeavesTheServerHealthy) {
  ServerHarness h(SlowFirstBlock(50 * kMs));
  {
    RawClient c(h.Connect());
    ASSERT_TRUE(c.Connect(/*structured=*/true));
    for (uint64_t i = 0; i < 16; ++i) ASSERT_TRUE(c.SendRequest(kCmdRead, i, 0, 4096));
  }  // closed without reading any reply
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RawClient d(h.Connect());
  ASSERT_TRUE(d.Connect(false));
  ASSERT_TRUE(d.SendRequest(kCmdFlush, 1, 0, 0));
  EXPECT_EQ(d.ReadSimpleReply()->error, 0u);
}

TEST(ConcurrencyTest, StopFinishesInFlightRequestsThenClosesEverySession) {
  ServerHarness h(SlowFirstBlock(200 * kMs));
  RawClient busy(h.Connect());
  RawClient idle(h.Connect());
  RawClient negotiating(h.Connect());
  ASSERT_TRUE(busy.Connect(/*structured=*/false));
  ASSERT_TRUE(idle.Connect(/*structured=*/true));
  ASSERT_TRUE(negotiating.ReadGreeting());
  ASSERT_TRUE(busy.SendRequest(kCmdRead, 7, 0, 4096));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the read is in flight
  std::thread stopper([&] { h.Stop(); });
  auto r = busy.ReadSimpleRead(4096);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first.cookie, 7u);
  EXPECT_EQ(r->first.error, 0u);
  EXPECT_TRUE(busy.WaitClosed());
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_TRUE(negotiating.WaitClosed());
  stopper.join();
  int closed = 0;
  for (const std::string& l : h.log()) closed += l.find("closed (server shutting down)") != std::string::npos;
  EXPECT_EQ(closed, 2);  // the negotiating one says its read was cancelled
}

}  // namespace
}  // namespace meshraid::exports::testing
