// Test helper (header only, used by the proto tests): builds big-endian byte strings field by
// field, so expected wire images read like the spec's layout tables.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace meshraid::proto::testing {

class Bytes {
 public:
  Bytes& U8(uint8_t v) { b_.push_back(v); return *this; }
  Bytes& U16(uint16_t v) { return Be(v, 2); }
  Bytes& U32(uint32_t v) { return Be(v, 4); }
  Bytes& U64(uint64_t v) { return Be(v, 8); }
  Bytes& Str(std::string_view s) { return Put(s.data(), s.size()); }
  Bytes& Zeros(size_t n) { b_.insert(b_.end(), n, 0); return *this; }
  Bytes& Append(const std::vector<uint8_t>& v) { b_.insert(b_.end(), v.begin(), v.end()); return *this; }
  const std::vector<uint8_t>& vec() const { return b_; }
  operator std::vector<uint8_t>() const { return b_; }  // NOLINT: implicit for brevity

 private:
  Bytes& Be(uint64_t v, int n) {
    uint8_t be[8];
    for (int i = 0; i < n; ++i) be[i] = uint8_t(v >> (8 * (n - 1 - i)));
    return Put(be, size_t(n));
  }
  // Appends through one resize + memcpy: GCC 12 at -O3 falsely warns -Wstringop-overflow on
  // push_back/insert loops into a vector that may reallocate.
  Bytes& Put(const void* p, size_t n) {
    const size_t at = b_.size();
    b_.resize(at + n);
    if (n != 0) std::memcpy(b_.data() + at, p, n);
    return *this;
  }
  std::vector<uint8_t> b_;
};

}  // namespace meshraid::proto::testing
