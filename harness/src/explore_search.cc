// The explorer: rapidcheck drives generation and shrinking of fault plans; each plan is a
// real scenario run. Runs are not deterministic, so a shrink candidate that passes is re-run
// before rapidcheck is told that it passed.
#include <chrono>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>

#include "duende/faults/fault.h"
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
  if (exit_code == 0) return "";
  if (!result.error.empty()) return result.error;
  std::string out;
  for (const auto& c : result.checks) {
    if (c.verdict == reporters::Verdict::kPass) continue;
    if (!out.empty()) out += "; ";
    out += c.name + ": " + c.measured;
    if (!c.threshold.empty()) out += " (must be " + c.threshold + ")";
  }
  return out.empty() ? std::string(reporters::VerdictName(result.verdict)) : out;
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
    if (c.verdict == reporters::Verdict::kPass) continue;
    if (c.kind != "faults_took_effect") return false;
    missed = true;
  }
  return missed;
}

double ExploreResult::PlansPerMinute() const {
  double seconds = found ? first_failure_seconds : search_seconds;
  return seconds > 0 ? plans_tried * 60.0 / seconds : 0;
}

ExploreResult Explore(const ExploreScenario& base, const ExploreOptions& options,
                      const PlanRunner& run) {
  ExploreResult res;
  res.seed = options.seed ? *options.seed
                          : std::random_device{}() * 4294967296ull + std::random_device{}();
  const uint32_t replays = options.replays ? *options.replays : base.bounds.replays;
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  enum class Phase { kSearch, kShrink };
  Phase phase = Phase::kSearch;
  const Clock::time_point start = Clock::now();
  Clock::time_point shrink_start{};
  int consecutive_errors = 0;

  auto property = [&]() {
    Plan plan = *gen::FaultPlan(base.bounds);
    if (phase == Phase::kSearch) {
      // Out of budget (or the environment broke): the remaining cases pass without a run.
      if (res.environment_error || Clock::now() - start > options.budget) return;
      ++res.plans_tried;
      ++res.runs;
      PlanRun r = run(plan);
      log("plan " + std::to_string(res.plans_tried) + ": " +
          (r.OnlyFaultsMissed() ? std::string("DISCARDED")
                                : std::string(reporters::VerdictName(r.result.verdict))) +
          "  " + DescribePlan(plan) + (r.passed() ? "" : "  -> " + r.Summary()));
      if (r.exit_code == 2 || r.exit_code == 3 || r.exit_code == 130) {
        // A plan can be impossible on its own (a pause stops libfiu's control thread, so a
        // syscall fault during it cannot be enabled): such a plan is discarded. Several in a
        // row, an invalid plan or an interrupt mean the environment is at fault: stop.
        ++res.error_plans;
        if (r.exit_code != 3 || ++consecutive_errors >= kMaxConsecutiveErrors) {
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
    ++res.shrink_tries;
    for (uint32_t attempt = 0; attempt <= replays; ++attempt) {
      ++res.runs;
      PlanRun r = run(plan);
      log("shrink " + std::to_string(res.shrink_tries) +
          (attempt > 0 ? " (re-run " + std::to_string(attempt) + ")" : std::string()) + ": " +
          reporters::VerdictName(r.result.verdict) + "  " + DescribePlan(plan));
      // A candidate whose faults did not all take effect shows nothing: treated as passing.
      if (r.failed() && !r.OnlyFaultsMissed()) {
        if (attempt > 0) ++res.rescued_by_replay;
        ++res.shrink_steps;
        res.minimal = plan;
        res.minimal_run = std::move(r);
        RC_FAIL(res.minimal_run.Summary());
      }
      // An environment error says nothing about the bug: no re-run, the candidate is dropped.
      if (!r.passed() && !r.failed()) break;
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
  if (res.found && options.final_replays > 0) {
    log("replaying the minimal plan " + std::to_string(options.final_replays) + " times");
    for (uint32_t i = 0; i < options.final_replays; ++i) {
      ++res.runs;
      ++res.final_replays;
      if (run(res.minimal).failed()) ++res.final_reproduced;
    }
  }
  return res;
}

}  // namespace duende::harness
