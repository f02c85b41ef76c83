#include "duende/mutate/report.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "duende/framework/clock.h"
#include "duende/reporters/markup.h"
#include "duende/reporters/reporter.h"

namespace duende::mutate {

namespace fs = std::filesystem;

namespace {

std::string Rel(const std::string& file, const std::string& base) {
  if (base.empty()) return file;
  std::string r = fs::path(file).lexically_relative(base).string();
  return r.empty() || r.rfind("..", 0) == 0 ? file : r;
}

std::string Percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", v);
  return buf;
}

std::string LineOf(const std::string& text, uint32_t line) {
  std::istringstream in(text);
  std::string l;
  for (uint32_t i = 0; i < line && std::getline(in, l); ++i) {
  }
  return l;
}

// The mutated source lines of a mutant (its splice applied), for diffs.
std::pair<std::string, std::string> DiffLines(const MutateRun& run, const Mutant& m) {
  auto it = run.sources.find(m.file);
  if (it == run.sources.end()) return {};
  std::string mutated = ApplyMutant(it->second, m);
  LineIndex before(it->second);
  Position end = before.At(m.end);
  std::string old_text;
  for (uint32_t l = m.start.line; l <= end.line; ++l) {
    old_text += (l == m.start.line ? "" : "\n") + LineOf(it->second, l);
  }
  // The same lines in the mutated text: the splice shifts only what follows it.
  LineIndex after(mutated);
  uint32_t new_end =
      after.At(static_cast<uint32_t>(std::min<size_t>(m.begin + m.code.size(), mutated.size())))
          .line;
  std::string new_text;
  for (uint32_t l = m.start.line; l <= new_end; ++l) {
    new_text += (l == m.start.line ? "" : "\n") + LineOf(mutated, l);
  }
  return {old_text, new_text};
}

}  // namespace

GateResult EvaluateGate(const MutateRun& run, const MutateGate& gate) {
  GateResult r;
  double score = run.Score();
  uint32_t survivors = run.Count(Status::kSurvived) + run.Count(Status::kNoCoverage);
  std::string msg = "mutation score " + Percent(score);
  if (gate.min_score) {
    bool ok = score + 1e-9 >= *gate.min_score;
    msg += (ok ? " >= " : " < ") + Percent(*gate.min_score);
    r.pass = r.pass && ok;
  }
  if (gate.max_survivors) {
    bool ok = survivors <= *gate.max_survivors;
    msg += ", " + std::to_string(survivors) + " undetected" + (ok ? " <= " : " > ") +
           std::to_string(*gate.max_survivors);
    r.pass = r.pass && ok;
  }
  r.message = msg;
  return r;
}

std::string SurvivorLines(const MutateRun& run, const std::string& base) {
  std::string out;
  for (Status s : {Status::kSurvived, Status::kNoCoverage}) {
    for (const auto& m : run.mutants) {
      if (m.status != s) continue;
      out += Rel(m.file, base) + ":" + std::to_string(m.start.line) + ":" +
             std::to_string(m.start.column) +
             ": warning: " + (s == Status::kSurvived ? "survived" : "no coverage") + ": '" +
             m.original + "' -> '" + m.replacement + "' [" + m.mutator + "]\n";
    }
  }
  return out;
}

std::string SummaryLine(const MutateRun& run) {
  std::string s = "mutate: " + std::to_string(run.mutants.size()) +
                  " mutants: " + std::to_string(run.Count(Status::kKilled)) + " killed, " +
                  std::to_string(run.Count(Status::kTimeout)) + " timeout, " +
                  std::to_string(run.Count(Status::kSurvived)) + " survived, " +
                  std::to_string(run.Count(Status::kNoCoverage)) + " no coverage, " +
                  std::to_string(run.Count(Status::kCompileError)) + " compile error, " +
                  std::to_string(run.Count(Status::kIgnored)) + " ignored";
  if (uint32_t p = run.Count(Status::kPending); p > 0) s += ", " + std::to_string(p) + " not run";
  s += "; score " + Percent(run.Score()) + " in " +
       framework::FormatDuration(std::chrono::nanoseconds(run.total_ns));
  return s;
}

std::string StrykerJson(const MutateRun& run) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [file, text] : run.sources) {
    files[Rel(file, run.source_dir)] = {
        {"language", "cpp"}, {"source", text}, {"mutants", nlohmann::json::array()}};
  }
  for (const auto& m : run.mutants) {
    nlohmann::json j = {
        {"id", std::to_string(m.id)},
        {"mutatorName", m.mutator},
        {"replacement", m.replacement},
        {"location",
         {{"start", {{"line", m.start.line}, {"column", m.start.column}}},
          {"end", {{"line", m.stop.line}, {"column", m.stop.column}}}}},
        {"status", std::string(StatusName(m.status))},
    };
    if (!m.detail.empty()) j["statusReason"] = m.detail;
    if (m.status == Status::kKilled && !m.detail.empty()) j["killedBy"] = {m.detail};
    if (!m.covering_tests.empty()) {
      nlohmann::json covered = nlohmann::json::array();
      for (uint32_t t : m.covering_tests) {
        if (t < run.test_names.size()) covered.push_back(run.test_names[t]);
      }
      j["coveredBy"] = covered;
    }
    j["testsCompleted"] = m.tests_run;
    files[Rel(m.file, run.source_dir)]["mutants"].push_back(j);
  }
  nlohmann::json doc = {
      {"schemaVersion", "1"},
      {"thresholds", {{"high", 80}, {"low", 60}}},
      {"projectRoot", run.source_dir},
      {"files", files},
      {"framework", {{"name", "duende mutate"}}},
  };
  return doc.dump(2) + "\n";
}

std::string HtmlReport(const MutateRun& run, const GateResult& gate) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<title>duende mutate: "
    << Percent(run.Score())
    << "</title>\n<style>\n"
       "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}\n"
       "h1{font-size:1.5em}table{border-collapse:collapse;margin:1em 0}\n"
       "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
       "td:first-child,th:first-child{text-align:left}\n"
       ".pass{color:#176f2c}.fail{color:#b3261e}\n"
       "pre{background:#f6f8fa;padding:.5em;overflow-x:auto}"
       ".del{color:#b3261e}.add{color:#176f2c}\n"
       "</style></head><body>\n";
  h << "<h1>duende mutate</h1>\n<p class=\"" << (gate.pass ? "pass" : "fail") << "\"><b>"
    << reporters::HtmlEscape(gate.message) << "</b> &mdash; "
    << (gate.pass ? "gate passed" : "gate failed") << "</p>\n<p>"
    << reporters::HtmlEscape(SummaryLine(run)) << "</p>\n";
  struct Counts {
    uint32_t killed = 0, timeout = 0, survived = 0, nocov = 0, other = 0;
  };
  std::map<std::string, Counts> per_file;
  for (const auto& [file, text] : run.sources) per_file[file];
  for (const auto& m : run.mutants) {
    Counts& c = per_file[m.file];
    switch (m.status) {
      case Status::kKilled:
        ++c.killed;
        break;
      case Status::kTimeout:
        ++c.timeout;
        break;
      case Status::kSurvived:
        ++c.survived;
        break;
      case Status::kNoCoverage:
        ++c.nocov;
        break;
      default:
        ++c.other;
    }
  }
  h << "<h2>Files</h2>\n<table><tr><th>file</th><th>score</th><th>killed</th><th>timeout</th>"
       "<th>survived</th><th>no coverage</th><th>not counted</th></tr>\n";
  for (const auto& [file, c] : per_file) {
    uint32_t all = c.killed + c.timeout + c.survived + c.nocov;
    double score = all == 0 ? 100.0 : 100.0 * (c.killed + c.timeout) / all;
    h << "<tr><td>" << reporters::HtmlEscape(Rel(file, run.source_dir)) << "</td><td>"
      << Percent(score) << "</td><td>" << c.killed << "</td><td>" << c.timeout << "</td><td>"
      << c.survived << "</td><td>" << c.nocov << "</td><td>" << c.other << "</td></tr>\n";
  }
  h << "</table>\n<h2>Survivors</h2>\n";
  bool any = false;
  for (const auto& m : run.mutants) {
    if (m.status != Status::kSurvived && m.status != Status::kNoCoverage) continue;
    any = true;
    auto [old_text, new_text] = DiffLines(run, m);
    h << "<h3 id=\"m" << m.id << "\">" << reporters::HtmlEscape(Rel(m.file, run.source_dir)) << ":"
      << m.start.line << ":" << m.start.column << " &mdash; "
      << (m.status == Status::kSurvived ? "survived" : "no coverage") << " ("
      << reporters::HtmlEscape(m.mutator) << ")</h3>\n<pre>";
    std::istringstream a(old_text);
    std::istringstream b(new_text);
    std::string l;
    while (std::getline(a, l))
      h << "<span class=\"del\">- " << reporters::HtmlEscape(l) << "</span>\n";
    while (std::getline(b, l))
      h << "<span class=\"add\">+ " << reporters::HtmlEscape(l) << "</span>\n";
    h << "</pre>\n";
  }
  if (!any) h << "<p>none</p>\n";
  h << "</body></html>\n";
  return h.str();
}

namespace {

bool Tested(Status s) {
  return s == Status::kKilled || s == Status::kTimeout || s == Status::kSurvived ||
         s == Status::kNoCoverage;
}

}  // namespace

model::RunReport AsRunReport(const MutateRun& run, const GateResult& gate) {
  model::ScenarioResult s;
  s.name = "duende-mutate";
  s.end_ns = run.total_ns;
  model::CheckResult g;
  g.name = "gate";
  g.kind = "mutation_score";
  g.verdict = gate.pass ? model::Verdict::kPass : model::Verdict::kFail;
  g.measured = gate.message.empty() ? "no gate" : gate.message;
  g.threshold = "--min-score and --max-survivors";
  g.evidence.push_back(SummaryLine(run));
  s.checks.push_back(std::move(g));
  for (const auto& m : run.mutants) {
    if (!Tested(m.status)) continue;
    model::CheckResult c;
    c.name = Rel(m.file, run.source_dir) + ":" + std::to_string(m.start.line) + ":" +
             std::to_string(m.start.column) + " '" + m.original + "' -> '" + m.replacement + "'";
    c.kind = m.mutator;
    c.threshold = "killed by a test";
    c.measured = std::string(StatusName(m.status));
    if (m.status == Status::kSurvived) {
      c.verdict = model::Verdict::kFail;
      c.measured = "survived " + std::to_string(m.tests_run) + " covering test(s)";
    } else if (m.status == Status::kNoCoverage) {
      c.verdict = model::Verdict::kFail;
      c.measured = "no test covers it";
    } else if (!m.detail.empty()) {
      c.measured += " by " + m.detail;
    }
    s.checks.push_back(std::move(c));
  }
  s.verdict = gate.pass ? model::Verdict::kPass : model::Verdict::kFail;
  model::RunReport report;
  report.verdict = s.verdict;
  report.scenarios.push_back(std::move(s));
  return report;
}

std::string JunitReport(const MutateRun& run, const GateResult& gate) {
  return reporters::RenderJunit(AsRunReport(run, gate));
}

framework::Result<void> WriteReports(const ReportPaths& paths, const MutateRun& run,
                                     const GateResult& gate) {
  reporters::MultiReporter out;
  auto add =
      [&](framework::Result<std::unique_ptr<reporters::Reporter>> r) -> framework::Result<void> {
    if (!r.ok()) return r.error();
    out.Add(std::move(*r));
    return {};
  };
  if (!paths.json.empty()) {
    DUENDE_TRY(add(reporters::MakeFileReporter(
        paths.json, [&](const model::RunReport&) { return StrykerJson(run); })));
  }
  if (!paths.html.empty()) {
    DUENDE_TRY(add(reporters::MakeFileReporter(
        paths.html, [&](const model::RunReport&) { return HtmlReport(run, gate); })));
  }
  if (!paths.junit.empty()) DUENDE_TRY(add(reporters::MakeJunitReporter(paths.junit)));
  out.OnRunEnd(AsRunReport(run, gate));
  if (auto e = out.error()) return *e;
  return {};
}

}  // namespace duende::mutate
