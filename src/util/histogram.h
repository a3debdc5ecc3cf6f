// Histogram: a log-linear histogram of non-negative integer samples (latencies in ns). Each
// power of two is split into 16 equal sub-buckets, so a percentile is reported within 1/16
// (6.25 %) of the true sample; values below 16 are exact. Fixed size (976 buckets), no
// allocation after construction, O(1) Record. Not thread-safe: one owner records and reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace meshraid {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 4;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;  // 16
  static constexpr size_t kBuckets = (64 - kSubBucketBits + 1) * kSubBuckets;  // 976

  void Record(uint64_t value);
  void Merge(const Histogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }  // wraps after 2^64 (≈ 584 years of nanoseconds)
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  uint64_t Mean() const { return count_ ? sum_ / count_ : 0; }

  // The value below which a fraction `p` (0..1) of the samples fall: the midpoint of the
  // bucket holding the sample of rank ceil(p × count), clamped to [min, max]; the exact max
  // for the last rank. 0 when empty.
  uint64_t Percentile(double p) const;

  // Bucket arithmetic, exposed for tests: the bucket of `value`, and a bucket's value range
  // [BucketLow, BucketHigh] (inclusive).
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace meshraid
