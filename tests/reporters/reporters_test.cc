#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "duende/model/event_log.h"
#include "duende/reporters/reporter.h"
#include "sample_events.h"
#include "support/golden.h"

namespace duende::reporters {
namespace {

using namespace duende::reporters::testing;  // NOLINT(google-build-using-namespace)
using duende::testing::MatchesGolden;
using duende::testing::SplitLines;

RunReport Sample() {
  std::vector<Event> ev = KillUnderLoad();
  for (Event& e : QuietPass()) ev.push_back(std::move(e));
  return RunReportFromEvents(std::move(ev));
}

std::string SamplesDir() {
  std::string dir = std::string(DUENDE_BINARY_DIR) + "/tests/reporters/samples";
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteLog(const std::string& path, const std::vector<Event>& events) {
  auto w = EventLogWriter::Open(path);
  ASSERT_TRUE(w.ok()) << w.error().Message();
  for (const Event& e : events) w->Append(e);
  ASSERT_FALSE(w->error());
}

// Leaves the sample logs where the CLI and browser tests (and a curious reader) find them.
TEST(ReporterSamplesTest, WritesSampleEventLogs) {
  std::string dir = SamplesDir();
  std::vector<Event> two = KillUnderLoad();
  for (Event& e : QuietPass()) two.push_back(std::move(e));
  WriteLog(dir + "/kill-under-load.jsonl", KillUnderLoad());
  WriteLog(dir + "/two-scenarios.jsonl", two);
  WriteLog(dir + "/pass.jsonl", QuietPass());
  WriteLog(dir + "/nasty.jsonl", NastyRun());
  auto back = ReadEventLog(dir + "/two-scenarios.jsonl");
  ASSERT_TRUE(back.ok()) << back.error().Message();
  EXPECT_EQ(back->size(), two.size());
}

TEST(ConsoleReporterTest, SummaryMatchesGolden) {
  RunReport r = Sample();
  std::string text;
  for (const auto& s : r.scenarios) text += RenderConsoleSummary(s, false);
  EXPECT_TRUE(MatchesGolden(text, "console_summary.txt"));
}

TEST(ConsoleReporterTest, PlainReplayMatchesGolden) {
  RunReport r = Sample();
  std::ostringstream out;
  auto console = MakeConsoleReporter(out, ConsoleOptions{});
  Replay(r, *console);
  EXPECT_TRUE(MatchesGolden(out.str(), "console_plain.txt")) << out.str();
}

TEST(ConsoleReporterTest, LiveModeRedrawsOneLineAndKeepsEventsAbove) {
  RunReport r = Sample();
  std::ostringstream out;
  auto console = MakeConsoleReporter(out, ConsoleOptions{true, false, 80});
  Replay(r, *console);
  std::string text = out.str();
  // The progress line is redrawn in place (\r + erase line) and never printed with a newline.
  EXPECT_NE(text.find("\r\033[2Kkill-under-load  10.0s/30.0s  faults: kill@kvd"),
            std::string::npos);
  EXPECT_NE(text.find("faults: latency@kvd"), std::string::npos);
  EXPECT_NE(text.find("restarts 1"), std::string::npos);
  EXPECT_NE(text.find("\r\033[2K[  10.00s] kvd: killed by signal 9 (SIGKILL)\n"),
            std::string::npos);
  // No plain per-5-seconds load lines on a TTY: the live line shows the rate.
  EXPECT_EQ(text.find("errors so far"), std::string::npos);
  EXPECT_NE(text.find("2328 req/s  errors 0  restarts 0"), std::string::npos);
  // Every redraw (a segment after \r\033[2K that is not ended by a newline) fits the width.
  size_t redraws = 0;
  for (size_t pos = text.find("\r\033[2K"); pos != std::string::npos;
       pos = text.find("\r\033[2K", pos + 1)) {
    size_t end = text.find_first_of("\r\n", pos + 5);
    if (end != std::string::npos && text[end] == '\n') continue;  // a permanent line
    std::string line = text.substr(pos + 5, end == std::string::npos ? end : end - pos - 5);
    if (line.empty()) continue;  // a clear before the summary
    ++redraws;
    EXPECT_LE(line.size(), 79u) << line;
  }
  EXPECT_GT(redraws, 20u);
}

TEST(ConsoleReporterTest, ColorOnlyWhenAsked) {
  RunReport r = Sample();
  EXPECT_EQ(RenderConsoleSummary(r.scenarios[0], false).find('\033'), std::string::npos);
  EXPECT_NE(RenderConsoleSummary(r.scenarios[0], true).find("\033[1;31mFAIL\033[0m"),
            std::string::npos);
}

TEST(ConsoleReporterTest, NoColorTurnsOffLiveAndColor) {
  // A pipe is not a TTY: plain.
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  ConsoleOptions o = ConsoleOptionsFor(fds[1]);
  EXPECT_FALSE(o.live);
  EXPECT_FALSE(o.color);
  close(fds[0]);
  close(fds[1]);
  // A pseudo-terminal is one, unless NO_COLOR is set.
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
    GTEST_SKIP() << "no pseudo-terminals here";
  }
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  unsetenv("NO_COLOR");
  setenv("TERM", "xterm", 1);
  EXPECT_TRUE(ConsoleOptionsFor(slave).live);
  EXPECT_TRUE(ConsoleOptionsFor(slave).color);
  setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(ConsoleOptionsFor(slave).live);
  EXPECT_FALSE(ConsoleOptionsFor(slave).color);
  unsetenv("NO_COLOR");
  close(slave);
  close(master);
}

TEST(ConsoleReporterTest, DataCannotInjectTerminalEscapes) {
  RunReport r = RunReportFromEvents(NastyRun());
  std::ostringstream out;
  auto console = MakeConsoleReporter(out, ConsoleOptions{});
  Replay(r, *console);
  EXPECT_EQ(out.str().find('\033'), std::string::npos);
  EXPECT_NE(out.str().find("\\x1B[31mred"), std::string::npos);
}

TEST(ConsoleReporterTest, PrintsATargetsLastOutputLinesSafely) {
  std::ostringstream out;
  auto console = MakeConsoleReporter(out, ConsoleOptions{});
  ScenarioResult header;
  header.name = "s";
  console->OnScenarioStart(header);
  console->OnEvent(
      Event{1000,
            "target.output_tail",
            "nginx",
            {{"reason", "not ready"},
             {"pid", 7},
             {"log", "/tmp/duende-run-x/logs/nginx.log"},
             {"lines", {"first", "bind() failed (98: Address already in use)", "\033[31mred"}}}});
  console->OnEvent(
      Event{2000, "target.output_tail", "quiet", {{"reason", "exited"}, {"lines", {}}}});
  const std::string text = out.str();
  EXPECT_NE(text.find("nginx: did not get ready; its last output lines:\n    | first\n"
                      "    | bind() failed (98: Address already in use)\n    | \\x1B[31mred\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("quiet: exited unexpectedly; its last output lines: (none: it wrote "
                      "nothing to stdout or stderr)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find('\033'), std::string::npos);
}

TEST(JsonReporterTest, MatchesGolden) {
  EXPECT_TRUE(MatchesGolden(RenderJson(RunReportFromEvents(QuietPass())), "pass.json"));
}

TEST(JsonReporterTest, WholeRunIsValidJsonWithChecksAndEvents) {
  RunReport r = Sample();
  nlohmann::json doc = nlohmann::json::parse(RenderJson(r));
  EXPECT_EQ(doc["format"], "duende-run/1");
  EXPECT_EQ(doc["verdict"], "FAIL");
  EXPECT_EQ(doc["hostname"], "ci-runner-1");
  ASSERT_EQ(doc["scenarios"].size(), 2u);
  const auto& s = doc["scenarios"][0];
  EXPECT_EQ(s["seed"], 1234567);
  EXPECT_EQ(s["checks"][0]["verdict"], "FAIL");
  EXPECT_EQ(s["checks"][0]["evidence"].size(), 3u);
  EXPECT_EQ(s["events"].size(), r.scenarios[0].events.size());
  EXPECT_DOUBLE_EQ(s["duration_s"].get<double>(), 30.08);
}

TEST(JsonReporterTest, NastyTextStaysValidJson) {
  std::string text = RenderJson(RunReportFromEvents(NastyRun()));
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(text));
  EXPECT_EQ(doc["verdict"], "ERROR");
}

TEST(JsonLinesReporterTest, WritesEachEventAsItArrives) {
  std::string path = SamplesDir() + "/jsonl-reporter.jsonl";
  auto rep = MakeJsonLinesReporter(path);
  ASSERT_TRUE(rep.ok()) << rep.error().Message();
  RunReport r = RunReportFromEvents(QuietPass());
  (*rep)->OnScenarioStart(r.scenarios[0]);
  (*rep)->OnEvent(r.scenarios[0].events[0]);
  // Already on disk before the run ends.
  auto partial = ReadEventLog(path);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->size(), 1u);
  for (size_t i = 1; i < r.scenarios[0].events.size(); ++i) {
    (*rep)->OnEvent(r.scenarios[0].events[i]);
  }
  (*rep)->OnRunEnd(r);
  auto all = ReadEventLog(path);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), r.scenarios[0].events.size());
  EXPECT_FALSE((*rep)->error());
}

TEST(FileReporterTest, UnwritablePathFailsAtCreation) {
  for (auto make : {MakeJsonReporter, MakeJunitReporter, MakeMarkdownReporter, MakeHtmlReporter,
                    MakeJsonLinesReporter}) {
    auto r = make("/nonexistent-dir/out");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().Message(),
              "unable to open /nonexistent-dir/out: No such file or directory");
  }
}

TEST(FileReporterTest, WriteErrorIsReported) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "/dev/full not available";
  auto r = MakeMarkdownReporter("/dev/full");
  ASSERT_TRUE(r.ok());
  (*r)->OnRunEnd(Sample());
  ASSERT_TRUE((*r)->error());
  EXPECT_EQ((*r)->error()->Message(), "unable to write /dev/full: No space left on device");
}

TEST(MarkdownReporterTest, MatchesGolden) {
  EXPECT_TRUE(MatchesGolden(RenderMarkdown(Sample()), "summary.md"));
}

TEST(MarkdownReporterTest, EscapesTableBreakersAndMarkup) {
  std::string md = RenderMarkdown(RunReportFromEvents(NastyRun()));
  // Outside fenced code blocks (where text is literal) no markup survives.
  std::string prose;
  bool in_code = false;
  for (const std::string& line : SplitLines(md)) {
    if (line.rfind("```", 0) == 0) {
      in_code = !in_code;
      continue;
    }
    if (!in_code) prose += line + "\n";
  }
  EXPECT_FALSE(in_code) << "unbalanced fences";
  EXPECT_EQ(prose.find("<script>"), std::string::npos);
  EXPECT_NE(md.find("&lt;script&gt;"), std::string::npos);
  // Every table row still has exactly its 6 unescaped pipes.
  for (const std::string& line : SplitLines(md)) {
    if (line.rfind("| ", 0) != 0) continue;
    int pipes = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++pipes;
    }
    EXPECT_EQ(pipes, 6) << line;
  }
  EXPECT_EQ(md.find('\x01'), std::string::npos);
  EXPECT_EQ(md.find('\xff'), std::string::npos);
}

TEST(HtmlReporterTest, IsSelfContained) {
  std::string html = RenderHtml(Sample());
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  for (const char* needle : {"http://", "https://", "<script", "<link", "<img", "url("}) {
    size_t pos = html.find(needle);
    // The only URL allowed is the SVG namespace, which is a name, not a request.
    while (pos != std::string::npos && html.compare(pos, 26, "http://www.w3.org/2000/svg") == 0) {
      pos = html.find(needle, pos + 1);
    }
    EXPECT_EQ(pos, std::string::npos) << needle;
  }
}

TEST(HtmlReporterTest, TimelineDrawsLoadFaultsAndMarkers) {
  std::string html = RenderHtml(RunReportFromEvents(KillUnderLoad()));
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = html.find(needle); p != std::string::npos; p = html.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<rect class=\"ok\" x="), 30u);  // one bar per load.second
  EXPECT_EQ(count("<rect class=\"err\" x="), 8u);  // seconds 10, 11 and the six slow ones
  EXPECT_EQ(count("<g class=\"fault\">"), 2u);     // kill and latency windows
  EXPECT_EQ(count("<g class=\"exit\">"), 1u);
  EXPECT_EQ(count("<g class=\"restart\">"), 1u);
  EXPECT_EQ(count("<polyline class=\"p99\""), 1u);
  EXPECT_NE(html.find("duende run scenarios/kill-under-load.toml --seed 1234567"),
            std::string::npos);
  EXPECT_NE(html.find("<code>1234567</code>"), std::string::npos);
}

// The load's last second is often cut short where the load stops; its bar spans only that
// part and stands as tall as the rate it ran at (200 requests in half a second: 400/s, as
// tall as the full second before it), and the bars do not overlap.
TEST(HtmlReporterTest, APartialLastSecondIsDrawnAtItsRateOverItsSpan) {
  constexpr int64_t kSec = 1'000'000'000, t0 = 5 * kSec;
  std::vector<Event> ev = {
      Ev(t0, "run.started", "", {{"scenario", "partial"}, {"duration_ns", 2 * kSec}}),
      Ev(t0 + kSec + 3'000'000, "load.second", "load",
         {{"second", 0}, {"sent", 400}, {"ok", 400}, {"start_ns", t0}}),
      // Written 0.3 s after the load stopped at 1.5 s.
      Ev(t0 + 1800 * 1'000'000, "load.second", "load",
         {{"second", 1},
          {"sent", 200},
          {"ok", 200},
          {"start_ns", t0 + kSec},
          {"span_ns", kSec / 2}}),
      Ev(t0 + 2 * kSec, "run.finished", "", {{"verdict", "PASS"}})};
  std::string html = RenderHtml(RunReportFromEvents(ev));
  struct Bar {
    double x, y, w, h;
  };
  std::vector<Bar> bars;
  for (size_t p = html.find("<rect class=\"ok\" x="); p != std::string::npos;
       p = html.find("<rect class=\"ok\" x=", p + 1)) {
    Bar b{};
    ASSERT_EQ(std::sscanf(html.c_str() + p,
                          "<rect class=\"ok\" x=\"%lf\" y=\"%lf\" width=\"%lf\" "
                          "height=\"%lf\"",
                          &b.x, &b.y, &b.w, &b.h),
              4)
        << html.substr(p, 120);
    bars.push_back(b);
  }
  ASSERT_EQ(bars.size(), 2u);
  EXPECT_NEAR(bars[1].h, bars[0].h, 0.6) << "the half second ran at the same 400/s";
  EXPECT_NEAR(bars[1].w, bars[0].w / 2, 1.0) << "half a second wide";
  EXPECT_LE(bars[0].x + bars[0].w, bars[1].x) << "bars overlap";
}

TEST(HtmlReporterTest, EscapesEverything) {
  std::string html = RenderHtml(RunReportFromEvents(NastyRun()));
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find('\x01'), std::string::npos);
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace duende::reporters
