// Byte-array building blocks for the private "raw" mirrors of on-disk structures. A raw struct
// is made only of these members, so it has alignment 1, no padding, and offsetof() of each
// member is the documented on-disk offset (pinned with static_assert next to each struct).
// Conversion to host values goes field by field through the little-endian helpers; host
// integers are never memcpy'd.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "util/endian.h"

namespace meshraid::format::raw {

template <size_t N>
struct Bytes {
  uint8_t b[N];
};
using Le16 = Bytes<2>;
using Le32 = Bytes<4>;
using Le64 = Bytes<8>;

static_assert(alignof(Le64) == 1 && sizeof(Le64) == 8, "raw fields must be plain bytes");

inline uint8_t Load(const Bytes<1>& f) { return f.b[0]; }
inline uint16_t Load(const Le16& f) { return LoadLe16(f.b); }
inline uint32_t Load(const Le32& f) { return LoadLe32(f.b); }
inline uint64_t Load(const Le64& f) { return LoadLe64(f.b); }

inline void Store(Bytes<1>& f, uint8_t v) { f.b[0] = v; }
inline void Store(Le16& f, uint16_t v) { StoreLe16(f.b, v); }
inline void Store(Le32& f, uint32_t v) { StoreLe32(f.b, v); }
inline void Store(Le64& f, uint64_t v) { StoreLe64(f.b, v); }

// Opaque byte runs (UUIDs, names, pads) copy as they are.
template <size_t N, typename T>
void LoadArray(const Bytes<N>& f, std::array<T, N>& out) {
  static_assert(sizeof(T) == 1);
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<T>(f.b[i]);
}
template <size_t N, typename T>
void StoreArray(Bytes<N>& f, const std::array<T, N>& in) {
  static_assert(sizeof(T) == 1);
  for (size_t i = 0; i < N; ++i) f.b[i] = static_cast<uint8_t>(in[i]);
}

template <size_t N>
bool AllZero(const Bytes<N>& f) {
  for (uint8_t c : f.b) {
    if (c != 0) return false;
  }
  return true;
}
// Index of the first non-zero byte, or N.
template <size_t N>
size_t FirstNonZero(const Bytes<N>& f) {
  for (size_t i = 0; i < N; ++i) {
    if (f.b[i] != 0) return i;
  }
  return N;
}

}  // namespace meshraid::format::raw
