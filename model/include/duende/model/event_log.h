// The event log on disk: JSON Lines, one event per line, the single source of truth of a run.
//
//   {"ts_ns":1200,"type":"target.exited","target":"kvd","pid":41,"signal":9,...}
//
// Each line is an object whose "ts_ns" (CLOCK_MONOTONIC ns), "type" and "target" are the
// envelope; every other member is the event's data. Event types and fields: docs/events.md.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"
#include "duende/model/model.h"

namespace duende::model {

/// The event as one JSON object: envelope members plus the data's members. Data members named
/// "ts_ns", "type" or "target" are reserved and lose to the envelope.
nlohmann::json EventToJson(const Event& event);

/// The event as one line of text without the newline: "ts_ns", "type", "target" first, then
/// the data members. Invalid UTF-8 in any string is replaced by U+FFFD, never an exception.
std::string EventToJsonLine(const Event& event);

/// Reads an event back. Errors (invalid_argument): not an object, "ts_ns" missing or not an
/// integer, "type" missing or not a non-empty string, "target" present but not a string.
framework::Result<Event> EventFromJson(const nlohmann::json& json);

/// Appends events to a JSON Lines file, one write(2) per line, so a reader (or a crash) never
/// sees half a line. Thread-safe: the runner, load generator and checks may append at once.
class EventLogWriter {
 public:
  /// Creates (or truncates) `path`. Errors: the errno of open(2), context "unable to open PATH".
  static framework::Result<EventLogWriter> Open(const std::string& path);

  EventLogWriter(EventLogWriter&&) noexcept = default;
  EventLogWriter& operator=(EventLogWriter&&) noexcept = default;

  /// Writes one line, flushed to the kernel when this returns. A write error is kept (the
  /// first one) and reported by error(); later appends are still attempted.
  void Append(const Event& event);

  /// The first write error, if any ("unable to write PATH: No space left on device").
  std::optional<framework::Error> error() const;

  const std::string& path() const { return path_; }

 private:
  EventLogWriter(std::string path, framework::UniqueFd fd);

  std::string path_;
  framework::UniqueFd fd_;
  std::unique_ptr<std::mutex> mu_;
  std::optional<framework::Error> error_;
};

/// Reads a whole event log. Blank lines are skipped. Errors name the place:
/// "run/events.jsonl:12: invalid JSON: ..." or "...:12: event has no 'type'"; errno errors
/// (ENOENT, EACCES) carry "unable to read PATH".
framework::Result<std::vector<Event>> ReadEventLog(const std::string& path);

/// The same from the log's text; `name` stands for the file in messages.
framework::Result<std::vector<Event>> ParseEventLog(std::string_view text, const std::string& name);

/// Rebuilds one scenario's result from its events: the header from "run.started", the checks
/// from "check.result" (in order), the end and verdict from "run.finished". A log without
/// "run.finished" gives verdict ABORTED ("the event log ends before run.finished"); a
/// "run.finished" without a verdict takes the combined verdict of the checks.
ScenarioResult ScenarioFromEvents(std::vector<Event> events);

/// Splits a log that holds several runs (each starting with "run.started") and rebuilds each.
/// Events before the first "run.started" belong to the first scenario.
std::vector<ScenarioResult> ScenariosFromEvents(std::vector<Event> events);

/// The whole report of a log: its scenarios, the combined verdict, and the host/version from
/// the first "run.started" (its optional "hostname" and "tool_version" fields).
RunReport RunReportFromEvents(std::vector<Event> events);

}  // namespace duende::model
