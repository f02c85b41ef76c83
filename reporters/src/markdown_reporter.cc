// A Markdown summary for GitHub Actions step summaries (and GitLab/Gitea comments): a verdict
// line, a table of scenarios, then per scenario its checks and the evidence of failed ones.
#include <algorithm>
#include <string>
#include <string_view>

#include "duende/reporters/reporter.h"
#include "report_util.h"
#include "trace_report.h"

namespace duende::reporters {
namespace {

// Evidence lines shown per check; GitHub caps a step summary at 1 MiB.
constexpr size_t kMaxEvidenceLines = 20;

const char* Icon(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "✅";
    case Verdict::kFail:
      return "❌";
    case Verdict::kError:
      return "⚠️";
    case Verdict::kAborted:
      return "⛔";
  }
  return "";
}

std::string Badge(Verdict v) { return std::string(Icon(v)) + " " + VerdictName(v); }

using internal::Md;

// Text for a code block: valid UTF-8, control characters visible; and a fence longer than any
// run of backticks inside.
std::string CodeText(std::string_view s) {
  std::string out;
  internal::ForEachCodepoint(
      s,
      [&](uint32_t cp, std::string_view bytes) {
        if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7f) {
          out += internal::HexByte(static_cast<unsigned char>(cp));
        } else {
          out += bytes;
        }
      },
      [&](unsigned char b) { out += internal::HexByte(b); });
  return out;
}

std::string Fence(std::string_view text) {
  size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  return std::string(std::max<size_t>(3, longest + 1), '`');
}

void CodeBlock(std::string& out, std::string_view lang, const std::string& text) {
  std::string body = CodeText(text);
  std::string fence = Fence(body);
  out += fence + std::string(lang) + "\n" + body;
  if (body.empty() || body.back() != '\n') out += "\n";
  out += fence + "\n";
}

std::string Seconds(double s) { return internal::Fixed(s, 1) + " s"; }

void RenderScenario(const ScenarioResult& s, std::string& out) {
  out += "\n### " + Badge(s.verdict) + " " + Md(s.name.empty() ? "(unnamed)" : s.name) + "\n\n";
  std::string meta;
  if (!s.file.empty()) meta += "File: " + Md(s.file);
  if (!s.description.empty()) meta += (meta.empty() ? "" : " — ") + Md(s.description);
  if (!meta.empty()) out += meta + "\n\n";
  if (!s.error.empty())
    out += "**" + std::string(VerdictName(s.verdict)) + ":** " + Md(s.error) + "\n\n";

  if (!s.checks.empty()) {
    out += "| Check | Kind | Measured | Threshold | Verdict |\n|---|---|---|---|---|\n";
    for (const auto& c : s.checks) {
      out += "| " + Md(c.name) + " | " + Md(c.kind) + " | " + Md(c.measured) + " | " +
             Md(c.threshold) + " | " + Badge(c.verdict) + " |\n";
    }
    out += "\n";
  }

  internal::RunStats st = internal::ComputeStats(s);
  std::vector<std::string> facts;
  if (!st.load.empty()) {
    facts.push_back("**Load:** " + internal::Compact(st.total_sent) + " requests, " +
                    internal::Compact(st.total_errors) + " errors, " +
                    internal::Compact(st.total_timeouts) + " timeouts, peak p99 " +
                    internal::Micros(st.peak_p99_us));
  }
  if (!st.faults.empty()) {
    std::string f = "**Faults:** ";
    for (size_t i = 0; i < st.faults.size(); ++i) {
      const auto& w = st.faults[i];
      if (i) f += ", ";
      f += Md(w.kind.empty() ? w.name : w.kind);
      if (!w.on.empty()) f += " on " + Md(w.on);
      f += " at " + internal::Fixed(w.start_s, 1) + " s";
    }
    facts.push_back(f);
  }
  if (st.exits > 0 || st.restarts > 0) {
    facts.push_back("**Exits:** " + std::to_string(st.exits) + ", **restarts:** " +
                    std::to_string(st.restarts));
  }
  if (st.lost) facts.push_back("**Lost writes:** " + std::to_string(*st.lost));
  facts.push_back("**Duration:** " + Seconds(internal::DurationSeconds(s)));
  facts.push_back("**Seed:** `" + std::to_string(s.seed) + "`");
  for (size_t i = 0; i < facts.size(); ++i) out += (i ? " · " : "") + facts[i];
  out += "\n";
  out += internal::TraceMarkdown(s);

  for (const auto& c : s.checks) {
    if (c.verdict == Verdict::kPass || c.evidence.empty()) continue;
    out += "\n<details><summary>Evidence for " + Md(c.name) + "</summary>\n\n";
    std::string text;
    for (size_t i = 0; i < c.evidence.size() && i < kMaxEvidenceLines; ++i) {
      text += c.evidence[i] + "\n";
    }
    if (c.evidence.size() > kMaxEvidenceLines) {
      text += "... " + std::to_string(c.evidence.size() - kMaxEvidenceLines) + " more\n";
    }
    CodeBlock(out, "text", text);
    out += "\n</details>\n";
  }
  if (!s.replay_command.empty() && s.verdict != Verdict::kPass) {
    out += "\nReplay this run:\n\n";
    CodeBlock(out, "sh", s.replay_command);
  }
}

}  // namespace

std::string RenderMarkdown(const RunReport& report) {
  size_t checks = 0, passed = 0;
  for (const auto& s : report.scenarios) {
    for (const auto& c : s.checks) {
      ++checks;
      if (c.verdict == Verdict::kPass) ++passed;
    }
  }
  std::string out = "## " + Badge(report.verdict) + " — duende\n\n";
  out += std::to_string(report.scenarios.size()) +
         (report.scenarios.size() == 1 ? " scenario" : " scenarios") + ", " +
         std::to_string(passed) + " of " + std::to_string(checks) + " checks passed";
  if (!report.hostname.empty()) out += " · host " + Md(report.hostname);
  if (!report.tool_version.empty()) out += " · duende " + Md(report.tool_version);
  out += "\n";
  if (report.scenarios.size() > 1) {
    out += "\n| Scenario | Verdict | Checks passed | Duration | Seed |\n|---|---|---|---|---|\n";
    for (const auto& s : report.scenarios) {
      size_t ok = static_cast<size_t>(
          std::count_if(s.checks.begin(), s.checks.end(),
                        [](const CheckResult& c) { return c.verdict == Verdict::kPass; }));
      out += "| " + Md(s.name) + " | " + Badge(s.verdict) + " | " + std::to_string(ok) + "/" +
             std::to_string(s.checks.size()) + " | " + Seconds(internal::DurationSeconds(s)) +
             " | `" + std::to_string(s.seed) + "` |\n";
    }
  }
  for (const auto& s : report.scenarios) RenderScenario(s, out);
  return out;
}

framework::Result<std::unique_ptr<Reporter>> MakeMarkdownReporter(const std::string& path) {
  return internal::FileReporter::Open(path, RenderMarkdown);
}

}  // namespace duende::reporters
