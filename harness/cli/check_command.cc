// duende check EVENTS SCENARIO [--set k=v]: re-checks a finished run. The scenario's
// invariants are evaluated again over the recorded event log (nothing is run), so a
// threshold can be changed after the fact: `duende check run.jsonl s.toml --set
// check.p99_latency.max=20ms`. Exits like the run did (model::ExitCodeFor): 0 when every
// check holds, 1 when one fails, 3 when the run itself ended in ERROR (its checks are
// re-evaluated all the same), 130 when it was interrupted or its log is cut short; 2 on bad
// input.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/exit_code.h"
#include "duende/harness/checks.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/scenario.h"
#include "duende/model/event_log.h"
#include "duende/model/events.h"
#include "verbs.h"

namespace duende::cli {

namespace events = model::events;

int CheckMain(int argc, char** argv) {
  CLI::App app("Evaluate a scenario's invariants again over a recorded event log.", "check");
  std::string events_path;
  std::string scenario_path;
  std::vector<std::string> overrides;
  app.add_option("events", events_path, "event log of a run (JSON Lines, from --events)")
      ->required();
  app.add_option("scenario", scenario_path, "the scenario file the run used")->required();
  AddSetOption(app, &overrides, "a scenario value", "check.x.max=0.05");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  auto scenario = harness::LoadScenario(scenario_path, overrides, harness::DefaultFaultKinds());
  if (!scenario.ok()) {
    if (scenario.error().code == std::errc::invalid_argument) {
      std::cerr << scenario.error().context << '\n';
    } else {
      PrintError(scenario.error().Message());
    }
    return framework::kExitUsage;
  }
  auto events = model::ReadEventLog(events_path);
  if (!events.ok()) {
    PrintError(events.error().Message());
    return framework::kExitUsage;
  }
  // A log of several runs (duende run a.toml b.toml --events F): take the last run of this
  // scenario.
  std::vector<model::Event> mine;
  bool in = false;
  for (auto& e : *events) {
    if (e.type == events::kRunStarted) {
      in = e.data.value("scenario", std::string()) == scenario->meta.name;
      if (in) mine.clear();
    }
    if (in) mine.push_back(e);
  }
  if (mine.empty()) mine = *events;  // a log without run.started: take it whole
  auto checks = harness::EvaluateChecks(*scenario, mine);
  std::vector<model::Verdict> verdicts;
  for (const auto& c : checks) {
    verdicts.push_back(c.verdict);
    std::cout << model::VerdictName(c.verdict) << "  " << c.name << ": " << c.measured
              << " (threshold " << c.threshold << ")\n";
    if (c.verdict != model::Verdict::kPass) {
      for (const auto& e : c.evidence) std::cout << "        " << e << '\n';
    }
  }
  // The run's own outcome counts too, read from the log as `duende report` reads it: a run
  // that ended in ERROR (a target never became ready, a fault could not be injected) or was
  // interrupted (ABORTED, or a log that ends before run.finished) did not test what the
  // scenario describes, whatever its checks say now. A log with no run.started is not a run's.
  const bool from_a_run = std::any_of(mine.begin(), mine.end(), [](const model::Event& e) {
    return e.type == model::events::kRunStarted;
  });
  const model::ScenarioResult recorded = model::ScenarioFromEvents(mine);
  if (from_a_run && (recorded.verdict == model::Verdict::kError ||
                     recorded.verdict == model::Verdict::kAborted)) {
    verdicts.push_back(recorded.verdict);
    std::cout << "run: " << model::VerdictName(recorded.verdict)
              << (recorded.error.empty() ? "" : ": " + recorded.error) << '\n';
  }
  model::Verdict v = model::Combine(verdicts);
  std::cout << "verdict: " << model::VerdictName(v) << " (" << checks.size() << " checks over "
            << events->size() << " events of " << events_path << ")\n";
  return model::ExitCodeFor(v);
}

}  // namespace duende::cli
