// duende report EVENTS.jsonl: re-renders a finished run from its event log (the single source
// of truth), in any of the report formats, and exits with the run's verdict (ExitCodeFor).
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
  // `duende report merge A.json B.json ...` (an event log named "merge": ./merge).
  if (argc >= 2 && std::string(argv[1]) == "merge") return ReportMergeMain(argc - 1, argv + 1);
  CLI::App app{
      "Re-render a finished run from its event log (JSON Lines).\n"
      "  duende report merge A.json B.json ... merges the JSON reports of a sharded run\n"
      "  (duende run --shard K/N; see 'duende report merge --help').",
      "report"};
  std::string events_path;
  ReportPaths reports;
  bool quiet = false;
  app.add_option("events", events_path, "the run's event log (events.jsonl)")->required();
  AddReportOptions(app, &reports, kJunitOption | kJsonOption | kHtmlOption | kMarkdownOption);
  AddQuietFlag(app, &quiet, "the scenario header and event lines");
  app.footer(
      "Exit codes: those of the run (0 it passed, 1 a check failed, 3 it ended in ERROR, 130 it\n"
      "was interrupted: ABORTED, or the log ends before run.finished), 2 bad usage or an\n"
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
  if (auto r = AddReportWriters(out, reports); !r) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  reporters::ConsoleOptions console = ConsoleOptionsForStdout(quiet);
  console.live = false;  // a finished run has nothing to animate
  out.Add(reporters::MakeConsoleReporter(std::cout, console));
  reporters::Replay(report, out);
  if (auto err = out.error()) {
    PrintError(err->Message());
    return framework::kExitEnvironment;
  }
  PrintReportPaths(std::cout, reports);
  return model::ExitCodeFor(report.verdict);
}

}  // namespace duende::cli
