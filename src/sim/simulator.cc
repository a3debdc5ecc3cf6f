#include "sim/simulator.h"

#include <algorithm>
#include <utility>

namespace meshraid::sim {
namespace {

uint64_t Percentile(std::vector<uint64_t> v, double p) {
  if (v.empty()) return 0;
  size_t rank = size_t(p * double(v.size()));
  if (rank >= v.size()) rank = v.size() - 1;
  std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(rank), v.end());
  return v[rank];
}

}  // namespace

Simulator::Simulator(std::vector<MemberModel> members, SimOptions options)
    : options_(options), balancer_(options.policy, options.latency), rng_(options.seed) {
  for (MemberModel& m : members) members_.push_back({.model = std::move(m)});
  states_.resize(members_.size());
  for (raid::ReadState& s : states_) {
    s.readable = true;
    s.head_position = kNoStart;
    s.next_seq_sect = kNoStart;
  }
  const size_t copies = options_.only_first_member ? 1 : members_.size();
  for (size_t i = 0; i < copies; ++i) candidates_.push_back(int(i));
  ResetStats();
}

void Simulator::Start(const Workload& w) {
  workload_ = w;
  requests_.assign(w.qd, Request{});
  next_sector_.resize(w.qd);
  const uint64_t ios = w.array_sectors / w.io_sectors;
  for (uint32_t c = 0; c < w.qd; ++c) {
    next_sector_[c] = ios / w.qd * c * w.io_sectors;
    Schedule(now_, Kind::kIssue, c);
  }
}

void Simulator::Schedule(uint64_t t, Kind kind, uint32_t id) {
  events_.push({.t = t, .seq = seq_++, .kind = kind, .id = id});
}

void Simulator::RunUntil(uint64_t t_ns) {
  while (!events_.empty() && events_.top().t <= t_ns) {
    Event e = events_.top();
    events_.pop();
    now_ = e.t;
    switch (e.kind) {
      case Kind::kIssue: Issue(e.id); break;
      case Kind::kArrive: Arrive(e.id); break;
      case Kind::kServed: Served(e.id); break;
      case Kind::kComplete: Complete(e.id); break;
    }
  }
  now_ = std::max(now_, t_ns);
}

void Simulator::Issue(uint32_t client) {
  Request& r = requests_[client];
  r.client = client;
  if (workload_.sequential) {
    r.sector = next_sector_[client];
    next_sector_[client] += workload_.io_sectors;
  } else {
    r.sector = rng_() % (workload_.array_sectors / workload_.io_sectors) * workload_.io_sectors;
  }
  raid::ReadRequest req{.sector = r.sector, .sectors = workload_.io_sectors, .now_ns = now_};
  const int pick = balancer_.Choose(req, candidates_, states_);
  if (pick < 0) {  // nothing readable: the client retries later
    Schedule(now_ + 1'000'000, Kind::kIssue, client);
    return;
  }
  r.member = uint32_t(candidates_[size_t(pick)]);
  raid::ReadState& s = states_[r.member];
  raid::ReadBalancer::OnIssue(s, r.sector, workload_.io_sectors, balancer_.last_choice_was_probe(),
                              now_);
  ++s.pending;
  r.submit_ns = now_;
  const MemberModel& m = members_[r.member].model;
  const uint64_t wire = UniformNs(rng_, m.wire_lo_ns, m.wire_hi_ns);
  r.wire_back_ns = wire - wire / 2;
  Schedule(now_ + wire / 2, Kind::kArrive, client);
}

void Simulator::Arrive(uint32_t req) {
  Member& m = members_[requests_[req].member];
  if (m.model.servers == 0 || m.busy < m.model.servers) {
    StartService(req);
  } else {
    m.waiting.push_back(req);
  }
}

void Simulator::StartService(uint32_t req) {
  Member& m = members_[requests_[req].member];
  ++m.busy;
  Schedule(now_ + UniformNs(rng_, m.model.service_lo_ns, m.model.service_hi_ns), Kind::kServed,
           req);
}

void Simulator::Served(uint32_t req) {
  Member& m = members_[requests_[req].member];
  --m.busy;
  if (!m.waiting.empty()) {
    const uint32_t next = m.waiting.front();
    m.waiting.pop_front();
    StartService(next);
  }
  Schedule(now_ + requests_[req].wire_back_ns, Kind::kComplete, req);
}

void Simulator::Complete(uint32_t req) {
  const Request& r = requests_[req];
  raid::ReadState& s = states_[r.member];
  --s.pending;
  s.head_position = r.sector + workload_.io_sectors;
  const uint64_t latency = now_ - r.submit_ns;
  balancer_.OnComplete(s, latency, /*ok=*/true, now_);
  latencies_.push_back(latency);
  ++member_reads_[r.member];
  if (workload_.think_ns == 0) {
    Issue(r.client);
  } else {
    Schedule(now_ + workload_.think_ns, Kind::kIssue, r.client);
  }
}

void Simulator::ResetStats() {
  stats_start_ns_ = now_;
  latencies_.clear();
  member_reads_.assign(members_.size(), 0);
  probes_base_.clear();
  for (const raid::ReadState& s : states_) probes_base_.push_back(s.probes);
}

SimResults Simulator::Results() const {
  SimResults r;
  r.reads = latencies_.size();
  r.duration_ns = now_ - stats_start_ns_;
  r.p50_ns = Percentile(latencies_, 0.50);
  r.p99_ns = Percentile(latencies_, 0.99);
  r.member_reads = member_reads_;
  for (size_t i = 0; i < states_.size(); ++i) {
    r.member_probes.push_back(states_[i].probes - probes_base_[i]);
  }
  return r;
}

}  // namespace meshraid::sim
