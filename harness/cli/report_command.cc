// duende report EVENTS.jsonl: re-renders a finished run from its event log (the single source
// of truth), in any of the report formats, and exits with the run's verdict.
#include <iostream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/exit_code.h"
#include "duende/model/event_log.h"
#include "duende/reporters/reporter.h"
#include "verbs.h"

namespace duende::cli {

int ReportMain(int argc, char** argv) {
  CLI::App app{"Re-render a finished run from its event log (JSON Lines).", "report"};
  std::string events_path, html, junit, json, markdown;
  bool quiet = false;
  app.add_option("events", events_path, "the run's event log (events.jsonl)")->required();
  app.add_option("--html", html, "write a self-contained HTML report to this file");
  app.add_option("--junit", junit, "write JUnit XML to this file");
  app.add_option("--json", json, "write the whole run as JSON to this file");
  app.add_option("--markdown", markdown, "write a Markdown summary to this file");
  app.add_flag("-q,--quiet", quiet, "print only the checks table, not the event lines");
  app.footer(
      "Exit codes: 0 the run passed, 1 it did not (FAIL, ERROR or ABORTED), 2 bad usage or an\n"
      "unreadable event log (the message names path:line), 3 a report file could not be "
      "written.");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  auto events = model::ReadEventLog(events_path);
  if (!events) {
    // Bad content carries its whole message (path:line: ...); errno errors get strerror.
    const framework::Error& e = events.error();
    PrintError(e.code == std::errc::invalid_argument ? e.context : e.Message());
    return framework::kExitUsage;
  }
  if (events->empty()) {
    PrintError(events_path + ": the event log holds no events");
    return framework::kExitUsage;
  }
  model::RunReport report = model::RunReportFromEvents(std::move(events.value()));

  reporters::MultiReporter out;
  // Files first: a path that cannot be written fails before anything is printed.
  if (auto r = reporters::AddFileReporters(
          out, {{"html", html}, {"junit", junit}, {"json", json}, {"markdown", markdown}});
      !r) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  reporters::ConsoleOptions console = reporters::ConsoleOptionsFor(1);
  console.live = false;  // a finished run has nothing to animate
  if (quiet) {
    // Only the summaries: a console reporter that never sees the events.
    for (const auto& s : report.scenarios) {
      std::cout << reporters::RenderConsoleSummary(s, console.color);
    }
  } else {
    out.Add(reporters::MakeConsoleReporter(std::cout, console));
  }
  reporters::Replay(report, out);
  if (auto err = out.error()) {
    PrintError(err->Message());
    return framework::kExitEnvironment;
  }
  return report.verdict == model::Verdict::kPass ? framework::kExitOk : framework::kExitFailed;
}

}  // namespace duende::cli
