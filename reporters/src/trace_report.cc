#include "trace_report.h"

#include "duende/reporters/markup.h"

namespace duende::reporters::internal {

namespace {

using Json = nlohmann::json;

struct TargetTrace {
  std::string target;
  Json summary;  // trace.summary data
};
struct Window {
  std::string fault;
  double start_s = 0, end_s = 0;
  Json data;  // trace.window data
};
struct TraceView {
  std::vector<TargetTrace> targets;
  std::vector<Window> windows;
  std::vector<std::string> errors;  // trace.error lines
  Json trace_ids;                   // load.summary's trace_ids (null when none)
  bool empty() const {
    return targets.empty() && windows.empty() && errors.empty() && trace_ids.is_null();
  }
};

std::string S(const Json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
}
double D(const Json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_number() ? it->get<double>() : 0;
}
// An integer member (clamped, never undefined: events::IntField), 0 when absent.
int64_t I(const Json& d, const char* key) { return events::IntField(d, key, 0); }
// An array member, or an empty array when absent or not an array (the event came from a
// file: any member may have any type, and a wrong one is never an exception).
const Json& Arr(const Json& d, const char* key) {
  static const Json kEmpty = Json::array();
  auto it = d.find(key);
  return it != d.end() && it->is_array() ? *it : kEmpty;
}

TraceView Decode(const ScenarioResult& s) {
  TraceView v;
  for (const auto& e : s.events) {
    if (e.type == events::kTraceSummary) {
      v.targets.push_back({e.target, e.data});
    } else if (e.type == events::kTraceWindow) {
      Window w;
      w.fault = e.target;
      w.start_s = SecondsSince(s, I(e.data, "start_ns"));
      w.end_s = SecondsSince(s, I(e.data, "end_ns"));
      w.data = e.data;
      v.windows.push_back(std::move(w));
    } else if (e.type == events::kTraceError && !events::BoolField(e.data, "process_gone", false)) {
      v.errors.push_back(e.target + ": " + S(e.data, "error"));
    } else if (e.type == events::kLoadSummary) {
      auto it = e.data.find("trace_ids");
      if (it != e.data.end() && it->is_object()) v.trace_ids = *it;
    }
  }
  return v;
}

// "fsync(5) = -1 ENOSPC <12us>"
std::string CallText(const Json& c) {
  std::string t = S(c, "name") + "(" + S(c, "args") + ") = " + S(c, "ret");
  if (!S(c, "errno").empty()) t += " " + S(c, "errno");
  auto d = c.find("dur_us");
  if (d != c.end() && d->is_number()) t += " <" + Micros(d->get<double>()) + ">";
  return t;
}

std::string CallTime(const ScenarioResult& s, const Json& c) {
  return Fixed(SecondsSince(s, I(c, "t_ns")), 3) + " s";
}

std::string Us(const Json& row, const char* key) { return Micros(D(row, key)); }

// One summary row's cells: name, count, errors (with errnos), p50, p99, total.
std::vector<std::string> SummaryCells(const Json& row) {
  std::string errs = std::to_string(I(row, "errors"));
  auto en = row.find("errnos");
  if (en != row.end() && en->is_object() && !en->empty()) {
    std::string list;
    for (const auto& [k, n] : en->items()) list += (list.empty() ? "" : ", ") + k + " " + n.dump();
    errs += " (" + list + ")";
  }
  return {S(row, "name"),
          std::to_string(I(row, "count")),
          errs,
          Us(row, "p50_us"),
          Us(row, "p99_us"),
          Us(row, "total_us")};
}

std::string SummaryLine(const TargetTrace& t) {
  const Json& d = t.summary;
  std::string line = std::to_string(I(d, "calls")) + " calls from " +
                     std::to_string(Arr(d, "pids").size()) + " process(es)";
  if (D(d, "dropped_bytes") > 0) {
    line +=
        "; raw trace cut at its size cap (" + Compact(D(d, "dropped_bytes")) + " bytes not kept)";
  }
  if (!S(d, "dir").empty()) line += "; raw trace in " + S(d, "dir");
  // Honest about the cost: strace slows the daemon it traces (docs/tracing.md, Overhead).
  return line + "; traced, so slower than untraced (docs/tracing.md, Overhead)";
}

std::vector<std::pair<std::string, std::string>> TraceIds(const Json& ids) {
  std::vector<std::pair<std::string, std::string>> out;  // (label, trace id)
  if (!ids.is_object()) return out;
  for (const char* kind : {"failed", "slowest"}) {
    auto it = ids.find(kind);
    if (it == ids.end() || !it->is_array()) continue;
    for (const auto& r : *it) {
      std::string label = std::string(kind == std::string("failed") ? "failed" : "slow") + " " +
                          Us(r, "latency_us");
      if (!S(r, "outcome").empty()) label += " (" + S(r, "outcome") + ")";
      out.emplace_back(label, S(r, "trace_id"));
    }
  }
  return out;
}

constexpr size_t kSummaryRowsShown = 12;
constexpr size_t kConsoleCallsShown = 4;

}  // namespace

std::string TraceConsole(const ScenarioResult& s) {
  TraceView v = Decode(s);
  if (v.empty()) return "";
  std::string o;
  for (const auto& e : v.errors) o += "  trace error: " + e + "\n";
  for (const auto& t : v.targets) {
    o += "  syscalls of " + t.target + ": " + SummaryLine(t) + "\n";
    o += "    SYSCALL            COUNT   ERRORS          P50      P99    TOTAL\n";
    size_t n = 0;
    for (const auto& row : Arr(t.summary, "syscalls")) {
      if (n++ >= kSummaryRowsShown) break;
      auto c = SummaryCells(row);
      char line[256];
      std::snprintf(line, sizeof line, "    %-18s %6s   %-14s %8s %8s %8s\n", c[0].c_str(),
                    c[1].c_str(), c[2].c_str(), c[3].c_str(), c[4].c_str(), c[5].c_str());
      o += line;
    }
  }
  for (const auto& w : v.windows) {
    o += "  fault " + w.fault + " (" + S(w.data, "kind") + " on " + S(w.data, "on") + ", " +
         Fixed(w.start_s, 3) + "-" + Fixed(w.end_s, 3) +
         " s): " + std::to_string(I(w.data, "failed")) + " failed, " +
         std::to_string(I(w.data, "slow")) + " slow syscalls\n";
    const Json calls = Arr(w.data, "calls");
    size_t shown = 0;
    for (const auto& c : calls) {
      if (shown++ == kConsoleCallsShown) {
        o += "    ... " + std::to_string(calls.size() - kConsoleCallsShown) +
             " more in the HTML, Markdown and JSON reports\n";
        break;
      }
      o += "    " + CallTime(s, c) + " [" + S(c, "why") + "] pid " + std::to_string(I(c, "tid")) +
           " " + CallText(c) + "\n";
      for (const auto& nx : Arr(c, "next")) o += "        then " + CallText(nx) + "\n";
    }
  }
  auto ids = TraceIds(v.trace_ids);
  if (!ids.empty()) {
    o += "  trace ids (traceparent) of failed and slowest requests:\n";
    for (const auto& [label, id] : ids) o += "    " + id + "  " + label + "\n";
  }
  return o;
}

std::string TraceMarkdown(const ScenarioResult& s) {
  TraceView v = Decode(s);
  if (v.empty()) return "";
  // Inline code: no backtick, pipe or line break inside; control characters and bytes that
  // are not UTF-8 as visible \xNN (a trace's arguments are the daemon's bytes).
  auto code = [](const std::string& t) {
    std::string c;
    ForEachCodepoint(
        t,
        [&](uint32_t cp, std::string_view bytes) {
          if (cp == '`' || cp == '|' || cp == '\n' || cp == '\r' || cp == '\t') {
            c += ' ';
          } else if (cp < 0x20 || cp == 0x7f) {
            c += "\\x" + HexByte(static_cast<unsigned char>(cp)).substr(2);
          } else {
            c += bytes;
          }
        },
        [&](unsigned char b) { c += "\\x" + HexByte(b).substr(2); });
    return "`" + c + "`";
  };
  std::string o;
  for (const auto& e : v.errors) o += "\n**Trace error:** " + code(e) + "\n";
  for (const auto& t : v.targets) {
    o += "\n#### Syscalls of " + code(t.target) + "\n\n" + Md(SummaryLine(t)) + "\n\n";
    o += "| Syscall | Count | Errors | p50 | p99 | Total |\n|---|---|---|---|---|---|\n";
    size_t n = 0;
    for (const auto& row : Arr(t.summary, "syscalls")) {
      if (n++ >= kSummaryRowsShown) break;
      auto c = SummaryCells(row);
      o += "| " + code(c[0]) + " | " + c[1] + " | " + code(c[2]) + " | " + c[3] + " | " + c[4] +
           " | " + c[5] + " |\n";
    }
  }
  for (const auto& w : v.windows) {
    o += "\n#### Syscalls in fault " + code(w.fault) + " (" + code(S(w.data, "kind")) + " on " +
         code(S(w.data, "on")) + ", " + Fixed(w.start_s, 3) + "–" + Fixed(w.end_s, 3) + " s)\n\n";
    o += std::to_string(I(w.data, "failed")) + " failed, " + std::to_string(I(w.data, "slow")) +
         " slow.\n\n";
    auto calls = Arr(w.data, "calls");
    if (calls.empty()) continue;
    o += "| Time | Why | Call | Then |\n|---|---|---|---|\n";
    for (const auto& c : calls) {
      std::string then;
      for (const auto& nx : Arr(c, "next")) {
        then += (then.empty() ? "" : "<br>") + code(CallText(nx));
      }
      o += "| " + CallTime(s, c) + " | " + Md(S(c, "why")) + " | " + code(CallText(c)) + " | " +
           then + " |\n";
    }
  }
  auto ids = TraceIds(v.trace_ids);
  if (!ids.empty()) {
    o += "\n#### Trace ids of failed and slowest requests\n\n| Trace id | Request |\n|---|---|\n";
    for (const auto& [label, id] : ids) o += "| " + code(id) + " | " + Md(label) + " |\n";
  }
  return o;
}

std::string TraceHtml(const ScenarioResult& s) {
  TraceView v = Decode(s);
  if (v.empty()) return "";
  auto h = [](const std::string& t) { return HtmlEscape(t); };
  std::string o = "<div class=\"trace\">\n";
  for (const auto& e : v.errors) {
    o += "<div class=\"alert\"><strong>Trace error:</strong> " + h(e) + "</div>\n";
  }
  for (const auto& t : v.targets) {
    o += "<h3>Syscalls of " + h(t.target) + "</h3>\n<p class=\"muted\">" + h(SummaryLine(t)) +
         "</p>\n<table><thead><tr><th>Syscall</th><th>Count</th><th>Errors</th><th>p50</th>"
         "<th>p99</th><th>Total</th></tr></thead><tbody>\n";
    for (const auto& row : Arr(t.summary, "syscalls")) {
      auto c = SummaryCells(row);
      o += "<tr><td><code>" + h(c[0]) + "</code></td><td class=\"num\">" + c[1] + "</td><td>" +
           h(c[2]) + "</td><td class=\"num\">" + c[3] + "</td><td class=\"num\">" + c[4] +
           "</td><td class=\"num\">" + c[5] + "</td></tr>\n";
    }
    o += "</tbody></table>\n";
  }
  for (const auto& w : v.windows) {
    o += "<h3>Syscalls in fault " + h(w.fault) + "</h3>\n<p class=\"muted\">" +
         h(S(w.data, "kind")) + " on " + h(S(w.data, "on")) + ", " + Fixed(w.start_s, 3) + "–" +
         Fixed(w.end_s, 3) + " s: " + std::to_string(I(w.data, "failed")) + " failed, " +
         std::to_string(I(w.data, "slow")) + " slow</p>\n";
    auto calls = Arr(w.data, "calls");
    if (calls.empty()) continue;
    o += "<table><thead><tr><th>Time</th><th>Why</th><th>Call</th><th>What it called next</th>"
         "</tr></thead><tbody>\n";
    for (const auto& c : calls) {
      std::string then;
      for (const auto& nx : Arr(c, "next")) {
        then += "<div><code>" + h(CallText(nx)) + "</code></div>";
      }
      o += "<tr><td class=\"num\">" + h(CallTime(s, c)) + "</td><td>" + h(S(c, "why")) +
           "</td><td><code>" + h(CallText(c)) + "</code></td><td>" + then + "</td></tr>\n";
    }
    o += "</tbody></table>\n";
  }
  auto ids = TraceIds(v.trace_ids);
  if (!ids.empty()) {
    o += "<h3>Trace ids of failed and slowest requests</h3>\n<table><thead><tr><th>Trace id</th>"
         "<th>Request</th></tr></thead><tbody>\n";
    for (const auto& [label, id] : ids) {
      o += "<tr><td><code>" + h(id) + "</code></td><td>" + h(label) + "</td></tr>\n";
    }
    o += "</tbody></table>\n";
  }
  return o + "</div>\n";
}

nlohmann::json TraceJson(const ScenarioResult& s) {
  TraceView v = Decode(s);
  if (v.empty()) return nullptr;
  Json targets = Json::object();
  for (const auto& t : v.targets) targets[t.target] = t.summary;
  Json windows = Json::array();
  for (const auto& w : v.windows) {
    Json d = w.data;
    d["fault"] = w.fault;
    windows.push_back(std::move(d));
  }
  return Json{{"syscalls", targets},
              {"windows", windows},
              {"errors", v.errors},
              {"trace_ids", v.trace_ids}};
}

}  // namespace duende::reporters::internal
