#include "util/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace meshraid {
namespace {

TEST(HistogramTest, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Mean(), 0u);
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.Percentile(0.99), 0u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 16; ++v) {
    EXPECT_EQ(Histogram::BucketOf(v), v);
    EXPECT_EQ(Histogram::BucketLow(v), v);
    EXPECT_EQ(Histogram::BucketHigh(v), v);
  }
}

TEST(HistogramTest, BucketsTileTheWholeRange) {
  EXPECT_EQ(Histogram::BucketLow(0), 0u);
  for (size_t b = 0; b + 1 < Histogram::kBuckets; ++b) {
    ASSERT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << b;
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketLow(b)), b);
    ASSERT_EQ(Histogram::BucketOf(Histogram::BucketHigh(b)), b);
  }
  EXPECT_EQ(Histogram::BucketHigh(Histogram::kBuckets - 1), UINT64_MAX);
  EXPECT_EQ(Histogram::BucketOf(UINT64_MAX), Histogram::kBuckets - 1);
}

TEST(HistogramTest, BucketWidthIsWithinOneSixteenth) {
  for (size_t b = 16; b < Histogram::kBuckets; ++b) {
    uint64_t low = Histogram::BucketLow(b), width = Histogram::BucketHigh(b) - low + 1;
    ASSERT_LE(width * 16, low) << b;
  }
}

TEST(HistogramTest, SingleValue) {
  Histogram h;
  h.Record(123456);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.min(), 123456u);
  EXPECT_EQ(h.max(), 123456u);
  // Clamped to [min, max], so a single sample is reported exactly.
  EXPECT_EQ(h.Percentile(0.5), 123456u);
  EXPECT_EQ(h.Percentile(0.99), 123456u);
}

TEST(HistogramTest, PercentilesOfATwoModeDistribution) {
  Histogram h;
  for (int i = 0; i < 990; ++i) h.Record(10'000);     // 10 µs
  for (int i = 0; i < 10; ++i) h.Record(2'000'000);   // 2 ms
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_NEAR(double(h.Percentile(0.5)), 10'000, 10'000 / 16.0);
  EXPECT_NEAR(double(h.Percentile(0.99)), 10'000, 10'000 / 16.0);  // rank 990 is still fast
  EXPECT_NEAR(double(h.Percentile(0.995)), 2'000'000, 2'000'000 / 16.0);
  EXPECT_EQ(h.Percentile(1.0), 2'000'000u);
  EXPECT_EQ(h.Percentile(0.0), 10'000u);
  EXPECT_EQ(h.Mean(), (990 * 10'000 + 10 * 2'000'000) / 1000u);
}

TEST(HistogramTest, PercentilesMatchSortedSamplesWithinBucketPrecision) {
  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed());
  std::lognormal_distribution<double> dist(11.0, 1.5);  // around 60 µs, long tail
  std::vector<uint64_t> samples;
  Histogram h;
  for (int i = 0; i < 20000; ++i) {
    auto v = uint64_t(dist(rng));
    samples.push_back(v);
    h.Record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {0.5, 0.9, 0.99, 0.999}) {
    uint64_t exact = samples[size_t(std::ceil(p * double(samples.size()))) - 1];
    EXPECT_NEAR(double(h.Percentile(p)), double(exact), double(exact) / 16.0 + 1) << p;
  }
}

TEST(HistogramTest, MergeAndClear) {
  Histogram a, b;
  a.Record(100);
  b.Record(1'000'000);
  b.Record(5);
  a.Merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.min(), 5u);
  EXPECT_EQ(a.max(), 1'000'000u);
  EXPECT_EQ(a.sum(), 1'000'105u);
  EXPECT_GE(a.Percentile(0.5), 100u);  // the midpoint of 100's bucket [100, 103]
  EXPECT_LE(a.Percentile(0.5), 103u);
  a.Clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Percentile(0.5), 0u);
  a.Record(7);
  EXPECT_EQ(a.min(), 7u);
}

TEST(HistogramTest, MergeOfAnEmptyHistogramKeepsMin) {
  Histogram a, empty;
  a.Record(42);
  a.Merge(empty);
  EXPECT_EQ(a.min(), 42u);
  EXPECT_EQ(a.count(), 1u);
}

}  // namespace
}  // namespace meshraid
