#include "testing/latency.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace meshraid::testing {
namespace {

using std::chrono::microseconds;

std::vector<uint64_t> Draw(const Latency& l, uint64_t seed, int n) {
  Rng rng(seed);
  std::vector<uint64_t> v;
  for (int i = 0; i < n; ++i) v.push_back(l.SampleNs(rng));
  return v;
}

TEST(LatencyTest, ZeroAndFixedUseNoRandomness) {
  Rng rng(3);
  Rng untouched(3);
  EXPECT_TRUE(Latency().is_zero());
  EXPECT_EQ(Latency::Zero().SampleNs(rng), 0u);
  EXPECT_EQ(Latency::Fixed(microseconds(250)).SampleNs(rng), 250'000u);
  EXPECT_FALSE(Latency::Fixed(microseconds(1)).is_zero());
  EXPECT_EQ(rng(), untouched());
}

TEST(LatencyTest, UniformStaysInItsClosedRangeAndReachesBothEnds) {
  const auto l = Latency::Uniform(std::chrono::nanoseconds(10), std::chrono::nanoseconds(13));
  std::vector<int> seen(4, 0);
  for (uint64_t v : Draw(l, 1, 1000)) {
    ASSERT_GE(v, 10u);
    ASSERT_LE(v, 13u);
    ++seen[v - 10];
  }
  for (int n : seen) EXPECT_GT(n, 150);
}

TEST(LatencyTest, ExponentialHasItsMean) {
  const auto v = Draw(Latency::Exponential(microseconds(100)), 7, 20000);
  double sum = 0;
  for (uint64_t x : v) sum += double(x);
  EXPECT_NEAR(sum / double(v.size()), 100'000.0, 3'000.0);  // fixed seed: deterministic
}

TEST(LatencyTest, SameSeedSameSamplesOtherSeedOthers) {
  const auto l = Latency::Exponential(microseconds(50));
  EXPECT_EQ(Draw(l, 11, 100), Draw(l, 11, 100));
  EXPECT_NE(Draw(l, 11, 100), Draw(l, 12, 100));
}

TEST(LatencyTest, CustomSamplerGetsTheGenerator) {
  int calls = 0;
  const auto l = Latency::Custom([&calls](Rng& rng) {
    ++calls;
    return 1000 + rng() % 2;
  });
  const auto v = Draw(l, 5, 10);
  EXPECT_EQ(calls, 10);
  for (uint64_t x : v) EXPECT_TRUE(x == 1000 || x == 1001);
  EXPECT_EQ(v, Draw(l, 5, 10));
}

}  // namespace
}  // namespace meshraid::testing
