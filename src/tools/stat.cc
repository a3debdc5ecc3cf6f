// meshraid stat: every running array (or the ones named), formatted like /proc/mdstat; --json
// for the same as data; --watch to redraw every --interval seconds (default 1) until SIGINT
// or --count redraws.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "control/client.h"
#include "control/mdstat.h"
#include "tools/verbs.h"

namespace meshraid::tools {
namespace {

struct StatArgs {
  bool json = false;
  bool watch = false;
  double interval = 1;
  int count = 0;
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

// Waits `seconds` unless SIGINT/SIGTERM arrives first (then true): the signals are blocked and
// taken with sigtimedwait, so an interrupted watch still exits 0.
Result<bool> Interrupted(double seconds) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Status::FromErrno(errno, "sigprocmask");
  auto ns = uint64_t(seconds * 1e9);
  timespec ts{time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
  for (;;) {
    int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return true;
    if (errno == EAGAIN) return false;
    if (errno != EINTR) return Status::FromErrno(errno, "sigtimedwait");
  }
}

Status RunStat(const StatArgs& a) {
  control::ClientOptions co;
  co.run_dir = a.run_dir;
  if (!(a.interval > 0)) return Status::InvalidArgument("--interval takes a number of seconds > 0");
  if (a.count < 0) return Status::InvalidArgument("--count takes a number >= 0");
  const bool watch = a.watch || a.count > 0;
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  for (int shown = 1;; ++shown) {
    MESHRAID_ASSIGN_OR_RETURN(std::vector<control::ArrayStatus> arrays, Collect(a, co));
    std::string text = Render(a, arrays);
    if (!watch) {
      fmt::print("{}", text);
      return Status::Ok();
    }
    // On a terminal: home, clear, redraw, like watch(1); otherwise one screen after another.
    fmt::print("{}Every {}s: meshraid stat\n\n{}", tty ? "\033[H\033[2J" : (shown > 1 ? "\n" : ""),
               a.interval, text);
    std::fflush(stdout);
    if (a.count > 0 && shown >= a.count) return Status::Ok();
    MESHRAID_ASSIGN_OR_RETURN(bool stop, Interrupted(a.interval));
    if (stop) return Status::Ok();
  }
}

}  // namespace

Runner AddStat(CLI::App& app) {
  auto a = std::make_shared<StatArgs>();
  CLI::App* c = app.add_subcommand("stat", "Show running arrays like /proc/mdstat");
  c->add_flag("--json", a->json, "Print the arrays' status as JSON");
  c->add_flag("--watch", a->watch, "Redraw every --interval until interrupted (SIGINT)");
  c->add_option("--interval", a->interval, "Seconds between redraws with --watch (default 1)");
  c->add_option("--count", a->count, "With --watch: stop after N redraws");
  c->add_option("--run-dir", a->run_dir,
                "Directory of the control sockets (default: $MESHRAID_RUN_DIR or /run/meshraid)");
  c->add_option("arrays", a->arrays, "Array names or control socket paths (default: all)");
  return [a] { return RunStat(*a); };
}

}  // namespace meshraid::tools
