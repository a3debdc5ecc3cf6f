#include "testing/latency.h"

#include <cassert>
#include <cmath>
#include <utility>

namespace meshraid::testing {

double UniformUnit(Rng& rng) { return double(rng() >> 11) * 0x1.0p-53; }

namespace {
uint64_t ToNs(std::chrono::nanoseconds d) { return d.count() > 0 ? uint64_t(d.count()) : 0; }
}  // namespace

Latency Latency::Fixed(std::chrono::nanoseconds d) {
  Latency l;
  l.a_ = ToNs(d);
  return l;
}

Latency Latency::Uniform(std::chrono::nanoseconds lo, std::chrono::nanoseconds hi) {
  assert(lo <= hi);
  Latency l;
  l.kind_ = Kind::kUniform;
  l.a_ = ToNs(lo);
  l.b_ = ToNs(hi);
  return l;
}

Latency Latency::Exponential(std::chrono::nanoseconds mean) {
  Latency l;
  l.kind_ = Kind::kExponential;
  l.a_ = ToNs(mean);
  return l;
}

Latency Latency::Custom(Sampler sampler) {
  Latency l;
  l.kind_ = Kind::kCustom;
  l.sampler_ = std::make_shared<const Sampler>(std::move(sampler));
  return l;
}

uint64_t Latency::SampleNs(Rng& rng) const {
  switch (kind_) {
    case Kind::kFixed:
      return a_;
    case Kind::kUniform: {
      const uint64_t span = b_ - a_;
      if (span == UINT64_MAX) return rng();
      // Rejection sampling keeps the draw exactly uniform.
      const uint64_t n = span + 1;
      const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
      uint64_t r;
      do {
        r = rng();
      } while (r >= limit);
      return a_ + r % n;
    }
    case Kind::kExponential: {
      const double u = UniformUnit(rng);  // in [0, 1), so 1 - u is in (0, 1]
      return uint64_t(std::llround(-std::log1p(-u) * double(a_)));
    }
    case Kind::kCustom:
      return (*sampler_)(rng);
  }
  return 0;
}

}  // namespace meshraid::testing
