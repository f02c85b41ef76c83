// Reporters: turn the result model (model.h) into something people and CI systems read.
//
// A Reporter sees a run as it happens (OnScenarioStart, OnEvent..., OnScenarioEnd, OnRunEnd)
// or afterwards, replayed from an event log (Replay). Each format lives in its own source file
// (console_reporter.cc, json_reporter.cc, junit_reporter.cc, markdown_reporter.cc,
// html_reporter.cc) and knows only the model, as benchmark's reporters know only its Run.
// File formats are written whole at OnRunEnd; their Render* function is the same text.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/model/model.h"

namespace duende::reporters {

/// Receives a run. Callbacks come from one thread, in order: per scenario OnScenarioStart,
/// OnEvent for each event (in log order), OnScenarioEnd; then OnRunEnd once.
class Reporter {
 public:
  virtual ~Reporter() = default;
  /// A scenario begins. `header` has the header fields (name, file, seed, replay_command,
  /// start_ns, wall_start_ns) set; no events or checks yet.
  virtual void OnScenarioStart(const model::ScenarioResult& header) { (void)header; }
  /// One event, as it was appended to the log.
  virtual void OnEvent(const model::Event& event) { (void)event; }
  /// The scenario is over: checks and verdict are final.
  virtual void OnScenarioEnd(const model::ScenarioResult& result) { (void)result; }
  /// The whole invocation is over.
  virtual void OnRunEnd(const model::RunReport& report) { (void)report; }
  /// The first error the reporter met (writing its file, usually); check after OnRunEnd.
  virtual std::optional<framework::Error> error() const { return std::nullopt; }
};

/// Forwards every callback to each reporter it holds, in the order added.
class MultiReporter : public Reporter {
 public:
  void Add(std::unique_ptr<Reporter> reporter);
  bool empty() const { return reporters_.empty(); }
  void OnScenarioStart(const model::ScenarioResult& header) override;
  void OnEvent(const model::Event& event) override;
  void OnScenarioEnd(const model::ScenarioResult& result) override;
  void OnRunEnd(const model::RunReport& report) override;
  /// The first error of any reporter held.
  std::optional<framework::Error> error() const override;

 private:
  std::vector<std::unique_ptr<Reporter>> reporters_;
};

/// Plays a finished report through `reporter` as if it were happening: for each scenario its
/// header, its events, its end; then the run's end. `duende report` renders with this.
void Replay(const model::RunReport& report, Reporter& reporter);

// ---- Console ---------------------------------------------------------------------------

struct ConsoleOptions {
  /// Redraw one progress line in place (elapsed/total, active faults, req/s, errors,
  /// restarts). Off: plain lines, one per notable event, for logs and CI.
  bool live = false;
  /// ANSI colours for verdicts.
  bool color = false;
  /// Terminal width for the live line (0: do not truncate).
  int width = 0;
  /// Off (`-q`): no scenario header, event lines or live line; only each scenario's summary
  /// (checks table, verdict, seed) and the run's verdict line.
  bool progress = true;
};

/// Options for output to `fd`: live and colour on a TTY; NO_COLOR (any non-empty value) turns
/// both off (a live line is colour and cursor control), as does TERM=dumb. `width` comes from
/// the terminal.
ConsoleOptions ConsoleOptionsFor(int fd);

/// Progress while running, then a table of checks (measured vs threshold, verdict) per
/// scenario and a final verdict line. Writes to `out` and flushes after each line.
std::unique_ptr<Reporter> MakeConsoleReporter(std::ostream& out, ConsoleOptions options);

/// The final summary the console reporter prints for one scenario (the checks table).
std::string RenderConsoleSummary(const model::ScenarioResult& scenario, bool color);

// ---- Files: each written whole at OnRunEnd --------------------------------------------
// Factories open (create/truncate) the file at once, so a bad path fails before the run.
// Errors: the errno of open(2), context "unable to open PATH".

/// The whole run as one JSON document (format "duende-run/1", docs/reports.md).
std::string RenderJson(const model::RunReport& report);
framework::Result<std::unique_ptr<Reporter>> MakeJsonReporter(const std::string& path);

/// Every event as it happens, one JSON object per line (the event log format itself).
framework::Result<std::unique_ptr<Reporter>> MakeJsonLinesReporter(const std::string& path);

/// JUnit XML: a <testsuite> per scenario, a <testcase> per check; failures carry measured,
/// threshold and evidence. Any text is escaped (control characters and invalid UTF-8
/// included); the output validates against reporters/schema/junit.xsd.
std::string RenderJunit(const model::RunReport& report);
framework::Result<std::unique_ptr<Reporter>> MakeJunitReporter(const std::string& path);

/// A Markdown summary that fits a GitHub Actions step summary.
std::string RenderMarkdown(const model::RunReport& report);
framework::Result<std::unique_ptr<Reporter>> MakeMarkdownReporter(const std::string& path);

/// One self-contained HTML page (no network): an SVG timeline of throughput and p99 latency
/// per second with fault windows and exits/restarts, the checks, the seed and replay command.
std::string RenderHtml(const model::RunReport& report);
framework::Result<std::unique_ptr<Reporter>> MakeHtmlReporter(const std::string& path);

/// A file reporter for a format that is not a run's (duende mutate's Stryker JSON and HTML
/// page): opens `path` at once like the factories above and writes `render(report)` at
/// OnRunEnd. Errors as above.
framework::Result<std::unique_ptr<Reporter>> MakeFileReporter(
    const std::string& path, std::function<std::string(const model::RunReport&)> render);

/// The file formats by name, for command lines: "html", "junit", "json", "jsonl", "markdown".
struct ReportFile {
  std::string format;
  std::string path;  ///< "" = not wanted
};

/// Creates a reporter for each wanted file and adds it to `out`. Errors: the first file that
/// cannot be opened ("unable to open PATH: ..."), or an unknown format (invalid_argument).
framework::Result<void> AddFileReporters(MultiReporter& out, const std::vector<ReportFile>& files);

}  // namespace duende::reporters
