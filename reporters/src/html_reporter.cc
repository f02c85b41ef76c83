// HTML: one self-contained page per run, readable offline and archivable as a CI artifact.
// No scripts, no fonts, no images from anywhere: a Content-Security-Policy of default-src
// 'none' makes the browser refuse any network request the page might make. The timeline is
// inline SVG: throughput and p99 latency per second (from load.second events), fault windows
// as bands, target exits and restarts as markers; hovering shows details (SVG <title>).
#include <algorithm>
#include <cmath>
#include <string>
#include <string_view>

#include "duende/model/event_log.h"
#include "duende/reporters/markup.h"
#include "duende/reporters/reporter.h"
#include "html_cited_ops.h"
#include "report_util.h"
#include "trace_report.h"

namespace duende::reporters {
namespace {

using internal::Fixed;
using internal::NiceStep;

// Events listed in the page's event table; the JSON Lines file has all of them.
constexpr size_t kMaxEventRows = 5000;

std::string H(std::string_view s) { return HtmlEscape(s); }

std::string VerdictClass(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
    case Verdict::kError:
      return "error";
    case Verdict::kAborted:
      return "aborted";
  }
  return "";
}

std::string Badge(Verdict v) {
  return "<span class=\"badge " + VerdictClass(v) + "\">" + VerdictName(v) + "</span>";
}

std::string N(double v) { return Fixed(v, 1); }

// The SVG timeline of one scenario.
std::string Timeline(const ScenarioResult& s, const internal::RunStats& st) {
  const double kW = 1080, kLeft = 64, kRight = 64, kTop = 30;
  const double kTputH = 170, kGap = 34, kLatH = 120, kBottom = 34;
  const double plot_w = kW - kLeft - kRight;
  const double lat_top = kTop + kTputH + kGap;
  const double height = lat_top + kLatH + kBottom;

  const double t_end = internal::TimelineEnd(s, st);
  double x_step = NiceStep(t_end, 10);
  auto X = [&](double t) { return kLeft + std::clamp(t, 0.0, t_end) / t_end * plot_w; };

  double max_rate = 0, max_p99_ms = 0;
  for (const auto& l : st.load) {
    max_rate =
        std::max(max_rate, (l.ok + l.errors + l.timeouts) / std::max(0.05, l.t_s - l.start_s));
    max_p99_ms = std::max(max_p99_ms, l.p99_us / 1e3);
  }
  double r_step = NiceStep(std::max(max_rate, 1.0), 4);
  double r_top = std::max(r_step, std::ceil(max_rate / r_step) * r_step);
  double l_step = NiceStep(std::max(max_p99_ms, 0.1), 3);
  double l_top = std::max(l_step, std::ceil(max_p99_ms / l_step) * l_step);
  auto YR = [&](double v) { return kTop + kTputH - v / r_top * kTputH; };
  auto YL = [&](double v) { return lat_top + kLatH - v / l_top * kLatH; };

  std::string o = "<svg class=\"timeline\" viewBox=\"0 0 " + N(kW) + " " + N(height) +
                  "\" role=\"img\" aria-label=\"timeline of throughput and p99 latency\" "
                  "xmlns=\"http://www.w3.org/2000/svg\">\n";
  // Panels and grid.
  for (int panel = 0; panel < 2; ++panel) {
    double top = panel == 0 ? kTop : lat_top;
    double h = panel == 0 ? kTputH : kLatH;
    o += "<rect class=\"panel\" x=\"" + N(kLeft) + "\" y=\"" + N(top) + "\" width=\"" + N(plot_w) +
         "\" height=\"" + N(h) + "\"/>\n";
    double step = panel == 0 ? r_step : l_step;
    double vtop = panel == 0 ? r_top : l_top;
    for (double v = 0; v <= vtop + step / 2; v += step) {
      double y = panel == 0 ? YR(v) : YL(v);
      o += "<line class=\"grid\" x1=\"" + N(kLeft) + "\" x2=\"" + N(kLeft + plot_w) + "\" y1=\"" +
           N(y) + "\" y2=\"" + N(y) + "\"/>";
      std::string label =
          panel == 0 ? internal::Compact(v) : (step < 1 ? Fixed(v, 1) : Fixed(v, 0));
      o += "<text class=\"tick\" x=\"" + N(kLeft - 8) + "\" y=\"" + N(y + 4) +
           "\" text-anchor=\"end\">" + label + "</text>\n";
    }
  }
  o += "<text class=\"axis-title\" x=\"" + N(kLeft) + "\" y=\"" + N(kTop - 10) +
       "\">Throughput (requests/s)</text>\n";
  o += "<text class=\"axis-title\" x=\"" + N(kLeft) + "\" y=\"" + N(lat_top - 10) +
       "\">p99 latency (ms)</text>\n";
  for (double t = 0; t <= t_end + x_step / 2; t += x_step) {
    double x = X(t);
    o += "<line class=\"grid v\" x1=\"" + N(x) + "\" x2=\"" + N(x) + "\" y1=\"" + N(kTop) +
         "\" y2=\"" + N(lat_top + kLatH) + "\"/>";
    o += "<text class=\"tick\" x=\"" + N(x) + "\" y=\"" + N(lat_top + kLatH + 16) +
         "\" text-anchor=\"middle\">" + (x_step < 1 ? Fixed(t, 1) : Fixed(t, 0)) + "s</text>\n";
  }

  // Fault windows, behind the data.
  for (const auto& w : st.faults) {
    double x1 = X(w.start_s), x2 = std::max(X(w.end_s), x1 + 2);
    std::string tip = (w.kind.empty() ? w.name : w.kind) + (w.on.empty() ? "" : " on " + w.on) +
                      " (" + w.name + "): " + Fixed(w.start_s, 2) + "s - " +
                      (w.healed ? Fixed(w.end_s, 2) + "s" : "end of run, never healed");
    if (w.took_effect && !*w.took_effect) tip += "; did NOT take effect";
    o += "<g class=\"fault\"><title>" + H(tip) + "</title>";
    for (int panel = 0; panel < 2; ++panel) {
      double top = panel == 0 ? kTop : lat_top;
      double h = panel == 0 ? kTputH : kLatH;
      o += "<rect x=\"" + N(x1) + "\" y=\"" + N(top) + "\" width=\"" + N(x2 - x1) + "\" height=\"" +
           N(h) + "\"/>";
    }
    // A label only where it fits inside the band (about 6.5 px per character).
    std::string label = w.kind.empty() ? w.name : w.kind;
    auto fits = static_cast<size_t>(std::max(0.0, (x2 - x1 - 8) / 6.5));
    if (fits >= 4) {
      if (label.size() > fits) {
        size_t cut = fits - 1;
        while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
        label = label.substr(0, cut) + "\u2026";
      }
      o += "<text x=\"" + N(x1 + 4) + "\" y=\"" + N(kTop + 13) + "\">" + H(label) + "</text>";
    }
    o += "</g>\n";
  }

  // Throughput bars: ok, with errors and timeouts stacked on top.
  // A bar spans its second; its height is per second, so the load's last, partial second is
  // as tall as the rate it ran at, not as its count.
  for (const auto& l : st.load) {
    double x = X(l.start_s) + 0.5;
    double w = X(l.t_s) - x - 0.5;
    if (w <= 0) continue;
    const double per_s = 1.0 / std::max(0.05, l.t_s - l.start_s);
    std::string tip = Fixed(l.start_s, 1) + "–" + Fixed(l.t_s, 1) +
                      " s: " + internal::Compact(l.ok) + " ok, " + internal::Compact(l.errors) +
                      " errors, " + internal::Compact(l.timeouts) + " timeouts, p50 " +
                      internal::Micros(l.p50_us) + ", p99 " + internal::Micros(l.p99_us);
    o += "<g><title>" + H(tip) + "</title>";
    const double ok = l.ok * per_s, bad = (l.errors + l.timeouts) * per_s;
    o += "<rect class=\"ok\" x=\"" + N(x) + "\" y=\"" + N(YR(ok)) + "\" width=\"" + N(w) +
         "\" height=\"" + N(kTop + kTputH - YR(ok)) + "\"/>";
    if (bad > 0) {
      o += "<rect class=\"err\" x=\"" + N(x) + "\" y=\"" + N(YR(ok + bad)) + "\" width=\"" + N(w) +
           "\" height=\"" + N(YR(ok) - YR(ok + bad)) + "\"/>";
    }
    o += "</g>\n";
  }

  // p99 line.
  if (!st.load.empty()) {
    std::string pts;
    for (const auto& l : st.load) {
      pts += N(X((l.start_s + l.t_s) / 2)) + "," + N(YL(l.p99_us / 1e3)) + " ";
    }
    o += "<polyline class=\"p99\" points=\"" + pts + "\"/>\n";
    if (st.load.size() <= 120) {
      for (const auto& l : st.load) {
        o += "<circle class=\"p99dot\" cx=\"" + N(X((l.start_s + l.t_s) / 2)) + "\" cy=\"" +
             N(YL(l.p99_us / 1e3)) + "\" r=\"2.5\"><title>" +
             H(Fixed(l.start_s, 1) + "–" + Fixed(l.t_s, 1) + " s: p99 " +
               internal::Micros(l.p99_us)) +
             "</title></circle>";
      }
      o += "\n";
    }
  } else {
    o += "<text class=\"empty\" x=\"" + N(kLeft + plot_w / 2) + "\" y=\"" + N(kTop + kTputH / 2) +
         "\" text-anchor=\"middle\">no load in this run</text>\n";
  }

  // Exits and restarts.
  for (const auto& m : st.markers) {
    double x = X(m.t_s);
    std::string cls = m.exit ? "exit" : "restart";
    o += "<g class=\"" + cls + "\"><title>" +
         H(Fixed(m.t_s, 3) + "s " + m.target + ": " + m.label) + "</title><line x1=\"" + N(x) +
         "\" x2=\"" + N(x) + "\" y1=\"" + N(kTop) + "\" y2=\"" + N(lat_top + kLatH) + "\"/>";
    if (m.exit) {
      o += "<path d=\"M" + N(x - 6) + "," + N(kTop - 2) + " L" + N(x + 6) + "," + N(kTop - 2) +
           " L" + N(x) + "," + N(kTop + 8) + " Z\"/>";
    } else {
      o += "<circle cx=\"" + N(x) + "\" cy=\"" + N(lat_top + kLatH) + "\" r=\"5\"/>";
    }
    o += "</g>\n";
  }

  // Legend (right-aligned above the throughput panel).
  double lx = kLeft + plot_w - 470;
  auto legend = [&](const std::string& swatch, const std::string& label) {
    o += "<g class=\"legend\" transform=\"translate(" + N(lx) + "," + N(kTop - 20) + ")\">" +
         swatch + "<text x=\"16\" y=\"9\">" + label + "</text></g>";
    lx += 16 + 7.0 * static_cast<double>(label.size()) + 14;
  };
  legend("<rect class=\"ok\" width=\"11\" height=\"11\"/>", "ok/s");
  legend("<rect class=\"err\" width=\"11\" height=\"11\"/>", "errors/s");
  legend("<line class=\"p99\" x1=\"0\" x2=\"11\" y1=\"6\" y2=\"6\"/>", "p99");
  legend("<rect class=\"fault-swatch\" width=\"11\" height=\"11\"/>", "fault");
  legend("<path class=\"exit-swatch\" d=\"M0,1 L11,1 L5.5,11 Z\"/>", "exit");
  legend("<circle class=\"restart-swatch\" cx=\"5.5\" cy=\"6\" r=\"5\"/>", "restart");
  o += "\n</svg>\n";
  return o;
}

std::string Stat(const std::string& label, const std::string& value, const std::string& cls = "") {
  return "<div class=\"stat" + (cls.empty() ? "" : " " + cls) + "\"><div class=\"label\">" + label +
         "</div><div class=\"value\">" + value + "</div></div>";
}

std::string Scenario(const ScenarioResult& s) {
  internal::RunStats st = internal::ComputeStats(s);
  std::string o = "<section class=\"scenario " + VerdictClass(s.verdict) + "\">\n<header><h2>" +
                  H(s.name.empty() ? "(unnamed scenario)" : s.name) + " " + Badge(s.verdict) +
                  "</h2>";
  if (!s.file.empty()) o += "<div class=\"file\">" + H(s.file) + "</div>";
  if (!s.description.empty()) o += "<p class=\"desc\">" + H(s.description) + "</p>";
  o += "</header>\n";
  if (!s.error.empty()) {
    o += "<div class=\"alert\"><strong>" + std::string(VerdictName(s.verdict)) + ":</strong> " +
         H(s.error) + "</div>\n";
  }

  size_t passed =
      static_cast<size_t>(std::count_if(s.checks.begin(), s.checks.end(), [](const CheckResult& c) {
        return c.verdict == Verdict::kPass;
      }));
  o += "<div class=\"stats\">";
  o += Stat("Checks passed", std::to_string(passed) + " / " + std::to_string(s.checks.size()),
            passed == s.checks.size() ? "good" : "bad");
  o += Stat("Duration", Fixed(internal::DurationSeconds(s), 2) + " s");
  o += Stat("Seed", "<code>" + std::to_string(s.seed) + "</code>");
  if (!st.load.empty()) {
    o += Stat("Requests", internal::Compact(st.total_sent));
    o += Stat("Errors + timeouts", internal::Compact(st.total_errors + st.total_timeouts),
              st.total_errors + st.total_timeouts > 0 ? "bad" : "");
    o += Stat("Peak p99", internal::Micros(st.peak_p99_us));
  }
  o += Stat("Faults", std::to_string(st.faults.size()));
  o += Stat("Exits / restarts", std::to_string(st.exits) + " / " + std::to_string(st.restarts));
  if (st.lost) o += Stat("Lost writes", std::to_string(*st.lost), *st.lost > 0 ? "bad" : "good");
  std::string started = internal::IsoTime(s.wall_start_ns);
  if (!started.empty()) {
    started[10] = ' ';  // "2026-11-27 07:04:12Z" fits a stat box; the T form does not
    o += Stat("Started (UTC)", started, "small");
  }
  o += "</div>\n";

  if (!s.replay_command.empty()) {
    o += "<div class=\"replay\"><div class=\"label\">Replay this run (same seed, same fault "
         "schedule)</div><pre>" +
         H(s.replay_command) + "</pre></div>\n";
  }

  o += "<h3>Timeline</h3>\n<div class=\"chart\">" + Timeline(s, st) + "</div>\n";
  if (std::string cited = internal::CitedOpsChart(s, st, internal::TimelineEnd(s, st));
      !cited.empty()) {
    o += "<h3>Operations cited by failed checks</h3>\n<div class=\"chart\">" + cited + "</div>\n";
  }

  o += "<h3>Checks</h3>\n";
  if (s.checks.empty()) {
    o += "<p class=\"muted\">No checks were recorded.</p>\n";
  } else {
    o += "<table class=\"checks\"><thead><tr><th>Verdict</th><th>Check</th><th>Kind</th>"
         "<th>Measured</th><th>Threshold</th><th>Evidence</th></tr></thead><tbody>\n";
    for (const auto& c : s.checks) {
      o += "<tr class=\"" + VerdictClass(c.verdict) + "\"><td>" + Badge(c.verdict) + "</td><td>" +
           H(c.name) + "</td><td><code>" + H(c.kind) + "</code></td><td class=\"val\">" +
           H(c.measured) + "</td><td class=\"val\">" + H(c.threshold) + "</td><td>";
      if (!c.evidence.empty()) {
        o += "<details" + std::string(c.verdict == Verdict::kPass ? "" : " open") + "><summary>" +
             std::to_string(c.evidence.size()) + (c.evidence.size() == 1 ? " line" : " lines") +
             "</summary><ul>";
        for (const auto& e : c.evidence) o += "<li>" + H(e) + "</li>";
        o += "</ul></details>";
      }
      o += "</td></tr>\n";
    }
    o += "</tbody></table>\n";
  }

  if (!st.faults.empty()) {
    o += "<h3>Faults</h3>\n<table><thead><tr><th>Fault</th><th>Kind</th><th>On</th>"
         "<th>Injected</th><th>Healed</th><th>Took effect</th></tr></thead><tbody>\n";
    for (const auto& w : st.faults) {
      std::string effect = w.took_effect ? (*w.took_effect ? "yes" : "<strong>no</strong>")
                                         : (w.fired ? "yes (fired)" : "unknown");
      o += "<tr><td>" + H(w.name) + "</td><td><code>" + H(w.kind) + "</code></td><td>" + H(w.on) +
           "</td><td class=\"num\">" + Fixed(w.start_s, 3) + " s</td><td class=\"num\">" +
           (w.healed ? Fixed(w.end_s, 3) + " s" : "never") + "</td><td>" + effect + "</td></tr>\n";
    }
    o += "</tbody></table>\n";
  }

  o += internal::TraceHtml(s);
  o += "<details class=\"events\"><summary>Event log (" + std::to_string(s.events.size()) +
       " events)</summary><table><thead><tr><th>Time</th><th>Type</th><th>Target</th>"
       "<th>Data</th></tr></thead><tbody>\n";
  for (size_t i = 0; i < s.events.size() && i < kMaxEventRows; ++i) {
    const Event& e = s.events[i];
    // The request history (load.ops, readback.ops) can hold thousands of rows per event: the
    // page names their count; the rows stay in the JSON Lines log.
    auto ops = e.data.find("ops");
    std::string data =
        ops != e.data.end() && ops->is_array()
            ? std::to_string(ops->size()) + " request(s) of the history (rows in the event log)"
            : e.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    o += "<tr><td class=\"num\">" + Fixed(internal::SecondsSince(s, e.ts_ns), 3) +
         "</td><td><code>" + H(e.type) + "</code></td><td>" + H(e.target) +
         "</td><td class=\"data\">" + H(data) + "</td></tr>\n";
  }
  o += "</tbody></table>";
  if (s.events.size() > kMaxEventRows) {
    o += "<p class=\"muted\">" + std::to_string(s.events.size() - kMaxEventRows) +
         " more events are in the JSON Lines log.</p>";
  }
  o += "</details>\n</section>\n";
  return o;
}

constexpr std::string_view kStyle = R"css(
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa;--card:#fff;
--pass:#1a7f37;--pass-bg:#dafbe1;--fail:#cf222e;--fail-bg:#ffebe9;--err:#9a6700;--err-bg:#fff8c5;
--ab:#57606a;--ab-bg:#eaeef2;--ok:#4f7cff;--p99:#f08c00;--fault:#8250df}
*{box-sizing:border-box}
body{margin:0;overflow-wrap:anywhere;font:14px/1.5 -apple-system,"Segoe UI",Helvetica,Arial,"DejaVu Sans",sans-serif;
color:var(--fg);background:var(--bg)}
.top{display:flex;align-items:center;gap:16px;padding:14px 28px;background:#24292f;color:#fff}
.top .brand{font-weight:700;font-size:18px;letter-spacing:.5px}
.brand,.badge{white-space:nowrap;overflow-wrap:normal;flex-shrink:0}
.top .meta{color:#b6bec8;font-size:13px;margin-left:auto}
main{max-width:1180px;margin:0 auto;padding:20px 28px 40px}
.summary{margin:0 0 16px;color:var(--muted)}
section.scenario{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:20px 24px;margin:0 0 24px;border-top:4px solid var(--ab)}
section.pass{border-top-color:var(--pass)}section.fail{border-top-color:var(--fail)}
section.error{border-top-color:var(--err)}
h2{margin:0;font-size:22px;display:flex;align-items:center;gap:12px}
h3{margin:26px 0 10px;font-size:15px;text-transform:uppercase;letter-spacing:.6px;color:var(--muted)}
.file{font:12.5px ui-monospace,"DejaVu Sans Mono",monospace;color:var(--muted);margin-top:4px}
.desc{margin:8px 0 0}
.badge{display:inline-block;font:700 12px/1 ui-monospace,"DejaVu Sans Mono",monospace;
padding:5px 9px;border-radius:999px;letter-spacing:.5px;vertical-align:middle}
.badge.pass{color:var(--pass);background:var(--pass-bg)}
.badge.fail{color:var(--fail);background:var(--fail-bg)}
.badge.error{color:var(--err);background:var(--err-bg)}
.badge.aborted{color:var(--ab);background:var(--ab-bg)}
.top .badge{font-size:14px;padding:6px 12px}
.alert{margin:14px 0 0;padding:10px 14px;border-radius:6px;background:var(--fail-bg);
color:#82071e;border:1px solid #ffcecb}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:18px 0 0}
.stat{border:1px solid var(--line);border-radius:8px;padding:8px 12px;background:#fbfcfd}
.stat .label{font-size:11.5px;color:var(--muted);text-transform:uppercase;letter-spacing:.4px}
.stat .value{font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
.stat.small .value{font-size:14px;padding-top:4px;white-space:nowrap}.stat.good .value{color:var(--pass)}.stat.bad .value{color:var(--fail)}
.replay{margin:16px 0 0}.replay .label{font-size:12px;color:var(--muted);margin-bottom:4px}
pre{margin:0;padding:10px 14px;background:#24292f;color:#e6edf3;border-radius:6px;
font:13px/1.45 ui-monospace,"DejaVu Sans Mono",monospace;white-space:pre-wrap;word-break:break-all}
code{font:12.5px ui-monospace,"DejaVu Sans Mono",monospace}
.chart{border:1px solid var(--line);border-radius:8px;padding:8px 6px 0;background:#fff}
svg.timeline{width:100%;height:auto;display:block;font:11px -apple-system,"Segoe UI",Helvetica,Arial,"DejaVu Sans",sans-serif}
svg .panel{fill:#fcfdfe;stroke:var(--line)}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .grid.v{stroke:#f0f2f4}
svg .tick{fill:var(--muted)}
svg .axis-title{fill:var(--fg);font-weight:600;font-size:12px}
svg .ok{fill:var(--ok);opacity:.85}svg .err{fill:var(--fail)}
svg .p99{fill:none;stroke:var(--p99);stroke-width:2;stroke-linejoin:round}
svg .p99dot{fill:#fff;stroke:var(--p99);stroke-width:1.5}
svg .fault rect{fill:var(--fault);opacity:.13}svg .fault text{fill:var(--fault);font-weight:600}
svg .fault-swatch{fill:var(--fault);opacity:.35}
svg .exit line{stroke:var(--fail);stroke-width:1.5;stroke-dasharray:4 3}svg .exit path,svg .exit-swatch{fill:var(--fail)}
svg .restart line{stroke:var(--pass);stroke-width:1.2;stroke-dasharray:2 3}
svg .restart circle,svg .restart-swatch{fill:var(--pass);stroke:#fff;stroke-width:1.5}
svg .legend text{fill:var(--muted)}svg .empty{fill:var(--muted);font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13.5px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:break-word}
th{white-space:nowrap;font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.4px;background:#f6f8fa}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}td.val{font-variant-numeric:tabular-nums}
tr.fail td{background:#fff8f7}tr.error td{background:#fffdf0}
td ul{margin:4px 0 0;padding-left:18px;font:12.5px ui-monospace,"DejaVu Sans Mono",monospace}
details summary{cursor:pointer;color:var(--muted)}
details.events{margin-top:22px}details.events table{margin-top:8px;font-size:12.5px}
td.data{font:12px ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all;color:#424a53}
.muted{color:var(--muted)}
footer{color:var(--muted);font-size:12px;text-align:center;padding:8px}
)css";

}  // namespace

std::string RenderHtml(const RunReport& report) {
  std::string title = "duende: " + std::string(VerdictName(report.verdict));
  if (report.scenarios.size() == 1) title += " - " + report.scenarios[0].name;
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
      H(title) + "</title>\n<style>" + std::string(kStyle) + internal::CitedOpsCss() +
      "</style>\n</head>\n<body>\n";
  o += "<div class=\"top\"><span class=\"brand\">duende</span>" + Badge(report.verdict) +
       "<span class=\"meta\">";
  std::string meta;
  if (!report.hostname.empty()) meta += "host " + H(report.hostname);
  if (!report.tool_version.empty())
    meta += (meta.empty() ? "" : " · ") + ("duende " + H(report.tool_version));
  if (!report.scenarios.empty()) {
    std::string when = internal::IsoTime(report.scenarios.front().wall_start_ns);
    if (!when.empty()) meta += (meta.empty() ? "" : " · ") + when;
  }
  o += meta + "</span></div>\n<main>\n";
  size_t bad = static_cast<size_t>(
      std::count_if(report.scenarios.begin(), report.scenarios.end(),
                    [](const ScenarioResult& s) { return s.verdict != Verdict::kPass; }));
  o += "<p class=\"summary\">" + std::to_string(report.scenarios.size()) +
       (report.scenarios.size() == 1 ? " scenario" : " scenarios") + ", " + std::to_string(bad) +
       " did not pass.</p>\n";
  for (const auto& s : report.scenarios) o += Scenario(s);
  o += "</main>\n<footer>Generated by duende from the run's event log. Re-render with "
       "<code>duende report events.jsonl --html FILE</code>.</footer>\n</body>\n</html>\n";
  return o;
}

framework::Result<std::unique_ptr<Reporter>> MakeHtmlReporter(const std::string& path) {
  return internal::FileReporter::Open(path, RenderHtml);
}

}  // namespace duende::reporters
