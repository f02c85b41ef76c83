// A user's property test of their own daemon, the way the README shows it: "my counter never
// loses an acknowledged increment, whatever faults hit it", judged by the `counter` model
// check over the run's history. Against duende-fixture-counterd with its planted bug
// (acknowledging before the log is written) rapidcheck finds a failing fault plan and shrinks
// it to a single kill; the fsyncing counterd holds. Each case is one real run (about 1.5 s).
//
// Also: a command probe that reads the run's event log ({events}) works when plans are run
// through the explore API, as it does under `duende run` (it once had no log to read there and
// produced a false FAIL that was then "shrunk").
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"

namespace {

using namespace duende::harness;

// Each case runs a daemon: a few cases, from a fixed seed (the plans are the same every time;
// the runs themselves are real), unless RC_PARAMS says otherwise.
[[maybe_unused]] const bool kFewCases = [] {
  std::string params = std::getenv("RC_PARAMS") ? std::getenv("RC_PARAMS") : "";
  if (params.find("max_success") == std::string::npos) params += " max_success=4";
  if (params.find("seed") == std::string::npos) params += " seed=20261206";
  // Before any thread exists: where the fixture daemons were built.
  setenv("DUENDE_FIXTURES_DIR", FIXTURES_DIR, 1);
  return setenv("RC_PARAMS", params.c_str(), 1) == 0;
}();

std::string MyCounter(const std::string& extra_flag) {
  return R"toml(
[scenario]
name = "counter-keeps-increments"
duration = "1200ms"

[[target]]
name = "counterd"
command = ["duende-fixture-counterd", "--port", "{port.counterd}", "--data-dir",
           "{run_dir}/counterd")toml" +
         extra_flag + R"toml(]
address = "127.0.0.1:{port.counterd}"
[target.readiness]
kind = "notify"

[load]
rate = 300
timeout = "300ms"
[[load.op]]
f = "incr"
request = "INCR {key}"
expect = "OK \\d+"
weight = 3
[[load.op]]
f = "read"
request = "GET {key}"
expect = "VALUE (\\d+)"

[[check]]
kind = "counter"

[explore]
max_faults = 3
window = ["150ms", "800ms"]

[[explore.fault]]
kind = "kill"
signal = "SIGKILL"

[[explore.fault]]
kind = "pause"
duration = { min = "20ms", max = "150ms" }
)toml";
}

const ExploreScenario& Loaded(const std::string& text) {
  static std::map<std::string, ExploreScenario> cache;
  auto it = cache.find(text);
  if (it == cache.end()) {
    auto loaded = ParseExploreScenario(text, "my-counter.toml", ExploreFaultKinds());
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.error().Message();
      std::abort();
    }
    it = cache.emplace(text, std::move(loaded).value()).first;
  }
  return it->second;
}

size_t Kills(const Plan& plan) {
  size_t n = 0;
  for (const auto& f : plan.faults) n += f.kind == "kill";
  return n;
}

// The property, as a user writes it; `last_failure` remembers the plan of the last failing
// case, which after rapidcheck's shrinking is the minimal counterexample.
bool CheckCounter(const std::string& flag, std::optional<Plan>* last_failure) {
  const ExploreScenario& base = Loaded(MyCounter(flag));
  return rc::check("the counter keeps every acknowledged increment", [&] {
    Plan plan = *gen::FaultPlan(base.bounds);
    PlanRun run = RunPlan(base, plan);
    RC_ASSERT(run.exit_code != 3);    // the environment worked (started, faults fired)
    RC_PRE(!run.OnlyFaultsMissed());  // e.g. a second kill at the same instant: no test
    if (!run.passed()) *last_failure = plan;
    RC_ASSERT(run.passed());
  });
}

TEST(MyCounter, PlantedAckBeforePersistIsFoundAndShrunkToOneKill) {
  std::optional<Plan> minimal;
  EXPECT_FALSE(CheckCounter(", \"--planted-ack-before-persist\"", &minimal));
  ASSERT_TRUE(minimal.has_value());
  EXPECT_EQ(minimal->faults.size(), 1u) << DescribePlan(*minimal);
  EXPECT_EQ(Kills(*minimal), 1u) << DescribePlan(*minimal);
}

RC_GTEST_PROP(MyCounter, FsyncedCounterKeepsEveryIncrement, ()) {
  const ExploreScenario& base = Loaded(MyCounter(""));
  Plan plan = *gen::FaultPlan(base.bounds);
  PlanRun run = RunPlan(base, plan);
  RC_ASSERT(run.exit_code != 3);
  RC_PRE(!run.OnlyFaultsMissed());
  RC_ASSERT(run.passed());
}

// A probe script that reads the run's event log: under the explore API it has a log to read
// and its output is the check's evidence.
TEST(ExploreEvidence, CommandProbeReadsTheEventLogOfAPlanRun) {
  const std::string text = MyCounter("") + R"toml(
[[check]]
kind = "command_probe"
name = "history-recorded"
command = ["sh", "-c", "echo sent={load.sent}; grep -c '\"load.ops\"' {events} && test {load.sent} -gt 0"]
)toml";
  const ExploreScenario& base = Loaded(text);
  Plan plan;
  PlannedFault kill;
  kill.kind = "kill";
  kill.target = "counterd";
  kill.at_ms = 400;
  kill.params = {{"signal", "\"SIGKILL\""}};
  plan.faults.push_back(kill);
  PlanRun run = RunPlan(base, plan);
  ASSERT_NE(run.exit_code, 3) << run.result.error;
  const duende::model::CheckResult* probe = nullptr;
  for (const auto& c : run.result.checks) {
    if (c.name == "history-recorded") probe = &c;
  }
  ASSERT_NE(probe, nullptr);
  std::string evidence;
  for (const auto& e : probe->evidence) evidence += e + "\n";
  EXPECT_EQ(probe->verdict, duende::model::Verdict::kPass) << evidence;
  // The probe's stdout is the evidence: the load's count and the log's load.ops lines.
  EXPECT_NE(evidence.find("stdout: sent="), std::string::npos) << evidence;
  EXPECT_EQ(evidence.find("stdout: sent=\n"), std::string::npos) << evidence;
}

}  // namespace
