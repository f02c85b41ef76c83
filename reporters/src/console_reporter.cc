// Console: what a person watches. On a TTY one progress line is redrawn in place and notable
// events (faults, exits, restarts) scroll above it; elsewhere (CI logs, NO_COLOR) every notable
// event is a plain line and load is summarised every few seconds. At the end of a scenario
// comes a table of its checks: measured against threshold, and the verdict.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "duende/model/events.h"
#include "duende/reporters/reporter.h"
#include "report_util.h"
#include "trace_report.h"

namespace duende::reporters {
namespace {

using Json = nlohmann::json;

// Plain mode prints a load line every this many seconds of load.
constexpr int64_t kPlainLoadEvery = 5;
// The live line is redrawn at most this often (event time), except on notable events.
constexpr int64_t kRedrawNs = 100'000'000;
// Widest a table cell gets before it is cut with "...".
constexpr size_t kMaxCell = 48;
// Evidence lines shown under a check that did not pass.
constexpr size_t kMaxEvidence = 5;

const char* kReset = "\033[0m";

const char* VerdictColor(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "\033[32m";
    case Verdict::kFail:
      return "\033[1;31m";
    case Verdict::kError:
    case Verdict::kAborted:
      return "\033[1;33m";
  }
  return "";
}

std::string Colored(Verdict v, bool color) {
  std::string name = VerdictName(v);
  return color ? VerdictColor(v) + name + kReset : name;
}

// A line safe for a terminal: no escape sequences or control characters from the data
// (evidence can quote a target's output), invalid bytes visible.
std::string Safe(std::string_view s) {
  std::string out;
  internal::ForEachCodepoint(
      s,
      [&](uint32_t cp, std::string_view bytes) {
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xA0)) {
          out += cp < 0x80 ? internal::HexByte(static_cast<unsigned char>(cp)) : "?";
        } else {
          out += bytes;
        }
      },
      [&](unsigned char b) { out += internal::HexByte(b); });
  return out;
}

// Display width in columns (code points; good enough for the text we print).
size_t Width(std::string_view s) {
  size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string Cut(std::string s, size_t max) {
  if (Width(s) <= max) return s;
  std::string out;
  size_t n = 0;
  for (char c : s) {
    bool starts = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts && ++n > max - 3) break;
    out += c;
  }
  return out + "...";
}

std::string Pad(const std::string& s, size_t width) {
  size_t w = Width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string Stamp(double t) {
  std::string s = internal::Fixed(t, 2);
  return "[" + std::string(s.size() < 7 ? 7 - s.size() : 0, ' ') + s + "s]";
}

std::string Num(const Json& d, const char* key) {
  auto it = d.find(key);
  if (it == d.end() || it->is_null()) return "?";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string Str(const Json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string DurationNs(const Json& d, const char* key) {
  auto it = d.find(key);
  if (it == d.end() || !it->is_number()) return "?";
  return internal::Micros(it->get<double>() / 1e3);
}

class ConsoleReporter : public Reporter {
 public:
  ConsoleReporter(std::ostream& out, ConsoleOptions options) : out_(out), opt_(options) {}

  void OnScenarioStart(const ScenarioResult& header) override {
    s_ = header;
    planned_s_ = 0;
    faults_.clear();
    spawns_.clear();
    errors_ = 0;
    restarts_ = 0;
    load_seen_ = false;
    step_.clear();
    rate_ = 0;
    last_draw_ns_ = 0;
    now_ns_ = header.start_ns;
    if (!opt_.progress) return;
    if (scenarios_++ > 0) out_ << '\n';
    std::string line = "== " + Safe(header.name);
    if (!header.file.empty()) line += " (" + Safe(header.file) + ")";
    line += " seed " + std::to_string(header.seed);
    Print(Bold(line));
  }

  void OnEvent(const Event& e) override {
    now_ns_ = std::max(now_ns_, e.ts_ns);
    if (!opt_.progress) return;
    std::string line = Describe(e);
    if (!line.empty()) {
      Print(Stamp(internal::SecondsSince(s_, e.ts_ns)) + " " + line);
    } else if (opt_.live && e.ts_ns - last_draw_ns_ >= kRedrawNs) {
      Draw();
    }
  }

  void OnScenarioEnd(const ScenarioResult& result) override {
    ClearLive();
    out_ << RenderConsoleSummary(result, opt_.color) << std::flush;
  }

  void OnRunEnd(const RunReport& report) override {
    ClearLive();
    if (report.scenarios.size() < 2) return;
    size_t bad = static_cast<size_t>(
        std::count_if(report.scenarios.begin(), report.scenarios.end(),
                      [](const ScenarioResult& s) { return s.verdict != Verdict::kPass; }));
    out_ << "duende: " << Colored(report.verdict, opt_.color) << " (" << bad << " of "
         << report.scenarios.size() << " scenarios did not pass)\n"
         << std::flush;
  }

 private:
  std::string Bold(const std::string& s) const { return opt_.color ? "\033[1m" + s + kReset : s; }

  // The line for a notable event, or "" when the event only feeds the progress line.
  std::string Describe(const Event& e) {
    const Json& d = e.data;
    std::string who = Safe(e.target);
    if (e.type == events::kRunStarted) {
      if (d.contains("duration_ns") && d["duration_ns"].is_number()) {
        planned_s_ = d["duration_ns"].get<double>() / 1e9;
      }
      return "";
    }
    if (e.type == events::kTargetSpawned) {
      if (++spawns_[e.target] > 1) {
        ++restarts_;
        return who + ": restarted (pid " + Num(d, "pid") + ")";
      }
      return who + ": spawned (pid " + Num(d, "pid") + ")";
    }
    if (e.type == events::kTargetReady) return who + ": ready after " + DurationNs(d, "after_ns");
    if (e.type == events::kTargetExited) {
      std::string status = Str(d, "status");
      if (status.empty()) status = "exited (code " + Num(d, "code") + ")";
      if (events::BoolField(d, "oom_kill", false)) status += " (OOM kill)";
      return who + ": " + Safe(status);
    }
    if (e.type == events::kTargetRestartScheduled) {
      return who + ": restart in " + DurationNs(d, "delay_ns") + " (attempt " + Num(d, "attempt") +
             ")";
    }
    if (e.type == events::kTargetGaveUp) return who + ": gave up: " + Safe(Str(d, "reason"));
    if (e.type == events::kTargetSpawnFailed) {
      return who + ": spawn failed: " + Safe(Str(d, "reason"));
    }
    if (e.type == events::kTargetOutputTail) return OutputTail(who, d);
    if (e.type == events::kTargetStopped) return who + ": stopped";
    if (e.type == events::kTargetMainPid) {
      return who + ": main process is pid " + Num(d, "pid") + " (" + Safe(Str(d, "detail")) + ")";
    }
    if (e.type == events::kTargetTracking && Str(d, "mode") != "cgroup") {
      return who + ": tracked by " + Safe(Str(d, "detail"));
    }
    if (e.type == events::kFaultInjected) {
      std::string what = Safe(Str(d, "kind"));
      std::string on = Safe(Str(d, "on"));
      faults_[e.target] = what + (on.empty() ? "" : "@" + on);
      // A target chosen by a probe when the fault fired ([fault.select]): say why.
      std::string why;
      if (auto sel = d.find("select"); sel != d.end() && sel->is_object()) {
        why = " (" + Safe(Str(*sel, "reason")) + ")";
      }
      return "fault " + who + ": " + what + (on.empty() ? "" : " on " + on) + " injected" + why;
    }
    if (e.type == events::kFaultFired) {
      std::string ev = Safe(Str(d, "evidence"));
      return "fault " + who + ": fired" + (ev.empty() ? "" : ": " + ev);
    }
    if (e.type == events::kFaultHealed) {
      faults_.erase(e.target);
      std::string ev = Safe(Str(d, "evidence"));
      bool took = events::BoolField(d, "took_effect", true);
      return "fault " + who + ": healed" + (took ? "" : " (it did NOT take effect)") +
             (ev.empty() ? "" : ": " + ev);
    }
    if (auto sec = events::DecodeLoadSecond(e)) {
      errors_ += static_cast<double>(sec->errors + sec->timeouts);
      load_seen_ = true;
      rate_ = sec->rate;
      if (opt_.live || (sec->second + 1) % kPlainLoadEvery != 0) return "";
      return "load " + who + ": " + internal::Compact(rate_) + " req/s, p99 " +
             internal::Micros(static_cast<double>(sec->p99_us)) + ", " +
             internal::Compact(errors_) + " errors so far";
    }
    if (e.type == events::kLoadSummary) {
      return "load " + who + ": sent " + Num(d, "sent") + ", ok " + Num(d, "ok") + ", errors " +
             Num(d, "errors") + ", timeouts " + Num(d, "timeouts") + ", " +
             internal::Compact(events::NumberField(d, "achieved_rate", 0.0)) + " of " +
             internal::Compact(events::NumberField(d, "target_rate", 0.0)) + " req/s, p99 " +
             internal::Micros(events::NumberField(d, "p99_us", 0.0)) + StallNote(e);
    }
    if (e.type == events::kReadbackResult) {
      return "readback: " + Num(d, "keys") + " keys, " + Num(d, "acked_writes") +
             " acked writes, " + Num(d, "lost") + " lost";
    }
    if (e.type == events::kGateStepStarted) {
      step_ = e.target;
      return "step " + who + " (" + Safe(Str(d, "kind")) + ") started";
    }
    if (e.type == events::kGateStepFinished) {
      step_.clear();
      Verdict v = Verdict::kError;
      std::string name = Str(d, "verdict");
      for (Verdict c : {Verdict::kPass, Verdict::kFail, Verdict::kError, Verdict::kAborted}) {
        if (name == VerdictName(c)) v = c;
      }
      std::string measured = Safe(Str(d, "measured"));
      return "step " + who + ": " + Colored(v, opt_.color) + " in " +
             internal::Fixed(events::NumberField(d, "seconds", 0.0), 1) + "s" +
             (measured.empty() ? "" : " (" + measured + ")");
    }
    if (e.type == events::kProbeResult && !events::BoolField(d, "ok", true)) {
      return "probe " + Safe(Str(d, "name")) + " failed: " + Safe(Str(d, "detail"));
    }
    return "";
  }

  // "; the load generator itself stalled 2 times, 702ms in all (...)" when it did.
  static std::string StallNote(const Event& e) {
    const auto stalls = events::LoadStalls({e});
    if (stalls.empty()) return "";
    double total = 0;  // (a double: a log's spans are checked, not their sum)
    for (const auto& st : stalls) total += static_cast<double>(st.end_ns - st.start_ns);
    const size_t n = stalls.size();
    return "; the load generator itself stalled " + std::to_string(n) +
           (n == 1 ? " time, " : " times, ") + internal::Micros(total / 1000.0) +
           " in all (duende was not scheduled: requests in flight then are not judged)";
  }

  // The last output lines of a target that exited unexpectedly or never got ready, indented
  // under one heading line (each line made terminal-safe).
  static std::string OutputTail(const std::string& who, const Json& d) {
    const std::string reason = Str(d, "reason");
    std::string out = who + ": " +
                      (reason == "not ready" ? "did not get ready" : "exited unexpectedly") +
                      "; its last output lines";
    const auto it = d.find("lines");
    if (it == d.end() || !it->is_array() || it->empty()) {
      return out + ": (none: it wrote nothing to stdout or stderr)";
    }
    // No path here: the run directory may be gone after the run (the CLI prints it when kept).
    out += ":";
    for (const auto& line : *it) {
      if (line.is_string()) out += "\n    | " + Safe(line.get<std::string>());
    }
    return out;
  }

  // Prints a permanent line (above the live line on a TTY).
  void Print(const std::string& line) {
    ClearLive();
    out_ << line << '\n';
    if (opt_.live) Draw();
    out_ << std::flush;
  }

  void ClearLive() {
    if (opt_.live && drawn_) {
      out_ << "\r\033[2K" << std::flush;
      drawn_ = false;
    }
  }

  void Draw() {
    last_draw_ns_ = now_ns_;
    double elapsed = internal::SecondsSince(s_, now_ns_);
    std::string line = Safe(s_.name) + "  " + internal::Fixed(elapsed, 1) + "s";
    if (planned_s_ > 0) line += "/" + internal::Fixed(planned_s_, 1) + "s";
    if (!faults_.empty()) {
      line += "  faults:";
      for (const auto& [name, what] : faults_) line += " " + what;
    }
    if (!step_.empty()) line += "  step " + Safe(step_);
    if (load_seen_) {
      line += "  " + internal::Compact(rate_) + " req/s  errors " + internal::Compact(errors_);
    }
    if (!spawns_.empty()) line += "  restarts " + std::to_string(restarts_);
    if (opt_.width > 4) line = Cut(line, static_cast<size_t>(opt_.width - 1));
    out_ << "\r\033[2K" << line << std::flush;
    drawn_ = true;
  }

  std::ostream& out_;
  ConsoleOptions opt_;
  ScenarioResult s_;
  double planned_s_ = 0;
  std::map<std::string, std::string> faults_;  // active: fault name -> "kill@kvd"
  std::map<std::string, int> spawns_;
  double errors_ = 0;
  double rate_ = 0;
  int64_t restarts_ = 0;
  int64_t now_ns_ = 0;
  int64_t last_draw_ns_ = 0;
  bool drawn_ = false;
  bool load_seen_ = false;
  int scenarios_ = 0;
  std::string step_;  // the gate step running now
};

}  // namespace

ConsoleOptions ConsoleOptionsFor(int fd) {
  ConsoleOptions o;
  bool tty = ::isatty(fd) == 1;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  bool plain = (no_color != nullptr && no_color[0] != '\0') ||
               (term != nullptr && std::string_view(term) == "dumb");
  o.live = tty && !plain;
  o.color = tty && !plain;
  struct winsize ws {};
  if (tty && ::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) o.width = ws.ws_col;
  return o;
}

std::string RenderConsoleSummary(const ScenarioResult& s, bool color) {
  size_t failed = 0;
  for (const auto& c : s.checks) failed += c.verdict != Verdict::kPass;
  std::string out = Safe(s.name) + ": " + Colored(s.verdict, color) + " (" +
                    std::to_string(s.checks.size()) +
                    (s.checks.size() == 1 ? " check, " : " checks, ") + std::to_string(failed) +
                    " not passed) in " + internal::Fixed(internal::DurationSeconds(s), 2) +
                    "s, seed " + std::to_string(s.seed) + "\n";
  if (!s.error.empty())
    out += "  " + std::string(VerdictName(s.verdict)) + ": " + Safe(s.error) + "\n";
  if (!s.checks.empty()) {
    std::vector<std::array<std::string, 4>> rows;
    rows.push_back({"CHECK", "KIND", "MEASURED", "THRESHOLD"});
    for (const auto& c : s.checks) {
      rows.push_back({Cut(Safe(c.name), kMaxCell), Cut(Safe(c.kind), kMaxCell),
                      Cut(Safe(c.measured), kMaxCell), Cut(Safe(c.threshold), kMaxCell)});
    }
    std::array<size_t, 4> w{};
    for (const auto& r : rows) {
      for (size_t i = 0; i < 4; ++i) w[i] = std::max(w[i], Width(r[i]));
    }
    auto row_text = [&](const std::array<std::string, 4>& r) {
      std::string line = " ";
      for (size_t i = 0; i < 4; ++i) line += " " + Pad(r[i], w[i]) + " ";
      return line;
    };
    out += row_text(rows[0]) + " VERDICT\n";
    for (size_t k = 0; k < s.checks.size(); ++k) {
      const CheckResult& c = s.checks[k];
      out += row_text(rows[k + 1]) + " " + Colored(c.verdict, color) + "\n";
      if (c.verdict == Verdict::kPass) continue;
      for (size_t i = 0; i < c.evidence.size() && i < kMaxEvidence; ++i) {
        out += "      " + Safe(c.evidence[i]) + "\n";
      }
      if (c.evidence.size() > kMaxEvidence) {
        out += "      ... " + std::to_string(c.evidence.size() - kMaxEvidence) + " more\n";
      }
    }
  }
  {
    // Syscall traces and trace ids (trace_report.cc); each line made safe on its own.
    std::string trace = internal::TraceConsole(s);
    for (size_t pos = 0, nl; (nl = trace.find('\n', pos)) != std::string::npos; pos = nl + 1) {
      out += Safe(std::string_view(trace).substr(pos, nl - pos)) + "\n";
    }
  }
  if (!s.replay_command.empty() && s.verdict != Verdict::kPass) {
    out += "  replay: " + Safe(s.replay_command) + "\n";
  }
  return out;
}

std::unique_ptr<Reporter> MakeConsoleReporter(std::ostream& out, ConsoleOptions options) {
  return std::make_unique<ConsoleReporter>(out, options);
}

}  // namespace duende::reporters
