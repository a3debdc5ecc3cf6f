// The read-balancing behaviour tests (issue 4, section 4), on modelled members in virtual
// time: the real ReadBalancer places every read; only the members are models.
#include <gtest/gtest.h>

#include <string>

#include "sim/simulator.h"

namespace meshraid::sim {
namespace {

using raid::ReadPolicy;

constexpr uint64_t kUs = 1'000;
constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;

// "0 ms" and "2 ms" legs: the delay decorator over a fast file (5–15 µs).
MemberModel Fast(const char* name = "fast") { return MemberModel::Uniform(name, 5 * kUs, 15 * kUs); }
MemberModel Slow(const char* name = "slow") {
  return MemberModel::Uniform(name, 2 * kMs + 5 * kUs, 2 * kMs + 15 * kUs);
}

SimOptions Policy(ReadPolicy p) { return {.policy = p}; }

TEST(Balance, FastLegGetsNearlyAllReadsAndBothAreMeasured) {
  Simulator sim({Fast(), Slow()}, Policy(ReadPolicy::kLatency));
  sim.Start({.qd = 1});
  sim.RunFor(2 * kSec);
  SimResults r = sim.Results();
  EXPECT_GE(r.Share(0), 0.99);
  EXPECT_GT(r.member_reads[1], 0u);
  EXPECT_GT(sim.balancer().EwmaNs(sim.state(0), sim.now()), 0u);
  EXPECT_GT(sim.balancer().EwmaNs(sim.state(1), sim.now()), 0u);
  EXPECT_LE(r.member_probes[1], r.reads / 100);  // the probe budget
}

TEST(Balance, SwappingDelaysMovesTheTraffic) {
  Simulator sim({Fast(), Slow()}, Policy(ReadPolicy::kLatency));
  sim.Start({.qd = 1});
  sim.RunFor(2 * kSec);
  EXPECT_GE(sim.Results().Share(0), 0.99);
  sim.SetModel(0, Slow());
  sim.SetModel(1, Fast());
  // "Within a few seconds": the first 100 ms window with >= 99 % on the new fast leg.
  uint64_t moved_after = 0;
  for (uint64_t t = 100 * kMs; t <= 3 * kSec && moved_after == 0; t += 100 * kMs) {
    sim.ResetStats();
    sim.RunFor(100 * kMs);
    if (sim.Results().Share(1) >= 0.99) moved_after = t;
  }
  EXPECT_GT(moved_after, 0u);
  EXPECT_LE(moved_after, 2 * kSec);
  sim.ResetStats();
  sim.RunFor(1 * kSec);
  EXPECT_GE(sim.Results().Share(1), 0.99);
  RecordProperty("moved_after_ms", std::to_string(moved_after / kMs));
}

TEST(Balance, EqualLegsShareTheReads) {
  // At QD1 every policy but round-robin reads index 0 (MD's tie-break); the spread comes from
  // pending reads, so this runs several clients.
  for (ReadPolicy p : {ReadPolicy::kLatency, ReadPolicy::kMd, ReadPolicy::kRoundRobin}) {
    Simulator sim({Slow("a"), Slow("b")}, Policy(p));
    sim.Start({.qd = 4});
    sim.RunFor(2 * kSec);
    SimResults r = sim.Results();
    EXPECT_GE(r.Share(0), 0.20) << raid::ReadPolicyName(p);
    EXPECT_GE(r.Share(1), 0.20) << raid::ReadPolicyName(p);
  }
}

TEST(Balance, SlowLegAtIndexZeroGetsFewReadsUnderLatency) {
  for (uint64_t think : {uint64_t{0}, 20 * kMs}) {  // flat out, and ~50 IOPS
    Simulator sim({Slow(), Fast()}, Policy(ReadPolicy::kLatency));
    sim.Start({.qd = 1, .think_ns = think});
    sim.RunFor(10 * kSec);
    EXPECT_LE(sim.Results().Share(0), 0.10) << "think " << think;
  }
  // MD's rule has no idea: at QD1 the lowest index takes every read.
  Simulator md({Slow(), Fast()}, Policy(ReadPolicy::kMd));
  md.Start({.qd = 1});
  md.RunFor(1 * kSec);
  EXPECT_EQ(md.Results().Share(0), 1.0);
}

TEST(Balance, SequentialReadsStayOnOneMember) {
  for (ReadPolicy p : {ReadPolicy::kLatency, ReadPolicy::kMd}) {
    Simulator sim({Fast("a"), Fast("b")}, Policy(p));
    sim.Start({.qd = 1, .sequential = true});
    sim.RunFor(100 * kMs);
    SimResults r = sim.Results();
    EXPECT_GT(r.reads, 1000u);
    EXPECT_TRUE(r.member_reads[0] == r.reads || r.member_reads[1] == r.reads)
        << raid::ReadPolicyName(p);
  }
}

TEST(Balance, WriteMostlyMemberIsALastResort) {
  Simulator sim({Fast("write-mostly"), Slow("normal")}, Policy(ReadPolicy::kLatency));
  sim.state(0).write_mostly = true;
  sim.Start({.qd = 4});
  sim.RunFor(1 * kSec);
  EXPECT_EQ(sim.Results().member_reads[0], 0u);
  sim.state(1).readable = false;  // the other copy goes away: now it is read
  sim.ResetStats();
  sim.RunFor(100 * kMs);
  EXPECT_GT(sim.Results().member_reads[0], 0u);
}

// A leg that spiked once: member 0 is normally 50 µs, member 1 500 µs. One burst of 10 ms
// reads on member 0 lifts its EWMA above member 1's, after which the plain rule would never
// read it again.
struct Freshness {
  bool probes, stale_reset, wins_back;
};
class SpikeTest : public ::testing::TestWithParam<Freshness> {};

TEST_P(SpikeTest, LegThatSpikedOnceWinsItsReadsBack) {
  const Freshness f = GetParam();
  const MemberModel normal = MemberModel::Uniform("spiky", 45 * kUs, 55 * kUs);
  Simulator sim({normal, MemberModel::Uniform("steady", 450 * kUs, 550 * kUs)},
                {.latency = {.probes = f.probes, .stale_reset = f.stale_reset}});
  // Both legs measured first (without probes, only an outage of member 0 measures member 1).
  sim.state(0).readable = false;
  sim.Start({.qd = 1});
  sim.RunFor(20 * kMs);
  sim.state(0).readable = true;
  sim.RunFor(200 * kMs);
  sim.ResetStats();
  sim.RunFor(100 * kMs);
  EXPECT_GE(sim.Results().Share(0), 0.99);
  // The spike: 10 ms reads for 50 ms.
  sim.SetModel(0, MemberModel::Fixed("spike", 10 * kMs));
  sim.RunFor(50 * kMs);
  sim.SetModel(0, normal);
  sim.ResetStats();
  sim.RunFor(100 * kMs);
  EXPECT_LE(sim.Results().Share(0), 0.01) << "the spike pushed the reads away";
  sim.RunFor(3 * kSec);
  sim.ResetStats();
  sim.RunFor(1 * kSec);
  if (f.wins_back) {
    EXPECT_GE(sim.Results().Share(0), 0.99);
  } else {
    EXPECT_EQ(sim.Results().member_reads[0], 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Mechanisms, SpikeTest,
                         ::testing::Values(Freshness{true, true, true},
                                           Freshness{true, false, true},
                                           Freshness{false, true, true},
                                           Freshness{false, false, false}),
                         [](const auto& info) {
                           return std::string(info.param.probes ? "Probes" : "NoProbes") +
                                  (info.param.stale_reset ? "StaleReset" : "NoStaleReset");
                         });

}  // namespace
}  // namespace meshraid::sim
