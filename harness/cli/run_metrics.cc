#include "run_metrics.h"

#include "duende/harness/load_history.h"
#include "duende/model/events.h"

namespace duende::cli {

namespace events = model::events;
using framework::MetricFamily;
using harness::OpOutcome;
using prometheus::MetricType;

void RunTally::OnScenarioStart(const model::ScenarioResult& header) {
  std::lock_guard lock(mu_);
  s_.scenario = header.name;
  s_.scenarios_started += 1;
  // Faults and targets belong to one scenario; requests and restarts add up over the run.
  s_.active_faults.clear();
  s_.target_up.clear();
  spawns_.clear();
}

void RunTally::OnEvent(const model::Event& e) {
  if (e.type == events::kLoadOps) {
    auto ops = harness::DecodeOps(e.data);
    std::lock_guard lock(mu_);
    for (const auto& op : ops) {
      const char* outcome = "error";
      if (op.outcome == OpOutcome::kOk) outcome = "ok";
      if (op.outcome == OpOutcome::kTimeout) outcome = "timeout";
      if (op.outcome == OpOutcome::kAbandoned) outcome = "abandoned";
      s_.requests[outcome] += 1;
      latency_.AddRequest();
      if (op.outcome != OpOutcome::kOk) latency_.AddError();
      latency_.RecordLatency(std::chrono::nanoseconds(op.complete_ns - op.invoke_ns));
    }
    return;
  }
  std::lock_guard lock(mu_);
  if (e.type == events::kTargetSpawned) {
    if (++spawns_[e.target] > 1) s_.target_restarts[e.target] += 1;
    s_.target_restarts.try_emplace(e.target, 0);
    s_.target_up[e.target] = false;
  } else if (e.type == events::kTargetReady) {
    s_.target_up[e.target] = true;
  } else if (e.type == events::kTargetExited || e.type == events::kTargetStopped) {
    s_.target_up[e.target] = false;
  } else if (e.type == events::kFaultInjected) {
    s_.active_faults[e.target] = {events::StringField(e.data, "kind"),
                                  events::StringField(e.data, "on")};
    s_.faults_injected += 1;
  } else if (e.type == events::kFaultHealed) {
    s_.active_faults.erase(e.target);
  }
}

RunSnapshot RunTally::Snapshot() const {
  std::lock_guard lock(mu_);
  RunSnapshot out = s_;
  out.latency = latency_.Snapshot();
  return out;
}

void AppendRunMetrics(const RunSnapshot& s, framework::MetricFamilies* out) {
  auto info =
      MetricFamily("duende_run_scenario_info",
                   "The scenario running now (value 1; its name is the label).", MetricType::Gauge);
  if (!s.scenario.empty()) framework::AddSample(info, 1, {{"scenario", s.scenario}});
  out->push_back(std::move(info));
  auto started = MetricFamily("duende_run_scenarios_started_total",
                              "Scenarios this invocation has started.", MetricType::Counter);
  framework::AddSample(started, static_cast<double>(s.scenarios_started));
  out->push_back(std::move(started));
  auto requests = MetricFamily("duende_run_requests_total", "Load requests that ended, by outcome.",
                               MetricType::Counter);
  for (const char* outcome : {"ok", "error", "timeout", "abandoned"}) {
    auto it = s.requests.find(outcome);
    framework::AddSample(requests, it == s.requests.end() ? 0 : static_cast<double>(it->second),
                         {{"outcome", outcome}});
  }
  out->push_back(std::move(requests));
  auto latency =
      MetricFamily("duende_run_request_duration_seconds",
                   "Latency of the load's requests (invoke to completion).", MetricType::Histogram);
  framework::AddHistogram(latency, s.latency);
  out->push_back(std::move(latency));
  auto active = MetricFamily("duende_run_fault_active",
                             "1 for each fault injected and not yet healed.", MetricType::Gauge);
  for (const auto& [name, what] : s.active_faults) {
    framework::AddSample(active, 1, {{"fault", name}, {"kind", what.first}, {"on", what.second}});
  }
  out->push_back(std::move(active));
  auto injected = MetricFamily("duende_run_faults_injected_total", "Fault injections so far.",
                               MetricType::Counter);
  framework::AddSample(injected, static_cast<double>(s.faults_injected));
  out->push_back(std::move(injected));
  auto restarts =
      MetricFamily("duende_run_target_restarts_total",
                   "Times a target was started again after its first start.", MetricType::Counter);
  for (const auto& [target, n] : s.target_restarts) {
    framework::AddSample(restarts, static_cast<double>(n), {{"target", target}});
  }
  out->push_back(std::move(restarts));
  auto up = MetricFamily("duende_run_target_up", "1 when the target is ready, else 0.",
                         MetricType::Gauge);
  for (const auto& [target, is_up] : s.target_up) {
    framework::AddSample(up, is_up ? 1 : 0, {{"target", target}});
  }
  out->push_back(std::move(up));
}

framework::Result<std::unique_ptr<framework::MetricsEndpoint>> StartRunMetrics(
    const RunTally& tally, const framework::MetricsConfig& config) {
  return framework::MetricsEndpoint::Start(config, [&tally] {
    framework::MetricFamilies out;
    auto self = framework::ReadProcessUsage(0);
    framework::AppendProcessMetrics(self.ok() ? *self : framework::ProcessUsage{}, &out);
    AppendRunMetrics(tally.Snapshot(), &out);
    return out;
  });
}

}  // namespace duende::cli
