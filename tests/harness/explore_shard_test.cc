// `duende explore --shard K/N`: the shards of one seed run the plans of one search, each plan
// once, split into contiguous ranges of plan numbers (a scripted runner: no processes).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"
#include "duende/model/shard.h"

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

[[check]]
kind = "no_orphans"

[explore]
max_faults = 3
window = ["100ms", "800ms"]

[[explore.fault]]
kind = "syscall"
point = ["posix/io/rw/write", "posix/io/sync/fsync"]
errno = "EIO"
duration = { min = "50ms", max = "300ms" }

[[explore.fault]]
kind = "kill"
signal = ["SIGTERM", "SIGKILL"]
)";

ExploreScenario Load() {
  auto es = ParseExploreScenario(kScenario, "t.toml", ExploreFaultKinds());
  EXPECT_TRUE(es.ok()) << (es.ok() ? "" : es.error().context);
  return es.value();
}

PlanRun Outcome(bool failed) {
  PlanRun run;
  run.exit_code = failed ? 1 : 0;
  run.result.verdict = failed ? model::Verdict::kFail : model::Verdict::kPass;
  if (failed)
    run.result.checks.push_back(
        {"c", "no_lost_writes", model::Verdict::kFail, "1 lost", "0", {}, 0});
  return run;
}

PlanRun EnvironmentError() {
  PlanRun run;
  run.exit_code = 3;
  run.result.verdict = model::Verdict::kError;
  run.result.error = "a plan that cannot run";
  return run;
}

constexpr int kRuns = 37;
constexpr uint64_t kSeed = 20261206;

// The plans a search of kSeed runs (in order) when every plan passes, with `options` set.
std::vector<std::string> PlansRun(const ExploreScenario& es, ExploreOptions options) {
  options.runs = kRuns;
  options.seed = kSeed;
  std::vector<std::string> plans;
  ExploreResult r = Explore(es, options, [&](const Plan& p) {
    plans.push_back(DescribePlan(p));
    return Outcome(false);
  });
  EXPECT_FALSE(r.found);
  EXPECT_EQ(r.plans_tried, static_cast<int>(plans.size()));
  return plans;
}

ExploreOptions ShardOptions(uint32_t k, uint32_t n) {
  ExploreOptions o;
  model::PlanRange range = model::ShardPlanRange({k, n}, kRuns);
  o.first_plan = range.begin;
  o.end_plan = range.end;
  return o;
}

TEST(ExploreShardTest, ShardsRunThePlansOfOneSearchEachOnce) {
  const ExploreScenario es = Load();
  const std::vector<std::string> whole = PlansRun(es, ExploreOptions{});
  ASSERT_EQ(whole.size(), static_cast<size_t>(kRuns));
  // The plans differ, so running the same plans in two shards would show.
  EXPECT_GT(std::set<std::string>(whole.begin(), whole.end()).size(), kRuns / 2u);
  for (uint32_t n : {1u, 2u, 4u, 5u}) {
    std::vector<std::string> joined;
    uint64_t next = 0;
    for (uint32_t k = 1; k <= n; ++k) {
      const model::PlanRange range = model::ShardPlanRange({k, n}, kRuns);
      // The ranges partition [0, runs): each starts where the previous one ended.
      EXPECT_EQ(range.begin, next) << k << "/" << n;
      next = range.end;
      std::vector<std::string> mine = PlansRun(es, ShardOptions(k, n));
      EXPECT_EQ(mine.size(), range.end - range.begin) << k << "/" << n;
      // Shard k runs exactly plans begin..end-1 of the whole search.
      for (size_t i = 0; i < mine.size(); ++i) {
        ASSERT_LT(range.begin + i, whole.size());
        EXPECT_EQ(mine[i], whole[range.begin + i])
            << "plan " << range.begin + i << " in " << k << "/" << n;
      }
      joined.insert(joined.end(), mine.begin(), mine.end());
    }
    EXPECT_EQ(next, static_cast<uint64_t>(kRuns));
    EXPECT_EQ(joined, whole) << n << " shards";
  }
}

TEST(ExploreShardTest, DiscardedPlansDoNotShiftTheOthers) {
  const ExploreScenario es = Load();
  const std::vector<std::string> whole = PlansRun(es, ExploreOptions{});
  ExploreOptions o = ShardOptions(2, 3);
  o.runs = kRuns;
  o.seed = kSeed;
  std::vector<std::string> mine;
  ExploreResult r = Explore(es, o, [&](const Plan& p) {
    mine.push_back(DescribePlan(p));
    return mine.size() % 3 == 0 ? EnvironmentError() : Outcome(false);
  });
  EXPECT_FALSE(r.environment_error) << r.error;
  EXPECT_GT(r.error_plans, 2);
  const model::PlanRange range = model::ShardPlanRange({2, 3}, kRuns);
  ASSERT_EQ(mine.size(), range.end - range.begin);
  for (size_t i = 0; i < mine.size(); ++i) EXPECT_EQ(mine[i], whole[range.begin + i]) << i;
}

TEST(ExploreShardTest, OnlyTheShardHoldingAFailingPlanFindsIt) {
  const ExploreScenario es = Load();
  const std::vector<std::string> whole = PlansRun(es, ExploreOptions{});
  // A plan of shard 3 of 4 (plans 18..26) that no other plan repeats.
  const model::PlanRange owner = model::ShardPlanRange({3, 4}, kRuns);
  size_t bad = owner.end;
  for (size_t i = owner.begin + 2; i < owner.end && bad == owner.end; ++i) {
    if (std::count(whole.begin(), whole.end(), whole[i]) == 1) bad = i;
  }
  ASSERT_LT(bad, owner.end);
  for (uint32_t k = 1; k <= 4; ++k) {
    ExploreOptions o = ShardOptions(k, 4);
    o.runs = kRuns;
    o.seed = kSeed;
    o.final_replays = 0;
    ExploreResult r =
        Explore(es, o, [&](const Plan& p) { return Outcome(DescribePlan(p) == whole[bad]); });
    EXPECT_EQ(r.found, k == 3) << "shard " << k;
    if (k == 3) {
      EXPECT_EQ(DescribePlan(r.first_failing), whole[bad]);
      EXPECT_EQ(r.plans_tried, static_cast<int>(bad - owner.begin + 1));
    }
  }
}

}  // namespace
}  // namespace duende::harness
