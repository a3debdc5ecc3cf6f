// Sweeps for `meshraid sim`: named scenarios (sets of modelled members, member 0 is the local
// one), a run of every policy at every queue depth, and the results as a table, JSON-ready
// rows and an SVG plot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/member_model.h"
#include "sim/simulator.h"
#include "util/result.h"

namespace meshraid::sim {

struct Scenario {
  std::string name;
  std::string description;
  std::vector<MemberModel> members;  // member 0 is the local leg
};
const std::vector<Scenario>& Scenarios();  // the first is the default
Result<Scenario> FindScenario(const std::string& name);

// Policies a sweep knows: the balancer's ("latency", "md", "round-robin") and "local-only"
// (an array whose only copy is member 0, for reference).
inline constexpr const char* kLocalOnly = "local-only";
Status CheckPolicyName(const std::string& name);

struct SweepOptions {
  std::vector<uint32_t> qds = {1, 4, 16, 32, 64};
  std::vector<std::string> policies = {"latency", "md", "round-robin", kLocalOnly};
  uint64_t warmup_ns = 100'000'000;   // run, then discard
  uint64_t measure_ns = 500'000'000;  // virtual time measured per point
  uint64_t seed = 1;
};

struct SweepPoint {
  std::string policy;
  uint32_t qd = 0;
  SimResults results;
};

Result<std::vector<SweepPoint>> RunSweep(const Scenario& s, const SweepOptions& o);
SimResults RunPoint(const Scenario& s, const std::string& policy, uint32_t qd,
                    const SweepOptions& o);

// The table: per policy and queue depth, IOPS, p50, p99 and each member's share of reads,
// followed by the targets of issue 4 checked against the "latency" and "local-only" rows.
std::string FormatTable(const Scenario& s, const std::vector<SweepPoint>& points);
// Two panels: member 0's share of reads, and p99 latency, against queue depth, per policy.
std::string RenderSvg(const Scenario& s, const std::vector<SweepPoint>& points);

}  // namespace meshraid::sim
