#include "raid/read_balancer.h"

#include <algorithm>
#include <array>

namespace meshraid::raid {
namespace {

constexpr std::array<std::pair<ReadPolicy, std::string_view>, 3> kPolicyNames = {{
    {ReadPolicy::kLatency, "latency"},
    {ReadPolicy::kMd, "md"},
    {ReadPolicy::kRoundRobin, "round-robin"},
}};

uint64_t Elapsed(uint64_t now_ns, uint64_t then_ns) {
  return now_ns > then_ns ? now_ns - then_ns : 0;
}

bool Usable(const ReadState& m) { return m.readable && !m.write_mostly; }

}  // namespace

std::string_view ReadPolicyName(ReadPolicy p) {
  for (const auto& [policy, name] : kPolicyNames) {
    if (policy == p) return name;
  }
  return "unknown";
}

std::optional<ReadPolicy> ParseReadPolicy(std::string_view name) {
  for (const auto& [policy, n] : kPolicyNames) {
    if (n == name) return policy;
  }
  return std::nullopt;
}

bool ReadBalancer::IsStale(const ReadState& m, uint64_t now_ns) const {
  return options_.stale_reset && Elapsed(now_ns, m.last_sample_ns) >= options_.stale_ns;
}

uint64_t ReadBalancer::EwmaNs(const ReadState& m, uint64_t now_ns) const {
  if (m.samples == 0 || IsStale(m, now_ns)) return 0;
  return m.latency_ewma_ns;
}

void ReadBalancer::OnComplete(ReadState& m, uint64_t latency_ns, bool ok,
                              uint64_t now_ns) const {
  if (!ok) return;  // fast failures must never look like fast reads
  const uint64_t sample = std::clamp<uint64_t>(latency_ns, 1, kSampleClampNs);
  const uint64_t old = EwmaNs(m, now_ns);
  if (old == 0) {
    m.latency_ewma_ns = sample;  // the first sample (or the first after a reset) seeds it
  } else {
    // new = old + (sample - old) / 16, as a signed arithmetic shift. Stays >= 1.
    const int64_t delta = int64_t(sample) - int64_t(old);
    m.latency_ewma_ns = uint64_t(int64_t(old) + (delta >> kEwmaShift));
  }
  m.last_sample_ns = now_ns;
  ++m.samples;
}

void ReadBalancer::ResetLatency(ReadState& m) {
  m.latency_ewma_ns = 0;
  m.last_sample_ns = 0;
  m.samples = 0;
  m.probes = 0;
  m.last_probe_ns = 0;
}

int ReadBalancer::Choose(const ReadRequest& req, std::span<const int> candidates,
                         std::span<const ReadState> members) {
  last_probe_ = false;
  // Regions not known to be in sync are read from the first readable copy, so that every
  // reader sees the same data until a resync has made the copies equal.
  if (req.read_first) {
    for (size_t i = 0; i < candidates.size(); ++i) {
      if (members[size_t(candidates[i])].readable) return int(i);
    }
    return -1;
  }
  if (policy_ == ReadPolicy::kRoundRobin) return ChooseRoundRobin(candidates, members);

  const bool latency = policy_ == ReadPolicy::kLatency;
  const uint64_t now = req.now_ns;
  int best = -1;  // least pending, lowest index on ties: the stock rule
  uint32_t best_pending = UINT32_MAX;
  int slow = -1;  // first write-mostly fallback
  int min_cost_i = -1;
  uint64_t min_cost = UINT64_MAX;
  uint64_t runner_up = UINT64_MAX;
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
    if (!latency) continue;
    if (uint64_t ewma = EwmaNs(m, now); ewma != 0) {
      const uint64_t cost = ewma * (uint64_t(m.pending) + 1);
      if (cost < min_cost) {  // strict: equal costs leave a zero margin
        runner_up = min_cost;
        min_cost = cost;
        min_cost_i = int(i);
      } else if (cost < runner_up) {
        runner_up = cost;
      }
    }
  }
  if (best < 0) return slow;
  if (!latency) return best;

  if (reads_since_probe_ < UINT64_MAX) ++reads_since_probe_;
  int pick = best;
  // Shortest expected delay, when two members are measured and the winner leads by 12.5 %.
  if (min_cost_i >= 0 && runner_up != UINT64_MAX && runner_up - min_cost >= (min_cost >> 3)) {
    pick = min_cost_i;
  }
  // A probe keeps a member that gets no reads measured. Only once something is measured
  // (otherwise the stock rule measures the members itself), for small reads, within the
  // budget, and never onto a member with a deep queue.
  if (options_.probes && min_cost_i >= 0 && req.sectors <= options_.probe_max_sectors &&
      reads_since_probe_ >= options_.probe_every_reads) {
    const int probe = ProbeTarget(now, candidates, members, pick);
    if (probe >= 0 &&
        members[size_t(candidates[size_t(probe)])].pending <= 4 * uint64_t(best_pending) + 8) {
      reads_since_probe_ = 0;
      last_probe_ = true;
      return probe;
    }
  }
  return pick;
}

// The usable candidate other than `pick` that was measured (or probed) least recently, if it
// has been neither for probe_age_ns; ties go to the lowest index.
int ReadBalancer::ProbeTarget(uint64_t now, std::span<const int> candidates,
                              std::span<const ReadState> members, int pick) const {
  int target = -1;
  uint64_t target_key = UINT64_MAX;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ReadState& m = members[size_t(candidates[i])];
    if (int(i) == pick || !Usable(m)) continue;
    const bool measured = m.samples != 0 && Elapsed(now, m.last_sample_ns) < options_.probe_age_ns;
    const bool probed = m.probes != 0 && Elapsed(now, m.last_probe_ns) < options_.probe_age_ns;
    if (measured || probed) continue;
    const uint64_t key = std::max(m.samples ? m.last_sample_ns : 0, m.probes ? m.last_probe_ns : 0);
    if (target < 0 || key < target_key) {
      target = int(i);
      target_key = key;
    }
  }
  return target;
}

int ReadBalancer::ChooseRoundRobin(std::span<const int> candidates,
                                   std::span<const ReadState> members) {
  int next = -1;   // the usable candidate with the smallest slot >= rr_next_slot_
  int first = -1;  // the usable candidate with the smallest slot (wrap-around)
  int slow = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const int slot = candidates[i];
    const ReadState& m = members[size_t(slot)];
    if (!m.readable) continue;
    if (!Usable(m)) {
      if (slow < 0) slow = int(i);
      continue;
    }
    if (first < 0 || slot < candidates[size_t(first)]) first = int(i);
    if (slot >= rr_next_slot_ && (next < 0 || slot < candidates[size_t(next)])) next = int(i);
  }
  const int pick = next >= 0 ? next : first;
  if (pick < 0) return slow;
  rr_next_slot_ = candidates[size_t(pick)] + 1;
  return pick;
}

}  // namespace meshraid::raid
