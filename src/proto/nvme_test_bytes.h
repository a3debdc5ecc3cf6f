// Test helper (header only, used by the NVMe proto tests): builds little-endian byte strings
// field by field, so expected wire images read like the spec's layout tables, and pokes fields
// into an existing image at a byte offset.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace meshraid::proto::nvme::testing {

class LeBytes {
 public:
  LeBytes& U8(uint8_t v) { return Put(&v, 1); }
  LeBytes& U16(uint16_t v) { return Le(v, 2); }
  LeBytes& U32(uint32_t v) { return Le(v, 4); }
  LeBytes& U64(uint64_t v) { return Le(v, 8); }
  LeBytes& Str(std::string_view s) { return Put(s.data(), s.size()); }
  LeBytes& Zeros(size_t n) {
    b_.resize(b_.size() + n, 0);
    return *this;
  }
  LeBytes& Append(std::span<const uint8_t> v) { return Put(v.data(), v.size()); }
  size_t size() const { return b_.size(); }
  const std::vector<uint8_t>& vec() const { return b_; }
  operator std::vector<uint8_t>() const { return b_; }  // NOLINT: implicit for brevity

 private:
  LeBytes& Le(uint64_t v, int n) {
    uint8_t le[8];
    for (int i = 0; i < n; ++i) le[i] = uint8_t(v >> (8 * i));
    return Put(le, size_t(n));
  }
  // One resize + memcpy: GCC 12 at -O3 falsely warns -Wstringop-overflow on push_back loops.
  LeBytes& Put(const void* p, size_t n) {
    const size_t at = b_.size();
    b_.resize(at + n);
    if (n != 0) std::memcpy(b_.data() + at, p, n);
    return *this;
  }
  std::vector<uint8_t> b_;
};

// Little-endian value of `n` bytes at `at`.
inline uint64_t LeAt(std::span<const uint8_t> b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[at + size_t(i)];
  return v;
}

inline void PokeLe(std::span<uint8_t> b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

template <typename A>
std::vector<uint8_t> Vec(const A& a) {
  return std::vector<uint8_t>(a.begin(), a.end());
}

}  // namespace meshraid::proto::nvme::testing
