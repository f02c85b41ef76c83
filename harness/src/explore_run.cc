// Running one fault plan through the scenario runner.
#include <utility>

#include "duende/framework/exit_code.h"
#include "duende/harness/gen.h"
#include "duende/harness/runner.h"

namespace duende::harness {

PlanRun RunPlan(const ExploreScenario& base, const Plan& plan, const RunOptions& options) {
  PlanRun run;
  auto scenario = PlanScenario(base, plan, ExploreFaultKinds());
  if (!scenario.ok()) {
    run.exit_code = framework::kExitUsage;
    run.result.verdict = model::Verdict::kError;
    run.result.error = "the plan is not a valid scenario: " + scenario.error().context;
    return run;
  }
  RunOutcome outcome = RunScenario(scenario.value(), options);
  run.result = std::move(outcome.result);
  run.exit_code = outcome.exit_code;
  return run;
}

PlanRun RunPlan(const ExploreScenario& base, const Plan& plan) {
  return RunPlan(base, plan, RunOptions{});
}

}  // namespace duende::harness
