// duende validate SCENARIO... [--set key=value]: parses and validates scenario files without
// running anything (exploration scenarios, with an [explore] table, included). Exit 0 when all
// are valid, 2 (with file:line:col messages) otherwise.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/runner.h"
#include "duende/harness/scenario.h"
#include "verbs.h"

namespace duende::cli {

int ValidateMain(int argc, char** argv) {
  CLI::App app(
      "Check scenario files without running them: every problem is reported as "
      "file:line:col with the fix.",
      "validate");
  std::vector<std::string> files;
  std::vector<std::string> overrides;
  app.add_option("scenario", files, "scenario files (TOML)")->required();
  AddSetOption(app, &overrides, "a scenario value", "load.rate=500");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  int exit_code = framework::kExitOk;
  // Validation problems are already "file:line:col: ..." lines; anything else (an unreadable
  // file) gets the usual prefix.
  auto report = [&](const framework::Error& e) {
    if (e.code == std::errc::invalid_argument) {
      std::cerr << e.context << '\n';
    } else {
      PrintError(e.Message());
    }
    exit_code = framework::kExitUsage;
  };
  // Preflight problems (a program this machine lacks, a [load] the generator refuses) are
  // "file:line:col: ..." lines whatever their error code; for validate they are invalid input.
  auto report_preflight = [&](const framework::Error& e) {
    std::cerr << e.context << '\n';
    exit_code = framework::kExitUsage;
  };
  for (const auto& file : files) {
    // A file with an [explore] table is an exploration scenario (duende explore): its bounds
    // are checked too.
    auto doc = framework::ParseTomlFile(file);
    if (doc.ok() && doc->contains("explore") && overrides.empty()) {
      auto e = harness::LoadExploreScenario(file, harness::DefaultFaultKinds());
      if (!e.ok()) {
        report(e.error());
        continue;
      }
      if (auto p = harness::PreflightScenario(e->scenario); !p.ok()) {
        report_preflight(p.error());
        continue;
      }
      std::cout << file << ": ok: exploration scenario '" << e->scenario.meta.name << "', "
                << framework::FormatDuration(e->scenario.meta.duration) << ", "
                << e->scenario.targets.size() << " target(s), up to " << e->bounds.max_faults
                << " fault(s) from " << e->bounds.faults.size() << " kind(s) in ["
                << e->bounds.window_start_ms << "ms, " << e->bounds.window_end_ms
                << "ms] (run it with 'duende explore')\n";
      continue;
    }
    auto s = harness::LoadScenario(file, overrides, harness::DefaultFaultKinds());
    if (!s.ok()) {
      report(s.error());
      continue;
    }
    // What `run` refuses before starting (a program that is not installed) is invalid here.
    if (auto p = harness::PreflightScenario(*s); !p.ok()) {
      report_preflight(p.error());
      continue;
    }
    std::cout << file << ": ok: scenario '" << s->meta.name << "', "
              << framework::FormatDuration(s->meta.duration) << ", " << s->targets.size()
              << " target(s), " << s->faults.size() << " fault(s), " << s->checks.size()
              << " check(s)\n";
  }
  return exit_code;
}

}  // namespace duende::cli
