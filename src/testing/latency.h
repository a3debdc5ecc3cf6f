// Latency: how long one operation is held, as a distribution sampled with a seeded generator,
// so that a run with the same seed (and the same order of operations) sees the same delays.
// Sampling is implemented here rather than with <random> distributions, whose output differs
// between standard libraries; std::mt19937_64 itself is fully specified.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>

namespace meshraid::testing {

using Rng = std::mt19937_64;

// A uniformly distributed double in [0, 1) from 53 random bits.
double UniformUnit(Rng& rng);

class Latency {
 public:
  // Returns a delay in nanoseconds; called once per operation, in submission order.
  using Sampler = std::function<uint64_t(Rng&)>;

  Latency() = default;  // zero: no delay, no timer
  static Latency Zero() { return Latency(); }
  static Latency Fixed(std::chrono::nanoseconds d);
  // Uniform over [lo, hi] at nanosecond resolution; requires lo <= hi.
  static Latency Uniform(std::chrono::nanoseconds lo, std::chrono::nanoseconds hi);
  // Exponential with the given mean (a memoryless queue's service time).
  static Latency Exponential(std::chrono::nanoseconds mean);
  // Anything else: `sampler` gets the device's generator.
  static Latency Custom(Sampler sampler);

  // Draws one delay. Fixed and Zero consume no randomness.
  uint64_t SampleNs(Rng& rng) const;
  // True if every sample is zero (the device then completes without a timer).
  bool is_zero() const { return kind_ == Kind::kFixed && a_ == 0; }

 private:
  enum class Kind { kFixed, kUniform, kExponential, kCustom };
  Kind kind_ = Kind::kFixed;
  uint64_t a_ = 0;  // fixed value, uniform low bound, exponential mean
  uint64_t b_ = 0;  // uniform high bound
  std::shared_ptr<const Sampler> sampler_;
};

}  // namespace meshraid::testing
