// The explorer against a real planted bug: duende-fixture-fragile loses acknowledged writes
// only when kill -9 follows a failed fsync within 1.5 s. Each fault alone is harmless (checked
// first, with real runs); `duende explore` must find the combination, shrink it to the 2
// faults, and write a minimal plan that `duende run` fails with in at least 9 of 10 runs.
// Prints plans/minute, the time to first failure, to shrink and to widen.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"
#include "support/cli.h"

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

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The contract of `duende explore`: the minimal plan it writes is only useful if it
// fails when a user runs it. Explore finds the combination, shrinks it to the two faults that
// matter (a candidate counts only when every run of it fails), widens its timings until it
// reproduces in 9 of 10 replays, and says so; then `duende run minimal.toml`, 10 times, must
// fail at least 9 times with lost writes. (About 2 minutes; prints its figures.)
TEST(ExploreFragileTest, TheMinimalPlanFailsInNineOfTenRunsOfDuendeRun) {
  char tmpl[] = "/tmp/duende-explore-fragile-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string env = "DUENDE_FIXTURES_DIR=" FIXTURES_DIR " ";
  const std::string duende = DUENDE_BINARY_DIR "/harness/cli/duende";
  const std::string scenario = DUENDE_SOURCE_DIR "/scenarios/explore/fragile-kv.toml";
  auto start = std::chrono::steady_clock::now();
  auto explore =
      duende::testing::RunCli("cd " + dir + " && " + env + duende + " explore " + scenario +
                              " --seed 20261127 --runs 60 --budget 60s "
                              "--shrink-budget 90s --widen-budget 90s --out out -q");
  const double explore_s = SecondsSince(start);
  std::printf("%s\n", explore.out.c_str());
  ASSERT_EQ(explore.code, 1) << explore.out;
  EXPECT_NE(explore.out.find("reproduced:         minimal plan reproduces in "), std::string::npos);
  EXPECT_EQ(explore.out.find("FLAKY"), std::string::npos);

  std::ifstream in(dir + "/out/minimal.toml");
  std::stringstream text;
  text << in.rdbuf();
  const std::string plan = text.str();
  // The header: the measured rate, the seed, the ways to run it again.
  EXPECT_NE(plan.find("# Minimal failing fault plan found by duende explore"), std::string::npos);
  EXPECT_NE(plan.find("seed 20261127"), std::string::npos) << plan;
  EXPECT_NE(plan.find("# Minimal plan reproduces in "), std::string::npos) << plan;
  EXPECT_NE(plan.find("--reproduce '"), std::string::npos) << plan;
  // The two faults that matter: a failed fsync and a kill -9.
  EXPECT_EQ(Count(plan, "[[fault]]"), 2) << plan;
  EXPECT_NE(plan.find("point = \"posix/io/sync/fsync\""), std::string::npos) << plan;
  EXPECT_NE(plan.find("signal = \"SIGKILL\""), std::string::npos) << plan;

  start = std::chrono::steady_clock::now();
  int failed = 0;
  for (int i = 0; i < 10; ++i) {
    // --events: the event log goes into our directory (without it a failed run keeps its
    // evidence in a run directory under TMPDIR, for a user to read).
    auto run = duende::testing::RunCli("cd " + dir + " && " + env + duende +
                                       " run out/minimal.toml -q --events out/run-" +
                                       std::to_string(i) + ".jsonl");
    ASSERT_TRUE(run.code == 0 || run.code == 1) << run.out;  // never an environment error
    if (run.code == 1) {
      EXPECT_NE(run.out.find("no_lost_writes"), std::string::npos) << run.out;
      ++failed;
    }
  }
  const double replay_s = SecondsSince(start);
  std::printf(
      "explore fragile-kv: %.1f s (search, shrink, widen); duende run minimal.toml: "
      "%d of 10 failed in %.1f s\n",
      explore_s, failed, replay_s);
  EXPECT_GE(failed, 9) << plan;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace duende::harness
