// MD internal write-intent bitmap: the 256-byte bitmap superblock (version 4, little-endian)
// and the bit array that follows it. Pure codec, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "format/superblock.h"
#include "util/result.h"

namespace meshraid::format {

inline constexpr uint32_t kBitmapMagic = 0x6D746962;  // "bitm"
inline constexpr uint32_t kBitmapHeaderSize = 256;

// bitmap state bits.
inline constexpr uint32_t kBitmapStale = 1u << 1;
inline constexpr uint32_t kBitmapWriteError = 1u << 2;
inline constexpr uint32_t kBitmapRuntimeBits = (1u << 2) | (1u << 5) | (1u << 15);

struct BitmapSuper {
  uint32_t magic = kBitmapMagic;  // 0
  uint32_t version = 4;           // 4
  Uuid uuid{};                    // 8: equals the array set_uuid
  uint64_t events = 0;            // 24
  uint64_t events_cleared = 0;    // 32
  uint64_t sync_size = 0;         // 40: sectors covered (RAID1 component size; RAID10 array size)
  uint32_t state = 0;             // 48
  uint32_t chunksize = 0;         // 52: bytes per bit, power of two >= 512
  uint32_t daemon_sleep = 5;      // 56: seconds
  uint32_t write_behind = 0;      // 60
  uint32_t sectors_reserved = 0;  // 64
  uint32_t nodes = 0;             // 68
  std::array<uint8_t, 64> cluster_name{};  // 72
  std::array<uint8_t, 120> pad{};          // 136

  uint64_t ChunkSectors() const { return chunksize / 512; }
  // ceil(sync_size / chunk_sectors); 0 when chunksize < 512 (never true after decode).
  uint64_t Chunks() const;
  // 256 + ceil(Chunks() / 8).
  uint64_t TotalBytes() const { return kBitmapHeaderSize + (Chunks() + 7) / 8; }

  bool operator==(const BitmapSuper&) const = default;
};

// Decodes the 256-byte bitmap superblock. Errors: kInvalidArgument (fewer than 256 bytes),
// kNotFound (all zero), kCorruption (bad magic; chunksize < 512 or not a power of two;
// daemon_sleep 0; write_behind > 16383; non-zero pad), kNotSupported (version other than 4;
// versions 3/5/6 are named). `state` is returned as stored (runtime bits are not masked) so
// that EncodeBitmapSuper reproduces the bytes; mask with ~kBitmapRuntimeBits when loading.
Result<BitmapSuper> DecodeBitmapSuper(std::span<const uint8_t> buf);
std::vector<uint8_t> EncodeBitmapSuper(const BitmapSuper& b);  // 256 bytes, exact

// Checks a decoded bitmap against its array: uuid must equal sb.set_uuid (kCorruption
// otherwise, both shown).
Status CheckBitmapBelongs(const BitmapSuper& b, const Superblock& sb);
// True when the bitmap cannot be trusted for this superblock (its events are older, or it is
// marked STALE): the kernel then treats every chunk as dirty.
inline bool BitmapStale(const BitmapSuper& b, const Superblock& sb) {
  return b.events < sb.events || (b.state & kBitmapStale) != 0;
}

// Default bitmap chunk for a new array, mdadm's rule: the smallest power of two >= 4096 bytes
// whose bit count fits in `max_bits`, but at least 64 MiB. Saturates at 2^31 bytes (the largest
// power of two a u32 holds) when even that is too small for `max_bits`.
uint32_t DefaultBitmapChunk(uint64_t sync_size_sectors, uint64_t max_bits);

// The bit array (bits of chunk c at byte c/8, bit c%8, LSB first), starting 256 bytes after the
// bitmap superblock. In the MD-written golden images every bit past the last chunk is SET, and
// the rest of the bitmap area after the bits is 0xFF too (consistent with mdadm filling the
// area with ones at create and MD only ever clearing bits of real chunks). Padding bits are kept in bytes() so that a
// rewrite reproduces the bytes, but Test/CountSet/SetChunks never look at them.
inline constexpr uint8_t kBitmapFillByte = 0xFF;
class BitmapBits {
 public:
  explicit BitmapBits(uint64_t chunks) : chunks_(chunks), bytes_((chunks + 7) / 8, 0) {}
  // Reads `chunks` bits from `buf` (the bytes starting right after the bitmap superblock).
  // kInvalidArgument if `buf` holds fewer than ceil(chunks/8) bytes.
  static Result<BitmapBits> Decode(std::span<const uint8_t> buf, uint64_t chunks);

  uint64_t chunks() const { return chunks_; }
  bool Test(uint64_t c) const { return (bytes_[c / 8] >> (c % 8)) & 1; }
  void Set(uint64_t c) { bytes_[c / 8] |= uint8_t(1u << (c % 8)); }
  void Clear(uint64_t c) { bytes_[c / 8] &= uint8_t(~(1u << (c % 8))); }
  uint64_t CountSet() const;  // bits < chunks() only
  // Indices of the set chunks, ascending.
  std::vector<uint64_t> SetChunks() const;
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  uint64_t chunks_;
  std::vector<uint8_t> bytes_;
};

// The whole on-disk bitmap area as MD/mdadm lay it out: the 256-byte superblock, the bits, and
// kBitmapFillByte up to `area_bytes` — including the unused high bits of the last bit byte, which
// are set. kInvalidArgument if b.TotalBytes() > area_bytes or bits.chunks() != b.Chunks().
Result<std::vector<uint8_t>> EncodeBitmapArea(const BitmapSuper& b, const BitmapBits& bits,
                                              uint64_t area_bytes);

}  // namespace meshraid::format
