// Test helper (header only): a reproducible pseudo-random byte pattern (xorshift32), so that a
// buffer that comes back can be compared with what a test wrote without keeping a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace meshraid::io::testing {

inline std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = uint8_t(x);
  }
  return v;
}

}  // namespace meshraid::io::testing
