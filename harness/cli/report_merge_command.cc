// duende report merge A.json B.json ...: the JSON reports of the shards of one suite
// (`duende run --shard K/N` on N machines) merged into the report of the whole suite, rendered
// in every format as one run of it would have been (docs/sharding.md).
#include <iostream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/exit_code.h"
#include "duende/model/merge.h"
#include "duende/reporters/json_report.h"
#include "duende/reporters/reporter.h"
#include "verbs.h"

namespace duende::cli {

int ReportMergeMain(int argc, char** argv) {
  CLI::App app{
      "Merge the JSON reports of the shards of one suite ('duende run --shard K/N --json F' on N "
      "machines) into one report: the console summary and any of --junit, --html, --markdown, "
      "--json, with the verdicts a single run of the whole suite would have.",
      "report merge"};
  std::vector<std::string> inputs;
  ReportPaths reports;
  bool quiet = false;
  app.add_option("reports", inputs, "the shards' JSON reports (duende run --shard K/N --json F)")
      ->required();
  AddReportOptions(app, &reports, kJunitOption | kJsonOption | kHtmlOption | kMarkdownOption);
  AddQuietFlag(app, &quiet, "the scenario headers and event lines");
  app.footer(
      "Refused (exit 2, naming both reports and both values): reports of different duende\n"
      "versions, of different suites (scenario files, their contents, --set overrides), of\n"
      "different shard counts, the same shard twice, a scenario in two reports.\n"
      "Exit codes: those of a single run of the suite (0 PASS, 1 a check failed, 3 ERROR,\n"
      "130 ABORTED); a shard whose report is missing makes its scenarios ERROR (exit 3);\n"
      "2 bad usage or a report that cannot be read or merged; 3 a report file could not be\n"
      "written.");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  std::vector<model::ShardReport> shards;
  for (const std::string& path : inputs) {
    auto r = reporters::ReadJsonReport(path);
    if (!r.ok()) {
      PrintLoadError(r.error());
      return framework::kExitUsage;
    }
    shards.push_back({path, std::move(r).value()});
  }
  auto merged = model::MergeShardReports(shards);
  if (!merged.ok()) {
    PrintError(merged.error().context);
    return framework::kExitUsage;
  }
  const model::RunReport& report = merged->report;

  reporters::MultiReporter out;
  if (auto r = AddReportWriters(out, reports); !r) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  reporters::ConsoleOptions console = ConsoleOptionsForStdout(quiet);
  console.live = false;  // finished runs have nothing to animate
  out.Add(reporters::MakeConsoleReporter(std::cout, console));
  reporters::Replay(report, out);
  if (auto err = out.error()) {
    PrintError(err->Message());
    return framework::kExitEnvironment;
  }
  const uint32_t count =
      report.suite.empty() ? 1 : shards.front().report.shard.value_or(model::Shard{}).count;
  std::cout << "merged " << shards.size() << " of " << count
            << " shard report(s): " << report.scenarios.size() << " scenario(s) of a suite of "
            << report.suite.scenarios.size() << '\n';
  for (const model::Shard& s : merged->missing) {
    PrintWarning("no report of shard " + model::ShardName(s) +
                 " was given: its scenarios are reported as ERROR (not run)");
  }
  PrintReportPaths(std::cout, reports);
  return model::ExitCodeFor(report.verdict);
}

}  // namespace duende::cli
