// The explorer against a real planted bug: duende-fixture-fragile loses acknowledged writes
// only when kill -9 follows a failed fsync within 1.5 s. Each fault alone is harmless (checked
// first, with real runs); `Explore` must find the combination and shrink it to <= 2 faults.
// Prints plans/minute, time to first failure and time to shrink.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"

namespace duende::harness {
namespace {

ExploreScenario LoadFragile() {
  setenv("DUENDE_FIXTURES_DIR", FIXTURES_DIR, 1);
  auto es = LoadExploreScenario(DUENDE_SOURCE_DIR "/scenarios/explore/fragile-kv.toml",
                                ExploreFaultKinds());
  if (!es.ok()) ADD_FAILURE() << es.error().context;
  return es.ok() ? std::move(es).value() : ExploreScenario{};
}

PlannedFault FailedFsync(int64_t at_ms) {
  return PlannedFault{
      "syscall", "kvd", at_ms, 300, {{"point", "\"posix/io/sync/fsync\""}, {"errno", "\"EIO\""}}};
}

PlannedFault Kill9(int64_t at_ms) {
  return PlannedFault{"kill", "kvd", at_ms, std::nullopt, {{"signal", "\"SIGKILL\""}}};
}

TEST(ExploreFragileTest, EachFaultAloneKeepsEveryWriteTheCombinationLosesSome) {
  ExploreScenario es = LoadFragile();
  PlanRun kill_only = RunPlan(es, Plan{{Kill9(500)}});
  EXPECT_TRUE(kill_only.passed()) << kill_only.Summary();
  PlanRun fsync_only = RunPlan(es, Plan{{FailedFsync(200)}});
  EXPECT_TRUE(fsync_only.passed()) << fsync_only.Summary();
  // The planted bug: kill -9 300 ms after fsync started failing.
  PlanRun both = RunPlan(es, Plan{{FailedFsync(200), Kill9(500)}});
  EXPECT_TRUE(both.failed()) << both.Summary();
  EXPECT_NE(both.Summary().find("no_lost_writes"), std::string::npos) << both.Summary();
}

TEST(ExploreFragileTest, ExploreFindsTheCombinationAndShrinksToTwoFaults) {
  ExploreScenario es = LoadFragile();
  ExploreOptions o;
  o.runs = 60;
  o.seed = 20261127;
  o.budget = std::chrono::seconds(60);
  o.shrink_budget = std::chrono::seconds(60);
  o.replays = 1;
  o.final_replays = 2;
  o.log = [](const std::string& line) { std::printf("  %s\n", line.c_str()); };
  ExploreResult r = Explore(es, o, [&](const Plan& p) { return RunPlan(es, p); });
  std::printf(
      "explore fragile-kv: %d plans tried, %.1f plans/minute, first failure after %.1f s, "
      "shrink %.1f s (%d steps, %d candidates, %d kept by a re-run), %d runs, reproduced %u/%u\n"
      "  first: %s\n  minimal: %s\n",
      r.plans_tried, r.PlansPerMinute(), r.first_failure_seconds, r.shrink_seconds, r.shrink_steps,
      r.shrink_tries, r.rescued_by_replay, r.runs, r.final_reproduced, r.final_replays,
      DescribePlan(r.first_failing).c_str(), DescribePlan(r.minimal).c_str());
  ASSERT_FALSE(r.environment_error) << r.error;
  ASSERT_TRUE(r.found) << "no failing plan in " << r.plans_tried << " plans";
  EXPECT_LE(r.minimal.faults.size(), 2u) << DescribePlan(r.minimal);
  // The two faults that matter: a failed fsync and a kill.
  bool fsync = false, kill = false;
  for (const auto& f : r.minimal.faults) {
    for (const auto& [k, v] : f.params) {
      if (f.kind == "syscall" && k == "point" && v == "\"posix/io/sync/fsync\"") fsync = true;
    }
    if (f.kind == "kill") kill = true;
  }
  EXPECT_TRUE(fsync && kill) << DescribePlan(r.minimal);
  EXPECT_NE(r.minimal_run.Summary().find("no_lost_writes"), std::string::npos)
      << r.minimal_run.Summary();
}

}  // namespace
}  // namespace duende::harness
