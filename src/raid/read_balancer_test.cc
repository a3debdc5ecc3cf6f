#include "raid/read_balancer.h"

#include <gtest/gtest.h>

namespace meshraid::raid {
namespace {

std::vector<ReadState> States(int n) {
  std::vector<ReadState> s(static_cast<size_t>(n));
  for (auto& m : s) {
    m.readable = true;
    m.head_position = 1000000;
    m.next_seq_sect = 1000000;
  }
  return s;
}

const std::vector<int> kAll3 = {0, 1, 2};

TEST(ReadBalancer, LeastPendingLowestIndexOnTies) {
  ReadBalancer b(ReadPolicy::kMd);
  auto s = States(3);
  ReadRequest r{.sector = 0, .sectors = 8};
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
  s[0].pending = 2;
  s[1].pending = 1;
  s[2].pending = 1;
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
}

TEST(ReadBalancer, SequentialReadStaysOnItsMember) {
  ReadBalancer b(ReadPolicy::kMd);
  auto s = States(2);
  s[1].pending = 5;
  ReadBalancer::OnIssue(s[1], 100, 8);
  ReadRequest r{.sector = 108, .sectors = 8};
  EXPECT_EQ(b.Choose(r, std::vector<int>{0, 1}, s), 1);
  r.sequential_rule = false;  // RAID10 has no sequential rule
  EXPECT_EQ(b.Choose(r, std::vector<int>{0, 1}, s), 0);
}

TEST(ReadBalancer, OnIssueTracksRuns) {
  ReadState m;
  ReadBalancer::OnIssue(m, 100, 8);
  EXPECT_EQ(m.seq_start, 100u);
  ReadBalancer::OnIssue(m, 108, 8);
  EXPECT_EQ(m.seq_start, 100u);
  EXPECT_EQ(m.next_seq_sect, 116u);
}

TEST(ReadBalancer, SkipsUnreadableAndUsesWriteMostlyLast) {
  ReadBalancer b(ReadPolicy::kMd);
  auto s = States(3);
  s[0].readable = false;
  s[1].write_mostly = true;
  s[2].pending = 9;
  ReadRequest r{.sector = 0, .sectors = 8};
  EXPECT_EQ(b.Choose(r, kAll3, s), 2);
  s[2].readable = false;
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
  s[1].readable = false;
  EXPECT_EQ(b.Choose(r, kAll3, s), -1);
}

TEST(ReadBalancer, ReadFirstTakesTheFirstReadableCopy) {
  ReadBalancer b(ReadPolicy::kMd);
  auto s = States(3);
  s[0].readable = false;
  s[1].pending = 10;
  ReadRequest r{.sector = 0, .sectors = 8, .read_first = true};
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
}

TEST(ReadBalancer, CandidatesMapToMemberSlots) {
  ReadBalancer b(ReadPolicy::kMd);
  auto s = States(4);
  s[2].pending = 3;
  s[3].pending = 1;
  ReadRequest r{.sector = 0, .sectors = 8};
  EXPECT_EQ(b.Choose(r, std::vector<int>{2, 3}, s), 1);  // index into candidates
}

// --- Policies -------------------------------------------------------------------------------

constexpr uint64_t kMs = 1'000'000;
const std::vector<int> kAll2 = {0, 1};

// Gives `m` a measured EWMA of `ns` at time `now`.
void Measure(const ReadBalancer& b, ReadState& m, uint64_t ns, uint64_t now) {
  b.OnComplete(m, ns, true, now);
}

TEST(ReadPolicy, ParseAndPrint) {
  for (ReadPolicy p : {ReadPolicy::kLatency, ReadPolicy::kMd, ReadPolicy::kRoundRobin}) {
    EXPECT_EQ(ParseReadPolicy(ReadPolicyName(p)), p);
  }
  EXPECT_EQ(ReadPolicyName(ReadPolicy::kRoundRobin), "round-robin");
  EXPECT_EQ(ParseReadPolicy("fastest"), std::nullopt);
  EXPECT_EQ(ReadBalancer().policy(), ReadPolicy::kLatency);  // the default
}

TEST(LatencyEwma, SeedsBlendsClampsAndIgnoresFailures) {
  ReadBalancer b;
  ReadState m;
  b.OnComplete(m, 5000, false, 1);  // failures are not samples
  EXPECT_EQ(m.samples, 0u);
  b.OnComplete(m, 1600, true, 2);  // the first sample seeds directly
  EXPECT_EQ(m.latency_ewma_ns, 1600u);
  b.OnComplete(m, 3200, true, 3);  // + (3200 - 1600) / 16
  EXPECT_EQ(m.latency_ewma_ns, 1700u);
  b.OnComplete(m, 100, true, 4);  // - 1600 / 16
  EXPECT_EQ(m.latency_ewma_ns, 1600u);
  b.OnComplete(m, 1'000'000'000, true, 5);  // clamped to 10 ms first
  EXPECT_EQ(m.latency_ewma_ns, 1600u + (10'000'000u - 1600u) / 16);
  ReadState z;
  b.OnComplete(z, 0, true, 6);  // a zero latency still counts as measured
  EXPECT_EQ(b.EwmaNs(z, 6), 1u);
  EXPECT_EQ(m.samples, 4u);
  EXPECT_EQ(m.last_sample_ns, 5u);
}

TEST(LatencyEwma, StaleResetSeedsAfresh) {
  ReadBalancer b;
  ReadState m;
  Measure(b, m, 8 * kMs, 0);
  EXPECT_EQ(b.EwmaNs(m, 999 * kMs), 8 * kMs);
  EXPECT_EQ(b.EwmaNs(m, 1000 * kMs), 0u);  // 1 s without a sample: unmeasured
  Measure(b, m, 50'000, 1000 * kMs);
  EXPECT_EQ(m.latency_ewma_ns, 50'000u);
  b.set_options({.stale_reset = false});
  EXPECT_EQ(b.EwmaNs(m, 100'000 * kMs), 50'000u);
}

TEST(LatencyPolicy, CheapestWinsOnlyWithAClearMargin) {
  ReadBalancer b;
  b.set_options({.probes = false});
  auto s = States(2);
  ReadRequest r{.sector = 0, .sectors = 8, .now_ns = 10};
  Measure(b, s[1], 1000, 10);
  EXPECT_EQ(b.Choose(r, kAll2, s), 0);  // one measured member: stock rule
  Measure(b, s[0], 1200, 10);
  EXPECT_EQ(b.Choose(r, kAll2, s), 1);  // 1000 vs 1200: 200 >= 125
  s[0].latency_ewma_ns = 1100;
  EXPECT_EQ(b.Choose(r, kAll2, s), 0);  // 100 < 125: stock rule, lowest index
  s[0].latency_ewma_ns = 4000;
  s[1].pending = 3;  // cost 1000 × 4 = 4000 vs 4000 × 1: no margin, least pending
  EXPECT_EQ(b.Choose(r, kAll2, s), 0);
  s[1].pending = 2;  // 3000 vs 4000
  EXPECT_EQ(b.Choose(r, kAll2, s), 1);
  b.set_policy(ReadPolicy::kMd);
  EXPECT_EQ(b.Choose(r, kAll2, s), 0);
}

TEST(LatencyPolicy, MdRulesComeFirst) {
  ReadBalancer b;
  auto s = States(3);
  for (auto& m : s) Measure(b, m, 1000, 0);
  s[0].latency_ewma_ns = 9000;
  ReadRequest r{.sector = 0, .sectors = 8};
  // Read-first: the first readable copy, however slow.
  r.read_first = true;
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
  r.read_first = false;
  // Sequential short-circuit: member 0 served the previous part.
  ReadBalancer::OnIssue(s[0], 100, 8);
  r.sector = 108;
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
  r.sector = 0;
  // Write-mostly members only as a last resort, even when fastest.
  s[1].write_mostly = true;
  s[1].latency_ewma_ns = 10;
  EXPECT_EQ(b.Choose(r, kAll3, s), 2);
  s[2].readable = false;  // e.g. recovering below the range
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
  s[0].readable = false;
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
}

TEST(LatencyPolicy, ProbesTheLeastRecentlyMeasuredWithinBudget) {
  ReadBalancer b(ReadPolicy::kLatency, {.probe_every_reads = 10, .probe_age_ns = 5 * kMs});
  auto s = States(3);
  ReadRequest r{.sector = 0, .sectors = 8, .now_ns = 0};
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);  // nothing measured: stock rule, no probe
  EXPECT_FALSE(b.last_choice_was_probe());
  Measure(b, s[0], 1000, 0);
  Measure(b, s[2], 9000, 0);
  // Member 1 was never measured: the first read may probe it.
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
  EXPECT_TRUE(b.last_choice_was_probe());
  ReadBalancer::OnIssue(s[1], 0, 8, true, 0);
  EXPECT_EQ(s[1].probes, 1u);
  // The budget: no further probe for 10 reads, and member 2 was measured lately.
  int probes = 0;
  for (int i = 0; i < 100; ++i) {
    r.now_ns = uint64_t(i) * kMs / 10;  // 10 ms in all
    int c = b.Choose(r, kAll3, s);
    if (b.last_choice_was_probe()) {
      ++probes;
      ReadBalancer::OnIssue(s[size_t(c)], 0, 8, true, r.now_ns);
    }
  }
  // Members 1 and 2 become due after 5 ms: one probe each.
  EXPECT_EQ(probes, 2);
  EXPECT_EQ(s[1].probes, 2u);
  EXPECT_EQ(s[2].probes, 1u);
  // Large reads are never probes.
  r.now_ns = 100 * kMs;
  r.sectors = 256;
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
  b.set_options({.probes = false});
  r.sectors = 8;
  EXPECT_EQ(b.Choose(r, kAll3, s), 0);
}

TEST(RoundRobinPolicy, RotatesOverUsableMembers) {
  ReadBalancer b(ReadPolicy::kRoundRobin);
  auto s = States(3);
  s[1].write_mostly = true;
  ReadRequest r{.sector = 0, .sectors = 8};
  std::vector<int> picks;
  for (int i = 0; i < 4; ++i) picks.push_back(b.Choose(r, kAll3, s));
  EXPECT_EQ(picks, (std::vector<int>{0, 2, 0, 2}));
  s[0].readable = s[2].readable = false;
  EXPECT_EQ(b.Choose(r, kAll3, s), 1);
}

}  // namespace
}  // namespace meshraid::raid
