// Takeover of a stopped array: the members' superblocks are read, checked as for an online
// takeover, and rewritten in place (bitmap header first, then the superblock), nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "raid/takeover.h"
#include "util/result.h"

namespace meshraid::raid {

struct OfflineTakeover {
  TakeoverPlan plan;
  uint64_t events = 0;                      // the new events count
  std::vector<uint64_t> bytes_written;      // per member, in the order given
};

// Every member of the array must be given (a missing one counts as degraded, a stale or
// recovering one as not in sync). Members are locked like a running array locks them, so a
// running array is refused ("in use"). Errors are one line naming the member or the reason.
Result<OfflineTakeover> TakeoverStoppedArray(const std::vector<std::string>& paths, int to_level,
                                             uint64_t chunk_sectors, uint64_t now_seconds);

}  // namespace meshraid::raid
