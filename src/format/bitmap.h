// MD internal write-intent bitmap: the 256-byte bitmap superblock (version 4, little-endian)
// and the bit array that follows it. Pure codec, no I/O.
#pragma once

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
  // ceil(sync_size / chunk_sectors).
  uint64_t Chunks() const;
  // 256 + ceil(Chunks() / 8).
  uint64_t TotalBytes() const { return kBitmapHeaderSize + (Chunks() + 7) / 8; }
};

// Decodes the 256-byte bitmap superblock. Errors: kNotFound (all zero), kCorruption (bad magic;
// chunksize < 512 or not a power of two; write_behind > 16383; non-zero pad), kNotSupported
// (version other than 4; versions 3/5/6 are named).
Result<BitmapSuper> DecodeBitmapSuper(std::span<const uint8_t> buf);
std::vector<uint8_t> EncodeBitmapSuper(const BitmapSuper& b);  // 256 bytes

// Default bitmap chunk for a new array, mdadm's rule: the smallest power of two >= 4096 bytes
// whose bit count fits in `max_bits`, but at least 64 MiB.
uint32_t DefaultBitmapChunk(uint64_t sync_size_sectors, uint64_t max_bits);

// The bit array (bits of chunk c at byte c/8, bit c%8, LSB first), starting 256 bytes after the
// bitmap superblock.
class BitmapBits {
 public:
  explicit BitmapBits(uint64_t chunks) : chunks_(chunks), bytes_((chunks + 7) / 8, 0) {}
  // Reads `chunks` bits from `buf` (the bytes starting right after the bitmap superblock).
  static Result<BitmapBits> Decode(std::span<const uint8_t> buf, uint64_t chunks);

  uint64_t chunks() const { return chunks_; }
  bool Test(uint64_t c) const { return (bytes_[c / 8] >> (c % 8)) & 1; }
  void Set(uint64_t c) { bytes_[c / 8] |= uint8_t(1u << (c % 8)); }
  void Clear(uint64_t c) { bytes_[c / 8] &= uint8_t(~(1u << (c % 8))); }
  uint64_t CountSet() const;
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  uint64_t chunks_;
  std::vector<uint8_t> bytes_;
};

}  // namespace meshraid::format
