// MD v1.x superblock (the layout Linux MD calls mdp_superblock_1): a pure codec between a byte
// buffer and the Superblock struct. No I/O. All integers on disk are little-endian.
// Field offsets are documented in doc/md_v1.2_format.md and pinned by static_asserts in
// superblock.cc.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace meshraid::format {

inline constexpr uint32_t kSbMagic = 0xA92B4EFC;
inline constexpr uint64_t kMaxSector = ~uint64_t{0};  // "MaxSector": resync_offset when clean
inline constexpr uint32_t kSbBaseSize = 256;           // bytes before dev_roles[]
inline constexpr uint32_t kSbReadSize = 4096;          // MD reads this much at sb_start
inline constexpr uint32_t kMaxDevLimit = (kSbReadSize - kSbBaseSize) / 2;  // 1920

// feature_map bits.
enum Feature : uint32_t {
  kFeatureBitmapOffset = 1u << 0,
  kFeatureRecoveryOffset = 1u << 1,
  kFeatureReshapeActive = 1u << 2,
  kFeatureBadBlocks = 1u << 3,
  kFeatureReplacement = 1u << 4,
  kFeatureReshapeBackwards = 1u << 5,
  kFeatureNewOffset = 1u << 6,
  kFeatureRecoveryBitmap = 1u << 7,
  kFeatureClustered = 1u << 8,
  kFeatureJournal = 1u << 9,
  kFeaturePpl = 1u << 10,
  kFeatureMultiplePpls = 1u << 11,
  kFeatureRaid0Layout = 1u << 12,
  kFeatureAll = (1u << 13) - 1,
};
// Names of the set bits of `bits`, e.g. "BITMAP_OFFSET,RECOVERY_OFFSET"; unknown bits as "bit19".
std::string FeatureNames(uint32_t bits);

// dev_roles[] values.
inline constexpr uint16_t kRoleSpare = 0xFFFF;
inline constexpr uint16_t kRoleFaulty = 0xFFFE;
inline constexpr uint16_t kRoleJournal = 0xFFFD;
inline constexpr uint16_t kRoleMax = 0xFF00;  // roles >= this are not slots

// devflags bits.
inline constexpr uint8_t kDevFlagWriteMostly = 1;
inline constexpr uint8_t kDevFlagFailFast = 2;

using Uuid = std::array<uint8_t, 16>;

// Where the superblock sits, by minor version.
enum class SbVersion { k1_0 = 0, k1_1 = 1, k1_2 = 2 };
// sb_start in sectors for a device of `device_sectors` sectors:
// 1.0 → (device_sectors − 16) rounded down to a multiple of 8; 1.1 → 0; 1.2 → 8.
uint64_t SuperblockSector(SbVersion v, uint64_t device_sectors);

// Every field of the v1 superblock, in host representation. Reserved bytes that must be zero
// (pad0, pad3) are kept so that decode can report them and encode can reproduce them.
struct Superblock {
  uint32_t magic = kSbMagic;          // 0
  uint32_t major_version = 1;         // 4
  uint32_t feature_map = 0;           // 8
  uint32_t pad0 = 0;                  // 12
  Uuid set_uuid{};                    // 16
  std::array<char, 32> set_name{};    // 32, NUL-padded, not necessarily terminated
  uint64_t ctime = 0;                 // 64: low 40 bits seconds, high 24 bits microseconds
  int32_t level = 1;                  // 72
  uint32_t layout = 0;                // 76
  uint64_t size = 0;                  // 80: sectors used per component (dev_sectors)
  uint32_t chunksize = 0;             // 88: sectors
  uint32_t raid_disks = 0;            // 92
  int32_t bitmap_offset = 0;          // 96: signed sectors from sb_start (iff BITMAP_OFFSET)
  uint32_t new_level = 0;             // 100
  uint64_t reshape_position = 0;      // 104
  int32_t delta_disks = 0;            // 112
  uint32_t new_layout = 0;            // 116
  uint32_t new_chunk = 0;             // 120
  int32_t new_offset = 0;             // 124
  uint64_t data_offset = 0;           // 128
  uint64_t data_size = 0;             // 136
  uint64_t super_offset = 0;          // 144
  uint64_t recovery_offset = 0;       // 152 (journal_tail for journal devices)
  uint32_t dev_number = 0;            // 160
  uint32_t cnt_corrected_read = 0;    // 164
  Uuid device_uuid{};                 // 168
  uint8_t devflags = 0;               // 184
  uint8_t bblog_shift = 0;            // 185
  uint16_t bblog_size = 0;            // 186
  int32_t bblog_offset = 0;           // 188
  uint64_t utime = 0;                 // 192
  uint64_t events = 0;                // 200
  uint64_t resync_offset = 0;         // 208
  uint32_t sb_csum = 0;               // 216
  uint32_t max_dev = 0;               // 220
  uint32_t logical_block_size = 0;    // 224: write 0 unless asked (older kernels refuse non-zero)
  std::array<uint8_t, 28> pad3{};     // 228
  std::vector<uint16_t> dev_roles;    // 256: max_dev entries

  // Byte size of the structure: 256 + 2 * max_dev.
  uint32_t ByteSize() const { return kSbBaseSize + 2 * max_dev; }
  // The role of this device (dev_roles[dev_number]), or kRoleSpare if out of range.
  uint16_t ThisRole() const;
  // set_name up to its first NUL.
  std::string Name() const;
  void SetName(std::string_view name);  // truncates to 32 bytes, NUL-pads
  bool Has(Feature f) const { return (feature_map & f) != 0; }
  // True when the array was cleanly stopped (resync_offset == MaxSector).
  bool Clean() const { return resync_offset == kMaxSector; }

  bool operator==(const Superblock&) const = default;
};

// Sectors the superblock occupies at sb_start: ByteSize() rounded up to 512 bytes. Data (1.1,
// 1.2) must start at or after sb_start + SbSectors(max_dev).
inline uint64_t SbSectors(uint32_t max_dev) {
  return (uint64_t{kSbBaseSize} + 2 * uint64_t{max_dev} + 511) / 512;
}

// The MD v1 checksum over the first 256 + 2*max_dev bytes of `buf`, with sb_csum (offset 216)
// taken as zero: sum of LE 32-bit words (plus a final LE 16-bit value when max_dev is odd) in a
// 64-bit accumulator, then (low32 + high32) truncated to 32 bits — a single fold.
// `buf` must hold at least that many bytes (max_dev is read from offset 220).
uint32_t ComputeChecksum(std::span<const uint8_t> buf);

// What Decode checks beyond the bytes themselves.
struct DecodeContext {
  SbVersion version = SbVersion::k1_2;
  uint64_t device_sectors = 0;  // 0 = unknown: skip the checks that need it
};

// Decodes and validates a superblock read at sb_start (pass at least 4096 bytes, or the
// whole 256 + 2*max_dev bytes). Distinct errors, each a one-line message naming the problem
// (the caller prefixes the member path):
//   kNotFound      — all-zero block ("no superblock")
//   kCorruption    — bad magic (shows the value found); bad checksum ("expected X, found Y");
//                    non-zero pad0/pad3; super_offset not equal to sb_start; data_size < 10;
//                    data_offset inside the superblock area (1.1/1.2);
//                    data_offset + data_size beyond the device
//   kNotSupported  — major_version != 1; unknown feature bits (named, e.g. "bit19")
//   kInvalidArgument — max_dev > 1920; buffer too short for 256 + 2*max_dev bytes
// For 1.0 the device size is needed to locate sb_start; with device_sectors == 0 the
// super_offset check is skipped for 1.0 (1.1/1.2 are always checked: 0 and 8).
// Checks run in this order, so the first problem found is the one reported: length, all-zero,
// magic, major_version, max_dev, length again, checksum, super_offset, features, pad0, pad3,
// data_size, data_offset (and data_offset + new_offset with NEW_OFFSET), device bounds.
Result<Superblock> Decode(std::span<const uint8_t> buf, const DecodeContext& ctx = {});

// Encodes `sb` into ByteSize() bytes (padded with zeros up to a multiple of 512), recomputing
// sb_csum. dev_roles is written for max_dev entries: missing entries become kRoleSpare, extra
// ones are dropped. The encoding is exact: Decode(Encode(sb)) == sb with the fresh checksum
// (when dev_roles.size() == max_dev), and Encode(Decode(bytes)) reproduces MD's bytes.
std::vector<uint8_t> Encode(const Superblock& sb);

// Same as Encode but keeps sb.sb_csum as given (for tests that build corrupt superblocks).
std::vector<uint8_t> EncodeRaw(const Superblock& sb);

// Times in the 40/24 format: seconds (low 40 bits) and microseconds (high 24 bits).
inline uint64_t SbTime(uint64_t seconds, uint32_t usec = 0) {
  return (seconds & ((uint64_t{1} << 40) - 1)) | (uint64_t(usec & 0xFFFFFF) << 40);
}
inline uint64_t SbTimeSeconds(uint64_t t) { return t & ((uint64_t{1} << 40) - 1); }

// UUID text in MD's two spellings: "3a3c6f87:c0431ca9:16c6c901:09c3b088" (mdadm) and
// "3a3c6f87-c043-1ca9-16c6-c90109c3b088" (sysfs).
std::string UuidMdadm(const Uuid& u);
std::string UuidSysfs(const Uuid& u);

}  // namespace meshraid::format
