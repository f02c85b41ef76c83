// EventRecorder: the run's event log while it is being written. Every part of a run (the
// supervisor's subscription, the load generator, the fault timeline, the samplers) appends
// here; each event is stamped with CLOCK_MONOTONIC, kept in memory for the checks and written
// as one JSON line to the --events file (when given) at once, so a killed run leaves a log.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/model/event_log.h"
#include "duende/model/model.h"

namespace duende::harness {

class EventRecorder {
 public:
  EventRecorder() = default;

  /// Also writes every event to `path` (JSON Lines, truncated first). Errors: open(2)'s errno.
  framework::Result<void> OpenFile(const std::string& path);

  /// Appends an event stamped now; returns its timestamp.
  int64_t Record(const std::string& type, const std::string& target, nlohmann::json data = {});
  /// Appends an event with its own timestamp (e.g. a supervisor event's time).
  void Append(model::Event event);

  /// Called (under the recorder's lock, keep it short) for every event, e.g. to print progress.
  void SetObserver(std::function<void(const model::Event&)> observer);

  /// A copy of every event so far, in append order.
  std::vector<model::Event> Snapshot() const;

  /// The first write error of the file, if any.
  std::optional<framework::Error> file_error() const;

 private:
  mutable std::mutex mu_;
  std::vector<model::Event> events_;
  std::optional<model::EventLogWriter> writer_;
  std::function<void(const model::Event&)> observer_;
};

}  // namespace duende::harness
