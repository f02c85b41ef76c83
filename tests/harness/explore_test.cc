// The explorer without real daemons: [explore] parsing and its errors, plans written back as
// scenario files, the generators' bounds, and search + shrink + re-runs with a scripted runner.
#include "duende/harness/explore.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"

namespace duende::harness {
namespace {

constexpr const char* kScenario = R"(
[scenario]
name = "t"
duration = "1s"

[[target]]
name = "kvd"
command = ["duende-fixture-kvd"]
address = "127.0.0.1:1"
fiu = true

[[target]]
name = "other"
command = ["duende-fixture-kvd"]

[[fault]]
kind = "kill"
at = "200ms"

[[check]]
kind = "no_orphans"

[explore]
max_faults = 3
window = ["100ms", "800ms"]
targets = ["kvd"]
shrink_replays = 2

[[explore.fault]]
kind = "syscall"
point = ["posix/io/rw/write", "posix/io/sync/fsync"]
errno = "EIO"
duration = { min = "50ms", max = "300ms" }

[[explore.fault]]
kind = "kill"
signal = ["SIGTERM", "SIGKILL"]
wait = { min = "100ms", max = "2s" }
)";

ExploreScenario Load(const std::string& text = kScenario) {
  auto es = ParseExploreScenario(text, "t.toml", ExploreFaultKinds());
  if (!es.ok()) ADD_FAILURE() << es.error().context;
  return es.ok() ? std::move(es).value() : ExploreScenario{};
}

TEST(ExploreBoundsTest, ReadsTheExploreTable) {
  ExploreScenario es = Load();
  EXPECT_EQ(es.bounds.max_faults, 3u);
  EXPECT_EQ(es.bounds.window_start_ms, 100);
  EXPECT_EQ(es.bounds.window_end_ms, 800);
  EXPECT_EQ(es.bounds.targets, std::vector<std::string>{"kvd"});
  EXPECT_EQ(es.bounds.shrink_replays, 2u);
  EXPECT_EQ(es.bounds.min_fail_rate, 1.0);  // the defaults
  EXPECT_EQ(es.bounds.final_replays, 10u);
  EXPECT_EQ(es.bounds.min_reproduce_rate, 0.9);
  EXPECT_EQ(es.bounds.step_ms, 10);
  ASSERT_EQ(es.bounds.faults.size(), 2u);
  const FaultTemplate& sys = es.bounds.faults[0];
  EXPECT_EQ(sys.kind, "syscall");
  ASSERT_TRUE(sys.duration_ms.has_value());
  EXPECT_EQ(sys.duration_ms->first, 50);
  EXPECT_EQ(sys.duration_ms->second, 300);
  // Parameters in key order (toml++ tables are sorted).
  ASSERT_EQ(sys.params.size(), 2u);
  EXPECT_EQ(sys.params[0].name, "errno");
  EXPECT_EQ(sys.params[0].kind, ParamBound::Kind::kFixed);
  EXPECT_EQ(sys.params[1].name, "point");
  EXPECT_EQ(sys.params[1].kind, ParamBound::Kind::kChoice);
  ASSERT_EQ(sys.params[1].choices.size(), 2u);
  EXPECT_EQ(sys.params[1].choices[1], "\"posix/io/sync/fsync\"");
  const FaultTemplate& kill = es.bounds.faults[1];
  EXPECT_FALSE(kill.duration_ms.has_value());
  ASSERT_EQ(kill.params.size(), 2u);
  EXPECT_EQ(kill.params[0].name, "signal");
  EXPECT_EQ(kill.params[1].kind, ParamBound::Kind::kDurationRange);
  EXPECT_EQ(kill.params[1].max, 2000);
  // The scenario's own [[fault]] is kept in the scenario, not in the base text of plans.
  EXPECT_EQ(es.scenario.faults.size(), 1u);
  EXPECT_EQ(es.base_text.find("[[fault]]"), std::string::npos);
  EXPECT_EQ(es.base_text.find("[explore"), std::string::npos);
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string ErrorOf(const std::string& text) {
  auto es = ParseExploreScenario(text, "t.toml", ExploreFaultKinds());
  EXPECT_FALSE(es.ok());
  return es.ok() ? "" : es.error().context;
}

TEST(ExploreBoundsTest, BadBoundsNameFileLineAndTheFix) {
  // Line numbers: kScenario starts with a newline, so "[explore]" is on line 23.
  EXPECT_NE(ErrorOf(Replace(kScenario, "max_faults = 3", "max_faults = 0")).find("t.toml:24:"),
            std::string::npos);
  std::string e = ErrorOf(Replace(kScenario, "targets = [\"kvd\"]", "targets = [\"kvdd\"]"));
  EXPECT_NE(e.find("t.toml:26:"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'kvd'"), std::string::npos) << e;
  e = ErrorOf(Replace(kScenario, "kind = \"kill\"\nsignal", "kind = \"kil\"\nsignal"));
  EXPECT_NE(e.find("did you mean 'kill'"), std::string::npos) << e;
  e = ErrorOf(
      Replace(kScenario, "min = \"50ms\", max = \"300ms\"", "min = \"300ms\", max = \"50ms\""));
  EXPECT_NE(e.find("swap them"), std::string::npos) << e;
  e = ErrorOf(Replace(kScenario, "errno = \"EIO\"", "errno = \"EIO\"\nat = \"1s\""));
  EXPECT_NE(e.find("chosen by the explorer"), std::string::npos) << e;
  e = ErrorOf(Replace(kScenario, "window = [\"100ms\", \"800ms\"]", "window = [\"1s\"]"));
  EXPECT_NE(e.find("[start, end]"), std::string::npos) << e;
  // The old key, whose meaning (keep a candidate that failed once) made flaky minimal plans.
  e = ErrorOf(Replace(kScenario, "shrink_replays = 2", "replays = 2"));
  EXPECT_NE(e.find("t.toml:27:11: 'replays' is gone"), std::string::npos) << e;
  EXPECT_NE(e.find("shrink_replays = N instead"), std::string::npos) << e;
  e = ErrorOf(Replace(kScenario, "shrink_replays = 2", "min_fail_rate = 0.0"));
  EXPECT_NE(e.find("t.toml:27:"), std::string::npos) << e;
  // A parameter the fault kind rejects, found by trying the template's extremes.
  e = ErrorOf(Replace(kScenario, "errno = \"EIO\"", "errno = \"EIO\"\nprobability = 7.0"));
  EXPECT_NE(e.find("[[explore.fault]] #1"), std::string::npos) << e;
  // No [explore] at all.
  e = ErrorOf(std::string(kScenario).substr(0, std::string(kScenario).find("[explore]")));
  EXPECT_NE(e.find("no [explore] table"), std::string::npos) << e;
  // The rest of the scenario is still checked, with its real line numbers.
  e = ErrorOf(Replace(kScenario, "kind = \"no_orphans\"", "kind = \"no_orphanz\""));
  EXPECT_NE(e.find("t.toml:21:"), std::string::npos) << e;
}

TEST(ExploreBoundsTest, PlanBecomesARunnableScenario) {
  ExploreScenario es = Load();
  Plan plan;
  plan.faults.push_back(PlannedFault{
      "syscall", "kvd", 120, 250, {{"point", "\"posix/io/sync/fsync\""}, {"errno", "\"EIO\""}}});
  plan.faults.push_back(
      PlannedFault{"kill", "kvd", 300, std::nullopt, {{"signal", "\"SIGKILL\""}}});
  plan.faults.push_back(
      PlannedFault{"kill", "kvd", 700, std::nullopt, {{"signal", "\"SIGTERM\""}}});
  std::string text = PlanToToml(es, plan, "minimal plan\nsecond line");
  EXPECT_EQ(text.rfind("# minimal plan\n# second line\n", 0), 0u) << text;
  auto s = ParseScenario(text, "plan.toml", {}, ExploreFaultKinds());
  ASSERT_TRUE(s.ok()) << s.error().context << "\n" << text;
  ASSERT_EQ(s->faults.size(), 3u);
  EXPECT_EQ(s->faults[0].name, "syscall-1");
  EXPECT_EQ(s->faults[0].at, std::chrono::milliseconds(120));
  EXPECT_EQ(s->faults[0].duration, std::chrono::milliseconds(250));
  EXPECT_EQ(s->faults[1].name, "kill-1");
  EXPECT_EQ(s->faults[2].name, "kill-2");
  EXPECT_EQ(s->faults[2].at, std::chrono::milliseconds(700));
  EXPECT_EQ(s->checks.size(), 1u);
  EXPECT_EQ(DescribePlan(plan),
            "syscall(point=\"posix/io/sync/fsync\", errno=\"EIO\") on kvd at 120ms for 250ms; "
            "kill(signal=\"SIGKILL\") on kvd at 300ms; kill(signal=\"SIGTERM\") on kvd at 700ms");
}

RC_GTEST_PROP(ExploreGenTest, PlansStayWithinTheBounds, ()) {
  static const ExploreScenario es = Load();
  Plan plan = *gen::FaultPlan(es.bounds);
  RC_ASSERT(!plan.faults.empty());
  RC_ASSERT(plan.faults.size() <= es.bounds.max_faults);
  for (const auto& f : plan.faults) {
    RC_ASSERT(f.target == "kvd");
    RC_ASSERT(f.at_ms >= 100 && f.at_ms <= 800);
    RC_ASSERT(f.at_ms % 10 == 0);  // the default step
    if (f.kind == "syscall") {
      RC_ASSERT(f.duration_ms.has_value());
      RC_ASSERT(*f.duration_ms >= 50 && *f.duration_ms <= 300);
    } else {
      RC_ASSERT(f.kind == "kill");
      RC_ASSERT(!f.duration_ms.has_value());
    }
  }
  // And every plan is a valid scenario.
  RC_ASSERT(PlanScenario(es, plan, ExploreFaultKinds()).ok());
}

// The planted bug in miniature: a failed fsync followed within 1.5 s by a SIGKILL.
std::string Param(const PlannedFault& f, const std::string& name) {
  for (const auto& [k, v] : f.params) {
    if (k == name) return v;
  }
  return "";
}

bool Combination(const Plan& plan) {
  for (const auto& a : plan.faults) {
    if (a.kind != "syscall" || Param(a, "point") != "\"posix/io/sync/fsync\"") continue;
    for (const auto& b : plan.faults) {
      if (b.kind == "kill" && Param(b, "signal") == "\"SIGKILL\"" && b.at_ms >= a.at_ms &&
          b.at_ms - a.at_ms < 1500) {
        return true;
      }
    }
  }
  return false;
}

PlanRun Verdict(bool fail) {
  PlanRun r;
  r.exit_code = fail ? 1 : 0;
  r.result.verdict = fail ? model::Verdict::kFail : model::Verdict::kPass;
  if (fail) {
    r.result.checks.push_back(model::CheckResult{
        "no_lost_writes", "no_lost_writes", model::Verdict::kFail, "3 lost", "0", {}, 0});
  }
  return r;
}

TEST(ExploreTest, FindsAndShrinksACombinationToTwoFaults) {
  ExploreScenario es = Load();
  ExploreOptions o;
  o.runs = 200;
  o.seed = 7;
  o.final_replays = 2;
  ExploreResult r = Explore(es, o, [](const Plan& p) { return Verdict(Combination(p)); });
  ASSERT_TRUE(r.found) << r.error;
  EXPECT_EQ(r.seed, 7u);
  ASSERT_EQ(r.minimal.faults.size(), 2u) << DescribePlan(r.minimal);
  EXPECT_TRUE(Combination(r.minimal));
  // Shrunk toward the bounds' minimums: the shortest duration, the earliest time.
  const PlannedFault& sys =
      r.minimal.faults[0].kind == "syscall" ? r.minimal.faults[0] : r.minimal.faults[1];
  EXPECT_EQ(sys.duration_ms, 50);
  EXPECT_EQ(sys.at_ms, 100);
  EXPECT_EQ(r.final_reproduced, 2u);
  EXPECT_EQ(r.minimal_run.Summary(), "no_lost_writes: 3 lost (must be 0)");
  EXPECT_FALSE(r.reproduce.empty());

  // The reproduce string runs the minimal plan again (and only what leads to it).
  ExploreOptions again = o;
  again.reproduce = r.reproduce;
  again.final_replays = 0;
  ExploreResult rr = Explore(es, again, [](const Plan& p) { return Verdict(Combination(p)); });
  ASSERT_TRUE(rr.found);
  EXPECT_EQ(DescribePlan(rr.minimal), DescribePlan(r.minimal));
  EXPECT_EQ(rr.plans_tried, 1);

  // With replays, the shrink path is walked without runs (a flaky plan on it cannot break
  // the walk) and only the shrunk plan at its end is run: the replays measure it.
  again.final_replays = 3;
  int runs = 0;
  ExploreResult walked = Explore(es, again, [&](const Plan& p) {
    ++runs;
    return Verdict(Combination(p));
  });
  ASSERT_TRUE(walked.found) << walked.error;
  EXPECT_EQ(DescribePlan(walked.shrunk), DescribePlan(r.minimal));
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(walked.final_reproduced, 3u);
  // A plan that no longer fails at all: nothing found.
  ExploreResult gone = Explore(es, again, [](const Plan&) { return Verdict(false); });
  EXPECT_FALSE(gone.found);
  EXPECT_FALSE(gone.environment_error) << gone.error;
  EXPECT_EQ(DescribePlan(gone.shrunk), DescribePlan(r.minimal));
}

// The largest gap from a failed fsync to a later SIGKILL within 1.5 s; nullopt: no such pair.
std::optional<int64_t> CombinationGap(const Plan& plan) {
  std::optional<int64_t> gap;
  for (const auto& a : plan.faults) {
    if (a.kind != "syscall" || Param(a, "point") != "\"posix/io/sync/fsync\"") continue;
    for (const auto& b : plan.faults) {
      if (b.kind == "kill" && Param(b, "signal") == "\"SIGKILL\"" && b.at_ms >= a.at_ms &&
          b.at_ms - a.at_ms < 1500) {
        gap = std::max(gap.value_or(0), b.at_ms - a.at_ms);
      }
    }
  }
  return gap;
}

// A bug that shows reliably only with a margin: the combination fails every time when the
// kill comes at least `margin` ms after the failed fsync; when closer, it passes once in every
// `period` runs (every other run by default).
PlanRunner MarginBug(int64_t margin, int* calls, int period = 2) {
  return [margin, calls, period](const Plan& p) {
    auto gap = CombinationGap(p);
    if (!gap) return Verdict(false);
    return Verdict(*gap >= margin || ++*calls % period != 0);
  };
}

// Options for the margin-bug tests: enough plans to find it, a pinned seed, and `min_fail_rate`.
ExploreOptions MarginOptions(double min_fail_rate) {
  ExploreOptions o;
  o.runs = 300;
  o.seed = 11;
  o.shrink_replays = 3;
  o.min_fail_rate = min_fail_rate;
  return o;
}

TEST(ExploreTest, AShrinkCandidateCountsAsFailingOnlyWhenEveryRunFails) {
  ExploreScenario es = Load();
  int calls = 0;
  ExploreOptions o = MarginOptions(1.0);
  o.final_replays = 4;
  ExploreResult r = Explore(es, o, MarginBug(200, &calls));
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.minimal.faults.size(), 2u) << DescribePlan(r.minimal);
  // Candidates closer than the margin failed on some runs only: none was kept.
  EXPECT_GT(r.shrink_flaky, 0);
  ASSERT_TRUE(CombinationGap(r.shrunk));
  EXPECT_GE(*CombinationGap(r.shrunk), 200) << DescribePlan(r.shrunk);
  EXPECT_EQ(r.final_reproduced, 4u);
  EXPECT_EQ(r.final_replays, 4u);
  EXPECT_TRUE(r.Reliable());
  EXPECT_FALSE(r.widened);

  // A rate the user sets: one failure in three runs is enough, so the shrinker goes into the
  // margin where the bug barely shows (and widening has to take it out again).
  calls = 0;
  o.min_fail_rate = 0.3;
  o.widen = false;
  ExploreResult loose = Explore(es, o, MarginBug(200, &calls));
  ASSERT_TRUE(loose.found);
  ASSERT_TRUE(CombinationGap(loose.shrunk));
  EXPECT_LT(*CombinationGap(loose.shrunk), 200) << DescribePlan(loose.shrunk);
  EXPECT_EQ(loose.shrink_flaky, 0);
  EXPECT_FALSE(loose.Reliable());  // measured, not widened: flaky, and said so
  EXPECT_LT(loose.final_reproduced, 4u);
}

TEST(ExploreTest, AFlakyShrunkPlanIsWidenedUntilItReproducesNineInTen) {
  ExploreScenario es = Load();
  int calls = 0;
  ExploreOptions o = MarginOptions(0.3);  // let the shrinker keep a flaky plan
  ExploreResult r = Explore(es, o, MarginBug(100, &calls));
  ASSERT_TRUE(r.found);
  ASSERT_TRUE(CombinationGap(r.shrunk));
  EXPECT_LT(*CombinationGap(r.shrunk), 100) << DescribePlan(r.shrunk);
  EXPECT_LT(r.shrunk_reproduced, 9u);
  // The written plan: the same two faults, far enough apart to fail every time.
  EXPECT_TRUE(r.widened);
  EXPECT_GE(r.widen_tries, 1);
  ASSERT_EQ(r.minimal.faults.size(), r.shrunk.faults.size());
  ASSERT_TRUE(CombinationGap(r.minimal)) << DescribePlan(r.minimal);
  EXPECT_GE(*CombinationGap(r.minimal), 100) << DescribePlan(r.minimal);
  EXPECT_EQ(r.final_replays, 10u);
  EXPECT_EQ(r.final_reproduced, 10u);
  EXPECT_EQ(r.final_required, 9u);
  EXPECT_TRUE(r.Reliable());
  EXPECT_EQ(r.minimal_run.Summary(), "no_lost_writes: 3 lost (must be 0)");
}

TEST(ExploreTest, APlanThatFailedNineInTenIsWidenedToOneThatFailedTenInTen) {
  ExploreScenario es = Load();
  int calls = 0;
  // Close to the margin the bug shows 9 times in 10: enough to pass the shrinker's 3 runs
  // and the 9-of-10 rate, but a user may well see 8 in 10. A variant that failed 10 times is
  // written instead.
  ExploreResult r = Explore(es, MarginOptions(1.0), MarginBug(100, &calls, 10));
  ASSERT_TRUE(r.found);
  ASSERT_TRUE(CombinationGap(r.shrunk));
  EXPECT_LT(*CombinationGap(r.shrunk), 100) << DescribePlan(r.shrunk);
  EXPECT_EQ(r.shrunk_reproduced, 9u);
  EXPECT_EQ(r.shrunk_replays, 10u);
  EXPECT_TRUE(r.widened);
  ASSERT_TRUE(CombinationGap(r.minimal)) << DescribePlan(r.minimal);
  EXPECT_GE(*CombinationGap(r.minimal), 100) << DescribePlan(r.minimal);
  EXPECT_EQ(r.final_reproduced, 10u);
  EXPECT_TRUE(r.Reliable());
}

TEST(ExploreTest, WhenNoWideningReachesTheRateTheBestPlanIsMeasuredInFull) {
  ExploreScenario es = Load();
  int calls = 0;
  ExploreResult r =
      Explore(es, MarginOptions(0.3), MarginBug(100000, &calls));  // every other run, always
  ASSERT_TRUE(r.found);
  EXPECT_EQ(static_cast<size_t>(r.widen_tries), WidenedPlans(r.shrunk, es.bounds).size());
  EXPECT_FALSE(r.Reliable());
  EXPECT_EQ(r.final_replays, 10u);  // the honest rate, over the full count
  EXPECT_GE(r.final_reproduced, 4u);
  EXPECT_LE(r.final_reproduced, 6u);
}

TEST(ExploreWidenTest, WidensGapsAndDurationsWithinTheBounds) {
  ExploreScenario es = Load();
  es.bounds.step_ms = 50;
  // The known minimal plan: a 50 ms EIO window and a kill 50 ms later, at the window's
  // start.
  Plan shrunk;
  shrunk.faults.push_back(PlannedFault{
      "syscall", "kvd", 100, 50, {{"point", "\"posix/io/sync/fsync\""}, {"errno", "\"EIO\""}}});
  shrunk.faults.push_back(
      PlannedFault{"kill", "kvd", 150, std::nullopt, {{"signal", "\"SIGKILL\""}}});
  std::vector<Plan> wide = WidenedPlans(shrunk, es.bounds);
  ASSERT_EQ(wide.size(), 5u);
  // Least change first: the same plan in the middle of the window [100, 800].
  EXPECT_EQ(DescribePlan(wide[0]),
            "syscall(point=\"posix/io/sync/fsync\", errno=\"EIO\") on kvd at 400ms for 50ms; "
            "kill(signal=\"SIGKILL\") on kvd at 450ms");
  EXPECT_EQ(DescribePlan(wide[1]),
            "syscall(point=\"posix/io/sync/fsync\", errno=\"EIO\") on kvd at 400ms for 100ms; "
            "kill(signal=\"SIGKILL\") on kvd at 500ms");
  // The widest: 6x, the duration at its template's maximum (300 ms).
  EXPECT_EQ(DescribePlan(wide[4]),
            "syscall(point=\"posix/io/sync/fsync\", errno=\"EIO\") on kvd at 300ms for 300ms; "
            "kill(signal=\"SIGKILL\") on kvd at 600ms");
  int64_t last_gap = 0;
  for (const Plan& p : wide) {
    ASSERT_EQ(p.faults.size(), 2u);
    int64_t gap = p.faults[1].at_ms - p.faults[0].at_ms;
    EXPECT_GE(gap, last_gap) << DescribePlan(p);
    last_gap = gap;
    for (const auto& f : p.faults) {
      EXPECT_GE(f.at_ms, 100);
      EXPECT_LE(f.at_ms, 800);
      EXPECT_EQ(f.at_ms % 50, 0);
      EXPECT_EQ(f.params, f.kind == "kill" ? shrunk.faults[1].params : shrunk.faults[0].params);
    }
    EXPECT_LE(*p.faults[0].duration_ms, 300);
    EXPECT_TRUE(PlanScenario(es, p, ExploreFaultKinds()).ok()) << DescribePlan(p);
  }
  // Two faults at once are pulled apart (in plan order); a plan too wide is squeezed into the
  // window; nothing to widen in an empty plan.
  Plan same = shrunk;
  same.faults[1].at_ms = 100;
  wide = WidenedPlans(same, es.bounds);
  ASSERT_FALSE(wide.empty());
  EXPECT_GT(wide.back().faults[1].at_ms, wide.back().faults[0].at_ms);
  Plan far = shrunk;
  far.faults[1].at_ms = 700;
  for (const Plan& p : WidenedPlans(far, es.bounds)) {
    EXPECT_GE(p.faults[0].at_ms, 100) << DescribePlan(p);
    EXPECT_LE(p.faults[1].at_ms, 800) << DescribePlan(p);
    EXPECT_LT(p.faults[0].at_ms, p.faults[1].at_ms) << DescribePlan(p);
  }
  EXPECT_TRUE(WidenedPlans(Plan{}, es.bounds).empty());
  EXPECT_EQ(RequiredCount(0.9, 10), 9u);
  EXPECT_EQ(RequiredCount(1.0, 3), 3u);
  EXPECT_EQ(RequiredCount(0.3, 3), 1u);
  EXPECT_EQ(RequiredCount(0.01, 10), 1u);
}

TEST(ExploreTest, NoFailureReportsPlansTried) {
  ExploreScenario es = Load();
  ExploreOptions o;
  o.runs = 25;
  o.seed = 3;
  int runs = 0;
  ExploreResult r = Explore(es, o, [&](const Plan&) {
    ++runs;
    return Verdict(false);
  });
  EXPECT_FALSE(r.found);
  EXPECT_EQ(r.plans_tried, 25);
  EXPECT_EQ(runs, 25);
  EXPECT_GT(r.PlansPerMinute(), 0);
}

TEST(ExploreTest, BudgetStopsTheSearch) {
  ExploreScenario es = Load();
  ExploreOptions o;
  o.runs = 1000;
  o.seed = 3;
  o.budget = std::chrono::milliseconds(200);
  ExploreResult r = Explore(es, o, [](const Plan&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return Verdict(false);
  });
  EXPECT_FALSE(r.found);
  EXPECT_GE(r.plans_tried, 2);
  EXPECT_LE(r.plans_tried, 6);
}

PlanRun EnvironmentError() {
  PlanRun run;
  run.exit_code = 3;
  run.result.verdict = model::Verdict::kError;
  run.result.error = "unable to spawn duende-fixture-kvd";
  return run;
}

TEST(ExploreTest, RepeatedEnvironmentErrorsStopTheSearch) {
  ExploreScenario es = Load();
  ExploreOptions o;
  o.runs = 50;
  o.seed = 3;
  ExploreResult r = Explore(es, o, [](const Plan&) { return EnvironmentError(); });
  EXPECT_FALSE(r.found);
  EXPECT_TRUE(r.environment_error);
  EXPECT_EQ(r.error, "unable to spawn duende-fixture-kvd");
  EXPECT_EQ(r.plans_tried, 3);
  EXPECT_EQ(r.error_plans, 3);
}

TEST(ExploreTest, AnOccasionalImpossiblePlanIsDiscarded) {
  ExploreScenario es = Load();
  ExploreOptions o;
  o.runs = 30;
  o.seed = 5;
  int calls = 0;
  ExploreResult r = Explore(
      es, o, [&](const Plan&) { return ++calls % 4 == 0 ? EnvironmentError() : Verdict(false); });
  EXPECT_FALSE(r.found);
  EXPECT_FALSE(r.environment_error) << r.error;
  EXPECT_GT(r.error_plans, 5);
  EXPECT_EQ(r.plans_tried, 30 + r.error_plans);
}

TEST(ExploreBoundsTest, FaultsHealBeforeTheScenarioEnds) {
  std::string e = ErrorOf(
      Replace(kScenario, "window = [\"100ms\", \"800ms\"]", "window = [\"100ms\", \"1s\"]"));
  EXPECT_NE(e.find("not before the scenario's duration"), std::string::npos) << e;
  ExploreScenario es = Load();
  EXPECT_EQ(es.bounds.timeline_ms, 1000);
  es.bounds.window_start_ms = 790;
  es.bounds.faults[0].duration_ms = std::make_pair(int64_t{250}, int64_t{300});
  rc::Random random(1);
  for (int i = 0; i < 50; ++i) {
    Plan p = gen::FaultPlan(es.bounds)(random.split(), rc::kNominalSize).value();
    for (const auto& f : p.faults) {
      if (f.duration_ms) {
        EXPECT_LE(f.at_ms + *f.duration_ms, 1000) << DescribePlan(p);
      }
    }
  }
}

}  // namespace
}  // namespace duende::harness
