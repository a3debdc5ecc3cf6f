// CRC32C, see crc32c.h. All arithmetic is on the raw (reflected) CRC register; the public
// functions convert from and to finished CRCs (register = ~crc).
//
// Hardware path: one crc32 instruction has a latency of 3 cycles but a throughput of 1, so long
// buffers are cut into three lanes of B bytes checksummed side by side (lanes 2 and 3 from a
// zero register) and joined with the CRC's linearity:
//   reg(A ++ X) = Z_|X|(reg(A)) ^ reg0(X)
// where Z_n is "feed n zero bytes", a linear map on 32 bits applied through four 256-entry
// tables built once at start-up.
#include "util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace meshraid {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // reflected 0x1EDC6F41

using Table = std::array<std::array<uint32_t, 256>, 8>;

// kSlice[0] is the byte-at-a-time table; kSlice[k][b] is the register contribution of byte b
// followed by k more bytes (slicing-by-8).
constexpr Table MakeSliceTables() {
  Table t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}
constexpr Table kSlice = MakeSliceTables();

inline uint32_t Load32(const uint8_t* p) {  // little-endian, as the CRC consumes bytes
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

uint32_t PortableRegister(uint32_t reg, const uint8_t* p, size_t n) {
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo = reg ^ Load32(p);
    const uint32_t hi = Load32(p + 4);
    reg = kSlice[7][lo & 0xFF] ^ kSlice[6][(lo >> 8) & 0xFF] ^ kSlice[5][(lo >> 16) & 0xFF] ^
          kSlice[4][lo >> 24] ^ kSlice[3][hi & 0xFF] ^ kSlice[2][(hi >> 8) & 0xFF] ^
          kSlice[1][(hi >> 16) & 0xFF] ^ kSlice[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) reg = (reg >> 8) ^ kSlice[0][(reg ^ *p) & 0xFF];
  return reg;
}

// Z_n for a fixed n, as four byte-indexed tables: Z_n(r) = T0[r&255] ^ T1[r>>8&255] ^ ...
struct ShiftTable {
  std::array<std::array<uint32_t, 256>, 4> t{};
  uint32_t Apply(uint32_t reg) const {
    return t[0][reg & 0xFF] ^ t[1][(reg >> 8) & 0xFF] ^ t[2][(reg >> 16) & 0xFF] ^ t[3][reg >> 24];
  }
};

// A linear map on 32-bit registers, by the images of the 32 unit vectors.
struct Matrix {
  std::array<uint32_t, 32> col{};
  uint32_t Apply(uint32_t v) const {
    uint32_t r = 0;
    for (int i = 0; v != 0; ++i, v >>= 1) {
      if (v & 1) r ^= col[size_t(i)];
    }
    return r;
  }
};

// Z_(2^log2_bytes): one zero byte, squared log2_bytes times.
ShiftTable MakeShiftTable(int log2_bytes) {
  Matrix m;
  for (size_t i = 0; i < 32; ++i) {
    const uint32_t r = uint32_t{1} << i;
    m.col[i] = (r >> 8) ^ kSlice[0][r & 0xFF];
  }
  for (int s = 0; s < log2_bytes; ++s) {
    Matrix sq;
    for (size_t i = 0; i < 32; ++i) sq.col[i] = m.Apply(m.col[i]);
    m = sq;
  }
  ShiftTable st;
  for (size_t k = 0; k < 4; ++k) {
    for (uint32_t b = 0; b < 256; ++b) st.t[k][b] = m.Apply(b << (8 * k));
  }
  return st;
}

constexpr size_t kLongLane = 4096;  // lanes of 4 KiB for buffers of 12 KiB and more
constexpr size_t kShortLane = 256;  // lanes of 256 bytes for 768 bytes .. 12 KiB

struct Dispatch {
  bool hardware = false;
  ShiftTable long_shift;
  ShiftTable short_shift;
};

const Dispatch& GetDispatch() {
  static const Dispatch d = [] {
    Dispatch x;
#if defined(__x86_64__)
    x.hardware = __builtin_cpu_supports("sse4.2");
#endif
    x.long_shift = MakeShiftTable(12);
    x.short_shift = MakeShiftTable(8);
    return x;
  }();
  return d;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) inline uint64_t Load64Crc(uint64_t c, const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return _mm_crc32_u64(c, v);
}

// Three lanes of `lane` bytes at a time while at least 3 × lane bytes remain.
__attribute__((target("sse4.2"))) uint32_t HardwareLanes(uint32_t reg, const uint8_t*& p,
                                                         size_t& n, size_t lane,
                                                         const ShiftTable& shift) {
  while (n >= 3 * lane) {
    uint64_t c0 = reg, c1 = 0, c2 = 0;
    for (size_t i = 0; i < lane; i += 8) {
      c0 = Load64Crc(c0, p + i);
      c1 = Load64Crc(c1, p + lane + i);
      c2 = Load64Crc(c2, p + 2 * lane + i);
    }
    reg = shift.Apply(uint32_t(c0)) ^ uint32_t(c1);
    reg = shift.Apply(reg) ^ uint32_t(c2);
    p += 3 * lane;
    n -= 3 * lane;
  }
  return reg;
}

__attribute__((target("sse4.2"))) uint32_t HardwareRegister(uint32_t reg, const uint8_t* p,
                                                            size_t n, const Dispatch& d) {
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; ++p, --n) reg = _mm_crc32_u8(reg, *p);
  reg = HardwareLanes(reg, p, n, kLongLane, d.long_shift);
  reg = HardwareLanes(reg, p, n, kShortLane, d.short_shift);
  uint64_t c = reg;
  for (; n >= 8; p += 8, n -= 8) c = Load64Crc(c, p);
  reg = uint32_t(c);
  for (; n > 0; ++p, --n) reg = _mm_crc32_u8(reg, *p);
  return reg;
}
#endif

}  // namespace

uint32_t Crc32cExtendPortable(uint32_t crc, std::span<const uint8_t> data) {
  return ~PortableRegister(~crc, data.data(), data.size());
}

uint32_t Crc32cExtendHardware(uint32_t crc, std::span<const uint8_t> data) {
#if defined(__x86_64__)
  return ~HardwareRegister(~crc, data.data(), data.size(), GetDispatch());
#else
  return Crc32cExtendPortable(crc, data);
#endif
}

bool Crc32cHasHardware() { return GetDispatch().hardware; }

uint32_t Crc32cExtend(uint32_t crc, std::span<const uint8_t> data) {
  const Dispatch& d = GetDispatch();
#if defined(__x86_64__)
  if (d.hardware) return ~HardwareRegister(~crc, data.data(), data.size(), d);
#else
  (void)d;
#endif
  return ~PortableRegister(~crc, data.data(), data.size());
}

}  // namespace meshraid
