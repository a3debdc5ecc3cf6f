// Read balancing: which copy of an array range to read. A pure policy over per-member state;
// the array owns the state and tells the balancer about issued reads.
// Today: MD's stock rule (md-facts A.1/A.4). The latency-aware policy plugs in here later.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace meshraid::raid {

inline constexpr uint64_t kNoSector = ~uint64_t{0};

// What the balancer knows about one member slot.
struct ReadState {
  bool readable = false;       // present, in sync for the range, not failed, not blocked
  bool write_mostly = false;   // read only as a last resort
  uint32_t pending = 0;        // reads and writes in flight on the member
  uint64_t head_position = 0;  // array sector just after the last completed I/O
  uint64_t next_seq_sect = 0;  // array sector just after the last read issued
  uint64_t seq_start = kNoSector;
};

struct ReadRequest {
  uint64_t sector = 0;   // array sector
  uint64_t sectors = 0;
  bool read_first = false;  // region not known in sync: read the first readable copy only
  bool sequential_rule = true;  // RAID1 applies the sequential short-circuit; RAID10 does not
};

class ReadBalancer {
 public:
  // Chooses among `candidates` (member slots holding a copy, in MD's copy order); returns an
  // index into `candidates`, or -1 if none is readable.
  int Choose(const ReadRequest& req, std::span<const int> candidates,
             std::span<const ReadState> members) const;

  // Bookkeeping MD does when a read is issued to `member`.
  static void OnIssue(ReadState& member, uint64_t sector, uint64_t sectors) {
    if (member.next_seq_sect != sector) member.seq_start = sector;
    member.next_seq_sect = sector + sectors;
  }
};

}  // namespace meshraid::raid
