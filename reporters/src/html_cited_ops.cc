#include "html_cited_ops.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "duende/reporters/cited_ops.h"
#include "duende/reporters/markup.h"

namespace duende::reporters::internal {
namespace {

// The timeline's geometry (html_reporter.cc), so the overview strip lines up with it.
constexpr double kW = 1080, kLeft = 64, kRight = 64;
constexpr double kTop = 8, kOverviewH = 16, kGapH = 30, kHeaderH = 20, kRowH = 18, kBottom = 30;
constexpr size_t kMaxLabel = 56;

std::string N(double v) { return Fixed(v, 1); }
std::string H(std::string_view s) { return HtmlEscape(s); }

std::string Cut(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t cut = n - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\u2026";
}

// A check's cited operations, by client, each client's in order of invocation.
struct Group {
  std::string check;
  std::map<uint64_t, std::vector<CitedOp>> by_client;
};

// Seconds with as many decimals as the step needs.
std::string Secs(double t, double step) {
  return Fixed(t, step >= 1 ? 0 : step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3) + "s";
}

}  // namespace

std::string CitedOpsChart(const model::ScenarioResult& s, const RunStats& st, double t_end) {
  std::vector<Group> groups;
  double lo = 1e300, hi = -1e300;
  size_t rows = 0;
  for (const auto& c : s.checks) {
    if (c.verdict == model::Verdict::kPass) continue;
    Group g;
    g.check = c.name;
    for (auto& op : CitedOps(c)) {
      lo = std::min(lo, op.invoke_s);
      hi = std::max(hi, op.complete_s.value_or(op.invoke_s));
      g.by_client[op.client].push_back(std::move(op));
      ++rows;
    }
    if (g.by_client.empty()) continue;
    for (auto& [client, ops] : g.by_client) {
      std::stable_sort(ops.begin(), ops.end(),
                       [](const CitedOp& a, const CitedOp& b) { return a.invoke_s < b.invoke_s; });
    }
    groups.push_back(std::move(g));
  }
  if (groups.empty()) return "";
  t_end = std::max(t_end, hi);
  const double plot_w = kW - kLeft - kRight;
  auto X = [&](double t) { return kLeft + std::clamp(t, 0.0, t_end) / t_end * plot_w; };
  // The detail window: the cited operations with a margin, never longer than the run. Cited
  // operations lie milliseconds apart; on the run's scale they would be slivers.
  const double pad = std::max(0.005, (hi - lo) * 0.08);
  const double w0 = std::max(0.0, lo - pad), w1 = std::min(t_end, hi + pad);
  const double span = std::max(w1 - w0, 1e-3);
  auto Z = [&](double t) { return kLeft + (std::clamp(t, w0, w0 + span) - w0) / span * plot_w; };
  const double detail_top = kTop + kOverviewH + kGapH;
  const double height = detail_top + static_cast<double>(groups.size()) * kHeaderH +
                        static_cast<double>(rows) * kRowH + kBottom;

  std::string o = "<svg class=\"timeline cited\" viewBox=\"0 0 " + N(kW) + " " + N(height) +
                  "\" role=\"img\" aria-label=\"operations cited by failed checks\" "
                  "xmlns=\"http://www.w3.org/2000/svg\">\n";
  // Overview: the whole run on the timeline's scale, the detail window as a band, each cited
  // operation as a tick, target exits as dashed lines.
  o += "<rect class=\"panel\" x=\"" + N(kLeft) + "\" y=\"" + N(kTop) + "\" width=\"" + N(plot_w) +
       "\" height=\"" + N(kOverviewH) + "\"/>";
  o += "<rect class=\"window\" x=\"" + N(X(w0)) + "\" y=\"" + N(kTop) + "\" width=\"" +
       N(std::max(2.0, X(w1) - X(w0))) + "\" height=\"" + N(kOverviewH) + "\"><title>" +
       H("shown below: " + Secs(w0, 0.001) + " - " + Secs(w1, 0.001)) + "</title></rect>";
  o += "<text class=\"tick\" x=\"" + N(kLeft - 8) + "\" y=\"" + N(kTop + 12) +
       "\" text-anchor=\"end\">run</text>";
  for (const auto& g : groups) {
    for (const auto& [client, ops] : g.by_client) {
      for (const auto& op : ops) {
        o += "<line class=\"op-tick\" x1=\"" + N(X(op.invoke_s)) + "\" x2=\"" + N(X(op.invoke_s)) +
             "\" y1=\"" + N(kTop + 3) + "\" y2=\"" + N(kTop + kOverviewH - 3) + "\"/>";
      }
    }
  }
  // Lines from the window's band to the detail's edges.
  o += "<path class=\"zoom\" d=\"M" + N(X(w0)) + "," + N(kTop + kOverviewH) + " L" + N(kLeft) +
       "," + N(detail_top - 4) + " M" + N(X(w1)) + "," + N(kTop + kOverviewH) + " L" +
       N(kLeft + plot_w) + "," + N(detail_top - 4) + "\"/>\n";

  const double detail_bottom = height - kBottom;
  // The detail's time axis, in seconds of the run.
  const double step = NiceStep(span, 8);
  for (double t = std::ceil(w0 / step - 1e-9) * step; t <= w0 + span + 1e-9; t += step) {
    o += "<line class=\"grid v\" x1=\"" + N(Z(t)) + "\" x2=\"" + N(Z(t)) + "\" y1=\"" +
         N(detail_top) + "\" y2=\"" + N(detail_bottom) + "\"/>";
    o += "<text class=\"tick\" x=\"" + N(Z(t)) + "\" y=\"" + N(detail_bottom + 16) +
         "\" text-anchor=\"middle\">" + Secs(t, step) + "</text>";
  }
  double y = detail_top;
  for (const auto& g : groups) {
    o += "<text class=\"axis-title\" x=\"" + N(kLeft) + "\" y=\"" + N(y + 14) + "\">" + H(g.check) +
         ": cited operations</text>\n";
    y += kHeaderH;
    for (const auto& [client, ops] : g.by_client) {
      const double lane_h = kRowH * static_cast<double>(ops.size());
      o += "<g class=\"lane\" data-check=\"" + H(g.check) + "\" data-client=\"" +
           std::to_string(client) + "\">";
      o += "<rect class=\"panel\" x=\"" + N(kLeft) + "\" y=\"" + N(y) + "\" width=\"" + N(plot_w) +
           "\" height=\"" + N(lane_h) + "\"/>";
      o += "<text class=\"tick\" x=\"" + N(kLeft - 8) + "\" y=\"" + N(y + 13) +
           "\" text-anchor=\"end\">client " + std::to_string(client) + "</text>\n";
      for (const auto& op : ops) {
        const bool open = !op.complete_s;
        const double x1 = Z(op.invoke_s);
        const double x2 = std::max(open ? Z(w0 + span) : Z(*op.complete_s), x1 + 3);
        std::string cls = "cited-op";
        if (op.outcome.rfind("ok", 0) != 0) cls += " uncertain";
        if (op.stuck) cls += " stuck";
        o += "<g class=\"" + cls + "\" data-client=\"" + std::to_string(op.client) +
             "\" data-invoke=\"" + Fixed(op.invoke_s, 3) + "\" data-complete=\"" +
             (open ? std::string("never") : Fixed(*op.complete_s, 3)) + "\" data-op=\"" + H(op.op) +
             "\" data-outcome=\"" + H(op.outcome) + "\"><title>" + H(op.text) + "</title>";
        o += "<rect x=\"" + N(x1) + "\" y=\"" + N(y + 4) + "\" width=\"" + N(x2 - x1) +
             "\" height=\"" + N(kRowH - 8) + "\" rx=\"2\"/>";
        // What it did (and read) beside the bar: right of it when there is room.
        std::string label = op.op;
        if (op.outcome.rfind("ok, read ", 0) == 0) {
          label += " \u2192 " + op.outcome.substr(9);
        } else if (op.outcome != "ok") {
          label += " (" + op.outcome + ")";
        }
        label = Cut(label, kMaxLabel);
        const bool right = kLeft + plot_w - x2 > 6.2 * static_cast<double>(label.size()) + 8;
        o += "<text x=\"" + N(right ? x2 + 4 : x1 - 4) + "\" y=\"" + N(y + 13) + "\"" +
             (right ? "" : " text-anchor=\"end\"") + ">" + H(label) + "</text></g>";
        y += kRowH;
      }
      o += "</g>\n";
    }
  }
  // Target exits: on the overview, and across the detail when inside its window.
  for (const auto& m : st.markers) {
    if (!m.exit) continue;
    const std::string tip =
        "<title>" + H(Fixed(m.t_s, 3) + "s " + m.target + ": " + m.label) + "</title>";
    o += "<g class=\"exit\">" + tip + "<line x1=\"" + N(X(m.t_s)) + "\" x2=\"" + N(X(m.t_s)) +
         "\" y1=\"" + N(kTop) + "\" y2=\"" + N(kTop + kOverviewH) + "\"/></g>";
    if (m.t_s >= w0 && m.t_s <= w0 + span) {
      o += "<g class=\"exit\">" + tip + "<line x1=\"" + N(Z(m.t_s)) + "\" x2=\"" + N(Z(m.t_s)) +
           "\" y1=\"" + N(detail_top) + "\" y2=\"" + N(y) + "\"/></g>";
    }
  }
  o += "\n</svg>\n";
  return o;
}

const char* CitedOpsCss() {
  return "svg.cited .cited-op rect{fill:var(--ok)}"
         "svg.cited .cited-op.uncertain rect{fill:var(--fault);opacity:.55}"
         "svg.cited .cited-op.stuck rect{stroke:var(--fail);stroke-width:2}"
         "svg.cited .cited-op text{fill:var(--fg);font-size:10.5px}"
         "svg.cited .window{fill:var(--ok);opacity:.25}svg.cited .op-tick{stroke:var(--ok)}"
         "svg.cited .zoom{fill:none;stroke:var(--muted);stroke-dasharray:2 3}"
         "svg.cited .lane>rect.panel{fill:none}\n";
}

}  // namespace duende::reporters::internal
