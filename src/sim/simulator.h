// Simulator: a deterministic discrete-event simulation of reads on a RAID1 array in virtual
// time. Closed-loop clients keep a number of reads in flight; each read is placed by the REAL
// raid::ReadBalancer (Choose, OnIssue, OnComplete, exactly as the array calls them) on one of
// the modelled members (member_model.h). Same models, workload and seed: same result.
#pragma once

#include <cstdint>
#include <deque>
#include <queue>
#include <vector>

#include "raid/read_balancer.h"
#include "sim/member_model.h"

namespace meshraid::sim {

struct Workload {
  uint32_t qd = 1;            // clients, each with one read in flight
  uint64_t think_ns = 0;      // a client's pause between a completion and its next read
  uint64_t io_sectors = 8;    // 4 KiB reads
  bool sequential = false;    // each client reads its own consecutive run (else uniform random)
  uint64_t array_sectors = uint64_t{1} << 31;  // 1 TiB
};

struct SimOptions {
  raid::ReadPolicy policy = raid::ReadPolicy::kLatency;
  raid::LatencyOptions latency{};
  bool only_first_member = false;  // "local-only": member 0 is the only copy
  uint64_t seed = 1;
};

// What happened since the simulator started or ResetStats().
struct SimResults {
  uint64_t reads = 0;
  uint64_t duration_ns = 0;
  uint64_t p50_ns = 0, p99_ns = 0;  // read latency seen by the clients
  std::vector<uint64_t> member_reads;
  std::vector<uint64_t> member_probes;
  double Iops() const { return duration_ns ? double(reads) * 1e9 / double(duration_ns) : 0; }
  double Share(size_t member) const {
    return reads ? double(member_reads[member]) / double(reads) : 0;
  }
};

class Simulator {
 public:
  // Where members' heads start: far from every read, so nothing looks sequential at first.
  static constexpr uint64_t kNoStart = raid::kNoSector - 1;

  Simulator(std::vector<MemberModel> members, SimOptions options);

  // Starts the workload's clients now (once).
  void Start(const Workload& w);
  // Runs every event up to `t_ns`, then leaves virtual time at `t_ns`.
  void RunUntil(uint64_t t_ns);
  void RunFor(uint64_t ns) { RunUntil(now_ + ns); }
  uint64_t now() const { return now_; }

  // Changes a member's model; reads already being served keep their times.
  void SetModel(size_t member, const MemberModel& m) { members_[member].model = m; }
  const MemberModel& model(size_t member) const { return members_[member].model; }
  // The balancer's view of a member (e.g. to mark it write-mostly or unreadable).
  raid::ReadState& state(size_t member) { return states_[member]; }
  raid::ReadBalancer& balancer() { return balancer_; }

  void ResetStats();
  SimResults Results() const;

 private:
  enum class Kind { kIssue, kArrive, kServed, kComplete };
  struct Event {
    uint64_t t;
    uint64_t seq;  // ties: the order events were scheduled
    Kind kind;
    uint32_t id;   // client for kIssue, request otherwise
    bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
  };
  struct Request {
    uint32_t client = 0;
    uint32_t member = 0;
    uint64_t sector = 0;
    uint64_t submit_ns = 0;
    uint64_t wire_back_ns = 0;
  };
  struct Member {
    MemberModel model;
    uint32_t busy = 0;
    std::deque<uint32_t> waiting{};
  };

  void Schedule(uint64_t t, Kind kind, uint32_t id);
  void Issue(uint32_t client);
  void Arrive(uint32_t req);
  void StartService(uint32_t req);
  void Served(uint32_t req);
  void Complete(uint32_t req);

  SimOptions options_;
  raid::ReadBalancer balancer_;
  std::vector<Member> members_;
  std::vector<raid::ReadState> states_;
  std::vector<int> candidates_;
  Workload workload_;
  std::vector<uint64_t> next_sector_;  // per client, sequential workloads
  std::vector<Request> requests_;      // one per client: a client has one read in flight
  Rng rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  // Statistics since ResetStats().
  uint64_t stats_start_ns_ = 0;
  std::vector<uint64_t> latencies_;
  std::vector<uint64_t> member_reads_;
  std::vector<uint64_t> probes_base_;
};

}  // namespace meshraid::sim
