#include "raid/read_balancer.h"

namespace meshraid::raid {

int ReadBalancer::Choose(const ReadRequest& req, std::span<const int> candidates,
                         std::span<const ReadState> members) const {
  // Regions not known to be in sync are read from the first readable copy, so that every
  // reader sees the same data until a resync has made the copies equal.
  if (req.read_first) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      const ReadState& m = members[size_t(candidates[i])];
      if (m.readable) return int(i);
    }
    return -1;
  }
  int best = -1;
  uint32_t best_pending = UINT32_MAX;
  int slow = -1;  // first write-mostly fallback
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ReadState& m = members[size_t(candidates[i])];
    if (!m.readable) continue;
    if (m.write_mostly) {
      if (slow < 0) slow = int(i);
      continue;
    }
    // Sequential reads stay on the member that served the previous part.
    if (req.sequential_rule && (m.next_seq_sect == req.sector || m.head_position == req.sector)) {
      return int(i);
    }
    if (m.pending < best_pending) {  // strict: the lowest index wins ties
      best_pending = m.pending;
      best = int(i);
    }
  }
  return best >= 0 ? best : slow;
}

}  // namespace meshraid::raid
