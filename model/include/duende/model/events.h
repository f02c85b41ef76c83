// The event vocabulary: every event type of the log named once, and typed decoders for the
// events that more than one reader interprets (checks and reporters share them, so both read
// a load second or a fault's span the same way). Fields of each type: docs/events.md.
//
// Writers and readers use these names, never the string: `e.type == events::kTargetExited`.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "duende/model/model.h"

namespace duende::model::events {

// Run.
inline constexpr char kRunStarted[] = "run.started";
inline constexpr char kRunFinished[] = "run.finished";
inline constexpr char kRunPhase[] = "run.phase";
inline constexpr char kRunInterrupted[] = "run.interrupted";
inline constexpr char kRunLeftovers[] = "run.leftovers";
inline constexpr char kRunHealedLeftovers[] = "run.healed_leftovers";
inline constexpr char kSteadyState[] = "steady_state";

// Targets (the processes under test).
inline constexpr char kTargetSpawned[] = "target.spawned";
inline constexpr char kTargetReady[] = "target.ready";
inline constexpr char kTargetTracking[] = "target.tracking";
inline constexpr char kTargetMainPid[] = "target.main_pid";
inline constexpr char kTargetExited[] = "target.exited";
inline constexpr char kTargetRestartScheduled[] = "target.restart_scheduled";
inline constexpr char kTargetGaveUp[] = "target.gave_up";
inline constexpr char kTargetNotRestarting[] = "target.not_restarting";
inline constexpr char kTargetStopping[] = "target.stopping";
inline constexpr char kTargetStopped[] = "target.stopped";
inline constexpr char kTargetKilled[] = "target.killed";
inline constexpr char kTargetSpawnFailed[] = "target.spawn_failed";
inline constexpr char kTargetHealthFailed[] = "target.health_failed";
inline constexpr char kTargetStatus[] = "target.status";
inline constexpr char kTargetSample[] = "target.sample";
inline constexpr char kTargetFile[] = "target.file";
inline constexpr char kTargetOutputTail[] = "target.output_tail";
inline constexpr char kTargetLog[] = "target.log";
inline constexpr char kTargetLogTruncated[] = "target.log_truncated";

// Faults and the proxy they act through.
inline constexpr char kFaultInjected[] = "fault.injected";
inline constexpr char kFaultFired[] = "fault.fired";
inline constexpr char kFaultHealed[] = "fault.healed";
inline constexpr char kFaultError[] = "fault.error";
inline constexpr char kProxyStarted[] = "proxy.started";
inline constexpr char kProxyStopped[] = "proxy.stopped";
inline constexpr char kNodesCreated[] = "nodes.created";
inline constexpr char kNodesRemoved[] = "nodes.removed";

// Load and its request history.
inline constexpr char kLoadSecond[] = "load.second";
inline constexpr char kLoadSummary[] = "load.summary";
inline constexpr char kLoadOps[] = "load.ops";
inline constexpr char kReadbackOps[] = "readback.ops";

// Results.
inline constexpr char kReadbackResult[] = "readback.result";
inline constexpr char kProbeResult[] = "probe.result";
inline constexpr char kCheckResult[] = "check.result";

// Syscall traces of targets with trace = true (docs/tracing.md).
inline constexpr char kTraceStarted[] = "trace.started";
inline constexpr char kTraceError[] = "trace.error";
inline constexpr char kTraceSummary[] = "trace.summary";
inline constexpr char kTraceWindow[] = "trace.window";

// Gates.
inline constexpr char kGateStepStarted[] = "gate.step.started";
inline constexpr char kGateStepFinished[] = "gate.step.finished";

/// Every type above, in the order listed (for docs and tests).
const std::vector<const char*>& AllTypes();

/// A data member as an integer (a float is truncated); `fallback` when absent or not a number.
int64_t IntField(const nlohmann::json& data, const char* key, int64_t fallback = 0);
/// A data member as a number; `fallback` when absent or not a number.
double NumberField(const nlohmann::json& data, const char* key, double fallback = 0);
/// data[key] when it is a boolean, else `fallback` (a log's wrong type is never an exception).
bool BoolField(const nlohmann::json& data, const char* key, bool fallback);
/// A data member as a string; "" when absent or not a string.
std::string StringField(const nlohmann::json& data, const char* key);

/// One second of load (a load.second event).
struct LoadSecond {
  int64_t second = 0;    ///< 0-based second of the load
  int64_t start_ns = 0;  ///< its "start_ns"; the end minus 1 s in logs without one
  /// The end of the second: start_ns + "span_ns" (the load's last second may be short); in
  /// logs without a span, the event's ts_ns (written a little after the second ended).
  int64_t end_ns = 0;
  int64_t sent = 0, ok = 0, errors = 0, timeouts = 0;
  double rate = 0;  ///< ok replies per second of it ("rate"; `ok` in logs without one)
  int64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

/// The load second an event holds; nullopt when it is not a load.second.
std::optional<LoadSecond> DecodeLoadSecond(const Event& event);
/// Every load.second of a log, in log order.
std::vector<LoadSecond> LoadSeconds(const std::vector<Event>& events);

/// A stall of the load generator itself (load.summary's "stalls"): from when a worker asked
/// to run to when it ran (CLOCK_MONOTONIC ns).
struct LoadStall {
  int64_t start_ns = 0, end_ns = 0;
};
/// Every stall the log's load.summary lists, in time order.
std::vector<LoadStall> LoadStalls(const std::vector<Event>& events);

/// One injection of a fault: its fault.injected and what followed it until the next injection
/// of the same fault (fault.fired, fault.healed).
struct FaultSpan {
  std::string fault;  ///< the fault's name (the events' target)
  std::string kind;   ///< "kill", "latency", ...
  std::string on;     ///< the target it acted on ("" = none named)
  int64_t injected_ns = 0;
  std::optional<int64_t> healed_ns;  ///< nullopt: not healed before the log ends
  bool fired = false;                ///< a fault.fired was seen
  std::optional<bool> took_effect;   ///< fault.healed's took_effect, when it said
};

/// Every fault injection of a log, in the order injected.
std::vector<FaultSpan> FaultSpans(const std::vector<Event>& events);

}  // namespace duende::model::events
