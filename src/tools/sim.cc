// meshraid sim: the read-balancing simulator (src/sim). Sweeps policies and queue depths on a
// scenario of modelled members in virtual time and prints IOPS, p50, p99 and the share of
// reads per member; optionally writes an SVG plot and prints JSON instead of the table.
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/sweep.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct SimArgs {
  std::string qd = "1,4,16,32,64";
  std::string policies = "latency,md,round-robin,local-only";
  std::string scenario = "local-rdma";
  std::string svg;
  bool json = false;
  double measure_ms = 500;
  double warmup_ms = 100;
  uint64_t seed = 1;
};

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Result<std::vector<uint32_t>> ParseQds(const std::string& s) {
  std::vector<uint32_t> qds;
  for (const std::string& part : SplitCommas(s)) {
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || end != part.data() + part.size() || v == 0 || v > 4096) {
      return Status::InvalidArgument(fmt::format("--qd: '{}' is not a depth in 1..4096", part));
    }
    qds.push_back(v);
  }
  if (qds.empty()) return Status::InvalidArgument("--qd: no depth given");
  return qds;
}

nlohmann::json ToJson(const sim::Scenario& s, const std::vector<sim::SweepPoint>& points) {
  nlohmann::json rows = nlohmann::json::array();
  for (const sim::SweepPoint& p : points) {
    nlohmann::json members = nlohmann::json::array();
    for (size_t i = 0; i < s.members.size(); ++i) {
      members.push_back({{"name", s.members[i].name},
                         {"reads", p.results.member_reads[i]},
                         {"share", p.results.Share(i)},
                         {"probes", p.results.member_probes[i]}});
    }
    rows.push_back({{"policy", p.policy},
                    {"qd", p.qd},
                    {"reads", p.results.reads},
                    {"iops", p.results.Iops()},
                    {"p50_ns", p.results.p50_ns},
                    {"p99_ns", p.results.p99_ns},
                    {"members", members}});
  }
  return {{"scenario", s.name}, {"description", s.description}, {"points", rows}};
}

Status RunSim(const SimArgs& a) {
  MESHRAID_ASSIGN_OR_RETURN(sim::Scenario scenario, sim::FindScenario(a.scenario));
  sim::SweepOptions o;
  MESHRAID_ASSIGN_OR_RETURN(o.qds, ParseQds(a.qd));
  o.policies = SplitCommas(a.policies);
  if (o.policies.empty()) return Status::InvalidArgument("--policies: no policy given");
  if (a.measure_ms <= 0 || a.warmup_ms < 0) {
    return Status::InvalidArgument("--measure-ms must be > 0 and --warmup-ms >= 0");
  }
  o.measure_ns = uint64_t(a.measure_ms * 1e6);
  o.warmup_ns = uint64_t(a.warmup_ms * 1e6);
  o.seed = a.seed;
  MESHRAID_ASSIGN_OR_RETURN(std::vector<sim::SweepPoint> points, sim::RunSweep(scenario, o));
  if (!a.svg.empty()) {
    std::ofstream f(a.svg, std::ios::trunc);
    f << sim::RenderSvg(scenario, points);
    if (!f.flush()) return Status::IoError(fmt::format("cannot write {}", a.svg));
  }
  if (a.json) {
    fmt::print("{}\n", ToJson(scenario, points).dump(2));
  } else {
    fmt::print("{}", sim::FormatTable(scenario, points));
  }
  return Status::Ok();
}

}  // namespace

Runner AddSim(CLI::App& app) {
  auto a = std::make_shared<SimArgs>();
  std::string scenarios;
  for (const sim::Scenario& s : sim::Scenarios()) {
    scenarios += fmt::format("\n  {}: {}", s.name, s.description);
  }
  CLI::App* c = app.add_subcommand(
      "sim", "Simulate read balancing on modelled members in virtual time (deterministic)");
  c->add_option("--qd", a->qd, "Queue depths, comma-separated (default 1,4,16,32,64)");
  c->add_option("--policies", a->policies,
                "Policies: latency, md, round-robin, local-only (default: all)");
  c->add_option("--scenario", a->scenario, "Member models (default local-rdma):" + scenarios);
  c->add_option("--svg", a->svg, "Write a plot of read share and p99 vs queue depth here");
  c->add_flag("--json", a->json, "Print JSON instead of the table");
  c->add_option("--measure-ms", a->measure_ms, "Virtual time measured per point (default 500)");
  c->add_option("--warmup-ms", a->warmup_ms, "Virtual time run first, not measured (default 100)");
  c->add_option("--seed", a->seed, "Random seed (default 1)");
  return [a] { return RunSim(*a); };
}

}  // namespace meshraid::tools
