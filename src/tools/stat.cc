// meshraid stat: every running array (or the ones named), formatted like /proc/mdstat; --json
// for the same as data; --watch[=SECONDS] to redraw until interrupted.
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/client.h"
#include "control/mdstat.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct StatArgs {
  bool json = false;
  int watch_seconds = 0;
  std::string run_dir;
  std::vector<std::string> arrays;
};

// The status of every array asked for. With no names, arrays whose socket is stale (or just
// went away) are not running and are left out; a named array must answer.
Result<std::vector<control::ArrayStatus>> Collect(const StatArgs& a,
                                                  const control::ClientOptions& co) {
  std::vector<std::string> names = a.arrays;
  if (names.empty()) {
    MESHRAID_ASSIGN_OR_RETURN(names, control::ListArrays(co));
  }
  std::vector<control::ArrayStatus> out;
  for (const std::string& n : names) {
    Result<control::ArrayStatus> s = control::QueryStatus(n, co);
    if (s.ok()) {
      out.push_back(std::move(s).value());
    } else if (!a.arrays.empty()) {
      return s.status();
    } else if (s.status().code() != Code::kUnavailable && s.status().code() != Code::kNotFound) {
      fmt::print(stderr, "meshraid stat: {}\n", s.status().message());
    }
  }
  return out;
}

std::string Render(const StatArgs& a, const std::vector<control::ArrayStatus>& arrays) {
  control::MdstatOptions mo;
  if (!a.json) return control::FormatMdstat(arrays, mo);
  nlohmann::json j{{"personalities", mo.personalities}, {"arrays", nlohmann::json::array()}};
  for (const control::ArrayStatus& s : arrays) j["arrays"].push_back(control::ToJson(s));
  return j.dump(2) + "\n";
}

Status RunStat(const StatArgs& a) {
  control::ClientOptions co;
  co.run_dir = a.run_dir;
  if (a.watch_seconds < 0) return Status::InvalidArgument("--watch takes a number of seconds >= 1");
  for (;;) {
    MESHRAID_ASSIGN_OR_RETURN(std::vector<control::ArrayStatus> arrays, Collect(a, co));
    std::string text = Render(a, arrays);
    if (a.watch_seconds == 0) {
      fmt::print("{}", text);
      return Status::Ok();
    }
    // Home, clear, redraw: like watch(1).
    fmt::print("\033[H\033[2JEvery {}s: meshraid stat\n\n{}", a.watch_seconds, text);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(a.watch_seconds));
  }
}

}  // namespace

Runner AddStat(CLI::App& app) {
  auto a = std::make_shared<StatArgs>();
  CLI::App* c = app.add_subcommand("stat", "Show running arrays like /proc/mdstat");
  c->add_flag("--json", a->json, "Print the arrays' status as JSON");
  c->add_flag("--watch{2}", a->watch_seconds, "Redraw every SECONDS (default 2) until interrupted");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("arrays", a->arrays, "Array names or control socket paths (default: all)");
  return [a] { return RunStat(*a); };
}

}  // namespace meshraid::tools
