// The result model: what a chaos run produced. Reporters read only this; the harness writes it.
//
// The event log is the single source of truth (DESIGN.md): checks and reports are computed
// from events, never from the runner's internal state, so a finished run can be re-checked
// and re-reported from its JSON Lines file. Event types and their fields are documented in
// docs/events.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/exit_code.h"
#include "duende/model/shard.h"

namespace duende::model {

/// One happening in a run.
struct Event {
  int64_t ts_ns = 0;   ///< CLOCK_MONOTONIC nanoseconds
  std::string type;    ///< e.g. "target.spawned", "fault.injected", "load.second"
  std::string target;  ///< the target (or fault/load name) it concerns; may be empty
  nlohmann::json data = nlohmann::json::object();  ///< type-specific fields
};

enum class Verdict { kPass, kFail, kError, kAborted };

/// "PASS", "FAIL", "ERROR", "ABORTED"
const char* VerdictName(Verdict v);

/// The exit code of a verb whose outcome is `v` (README "Exit codes"): PASS 0, FAIL 1,
/// ERROR 3 (the environment failed), ABORTED 130 (interrupted). Every verb that ends in a
/// verdict (run, check, report, explore, gate) exits through this one mapping.
framework::ExitCode ExitCodeFor(Verdict v);

/// The outcome of one invariant over the event log.
struct CheckResult {
  std::string name;  ///< the check's name in the scenario (unique within it)
  std::string kind;  ///< invariant kind, e.g. "no_lost_writes"
  Verdict verdict = Verdict::kPass;
  std::string measured;               ///< the measured value, human-readable ("3 lost of 4210")
  std::string threshold;              ///< what it had to be ("0")
  std::vector<std::string> evidence;  ///< lines pointing at the events that decided it
  double duration_s = 0;              ///< time spent checking
};

/// One scenario's run.
struct ScenarioResult {
  std::string name;
  std::string file;
  std::string description;
  uint64_t seed = 0;
  std::string replay_command;  ///< a command line that replays this run (same seed)
  int64_t start_ns = 0;        ///< monotonic time of the run's start
  int64_t end_ns = 0;
  int64_t wall_start_ns = 0;  ///< CLOCK_REALTIME at start (for humans only)
  std::vector<Event> events;
  std::vector<CheckResult> checks;
  Verdict verdict = Verdict::kPass;
  std::string error;  ///< set when verdict is kError or kAborted
};

/// A whole invocation: one or more scenarios.
struct RunReport {
  std::string tool_version;
  std::string hostname;
  std::vector<ScenarioResult> scenarios;
  Verdict verdict = Verdict::kPass;
  /// What `duende run` was given before sharding (empty: not recorded, e.g. a re-render from
  /// an event log), and which shard of it this report is (nullopt: the whole suite).
  Suite suite;
  std::optional<Shard> shard;
};

/// The verdict of several: any abort -> ABORTED (an interrupted invocation is reported as
/// interrupted, exit 130), else any error -> ERROR, else any fail -> FAIL, else PASS.
Verdict Combine(const std::vector<Verdict>& verdicts);

}  // namespace duende::model
