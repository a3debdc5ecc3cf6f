// MD bad-block log: up to one 4 KiB page of le64 entries at sb_start + bblog_offset.
// Entry: bits 63..10 start (in units of 2^bblog_shift sectors), bits 9..0 length (1..1023
// units); an all-ones entry terminates. Pure codec.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "util/result.h"

namespace meshraid::format {

struct BadBlock {
  uint64_t start = 0;   // sectors (already shifted by bblog_shift)
  uint64_t length = 0;  // sectors
  bool acknowledged = true;
  bool operator==(const BadBlock&) const = default;
};

// Decodes entries until the terminator or the end of `buf`. Errors (kCorruption): an entry
// with length 0 that is not the terminator.
Result<std::vector<BadBlock>> DecodeBadBlocks(std::span<const uint8_t> buf, uint8_t shift);
// An empty log: `sectors` × 512 bytes of 0xFF.
std::vector<uint8_t> EncodeEmptyBadBlockLog(uint32_t sectors);

}  // namespace meshraid::format
