// Read balancing: which copy of an array range to read. A policy object over per-member state:
// the array owns the ReadState of every member slot, asks Choose() for each read, and reports
// issue (OnIssue) and completion (OnComplete) back. Time is passed in (now_ns), so the policy
// is deterministic and runs the same in virtual time (tests, src/sim) and on a real clock.
//
// Policies (doc/read_balancing.md):
//   kLatency     MD's rules, then the cheapest member by latency_ewma_ns × (pending + 1) when
//                it clearly wins; bounded probe reads and a stale reset keep the EWMAs fresh.
//   kMd          MD's stock rule (md-facts A.1/A.4): least pending, lowest index on ties.
//   kRoundRobin  rotates over the usable members (for comparison only).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace meshraid::raid {

inline constexpr uint64_t kNoSector = ~uint64_t{0};

enum class ReadPolicy { kLatency, kMd, kRoundRobin };
std::string_view ReadPolicyName(ReadPolicy p);  // "latency", "md", "round-robin"
std::optional<ReadPolicy> ParseReadPolicy(std::string_view name);

// What the balancer knows about one member slot.
struct ReadState {
  bool readable = false;       // present, in sync for the range, not failed, not blocked
  bool write_mostly = false;   // read only as a last resort
  uint32_t pending = 0;        // reads and writes in flight on the member
  uint64_t head_position = 0;  // array sector just after the last completed I/O
  uint64_t next_seq_sect = 0;  // array sector just after the last read issued
  uint64_t seq_start = kNoSector;
  // Latency policy, updated by ReadBalancer::OnComplete.
  uint64_t latency_ewma_ns = 0;  // 0: unmeasured (use ReadBalancer::EwmaNs to see staleness)
  uint64_t last_sample_ns = 0;   // when the last sample was taken (valid if samples > 0)
  uint64_t samples = 0;          // successful reads measured
  uint64_t probes = 0;           // probe reads sent to this member
  uint64_t last_probe_ns = 0;    // when the last probe was sent (valid if probes > 0)
};

struct ReadRequest {
  uint64_t sector = 0;   // array sector
  uint64_t sectors = 0;
  bool read_first = false;  // region not known in sync: read the first readable copy only
  bool sequential_rule = true;  // RAID1 applies the sequential short-circuit; RAID10 does not
  uint64_t now_ns = 0;          // monotonic time of the decision (latency policy)
};

// Freshness of the latency EWMAs. Both mechanisms can be switched off.
struct LatencyOptions {
  // Probe reads: a small read sent to the least recently measured usable member, at most one
  // per `probe_every_reads` balanced reads, and only to a member not measured (nor probed)
  // for `probe_age_ns`.
  bool probes = true;
  uint32_t probe_every_reads = 100;      // ≤ 1 % of reads
  uint64_t probe_age_ns = 100'000'000;   // 100 ms
  uint64_t probe_max_sectors = 128;      // 64 KiB
  // Stale reset: an EWMA with no sample for `stale_ns` counts as unmeasured, and the next
  // sample seeds it afresh.
  bool stale_reset = true;
  uint64_t stale_ns = 1'000'000'000;  // 1 s
};

class ReadBalancer {
 public:
  static constexpr uint64_t kSampleClampNs = 10'000'000;  // 10 ms
  static constexpr int kEwmaShift = 4;                    // alpha = 1/16

  ReadBalancer() = default;
  explicit ReadBalancer(ReadPolicy policy, LatencyOptions options = {})
      : policy_(policy), options_(options) {}

  ReadPolicy policy() const { return policy_; }
  void set_policy(ReadPolicy p) { policy_ = p; }
  const LatencyOptions& options() const { return options_; }
  void set_options(const LatencyOptions& o) { options_ = o; }

  // Chooses among `candidates` (member slots holding a copy, in MD's copy order); returns an
  // index into `candidates`, or -1 if none is readable. When the choice is a probe read,
  // last_choice_was_probe() is true until the next call; the caller passes it to OnIssue.
  int Choose(const ReadRequest& req, std::span<const int> candidates,
             std::span<const ReadState> members);
  bool last_choice_was_probe() const { return last_probe_; }

  // Bookkeeping MD does when a read is issued to `member`.
  static void OnIssue(ReadState& member, uint64_t sector, uint64_t sectors) {
    if (member.next_seq_sect != sector) member.seq_start = sector;
    member.next_seq_sect = sector + sectors;
  }
  // The same plus probe bookkeeping: call with last_choice_was_probe() for reads that Choose
  // picked.
  static void OnIssue(ReadState& member, uint64_t sector, uint64_t sectors, bool probe,
                      uint64_t now_ns) {
    OnIssue(member, sector, sectors);
    if (probe) {
      ++member.probes;
      member.last_probe_ns = now_ns;
    }
  }

  // A read on `member` completed `latency_ns` after it was submitted. Only successful reads
  // are samples; failed ones change nothing.
  void OnComplete(ReadState& member, uint64_t latency_ns, bool ok, uint64_t now_ns) const;

  // The EWMA the latency rule uses at `now_ns`: 0 when unmeasured or stale.
  uint64_t EwmaNs(const ReadState& member, uint64_t now_ns) const;

  // Forgets everything measured about a member (it was replaced or re-added).
  static void ResetLatency(ReadState& member);

 private:
  int ChooseRoundRobin(std::span<const int> candidates, std::span<const ReadState> members);
  int ProbeTarget(uint64_t now, std::span<const int> candidates,
                  std::span<const ReadState> members, int pick) const;
  bool IsStale(const ReadState& m, uint64_t now_ns) const;

  ReadPolicy policy_ = ReadPolicy::kLatency;
  LatencyOptions options_;
  uint64_t reads_since_probe_ = ~uint64_t{0} >> 1;  // the first eligible read may probe
  int rr_next_slot_ = 0;  // round-robin: the member slot to try first
  bool last_probe_ = false;
};

}  // namespace meshraid::raid
