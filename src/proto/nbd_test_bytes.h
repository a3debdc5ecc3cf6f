// Test helper (header only, used by the proto tests): builds big-endian byte strings field by
// field, so expected wire images read like the spec's layout tables.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace meshraid::proto::testing {

class Bytes {
 public:
  Bytes& U8(uint8_t v) { b_.push_back(v); return *this; }
  Bytes& U16(uint16_t v) { return Be(v, 2); }
  Bytes& U32(uint32_t v) { return Be(v, 4); }
  Bytes& U64(uint64_t v) { return Be(v, 8); }
  Bytes& Str(std::string_view s) { b_.insert(b_.end(), s.begin(), s.end()); return *this; }
  Bytes& Zeros(size_t n) { b_.insert(b_.end(), n, 0); return *this; }
  Bytes& Append(const std::vector<uint8_t>& v) { b_.insert(b_.end(), v.begin(), v.end()); return *this; }
  const std::vector<uint8_t>& vec() const { return b_; }
  operator std::vector<uint8_t>() const { return b_; }  // NOLINT: implicit for brevity

 private:
  Bytes& Be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b_.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> b_;
};

}  // namespace meshraid::proto::testing
