#include "testing/rule_spec.h"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <string>

#include "util/size.h"

namespace meshraid::testing {

namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

Status Bad(std::string_view what, std::string_view text) {
  return Status::InvalidArgument(fmt::format("bad {} '{}'", what, text));
}

template <typename T>
Result<T> Number(std::string_view what, std::string_view text) {
  T v{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
    return Bad(what, text);
  }
  return v;
}

Result<Op> ParseOps(std::string_view text) {
  Op ops = Op::kNone;
  for (std::string_view name : Split(text, '+')) {
    if (name == "read") {
      ops = ops | Op::kRead;
    } else if (name == "write") {
      ops = ops | Op::kWrite;
    } else if (name == "flush") {
      ops = ops | Op::kFlush;
    } else if (name == "discard") {
      ops = ops | Op::kDiscard;
    } else if (name == "zeroes") {
      ops = ops | Op::kWriteZeroes;
    } else if (name == "all") {
      ops = Op::kAll;
    } else {
      return Bad("op type", name);
    }
  }
  return ops;
}

Result<int> ParseErrno(std::string_view text) {
  static constexpr std::pair<std::string_view, int> kNames[] = {
      {"EIO", EIO},     {"EILSEQ", EILSEQ},       {"ENOSPC", ENOSPC}, {"ENODEV", ENODEV},
      {"ENXIO", ENXIO}, {"ETIMEDOUT", ETIMEDOUT}, {"EAGAIN", EAGAIN},
  };
  for (const auto& [name, value] : kNames) {
    if (text == name) return value;
  }
  auto n = Number<int>("errno", text);
  if (!n.ok() || *n <= 0) return Bad("errno", text);
  return *n;
}

Result<uint64_t> ParseDurationNs(std::string_view text) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ns", 1}, {"us", 1'000}, {"ms", 1'000'000}, {"s", 1'000'000'000}};
  if (text == "0") return uint64_t{0};
  for (const auto& [unit, scale] : kUnits) {
    if (text.size() > unit.size() && text.ends_with(unit)) {
      auto n = Number<uint64_t>("duration", text.substr(0, text.size() - unit.size()));
      if (!n.ok() || *n > UINT64_MAX / scale) return Bad("duration", text);
      return *n * scale;
    }
  }
  return Bad("duration (units: ns, us, ms, s)", text);
}

}  // namespace

Result<FaultRule> ParseFaultRule(std::string_view spec) {
  FaultRule rule;
  for (std::string_view item : Split(spec, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Bad("fault rule item (want key=value)", item);
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    if (key == "ops") {
      MESHRAID_ASSIGN_OR_RETURN(rule.ops, ParseOps(value));
    } else if (key == "action") {
      if (value == "fail") {
        rule.action = FaultAction::kFail;
      } else if (value == "hang") {
        rule.action = FaultAction::kHang;
      } else if (value == "hang-after") {
        rule.action = FaultAction::kHangAfter;
      } else if (value == "corrupt") {
        rule.action = FaultAction::kCorrupt;
      } else {
        return Bad("fault action", value);
      }
    } else if (key == "offset") {
      MESHRAID_ASSIGN_OR_RETURN(rule.offset, ParseSize(value, 1));
    } else if (key == "length") {
      MESHRAID_ASSIGN_OR_RETURN(rule.length, ParseSize(value, 1));
    } else if (key == "error") {
      MESHRAID_ASSIGN_OR_RETURN(rule.error, ParseErrno(value));
    } else if (key == "count") {
      MESHRAID_ASSIGN_OR_RETURN(rule.count, Number<uint64_t>("count", value));
    } else if (key == "skip") {
      MESHRAID_ASSIGN_OR_RETURN(rule.skip, Number<uint64_t>("skip", value));
    } else if (key == "p") {
      MESHRAID_ASSIGN_OR_RETURN(rule.probability, Number<double>("probability", value));
      if (rule.probability < 0 || rule.probability > 1) return Bad("probability", value);
    } else if (key == "trigger") {
      if (value.empty()) return Bad("trigger file", value);
      rule.trigger_file = std::string(value);
    } else {
      return Bad("fault rule key", key);
    }
  }
  return rule;
}

Result<Latency> ParseLatency(std::string_view spec) {
  using std::chrono::nanoseconds;
  if (spec.starts_with("uniform:")) {
    const std::vector<std::string_view> ends = Split(spec.substr(8), '-');
    if (ends.size() != 2) return Bad("uniform latency (want uniform:LO-HI)", spec);
    MESHRAID_ASSIGN_OR_RETURN(const uint64_t lo, ParseDurationNs(ends[0]));
    MESHRAID_ASSIGN_OR_RETURN(const uint64_t hi, ParseDurationNs(ends[1]));
    if (lo > hi) return Bad("uniform latency (LO > HI)", spec);
    return Latency::Uniform(nanoseconds(lo), nanoseconds(hi));
  }
  if (spec.starts_with("exp:")) {
    MESHRAID_ASSIGN_OR_RETURN(const uint64_t mean, ParseDurationNs(spec.substr(4)));
    return Latency::Exponential(nanoseconds(mean));
  }
  if (spec.starts_with("fixed:")) spec.remove_prefix(6);
  MESHRAID_ASSIGN_OR_RETURN(const uint64_t ns, ParseDurationNs(spec));
  return Latency::Fixed(nanoseconds(ns));
}

Result<std::vector<std::pair<Op, Latency>>> ParseDelays(std::string_view spec) {
  std::vector<std::pair<Op, Latency>> out;
  for (std::string_view item : Split(spec, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return Bad("delay item (want ops=latency)", item);
    MESHRAID_ASSIGN_OR_RETURN(const Op ops, ParseOps(item.substr(0, eq)));
    MESHRAID_ASSIGN_OR_RETURN(Latency latency, ParseLatency(item.substr(eq + 1)));
    out.emplace_back(ops, std::move(latency));
  }
  return out;
}

}  // namespace meshraid::testing
