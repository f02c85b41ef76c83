// rapidcheck generators of fault plans, running a plan, and the explorer behind
// `duende explore`. This part links rapidcheck, which ships only as a static library built
// without -fPIC: link the target `duende::harness_explore` into executables (tests, programs),
// never into a shared library.
//
// A user's own property test of a daemon (the README's example, from
// tests/harness/explore_example_test.cc; kMyDaemon is the scenario's TOML text, or use
// LoadExploreScenario(path, ExploreFaultKinds()) for a file):
//
// clang-format off
//   RC_GTEST_PROP(MyDaemon, KeepsAcknowledgedWritesUnderFaults, ()) {
//     using namespace duende::harness;
//     static const auto loaded = ParseExploreScenario(kMyDaemon, "my-daemon.toml", ExploreFaultKinds());
//     RC_ASSERT(loaded.ok());  // (bad input would print file:line:col messages here)
//     const ExploreScenario& base = loaded.value();
//     Plan plan = *gen::FaultPlan(base.bounds);
//     PlanRun run = RunPlan(base, plan);
//     RC_ASSERT(run.exit_code != 3);  // the environment worked (the daemon started, faults fired)
//     RC_ASSERT(run.passed());
//   }
// clang-format on
#pragma once

#include <rapidcheck.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/exit_code.h"
#include "duende/harness/explore.h"
#include "duende/model/model.h"

namespace duende::harness {
namespace gen {

/// One fault drawn from `bounds`: a template, a target, an injection time in the window, a
/// duration and parameters in their ranges. Shrinks toward the first template, the first
/// target, the window's start, the shortest duration and the first choice / the minimum.
rc::Gen<PlannedFault> Fault(const ExploreBounds& bounds);

/// A plan of 1..bounds.max_faults faults. Shrinks by dropping faults, then each fault as
/// Fault() does. Generation does not depend on rapidcheck's size.
rc::Gen<Plan> FaultPlan(const ExploreBounds& bounds);

}  // namespace gen

/// The outcome of running one plan.
struct PlanRun {
  model::ScenarioResult result;
  /// RunOutcome's codes: ExitCodeFor(result.verdict), or kExitUsage for an invalid plan.
  int exit_code = framework::kExitOk;
  bool passed() const { return exit_code == framework::kExitOk; }
  bool failed() const { return exit_code == framework::kExitFailed; }
  /// It failed only because a fault never took effect (faults-took-effect is the only check
  /// not passed): the plan did not test what it describes, so the explorer discards it
  /// instead of reporting a bug of the target.
  bool OnlyFaultsMissed() const;
  /// "no_lost_writes: 12 lost", the failing checks in a line ("" when it passed).
  std::string Summary() const;
};

/// The fault kinds of faults::Catalogue() with their parameter validator (DefaultFaultKinds()
/// when that lists them). Pass it to LoadExploreScenario so bad parameters are caught early.
const FaultKindTable& ExploreFaultKinds();

struct RunOptions;  // runner.h

/// Runs `base`'s scenario with the faults of `plan` (instead of its own [[fault]] tables)
/// through RunScenario (runner.h). A plan the scenario parser rejects gives exit code 2 and
/// the message in result.error.
PlanRun RunPlan(const ExploreScenario& base, const Plan& plan, const RunOptions& options);
PlanRun RunPlan(const ExploreScenario& base, const Plan& plan);

/// Runs one plan; the explorer's way of running (RunPlan by default; tests substitute it).
using PlanRunner = std::function<PlanRun(const Plan& plan)>;

struct ExploreOptions {
  /// Most plans generated before giving up the search (rapidcheck's max_success).
  int runs = 100;
  /// Wall time for the search; shrinking gets `shrink_budget` more.
  std::chrono::nanoseconds budget = std::chrono::minutes(5);
  std::chrono::nanoseconds shrink_budget = std::chrono::minutes(5);
  /// rapidcheck's seed (nullopt: a random one, reported).
  std::optional<uint64_t> seed;
  /// Runs of each shrink candidate, and the share of them that must fail for it to count as
  /// failing (nullopt: bounds.shrink_replays / bounds.min_fail_rate; default 3 and 1.0).
  std::optional<uint32_t> shrink_replays;
  std::optional<double> min_fail_rate;
  /// Replays that measure how often the shrunk plan (and each widened variant) reproduces,
  /// and the share that must fail (nullopt: bounds.final_replays / min_reproduce_rate; default
  /// 10 and 0.9). 0 replays: no measurement and no widening.
  std::optional<uint32_t> final_replays;
  std::optional<double> min_reproduce_rate;
  /// Widen the timings of a shrunk plan that did not fail in every replay (WidenedPlans,
  /// explore.h); false: only measure it.
  bool widen = true;
  /// Wall time for widening; when it runs out, the best plan measured so far is the result.
  std::chrono::nanoseconds widen_budget = std::chrono::minutes(5);
  /// A reproduce string from an earlier report: runs only the minimal plan it names.
  std::string reproduce;
  /// Run only plans number [first_plan, end_plan) (0-based) of the seed's sequence: plan i is
  /// the i-th case rapidcheck draws from the seed, whatever happened before it, so shards that
  /// share a seed and split [0, runs) into ranges (--shard K/N) together run the plans of one
  /// search. Plans outside the range pass without a run.
  uint64_t first_plan = 0;
  uint64_t end_plan = UINT64_MAX;
  /// Progress lines ("plan 7: PASS kill(...)..."); may be empty.
  std::function<void(const std::string&)> log;
};

struct ExploreResult {
  bool found = false;
  /// The search ran into an environment error (exit 3) and stopped.
  bool environment_error = false;
  std::string error;
  uint64_t seed = 0;
  int plans_tried = 0;        ///< distinct plans generated and run in the search phase
  int runs = 0;               ///< scenario runs in total (search, shrink, replays)
  int error_plans = 0;        ///< plans discarded because their run was an environment error
  int ineffective_plans = 0;  ///< plans discarded because a fault never took effect
  int shrink_steps = 0;       ///< shrink candidates that still failed (accepted by rapidcheck)
  int shrink_tries = 0;       ///< shrink candidates run
  /// Candidates that failed in some runs but fewer than min_fail_rate: not kept.
  int shrink_flaky = 0;
  int widen_tries = 0;  ///< widened variants measured
  double search_seconds = 0;
  double first_failure_seconds = 0;
  double shrink_seconds = 0;
  double widen_seconds = 0;
  Plan first_failing;
  /// Where shrinking ended, and how often it failed when replayed (0 of 0: not replayed).
  Plan shrunk;
  uint32_t shrunk_reproduced = 0;
  uint32_t shrunk_replays = 0;
  /// The plan to write: `shrunk` when it failed in every replay, else the first widened
  /// variant that did, else whichever of them failed most often.
  Plan minimal;
  bool widened = false;   ///< minimal is a widened variant of shrunk
  PlanRun minimal_run;    ///< the last failing run of the minimal plan
  std::string reproduce;  ///< rapidcheck's reproduce string for the shrunk plan
  /// How often `minimal` failed when replayed (measured replays; 0 of 0: not measured).
  uint32_t final_reproduced = 0;
  uint32_t final_replays = 0;
  /// The failures needed among final_replays (RequiredCount of min_reproduce_rate).
  uint32_t final_required = 0;
  /// The minimal plan reproduced at least min_reproduce_rate of the time.
  bool Reliable() const { return final_replays > 0 && final_reproduced >= final_required; }
  double PlansPerMinute() const;
};

/// Generates plans within `base.bounds` with rapidcheck and runs each through `run`; the
/// property is that every run passes. A failing plan is shrunk; a shrink candidate counts as
/// failing only when it fails in min_fail_rate of shrink_replays runs (real runs are not
/// deterministic). The shrunk plan is then replayed final_replays times; unless every replay
/// failed, its timings are widened (WidenedPlans) until a variant fails every time; the plan
/// written is reliable when it failed in at least min_reproduce_rate of its replays.
/// Never throws.
ExploreResult Explore(const ExploreScenario& base, const ExploreOptions& options,
                      const PlanRunner& run);

}  // namespace duende::harness
