// `duende run --metrics ADDR`: a running scenario's load, faults and target restarts at
// /metrics, tallied from the events as the run streams them (so the runner does no extra work
// and the figures are exactly what the event log says).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "duende/framework/metrics.h"
#include "duende/framework/metrics_endpoint.h"
#include "duende/reporters/reporter.h"

namespace duende::cli {

/// The run so far, as the events told it.
struct RunSnapshot {
  std::string scenario;  ///< the scenario running now ("" before the first)
  uint64_t scenarios_started = 0;
  /// Requests that ended, by outcome: "ok", "error" (wrong reply, not sent, dropped),
  /// "timeout", "abandoned".
  std::map<std::string, uint64_t> requests;
  framework::MetricsSnapshot latency;  ///< every finished request's latency
  /// Active faults: fault name -> {kind, target it acts on}.
  std::map<std::string, std::pair<std::string, std::string>> active_faults;
  uint64_t faults_injected = 0;
  std::map<std::string, uint64_t> target_restarts;  ///< spawns after the first, per target
  std::map<std::string, bool> target_up;            ///< ready and not exited since
};

/// A Reporter that keeps a RunSnapshot; Snapshot() may be called from any thread.
class RunTally : public reporters::Reporter {
 public:
  void OnScenarioStart(const model::ScenarioResult& header) override;
  void OnEvent(const model::Event& event) override;
  RunSnapshot Snapshot() const;

 private:
  mutable std::mutex mu_;
  RunSnapshot s_;
  framework::MetricsRecorder latency_;
  std::map<std::string, uint64_t> spawns_;
};

/// The duende_run_* families of `snapshot` (docs/metrics.md).
void AppendRunMetrics(const RunSnapshot& snapshot, framework::MetricFamilies* out);

/// Serves `config.listen` for `duende run`: its process metrics and the tally's run.
/// Errors: as MetricsEndpoint::Start.
framework::Result<std::unique_ptr<framework::MetricsEndpoint>> StartRunMetrics(
    const RunTally& tally, const framework::MetricsConfig& config);

}  // namespace duende::cli
