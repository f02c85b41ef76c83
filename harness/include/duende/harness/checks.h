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
//   load.ops, readback.ops  the request history (load_history.h): error_rate, p99_latency,
//                  availability and no_lost_writes judge each request by it (logs without it
//                  fall back to load.second and readback.result)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "duende/harness/scenario.h"
#include "duende/model/model.h"

namespace duende::harness {

/// An interval during which a fault acts: [from_ns, to_ns), in event-log time. Requests in
/// flight during one are not judged by error_rate and p99_latency.
struct FaultWindow {
  std::string fault;        ///< the fault's name
  std::string on;           ///< the target it acted on ("" = none named)
  int64_t from_ns = 0;      ///< fault.injected
  int64_t back_ns = 0;      ///< heal, or the target ready again when it went down (the later)
  int64_t to_ns = 0;        ///< back_ns + grace; INT64_MAX when the target never came back
  bool never_back = false;  ///< `on` went down during the fault and was never ready again
  int64_t down_ns = 0;      ///< when never_back: the exit that was never followed by readiness
};

/// The fault windows of a run: from each fault.injected to the later of its fault.healed and,
/// when its target exited while the fault acted (or within `grace_ns` after), that target's
/// next target.ready (target.spawned when the target never reports readiness); plus
/// `grace_ns`. Exits after run.phase "stopping" are the run's own stop, never a fault's
/// effect. A target that never came back keeps its window open to the end (never_back).
std::vector<FaultWindow> FaultWindows(const std::vector<model::Event>& events, int64_t grace_ns);

/// True when `ts_ns` lies in one of `windows` (from inclusive, to exclusive).
bool InFaultWindow(const std::vector<FaultWindow>& windows, int64_t ts_ns);
/// True when a request in flight from `invoke_ns` to `complete_ns` overlaps one of `windows`:
/// sent in one, or sent before one and still waiting for its reply when the fault began.
/// error_rate and p99_latency judge only the requests for which this is false.
bool InFaultWindow(const std::vector<FaultWindow>& windows, int64_t invoke_ns, int64_t complete_ns);

/// Evaluates one check of `scenario` over `events` (in time order).
model::CheckResult EvaluateCheck(const CheckSpec& check, const Scenario& scenario,
                                 const std::vector<model::Event>& events);

/// Evaluates every check of the scenario, plus the implicit "faults-took-effect" check (every
/// injected fault recorded proof that it took effect) when the scenario has faults.
std::vector<model::CheckResult> EvaluateChecks(const Scenario& scenario,
                                               const std::vector<model::Event>& events);

}  // namespace duende::harness
