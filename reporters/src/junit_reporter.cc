// JUnit XML: one <testsuite> per scenario, one <testcase> per check.
//
// The shape is the one Jenkins, GitLab and GitHub test-report actions read (the de facto
// "junit-10" schema); reporters/schema/junit.xsd pins what we emit. XML 1.0 cannot carry most
// control characters even as character references, so those (and bytes that are not UTF-8)
// are written as visible "\x01" text instead of being dropped.
#include <string>
#include <string_view>

#include "duende/reporters/markup.h"
#include "duende/reporters/reporter.h"
#include "report_util.h"

namespace duende::reporters {
namespace {

std::string Attr(std::string_view name, std::string_view value) {
  return " " + std::string(name) + "=\"" + XmlEscape(value, true) + "\"";
}

struct Counts {
  int tests = 0, failures = 0, errors = 0;
};

bool ScenarioErrored(const ScenarioResult& s) {
  return s.verdict == Verdict::kError || s.verdict == Verdict::kAborted;
}

Counts Count(const ScenarioResult& s) {
  Counts c;
  for (const auto& check : s.checks) {
    ++c.tests;
    if (check.verdict == Verdict::kFail) ++c.failures;
    if (check.verdict == Verdict::kError || check.verdict == Verdict::kAborted) ++c.errors;
  }
  if (ScenarioErrored(s)) {
    ++c.tests;
    ++c.errors;
  }
  return c;
}

std::string FailureBody(const CheckResult& c, const ScenarioResult& s) {
  std::string body = "measured:  " + c.measured + "\nthreshold: " + c.threshold + "\n";
  if (!c.evidence.empty()) {
    body += "evidence:\n";
    for (const auto& line : c.evidence) body += "  - " + line + "\n";
  }
  if (!s.replay_command.empty()) body += "replay:    " + s.replay_command + "\n";
  return body;
}

void RenderSuite(const ScenarioResult& s, const std::string& hostname, std::string& out) {
  Counts n = Count(s);
  out += "  <testsuite" + Attr("name", s.name) + Attr("tests", std::to_string(n.tests)) +
         Attr("failures", std::to_string(n.failures)) + Attr("errors", std::to_string(n.errors)) +
         Attr("skipped", "0") + Attr("time", internal::Fixed(internal::DurationSeconds(s), 3));
  std::string ts = internal::IsoTime(s.wall_start_ns);
  if (!ts.empty()) out += Attr("timestamp", ts);
  if (!hostname.empty()) out += Attr("hostname", hostname);
  if (!s.file.empty()) out += Attr("file", s.file);
  out += ">\n    <properties>\n";
  auto prop = [&](std::string_view name, std::string_view value) {
    out += "      <property" + Attr("name", name) + Attr("value", value) + "/>\n";
  };
  prop("verdict", VerdictName(s.verdict));
  prop("seed", std::to_string(s.seed));
  if (!s.replay_command.empty()) prop("replay_command", s.replay_command);
  if (!s.description.empty()) prop("description", s.description);
  out += "    </properties>\n";
  for (const auto& c : s.checks) {
    out += "    <testcase" + Attr("name", c.name) + Attr("classname", s.name) +
           Attr("time", internal::Fixed(c.duration_s, 3));
    if (c.verdict == Verdict::kPass) {
      out += "/>\n";
      continue;
    }
    const char* tag = c.verdict == Verdict::kFail ? "failure" : "error";
    std::string message = "measured " + c.measured + ", threshold " + c.threshold;
    out += ">\n      <" + std::string(tag) + Attr("message", message) +
           Attr("type", c.kind.empty() ? "check" : c.kind) + ">" + XmlEscape(FailureBody(c, s)) +
           "</" + tag + ">\n    </testcase>\n";
  }
  if (ScenarioErrored(s)) {
    std::string message = std::string("scenario ") +
                          (s.verdict == Verdict::kAborted ? "aborted" : "error") +
                          (s.error.empty() ? "" : ": " + s.error);
    std::string body = s.error + "\n";
    if (!s.replay_command.empty()) body += "replay: " + s.replay_command + "\n";
    out += "    <testcase" + Attr("name", "(scenario)") + Attr("classname", s.name) +
           Attr("time", internal::Fixed(internal::DurationSeconds(s), 3)) + ">\n      <error" +
           Attr("message", message) + Attr("type", VerdictName(s.verdict)) + ">" + XmlEscape(body) +
           "</error>\n    </testcase>\n";
  }
  out += "  </testsuite>\n";
}

}  // namespace

std::string RenderJunit(const RunReport& report) {
  Counts total;
  double time = 0;
  for (const auto& s : report.scenarios) {
    Counts n = Count(s);
    total.tests += n.tests;
    total.failures += n.failures;
    total.errors += n.errors;
    time += internal::DurationSeconds(s);
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites" +
                    Attr("name", "duende") + Attr("tests", std::to_string(total.tests)) +
                    Attr("failures", std::to_string(total.failures)) +
                    Attr("errors", std::to_string(total.errors)) + Attr("skipped", "0") +
                    Attr("time", internal::Fixed(time, 3)) + ">\n";
  for (const auto& s : report.scenarios) RenderSuite(s, report.hostname, out);
  out += "</testsuites>\n";
  return out;
}

framework::Result<std::unique_ptr<Reporter>> MakeJunitReporter(const std::string& path) {
  return internal::FileReporter::Open(path, RenderJunit);
}

}  // namespace duende::reporters
