// The explorer: rapidcheck drives generation and shrinking of fault plans; each plan is a
// real scenario run. Runs are not deterministic, so a shrink candidate is run several times
// and counts as failing only when (nearly) every run fails; the shrunk plan is then replayed
// and, when it fails too rarely, its timings are widened until it fails reliably.
#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>

#include "duende/faults/fault.h"
#include "duende/framework/exit_code.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"

namespace duende::harness {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// rapidcheck reports through its listener; the explorer keeps its own record instead.
class QuietListener final : public rc::detail::TestListener {
 public:
  void onTestCaseFinished(const rc::detail::CaseDescription& /*description*/) override {}
  void onShrinkTried(const rc::detail::CaseDescription& /*shrink*/, bool /*accepted*/) override {}
  void onTestFinished(const rc::detail::TestMetadata& /*metadata*/,
                      const rc::detail::TestResult& /*result*/) override {}
};

constexpr const char* kPropertyId = "duende-explore";
constexpr int kMaxConsecutiveErrors = 3;

}  // namespace

std::string PlanRun::Summary() const {
  if (exit_code == framework::kExitOk) return "";
  if (!result.error.empty()) return result.error;
  std::string out;
  for (const auto& c : result.checks) {
    if (c.verdict == model::Verdict::kPass) continue;
    if (!out.empty()) out += "; ";
    out += c.name + ": " + c.measured;
    if (!c.threshold.empty()) out += " (must be " + c.threshold + ")";
  }
  return out.empty() ? std::string(model::VerdictName(result.verdict)) : out;
}

const FaultKindTable& ExploreFaultKinds() {
  static const FaultKindTable kTable = [] {
    FaultKindTable t = DefaultFaultKinds();
    if (t.kinds.empty()) {
      for (const auto& k : faults::Catalogue()) t.kinds.push_back(k.kind);
      t.validate = faults::CheckFaultParams;
    }
    return t;
  }();
  return kTable;
}

bool PlanRun::OnlyFaultsMissed() const {
  if (!failed()) return false;
  bool missed = false;
  for (const auto& c : result.checks) {
    if (c.verdict == model::Verdict::kPass) continue;
    if (c.kind != "faults_took_effect") return false;
    missed = true;
  }
  return missed;
}

double ExploreResult::PlansPerMinute() const {
  double seconds = found ? first_failure_seconds : search_seconds;
  return seconds > 0 ? plans_tried * 60.0 / seconds : 0;
}

namespace {

// The tally of replaying one plan.
struct Tally {
  uint32_t runs = 0;
  uint32_t failed = 0;
  bool interrupted = false;  ///< a run was aborted (exit 130): stop everything
  PlanRun last_failure;
};

// Runs `plan` up to `runs` times, stopping as soon as `need` failures are out of reach (and,
// with `stop_at_need`, as soon as they are reached). A run counts as a failure only when a
// check of the target failed (not when a fault merely missed, not an environment error).
Tally Replay(const Plan& plan, uint32_t runs, uint32_t need, bool stop_at_need,
             const PlanRunner& run, ExploreResult& res,
             const std::function<void(uint32_t, const PlanRun&)>& on_run) {
  Tally t;
  while (t.runs < runs) {
    ++res.runs;
    PlanRun r = run(plan);
    ++t.runs;
    if (on_run) on_run(t.runs, r);
    if (r.exit_code == framework::kExitInterrupted) {
      t.interrupted = true;
      break;
    }
    if (r.failed() && !r.OnlyFaultsMissed()) {
      ++t.failed;
      t.last_failure = std::move(r);
      if (stop_at_need && t.failed >= need) break;
    }
    if (t.failed + (runs - t.runs) < need) break;  // out of reach
  }
  return t;
}

std::string Rate(uint32_t failed, uint32_t runs) {
  return std::to_string(failed) + " of " + std::to_string(runs);
}

// Replays the shrunk plan to measure how often it reproduces. Unless it failed in every
// replay, widened variants are measured (least changed first) until one does: a plan that
// failed 9 times in 10 may well fail only 8 times in 10 for the user, one that failed 10 times
// rarely does. The plan written is that variant, or else whichever plan failed most often
// (replayed to the full count, so its rate is measured like the others'); it is reliable when
// that rate reaches min_reproduce_rate.
void MeasureAndWiden(const ExploreScenario& base, const ExploreOptions& options,
                     const PlanRunner& run, ExploreResult& res) {
  const uint32_t replays = options.final_replays.value_or(base.bounds.final_replays);
  if (replays == 0) return;
  const uint32_t need =
      RequiredCount(options.min_reproduce_rate.value_or(base.bounds.min_reproduce_rate), replays);
  res.final_required = need;
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  const Clock::time_point start = Clock::now();
  auto measure = [&](const Plan& plan, const std::string& what, uint32_t goal) {
    log("replaying the " + what + " " + std::to_string(replays) + " times (" +
        std::to_string(goal) + " failures needed): " + DescribePlan(plan));
    Tally t = Replay(plan, replays, goal, false, run, res, [&](uint32_t n, const PlanRun& r) {
      log("  replay " + std::to_string(n) + ": " +
          (r.OnlyFaultsMissed() ? std::string("DISCARDED")
                                : std::string(model::VerdictName(r.result.verdict))));
    });
    log("  " + what + ": failed in " + Rate(t.failed, t.runs) + " replays" +
        (t.runs < replays && !t.interrupted
             ? " (stopped: " + std::to_string(goal) + " failures out of reach)"
             : std::string()));
    return t;
  };
  Plan best = res.shrunk;
  Tally best_tally = measure(res.shrunk, "shrunk plan", need);
  res.shrunk_reproduced = best_tally.failed;
  res.shrunk_replays = best_tally.runs;
  bool best_widened = false;
  bool interrupted = best_tally.interrupted;
  if (!interrupted && best_tally.failed < replays && options.widen) {
    int n = 0;
    for (const Plan& w : WidenedPlans(res.shrunk, base.bounds)) {
      if (Clock::now() - start > options.widen_budget) {
        log("widening: budget spent");
        break;
      }
      ++res.widen_tries;
      // Measured until it misses once: only a variant that fails every time replaces a plan
      // that already reached the rate (a lower rate still counts when none reaches it).
      Tally t = measure(w, "widened plan " + std::to_string(++n),
                        best_tally.failed >= need ? replays : need);
      if (t.interrupted) {
        interrupted = true;
        break;
      }
      // A higher failure rate (cross-multiplied); a tie keeps the less widened plan.
      if (uint64_t{t.failed} * best_tally.runs > uint64_t{best_tally.failed} * t.runs) {
        best = w;
        best_tally = std::move(t);
        best_widened = true;
      }
      if (best_tally.failed == replays) break;
    }
  }
  if (!interrupted && best_tally.runs < replays) {
    log("measuring the plan that failed most often to the full count");
    Tally more = Replay(best, replays - best_tally.runs, 0, false, run, res, nullptr);
    best_tally.runs += more.runs;
    best_tally.failed += more.failed;
    if (more.failed > 0) best_tally.last_failure = std::move(more.last_failure);
  }
  res.minimal = best;
  res.widened = best_widened;
  if (best_tally.failed > 0) res.minimal_run = std::move(best_tally.last_failure);
  res.final_reproduced = best_tally.failed;
  res.final_replays = best_tally.runs;
  res.widen_seconds = Seconds(Clock::now() - start);
}

}  // namespace

ExploreResult Explore(const ExploreScenario& base, const ExploreOptions& options,
                      const PlanRunner& run) {
  ExploreResult res;
  res.seed = options.seed ? *options.seed
                          : std::random_device{}() * 4294967296ull + std::random_device{}();
  const uint32_t shrink_replays =
      std::max<uint32_t>(1, options.shrink_replays.value_or(base.bounds.shrink_replays));
  const uint32_t shrink_need =
      RequiredCount(options.min_fail_rate.value_or(base.bounds.min_fail_rate), shrink_replays);
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  enum class Phase { kSearch, kShrink };
  Phase phase = Phase::kSearch;
  const Clock::time_point start = Clock::now();
  Clock::time_point shrink_start{};
  int consecutive_errors = 0;
  bool interrupted = false;
  uint64_t plan_number = 0;  // search cases drawn so far (in or out of this shard's range)

  // --reproduce: rapidcheck walks the recorded shrink path, evaluating each plan on it. Those
  // plans all failed when they were found; running each again (up to shrink_replays times)
  // would only let a flaky one break the walk ("not a failure"). So the path is walked
  // without runs, and the shrunk plan at its end is measured by the replays below.
  const bool walk_only =
      !options.reproduce.empty() && options.final_replays.value_or(base.bounds.final_replays) > 0;

  auto property = [&]() {
    Plan plan = *gen::FaultPlan(base.bounds);
    if (walk_only) {
      if (phase == Phase::kSearch) {
        ++res.plans_tried;
        res.found = true;
        res.first_failing = plan;
        phase = Phase::kShrink;
        shrink_start = Clock::now();
      }
      res.minimal = plan;
      RC_FAIL("a plan on the reproduce string's shrink path");
    }
    if (phase == Phase::kSearch) {
      // rapidcheck gives case i the i-th split of the seed's random state, so plan i is the same
      // in every shard; plans of other shards pass without a run.
      const uint64_t number = plan_number++;
      if (number < options.first_plan || number >= options.end_plan) return;
      // Out of budget (or the environment broke): the remaining cases pass without a run.
      if (res.environment_error || Clock::now() - start > options.budget) return;
      ++res.plans_tried;
      ++res.runs;
      PlanRun r = run(plan);
      log("plan " + std::to_string(number + 1) + ": " +
          (r.OnlyFaultsMissed() ? std::string("DISCARDED")
                                : std::string(model::VerdictName(r.result.verdict))) +
          "  " + DescribePlan(plan) + (r.passed() ? "" : "  -> " + r.Summary()));
      if (r.exit_code == framework::kExitUsage || r.exit_code == framework::kExitEnvironment ||
          r.exit_code == framework::kExitInterrupted) {
        // A plan can be impossible on its own (a pause stops libfiu's control thread, so a
        // syscall fault during it cannot be enabled): such a plan is discarded. Several in a
        // row, an invalid plan or an interrupt mean the environment is at fault: stop.
        ++res.error_plans;
        if (r.exit_code != framework::kExitEnvironment ||
            ++consecutive_errors >= kMaxConsecutiveErrors) {
          res.environment_error = true;
          res.error = r.Summary();
          return;
        }
        RC_DISCARD(r.Summary());
      }
      consecutive_errors = 0;
      if (r.OnlyFaultsMissed()) {
        // A fault that never fired (a syscall point the target did not call in its window)
        // makes the plan a smaller plan in disguise: not a bug of the target.
        ++res.ineffective_plans;
        RC_DISCARD(r.Summary());
      }
      if (r.failed()) {
        res.found = true;
        res.first_failure_seconds = Seconds(Clock::now() - start);
        res.first_failing = plan;
        res.minimal = plan;
        res.minimal_run = std::move(r);
        phase = Phase::kShrink;
        shrink_start = Clock::now();
        RC_FAIL(res.minimal_run.Summary());
      }
      return;
    }
    // Shrinking: past the shrink budget every candidate "passes", which ends the shrink at
    // the smallest plan found so far.
    if (Clock::now() - shrink_start > options.shrink_budget) return;
    // A candidate that is the current minimum again (a shrink that changed nothing visible)
    // fails without a run.
    if (DescribePlan(plan) == DescribePlan(res.minimal)) RC_FAIL(res.minimal_run.Summary());
    if (interrupted) return;
    ++res.shrink_tries;
    const std::string label = "shrink " + std::to_string(res.shrink_tries);
    Tally t = Replay(
        plan, shrink_replays, shrink_need, true, run, res, [&](uint32_t n, const PlanRun& r) {
          log(label + (n > 1 ? " (run " + std::to_string(n) + ")" : std::string()) + ": " +
              (r.OnlyFaultsMissed() ? std::string("DISCARDED")
                                    : std::string(model::VerdictName(r.result.verdict))) +
              "  " + DescribePlan(plan));
        });
    if (t.interrupted) {
      interrupted = true;
      return;
    }
    if (t.failed >= shrink_need) {
      ++res.shrink_steps;
      res.minimal = plan;
      res.minimal_run = std::move(t.last_failure);
      RC_FAIL(res.minimal_run.Summary());
    }
    // Failed sometimes, not often enough: a plan where the bug barely shows is not kept.
    if (t.failed > 0) {
      ++res.shrink_flaky;
      log(label + ": failed in only " + Rate(t.failed, t.runs) + " runs (" +
          std::to_string(shrink_need) + " needed): not kept");
    }
  };

  rc::detail::TestParams params;
  params.seed = res.seed;
  params.maxSuccess = options.runs;
  params.maxSize = 100;
  params.maxDiscardRatio = 10;
  rc::detail::TestMetadata metadata;
  metadata.id = kPropertyId;
  metadata.description = "every check of " + base.scenario.meta.name + " holds";
  std::unordered_map<std::string, rc::detail::Reproduce> reproduce_map;
  if (!options.reproduce.empty()) {
    std::string text = options.reproduce;
    if (text.rfind("reproduce=", 0) != 0) text = "reproduce=" + text;
    try {
      auto config = rc::detail::configFromString(text);
      auto it = config.reproduce.find(kPropertyId);
      if (it == config.reproduce.end()) {
        res.environment_error = true;
        res.error = "the reproduce string names no duende explore run";
        return res;
      }
      reproduce_map[kPropertyId] = it->second;
    } catch (const std::exception& e) {
      res.environment_error = true;
      res.error = std::string("bad reproduce string: ") + e.what();
      return res;
    }
  }
  QuietListener listener;
  rc::detail::TestResult result = rc::detail::Error("not run");
  try {
    result = rc::detail::checkProperty(rc::detail::toProperty(property), metadata, params, listener,
                                       reproduce_map);
  } catch (const std::exception& e) {
    res.error = std::string("rapidcheck: ") + e.what();
    res.environment_error = true;
    return res;
  }
  const auto end = Clock::now();
  if (res.found) {
    res.shrink_seconds = Seconds(end - shrink_start);
    res.search_seconds = res.first_failure_seconds;
  } else {
    res.search_seconds = Seconds(end - start);
  }
  rc::detail::FailureResult failure;
  if (result.match(failure)) {
    rc::detail::Configuration config;
    config.reproduce[kPropertyId] = failure.reproduce;
    res.reproduce = rc::detail::configToMinimalString(config);
  } else if (rc::detail::Error err; result.match(err)) {
    res.environment_error = true;
    res.error = "rapidcheck: " + err.description;
  }
  if (res.found) {
    res.shrunk = res.minimal;
    if (!interrupted) MeasureAndWiden(base, options, run, res);
    // The reproduced plan never failed, nor did any wider one: nothing was found this time.
    if (walk_only && res.final_reproduced == 0) res.found = false;
  }
  return res;
}

}  // namespace duende::harness
