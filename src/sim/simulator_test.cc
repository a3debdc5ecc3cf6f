#include "sim/simulator.h"

#include <gtest/gtest.h>

#include "sim/sweep.h"

namespace meshraid::sim {
namespace {

constexpr uint64_t kUs = 1'000;
constexpr uint64_t kMs = 1'000'000;

TEST(MemberModel, UniformStaysInRange) {
  Rng rng(7);
  for (int i = 0; i < 1000; ++i) {
    uint64_t v = UniformNs(rng, 10, 12);
    EXPECT_GE(v, 10u);
    EXPECT_LE(v, 12u);
  }
  EXPECT_EQ(UniformNs(rng, 5, 5), 5u);
}

TEST(Simulator, FixedLatencyAtQd1) {
  Simulator sim({MemberModel::Fixed("a", 100 * kUs)}, {});
  sim.Start({.qd = 1});
  sim.RunFor(100 * kMs);
  SimResults r = sim.Results();
  EXPECT_EQ(r.reads, 1000u);
  EXPECT_EQ(r.p50_ns, 100 * kUs);
  EXPECT_EQ(r.p99_ns, 100 * kUs);
  EXPECT_DOUBLE_EQ(r.Iops(), 10000.0);
}

TEST(Simulator, ServersLimitParallelismAndQueue) {
  // 2 servers of 10 µs at QD4: 200k IOPS, every read waits one service time.
  MemberModel m = MemberModel::Fixed("a", 10 * kUs);
  m.servers = 2;
  Simulator sim({m}, {});
  sim.Start({.qd = 4});
  sim.RunFor(10 * kMs);
  SimResults r = sim.Results();
  EXPECT_NEAR(r.Iops(), 200000.0, 1000.0);
  EXPECT_EQ(r.p50_ns, 20 * kUs);
}

TEST(Simulator, WireDelayAddsToService) {
  MemberModel m = MemberModel::Fixed("a", 10 * kUs);
  m.wire_lo_ns = m.wire_hi_ns = 20 * kUs;
  Simulator sim({m}, {});
  sim.Start({.qd = 1});
  sim.RunFor(3 * kMs);
  EXPECT_EQ(sim.Results().p50_ns, 30 * kUs);
}

TEST(Simulator, OnlyFirstMemberAndRoundRobin) {
  const std::vector<MemberModel> two = {MemberModel::LocalNvme(), MemberModel::RdmaNvme()};
  Simulator local(two, {.only_first_member = true});
  local.Start({.qd = 8});
  local.RunFor(10 * kMs);
  EXPECT_EQ(local.Results().member_reads[1], 0u);
  Simulator rr(two, {.policy = raid::ReadPolicy::kRoundRobin});
  rr.Start({.qd = 8});
  rr.RunFor(10 * kMs);
  EXPECT_NEAR(rr.Results().Share(0), 0.5, 0.001);
}

TEST(Simulator, SameSeedSameResults) {
  auto run = [](uint64_t seed) {
    Simulator sim({MemberModel::LocalNvme(), MemberModel::TcpNvme()}, {.seed = seed});
    sim.Start({.qd = 16});
    sim.RunFor(20 * kMs);
    return sim.Results();
  };
  SimResults a = run(3), b = run(3), c = run(4);
  EXPECT_EQ(a.reads, b.reads);
  EXPECT_EQ(a.member_reads, b.member_reads);
  EXPECT_EQ(a.p99_ns, b.p99_ns);
  EXPECT_NE(a.member_reads, c.member_reads);
}

TEST(Sweep, TableTargetsAndSvg) {
  Result<Scenario> s = FindScenario("local-rdma");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(FindScenario("nope").ok());
  EXPECT_FALSE(CheckPolicyName("fastest").ok());
  SweepOptions o{.qds = {1, 32}, .warmup_ns = 5 * kMs, .measure_ns = 20 * kMs};
  Result<std::vector<SweepPoint>> points = RunSweep(*s, o);
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 8u);
  std::string table = FormatTable(*s, *points);
  EXPECT_NE(table.find("target QD1 reads on member 0"), std::string::npos);
  EXPECT_NE(table.find("target QD32 IOPS"), std::string::npos);
  std::string svg = RenderSvg(*s, *points);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("polyline"), std::string::npos);
}

}  // namespace
}  // namespace meshraid::sim
