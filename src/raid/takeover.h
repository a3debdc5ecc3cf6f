// RAID1 <-> RAID10 takeover: with near copies equal to the member count, RAID1 and RAID10-near
// put every array byte at the same member offset, so the level change only rewrites
// superblock fields (level, layout, chunk). Pure: the preconditions are checked on facts the
// caller gathers (offline from superblocks, online from the running array), in MeshStor's
// order, each refusal one line: "raid1->raid10 takeover refused: <reason>".
#pragma once

#include <cstdint>
#include <string>

#include "format/superblock.h"
#include "util/result.h"

namespace meshraid::raid {

struct TakeoverFacts {
  format::Superblock reference;   // the array's current superblock fields
  int degraded = 0;                // slots without an in-sync member
  std::string member_not_in_sync;  // a member holding a slot but not in sync ("" if none)
  std::string write_mostly;        // a WriteMostly member ("" if none)
  std::string replacement;         // a replacement in flight ("" if none)
  uint32_t write_behind = 0;       // the bitmap's write_behind (0 without a bitmap)
  std::string sync_running;        // the sync action running ("" if none)
};

struct TakeoverPlan {
  int32_t level = 0;
  uint32_t layout = 0;
  uint32_t chunk_sectors = 0;  // superblock chunksize (0 for RAID1)
};

// MeshStor's default chunk: 512 KiB halved until it divides the member size (not below 4 KiB).
uint32_t DefaultTakeoverChunk(uint64_t dev_sectors);

// Plans the change to `to_level` (10 from a RAID1, 1 from a RAID10 whose near copies equal its
// member count). `chunk_sectors` 0 picks DefaultTakeoverChunk (RAID1 -> RAID10 only).
// Errors are kFailedPrecondition (or kInvalidArgument for a request that is no takeover).
Result<TakeoverPlan> PlanTakeover(const TakeoverFacts& facts, int to_level,
                                  uint64_t chunk_sectors = 0);

// Applies the plan to a superblock (level, layout, chunksize); events are the caller's.
void ApplyTakeover(const TakeoverPlan& plan, format::Superblock& sb);

}  // namespace meshraid::raid
