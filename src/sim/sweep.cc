#include "sim/sweep.h"

#include <fmt/format.h>

#include "raid/read_balancer.h"

namespace meshraid::sim {
namespace {

constexpr uint64_t kUs = 1'000;
constexpr uint64_t kMs = 1'000'000;

const SweepPoint* Find(const std::vector<SweepPoint>& points, const std::string& policy,
                       uint32_t qd) {
  for (const SweepPoint& p : points) {
    if (p.policy == policy && p.qd == qd) return &p;
  }
  return nullptr;
}

std::string Us(uint64_t ns) { return fmt::format("{:.1f}", double(ns) / 1000.0); }

}  // namespace

const std::vector<Scenario>& Scenarios() {
  static const std::vector<Scenario> kScenarios = {
      {"local-rdma", "local NVMe (~10 us, 8 at once) + remote NVMe over RDMA (~30 us)",
       {MemberModel::LocalNvme(), MemberModel::RdmaNvme()}},
      {"local-tcp", "local NVMe + remote NVMe/TCP (100-200 us)",
       {MemberModel::LocalNvme(), MemberModel::TcpNvme()}},
      {"local-rdma-tcp", "three copies: local NVMe, NVMe over RDMA, NVMe/TCP",
       {MemberModel::LocalNvme(), MemberModel::RdmaNvme(), MemberModel::TcpNvme()}},
      {"tlc-rdma", "TLC-like local SSD (~80 us, 16 at once) + NVMe over RDMA (~30 us)",
       {MemberModel::LocalTlc(), MemberModel::RdmaNvme()}},
      {"fast-slow", "the behaviour tests' legs: 0 ms and 2 ms delay over a fast file",
       {MemberModel::Uniform("fast", 5 * kUs, 15 * kUs),
        MemberModel::Uniform("slow", 2 * kMs + 5 * kUs, 2 * kMs + 15 * kUs)}},
  };
  return kScenarios;
}

Result<Scenario> FindScenario(const std::string& name) {
  std::string known;
  for (const Scenario& s : Scenarios()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  return Status::InvalidArgument(fmt::format("unknown scenario '{}' (known: {})", name, known));
}

Status CheckPolicyName(const std::string& name) {
  if (name == kLocalOnly || raid::ParseReadPolicy(name)) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("unknown policy '{}' (known: latency, md, round-robin, local-only)", name));
}

SimResults RunPoint(const Scenario& s, const std::string& policy, uint32_t qd,
                    const SweepOptions& o) {
  SimOptions so{.seed = o.seed};
  if (policy == kLocalOnly) {
    so.policy = raid::ReadPolicy::kMd;
    so.only_first_member = true;
  } else {
    so.policy = *raid::ParseReadPolicy(policy);
  }
  Simulator sim(s.members, so);
  sim.Start({.qd = qd});
  sim.RunFor(o.warmup_ns);
  sim.ResetStats();
  sim.RunFor(o.measure_ns);
  return sim.Results();
}

Result<std::vector<SweepPoint>> RunSweep(const Scenario& s, const SweepOptions& o) {
  std::vector<SweepPoint> points;
  for (const std::string& policy : o.policies) {
    MESHRAID_RETURN_IF_ERROR(CheckPolicyName(policy));
    for (uint32_t qd : o.qds) {
      if (qd == 0) return Status::InvalidArgument("queue depth 0");
      points.push_back({policy, qd, RunPoint(s, policy, qd, o)});
    }
  }
  return points;
}

std::string FormatTable(const Scenario& s, const std::vector<SweepPoint>& points) {
  std::string out = fmt::format("scenario {}: {}\n", s.name, s.description);
  std::string head = fmt::format("{:<12} {:>4} {:>10} {:>8} {:>8}", "policy", "qd", "IOPS",
                                 "p50 us", "p99 us");
  for (const MemberModel& m : s.members) head += fmt::format(" {:>10}", m.name);
  out += head + fmt::format(" {:>7}\n", "probes");
  for (const SweepPoint& p : points) {
    const SimResults& r = p.results;
    out += fmt::format("{:<12} {:>4} {:>10.0f} {:>8} {:>8}", p.policy, p.qd, r.Iops(),
                       Us(r.p50_ns), Us(r.p99_ns));
    uint64_t probes = 0;
    for (size_t i = 0; i < s.members.size(); ++i) {
      out += fmt::format(" {:>9.2f}%", 100.0 * r.Share(i));
      probes += r.member_probes[i];
    }
    out += fmt::format(" {:>7}\n", probes);
  }
  // Issue 4's targets, where the rows exist.
  const SweepPoint* lat1 = Find(points, "latency", 1);
  const SweepPoint* loc1 = Find(points, kLocalOnly, 1);
  const SweepPoint* lat32 = Find(points, "latency", 32);
  const SweepPoint* loc32 = Find(points, kLocalOnly, 32);
  if (lat1) {
    const double share = 100.0 * lat1->results.Share(0);
    out += fmt::format("target QD1 reads on member 0 >= 99%: {:.2f}% {}\n", share,
                       share >= 99.0 ? "MET" : "MISSED");
  }
  if (lat1 && loc1 && loc1->results.p50_ns) {
    const double ratio = double(lat1->results.p50_ns) / double(loc1->results.p50_ns);
    out += fmt::format("target QD1 p50 <= 1.1x local-only: {:.3f}x {}\n", ratio,
                       ratio <= 1.1 ? "MET" : "MISSED");
  }
  if (lat32 && loc32 && loc32->results.Iops() > 0) {
    const double ratio = lat32->results.Iops() / loc32->results.Iops();
    out += fmt::format("target QD32 IOPS >= 1.0x local-only: {:.3f}x {}\n", ratio,
                       ratio >= 1.0 ? "MET" : "MISSED");
  }
  return out;
}

}  // namespace meshraid::sim
