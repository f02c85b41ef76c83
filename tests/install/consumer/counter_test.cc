// A property test of a counter daemon in the user's style, built against an installed duende
// (docs/explore.md shows it): "my counter never loses an acknowledged increment, whatever kills
// and pauses hit it", judged by the `counter` model check over the run's history. The daemon
// is duende's installed counter fixture (PREFIX/libexec/duende/duende-fixture-counterd, found
// relative to the install): MyCounter runs it as shipped (fsync before "OK"), and
// MyPlantedCounter with its planted bug (--planted-ack-before-persist: "OK" before the log is
// written). The planted property FAILS by design: rapidcheck finds a failing fault plan and
// shrinks it to a single kill; run_consumer.cmake asserts exactly that from this program's
// output. Each case is one real run of about 1.5 s: pick the cases with RC_PARAMS
// ("seed=N max_success=N").
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

#include "duende/harness/gen.h"

namespace {

// The scenario: the counter under INCR/GET load on one key, up to three faults drawn from a
// SIGKILL and a pause of 20-150 ms, injected 150-800 ms into a 1.2 s run. `extra` goes at the
// end of the daemon's command line.
std::string MyCounter(const std::string& extra) {
  return R"toml(
[scenario]
name = "counter-keeps-increments"
duration = "1200ms"

[[target]]
name = "counterd"
command = ["duende-fixture-counterd", "--port", "{port.counterd}",
           "--data-dir", "{run_dir}/counterd")toml" +
         extra + R"toml(]
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

// The property: one generated fault plan, run for real, passes every check. When it does not,
// the failing checks' first lines of evidence (the operations the counter check cites) go to
// rapidcheck's log, printed with the shrunk counterexample.
void KeepsEveryAcknowledgedIncrement(const duende::harness::ExploreScenario& base) {
  using namespace duende::harness;
  Plan plan = *gen::FaultPlan(base.bounds);
  PlanRun run = RunPlan(base, plan);
  RC_ASSERT(run.exit_code != 3);    // the environment worked (the daemon started, faults fired)
  RC_PRE(!run.OnlyFaultsMissed());  // e.g. a pause of a daemon already killed: nothing tested
  for (const auto& check : run.result.checks) {
    if (check.verdict == duende::model::Verdict::kPass) continue;
    RC_LOG() << check.name << ": " << check.measured << '\n';
    for (size_t i = 0; i < check.evidence.size() && i < 2; ++i) {
      RC_LOG() << "  " << check.evidence[i] << '\n';
    }
  }
  RC_ASSERT(run.passed());
}

RC_GTEST_PROP(MyCounter, KeepsEveryAcknowledgedIncrement, ()) {
  using namespace duende::harness;
  static const auto loaded =
      ParseExploreScenario(MyCounter(""), "my-counter.toml", ExploreFaultKinds());
  RC_ASSERT(loaded.ok());  // (bad input would print file:line:col messages here)
  KeepsEveryAcknowledgedIncrement(loaded.value());
}

// The same property against the planted twin: it fails, shrunk to one kill.
RC_GTEST_PROP(MyPlantedCounter, KeepsEveryAcknowledgedIncrement, ()) {
  using namespace duende::harness;
  static const auto loaded = ParseExploreScenario(MyCounter(", \"--planted-ack-before-persist\""),
                                                  "my-counter.toml", ExploreFaultKinds());
  RC_ASSERT(loaded.ok());
  KeepsEveryAcknowledgedIncrement(loaded.value());
}

}  // namespace
