// RenderSvg (sweep.h): a hand-written SVG, two panels against queue depth (evenly spaced, as
// the sweep's depths usually grow geometrically): member 0's share of reads (linear, 0-100 %)
// and p99 latency (log scale, whole decades).
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "sim/sweep.h"

namespace meshraid::sim {
namespace {

constexpr double kPanelW = 400, kPanelH = 280, kLeft = 70, kTop = 70, kGap = 110;

std::string Color(const std::string& policy) {
  static const std::map<std::string, std::string> kColors = {
      {"latency", "#d62728"}, {"md", "#1f77b4"}, {"round-robin", "#2ca02c"},
      {"local-only", "#555555"}};
  auto it = kColors.find(policy);
  return it == kColors.end() ? "#9467bd" : it->second;
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

struct Panel {
  double x0;  // left edge of the plot area
  std::string title;
  std::function<double(const SimResults&)> y;  // 0 (bottom) .. 1 (top)
};

}  // namespace

std::string RenderSvg(const Scenario& s, const std::vector<SweepPoint>& points) {
  std::vector<uint32_t> qds;
  std::vector<std::string> policies;
  uint64_t lo = UINT64_MAX, hi = 1;
  for (const SweepPoint& p : points) {
    if (std::find(qds.begin(), qds.end(), p.qd) == qds.end()) qds.push_back(p.qd);
    if (std::find(policies.begin(), policies.end(), p.policy) == policies.end()) {
      policies.push_back(p.policy);
    }
    lo = std::min(lo, std::max<uint64_t>(p.results.p99_ns, 1));
    hi = std::max(hi, p.results.p99_ns);
  }
  std::sort(qds.begin(), qds.end());
  if (lo > hi) lo = hi;
  const double dec_lo = std::floor(std::log10(double(lo) / 1000.0));
  const double dec_hi = std::max(std::ceil(std::log10(double(hi) / 1000.0)), dec_lo + 1);
  auto x_of = [&](double x0, uint32_t qd) {
    size_t i = size_t(std::find(qds.begin(), qds.end(), qd) - qds.begin());
    return x0 + (qds.size() < 2 ? kPanelW / 2 : kPanelW * double(i) / double(qds.size() - 1));
  };
  const std::vector<Panel> panels = {
      {kLeft, fmt::format("share of reads on {} (member 0)", s.members[0].name),
       [](const SimResults& r) { return r.Share(0); }},
      {kLeft + kPanelW + kGap, "p99 read latency (us, log scale)",
       [&](const SimResults& r) {
         double d = std::log10(std::max<double>(double(r.p99_ns), 1) / 1000.0);
         return (d - dec_lo) / (dec_hi - dec_lo);
       }},
  };
  const double width = kLeft + 2 * kPanelW + kGap + 40, height = kTop + kPanelH + 90;
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" "
      "viewBox=\"0 0 {0} {1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"24\" font-size=\"15\">meshraid sim, scenario {3}: {4}</text>\n",
      width, height, kLeft, Escape(s.name), Escape(s.description));
  for (const Panel& pn : panels) {
    const double y0 = kTop + kPanelH;
    out += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n"
        "<text x=\"{}\" y=\"{}\">{}</text>\n",
        pn.x0, kTop, kPanelW, kPanelH, pn.x0, kTop - 10, Escape(pn.title));
    for (uint32_t qd : qds) {
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                         x_of(pn.x0, qd), y0 + 18, qd);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">queue depth</text>\n",
                       pn.x0 + kPanelW / 2, y0 + 38);
    const bool share = &pn == &panels[0];
    const int ticks = share ? 4 : int(dec_hi - dec_lo);
    for (int t = 0; t <= ticks; ++t) {
      const double y = y0 - kPanelH * double(t) / ticks;
      std::string label = share ? fmt::format("{}%", 25 * t)
                                : fmt::format("{:g}", std::pow(10.0, dec_lo + t));
      out += fmt::format(
          "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#ddd\"/>"
          "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>\n",
          pn.x0, pn.x0 + kPanelW, y, pn.x0 - 6, y + 4, label);
    }
    for (const std::string& policy : policies) {
      std::string pts;
      for (uint32_t qd : qds) {
        for (const SweepPoint& p : points) {
          if (p.policy != policy || p.qd != qd) continue;
          const double y = y0 - kPanelH * std::clamp(pn.y(p.results), 0.0, 1.0);
          pts += fmt::format("{:.1f},{:.1f} ", x_of(pn.x0, qd), y);
          out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n",
                             x_of(pn.x0, qd), y, Color(policy));
        }
      }
      out += fmt::format(
          "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", pts,
          Color(policy), policy == kLocalOnly ? " stroke-dasharray=\"6,4\"" : "");
    }
  }
  double lx = kLeft;
  for (const std::string& policy : policies) {
    out += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"3\"/>"
        "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
        lx, lx + 24, height - 18, Color(policy), lx + 30, height - 14, Escape(policy));
    lx += 140;
  }
  return out + "</svg>\n";
}

}  // namespace meshraid::sim
