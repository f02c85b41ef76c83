// Invariant checks over a run's event log.
//
// Each check reads only events (never the runner's state), so `duende check events.jsonl
// SCENARIO` gives the same verdicts later. Each result carries the measured value, the
// threshold and evidence lines that point at the deciding events ("+1.204s kvd exited ...").
// A check with nothing to measure (no crash for restart_within, no acknowledged write for
// no_lost_writes, ...) FAILS: a scenario whose fault never bit proves nothing.
//
// Events read (besides those of docs/events.md):
//   run.phase      {phase: "steady" | "faults" | "recovery" | "readback" | "stopping" | "done"}
//                  exits after "stopping" are the run's own stop, not crashes
//   target.log     {line, stream}              an output line of a target
//   steady_state   {phase, fault, ok, failed}  one round of all steady-state probes
//   run.leftovers  {leftovers: [{pid, ppid, pgid, state, comm}]} after everything stopped
#pragma once

#include <vector>

#include "duende/harness/scenario.h"
#include "duende/reporters/model.h"

namespace duende::harness {

/// Evaluates one check of `scenario` over `events` (in time order).
reporters::CheckResult EvaluateCheck(const CheckSpec& check, const Scenario& scenario,
                                     const std::vector<reporters::Event>& events);

/// Evaluates every check of the scenario, plus the implicit "faults-took-effect" check (every
/// injected fault recorded proof that it took effect) when the scenario has faults.
std::vector<reporters::CheckResult> EvaluateChecks(const Scenario& scenario,
                                                   const std::vector<reporters::Event>& events);

}  // namespace duende::harness
