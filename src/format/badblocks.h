// MD bad-block log: up to one 4 KiB page of le64 entries at sb_start + bblog_offset.
// Entry: bits 63..10 start (in units of 2^bblog_shift sectors), bits 9..0 length (1..1023
// units); an all-ones entry terminates. Pure codec.
// The log is only meaningful while the superblock has the BAD_BLOCKS feature bit; without it
// the area is not read (in the golden images it is all zero, see EncodeEmptyBadBlockLog).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "format/superblock.h"
#include "util/result.h"

namespace meshraid::format {

inline constexpr uint64_t kBadBlockTerminator = ~uint64_t{0};
inline constexpr uint64_t kBadBlockMaxLen = 1023;     // units per entry (10 bits)
inline constexpr uint32_t kBadBlockLogMaxBytes = 4096;  // MD reads at most one page

struct BadBlock {
  uint64_t start = 0;   // sectors (already shifted by bblog_shift)
  uint64_t length = 0;  // sectors
  bool acknowledged = true;
  bool operator==(const BadBlock&) const = default;
};

// Decodes entries until the terminator or the end of `buf` (a trailing partial entry is
// ignored). Errors (kCorruption): an entry with length 0 that is not the terminator; a start
// that overflows 64 bits after shifting; shift > 63. Decoded entries are acknowledged.
Result<std::vector<BadBlock>> DecodeBadBlocks(std::span<const uint8_t> buf, uint8_t shift);

// The superblock-aware form: an empty list unless sb has BAD_BLOCKS, a non-zero bblog_offset
// and bblog_size; otherwise decodes min(bblog_size sectors, 4 KiB, buf) of `log` (the bytes at
// sb_start + bblog_offset) with sb.bblog_shift.
Result<std::vector<BadBlock>> DecodeBadBlockLog(const Superblock& sb,
                                                std::span<const uint8_t> log);

// An empty log as it is on disk right after mdadm --create: `sectors` × 512 bytes of ZERO.
// (Checked against every golden member: the 8-sector log area at sb+16 is all zero and the
// BAD_BLOCKS feature bit is clear, so MD never parses it. An earlier comment here said 0xFF;
// the golden images say otherwise.)
std::vector<uint8_t> EncodeEmptyBadBlockLog(uint32_t sectors);

// A log holding `blocks` (in the order given), as MD writes it with BAD_BLOCKS set: entries,
// then 0xFF up to `sectors` × 512 bytes (so the first unused entry is the terminator).
// kInvalidArgument if an entry is not aligned to 2^shift sectors, its length is 0 or more than
// 1023 units, its start does not fit in 54 bits, or the entries plus a terminator do not fit.
Result<std::vector<uint8_t>> EncodeBadBlocks(std::span<const BadBlock> blocks, uint8_t shift,
                                             uint32_t sectors);

}  // namespace meshraid::format
