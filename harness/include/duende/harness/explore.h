// Explore: property-based chaos. A scenario's [explore] table bounds a space of fault plans
// (which fault kinds, their parameter ranges, how many faults, when, on which targets); plans
// are generated from it (gen.h), each is run as an ordinary scenario, and the property is that
// every check of the scenario holds. See docs/explore.md.
//
//   [explore]
//   max_faults = 2                 # 1..8 faults per plan
//   window = ["100ms", "900ms"]    # injection times lie in this span of the timeline
//   step = "50ms"                  # granularity of times and durations (default 10ms)
//   targets = ["kvd"]              # default: every target of the scenario
//   shrink_replays = 3             # runs of each shrink candidate ...
//   min_fail_rate = 1.0            # ... that must fail for it to count as failing (all of them)
//   final_replays = 10             # replays measuring how often the written plan reproduces
//   min_reproduce_rate = 0.9       # below this share of failures the result says FLAKY
//   [[explore.fault]]              # one template per fault kind that may be drawn
//   kind = "syscall"
//   duration = { min = "50ms", max = "400ms" }   # a range (shrinks toward min)
//   point = "posix/io/sync/fsync"                # a scalar: fixed
//   errno = ["EIO", "ENOSPC"]                    # an array: one of (shrinks toward the first)
//   [[explore.fault]]
//   kind = "kill"
//   signal = "SIGKILL"
//
// This header is the part without rapidcheck (the harness library is position-independent and
// rapidcheck is not): bounds, plans, and turning a plan into a ready-to-run scenario file.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/harness/scenario.h"

namespace duende::harness {

/// How one parameter of a fault template varies.
struct ParamBound {
  enum class Kind {
    kFixed,          ///< always `choices[0]`
    kChoice,         ///< one of `choices` (shrinks toward the first)
    kIntRange,       ///< an integer in [min, max] (shrinks toward min)
    kDurationRange,  ///< a duration in [min, max] milliseconds (shrinks toward min)
  };
  std::string name;
  Kind kind = Kind::kFixed;
  std::vector<std::string> choices;  ///< TOML literals: "\"EIO\"", "3", "true"
  int64_t min = 0;
  int64_t max = 0;
};

/// One `[[explore.fault]]`: a fault kind that a plan may contain, and its parameters.
struct FaultTemplate {
  std::string kind;
  std::vector<std::string> targets;  ///< default: ExploreBounds::targets
  /// The fault's duration in ms: nullopt for an instant fault (kill); min == max: fixed.
  std::optional<std::pair<int64_t, int64_t>> duration_ms;
  std::vector<ParamBound> params;
  framework::SourcePos pos;
};

/// The scenario's `[explore]` table.
struct ExploreBounds {
  uint32_t max_faults = 2;
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 1000;
  /// Granularity of injection times and fault durations (ms): coarser steps mean fewer shrink
  /// candidates and minimal plans whose faults are not a hair apart.
  int64_t step_ms = 10;
  std::vector<std::string> targets;
  /// Runs of each shrink candidate; it replaces the minimal plan only when at least
  /// `min_fail_rate` of them fail (1.0: every one). Runs are not deterministic, and a
  /// candidate that fails once in three is a worse minimal plan than a larger one that always
  /// fails.
  uint32_t shrink_replays = 3;
  double min_fail_rate = 1.0;
  /// Replays of the shrunk plan (and of each widened variant) that measure how often it
  /// reproduces; the written plan is reliable when it fails in `min_reproduce_rate` of them.
  uint32_t final_replays = 10;
  double min_reproduce_rate = 0.9;
  std::vector<FaultTemplate> faults;
  /// The scenario's duration in ms: a fault's duration is cut so that it heals by then.
  int64_t timeline_ms = 0;
};

/// One fault of a generated plan.
struct PlannedFault {
  std::string kind;
  std::string target;
  int64_t at_ms = 0;
  std::optional<int64_t> duration_ms;
  std::vector<std::pair<std::string, std::string>> params;  ///< name, TOML literal
};

/// A generated fault schedule.
struct Plan {
  std::vector<PlannedFault> faults;
};

/// "kill(SIGKILL) on kvd at 420ms; syscall(point=...) on kvd at 100ms for 250ms".
std::string DescribePlan(const Plan& plan);
std::ostream& operator<<(std::ostream& os, const Plan& plan);
/// For rapidcheck's counterexample output.
void showValue(const Plan& plan, std::ostream& os);

/// A scenario file read for exploration: the scenario (with its own [[fault]] tables), its
/// bounds, and the file's text without [explore] and [[fault]] (a plan's faults are appended).
struct ExploreScenario {
  Scenario scenario;
  ExploreBounds bounds;
  std::string base_text;
  std::string file;
};

/// Reads a scenario file with an `[explore]` table. Errors: the file's errno when unreadable;
/// invalid_argument with every problem as "file:line:col: message" lines (a missing
/// [explore] table, bad bounds, an unknown fault kind, anything LoadScenario rejects).
framework::Result<ExploreScenario> LoadExploreScenario(const std::string& path,
                                                       const FaultKindTable& fault_kinds = {});

/// The same from text (`name` stands for the file name in messages).
framework::Result<ExploreScenario> ParseExploreScenario(std::string_view text,
                                                        const std::string& name,
                                                        const FaultKindTable& fault_kinds = {});

/// Reads only the `[explore]` table of a parsed document. `targets` are the scenario's target
/// names (the default, and what `targets` may name). Problems go to `diags`.
ExploreBounds ReadExploreBounds(const toml::table& explore, const std::string& file,
                                const std::vector<std::string>& targets,
                                const FaultKindTable& fault_kinds,
                                std::shared_ptr<framework::Diagnostics> diags);

/// The scenario file of `plan`: the base text, then one [[fault]] table per planned fault
/// (named "<kind>-<n>"). `header` is put first as `#` comment lines. Runs with `duende run`.
std::string PlanToToml(const ExploreScenario& base, const Plan& plan,
                       const std::string& header = "");

/// Variants of a (shrunk) plan with wider timings, least changed first, for when the plan
/// fails only sometimes: the shrinker pushes faults to the window's start, to the shortest
/// duration and as close to each other as still fails, where a bug barely shows. Each variant
/// keeps the faults, their order and parameters; it multiplies the gaps between injection
/// times and the fault durations by a factor (1, 2, 3, 4, 6; a gap of 0 becomes (factor - 1)
/// sixteenths of the window) and moves the plan to the middle of the window (never earlier).
/// Durations stay within their template's range and heal before the scenario ends; times stay
/// within the window (gaps are squeezed to fit) and on its step. Duplicates and the plan itself
/// are left out; a plan without faults has no variants.
std::vector<Plan> WidenedPlans(const Plan& plan, const ExploreBounds& bounds);

/// The number of `runs` that is at least `rate` of them (rounded up, at least 1): 9 for 0.9
/// of 10, 3 for 1.0 of 3.
uint32_t RequiredCount(double rate, uint32_t runs);

/// Parses PlanToToml(base, plan) into a Scenario (named after base.file). Errors: as
/// ParseScenario (a plan that the fault kinds reject, e.g. a parameter out of range).
framework::Result<Scenario> PlanScenario(const ExploreScenario& base, const Plan& plan,
                                         const FaultKindTable& fault_kinds = {});

}  // namespace duende::harness
