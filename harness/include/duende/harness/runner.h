// Runner: runs one scenario and gives its verdict.
//
//   targets start under the Supervisor (or are found, when `external`) -> readiness
//   -> steady-state probes -> load starts -> faults are injected and healed on a timerfd
//   timeline (each injection's lag from its schedule is recorded) -> load ends -> steady state
//   again -> read-back of acknowledged writes -> command probes -> everything stops and is
//   healed -> leftover processes are looked for -> checks over the event log -> verdict.
//
// Every happening is appended to the event log (EventRecorder); the verdict and the reports
// come from that log only. SIGINT/SIGTERM (through a signalfd the caller provides) end the run
// early: everything is healed and stopped, the partial report carries verdict ABORTED.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/exit_code.h"
#include "duende/framework/result.h"
#include "duende/harness/scenario.h"
#include "duende/model/model.h"
#include "duende/reporters/reporter.h"

namespace duende::framework {
class Supervisor;
}  // namespace duende::framework

namespace duende::harness {

struct RunOptions {
  /// Overrides the scenario's seed; neither given: a random seed (always recorded).
  std::optional<uint64_t> seed;
  /// Also write the event log here (JSON Lines) as the run goes.
  std::string events_path;
  /// Sees the run as it happens (OnScenarioStart, OnEvent..., OnScenarioEnd); may be null.
  reporters::Reporter* reporter = nullptr;
  /// A signalfd (SIGINT/SIGTERM, blocked in every thread by the caller) that aborts the run;
  /// -1: not interruptible.
  int abort_fd = -1;
  /// How `duende` was invoked, for the replay command ("duende run").
  std::string replay_prefix = "duende run";
  /// Keep the run's scratch directory (target data, logs) instead of removing it.
  bool keep_run_dir = false;
  /// When the run does not pass (and !keep_run_dir), keep the evidence in the run directory
  /// (its event log and the targets' output; their data goes). `duende run` without --events
  /// sets it; false (library callers, the explorer's many runs): remove it all.
  bool keep_evidence_on_failure = false;
  /// Told the supervisor of the scenario's targets once it exists, and nullptr when the run
  /// begins to stop them (both on the run's thread), so that another thread may ask it for
  /// the targets' status and processes meanwhile (`duende run --control`, for `duende top`).
  std::function<void(framework::Supervisor*)> on_supervisor;
};

/// The outcome of one scenario run.
struct RunOutcome {
  model::ScenarioResult result;
  /// The run's scratch directory and whether it is still there (--keep, or kept because the
  /// run did not pass: its event log and the targets' output are in it).
  std::string run_dir;
  bool run_dir_kept = false;
  /// The raw syscall traces (NAME.PID.strace) when a target had trace = true and the run
  /// directory was kept (it is, with traces, whenever keep_evidence_on_failure is set).
  std::string trace_dir;
  /// Where the event log was written: RunOptions::events_path, or else (with keep_run_dir or
  /// keep_evidence_on_failure) events.jsonl in the run directory; "" when none was.
  std::string events_path;
  /// model::ExitCodeFor(result.verdict): 0 pass, 1 an invariant failed, 3 the environment
  /// failed (a target never became ready, a fault could not be injected), 130 aborted.
  int exit_code = framework::kExitOk;
};

/// Runs `scenario`. Never throws; problems of the environment become verdict ERROR with the
/// reason in `result.error`.
RunOutcome RunScenario(const Scenario& scenario, const RunOptions& options);

/// What `RunScenario` would refuse before starting anything, checked without starting
/// anything: every target's program exists (PATH, then ProgramSearchDirs()), and so does the
/// program of every command probe and command check (PATH). `duende run` and `duende validate`
/// both call it, as does the load generator's validation of [load] (keys >= connections, ...).
/// Errors hold "file:line:col: message" lines in `context`: invalid_argument when the file is
/// wrong (and then every problem), no_such_file_or_directory when only programs are missing.
framework::Result<void> PreflightScenario(const Scenario& scenario);

/// The directories in which fixture programs are looked up after PATH (for commands without
/// '/'): $DUENDE_FIXTURES_DIR, the directory of the running program, then PREFIX/libexec/duende
/// of the install (or the build tree's fixtures/) it belongs to (framework::RuntimeDirs).
std::vector<std::string> ProgramSearchDirs();

/// Finds `program` (no '/') in PATH or ProgramSearchDirs(). Errors: ENOENT naming where it
/// looked.
framework::Result<std::string> ResolveProgram(const std::string& program);

/// How a target's program must be accessible: R_OK for a WebAssembly module (NAME.wasm, run
/// by the wasi platform's runtime), X_OK for anything else.
int ProgramAccessMode(const std::string& program);

}  // namespace duende::harness
