#include "util/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace meshraid {

// Values below kSubBuckets have one bucket each. A larger value with its highest set bit at
// position e falls in group (e − kSubBucketBits + 1), split by the kSubBucketBits bits below
// the highest one.
size_t Histogram::BucketOf(uint64_t value) {
  if (value < kSubBuckets) return size_t(value);
  int e = 63 - std::countl_zero(value);
  int shift = e - kSubBucketBits;
  uint64_t sub = (value >> shift) - kSubBuckets;  // 0..kSubBuckets-1
  return size_t(uint64_t(shift + 1) * kSubBuckets + sub);
}

uint64_t Histogram::BucketLow(size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  uint64_t group = bucket / kSubBuckets;  // >= 1
  uint64_t sub = bucket % kSubBuckets;
  return (kSubBuckets + sub) << (group - 1);
}

uint64_t Histogram::BucketHigh(size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  uint64_t group = bucket / kSubBuckets;
  uint64_t width = uint64_t{1} << (group - 1);
  return BucketLow(bucket) + (width - 1);
}

void Histogram::Record(uint64_t value) {
  ++counts_[BucketOf(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Clear() { *this = Histogram(); }

uint64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 1.0);
  auto rank = uint64_t(std::ceil(p * double(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  if (rank == count_) return max_;  // the largest sample is known exactly
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t low = BucketLow(i), high = BucketHigh(i);
      uint64_t mid = low + (high - low) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace meshraid
