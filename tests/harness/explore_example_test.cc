// A worked example of a user's own property test: "my daemon keeps every acknowledged write
// whatever faults hit it". The generators come from the scenario's [explore] bounds; each case
// is one real scenario run (about 1.5 s), so the test asks rapidcheck for a few cases only.
//
// The daemon here is duende-fixture-kvd (which fsyncs before it answers OK: the property holds).
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstdlib>
#include <string>

#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"

namespace {

// Each case runs a daemon: keep the number of cases small unless RC_PARAMS says otherwise.
[[maybe_unused]] const bool kFewCases = [] {
  std::string params = std::getenv("RC_PARAMS") ? std::getenv("RC_PARAMS") : "";
  if (params.find("max_success") == std::string::npos) params += " max_success=3";
  // Before any thread exists: where the fixture daemons were built.
  setenv("DUENDE_FIXTURES_DIR", FIXTURES_DIR, 1);
  return setenv("RC_PARAMS", params.c_str(), 1) == 0;
}();

constexpr const char* kMyDaemon = R"(
[scenario]
name = "kvd-keeps-writes"
duration = "1s"

[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"
fiu = true
[target.readiness]
kind = "notify"

[load]
rate = 200
request = "SET {key} {seq}"
expect = "OK"
[load.readback]
request = "GET {key}"
expect = "VALUE {seq}"

[[check]]
kind = "no_lost_writes"

[explore]
max_faults = 2
window = ["100ms", "700ms"]

[[explore.fault]]
kind = "syscall"
point = "posix/io/sync/fsync"
duration = { min = "50ms", max = "300ms" }

[[explore.fault]]
kind = "kill"
signal = "SIGKILL"
)";

}  // namespace

RC_GTEST_PROP(MyDaemon, KeepsAcknowledgedWritesUnderFaults, ()) {
  using namespace duende::harness;
  static const auto loaded = ParseExploreScenario(kMyDaemon, "my-daemon.toml", ExploreFaultKinds());
  RC_ASSERT(loaded.ok());  // (bad input would print file:line:col messages here)
  const ExploreScenario& base = loaded.value();
  Plan plan = *gen::FaultPlan(base.bounds);
  PlanRun run = RunPlan(base, plan);
  RC_ASSERT(run.exit_code != 3);  // the environment worked (the daemon started, faults fired)
  RC_ASSERT(run.passed());
}
