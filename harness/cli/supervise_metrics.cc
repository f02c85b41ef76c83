#include "supervise_metrics.h"

#include "duende/framework/clock.h"

namespace duende::cli {

using framework::EventType;
using framework::MetricFamily;
using framework::ServiceState;
using prometheus::MetricType;

ServiceEventTally::ServiceEventTally(framework::Supervisor& sup) : sup_(sup) {
  id_ = sup_.Subscribe([this](const framework::ServiceEvent& e) {
    std::lock_guard lock(mu_);
    Tally& t = by_service_[e.service];
    if (e.type == EventType::kRestartScheduled) {
      t.delay_seconds = std::chrono::duration<double>(e.delay).count();
    } else if (e.type == EventType::kGaveUp) {
      t.gave_up += 1;
    }
  });
}

ServiceEventTally::~ServiceEventTally() { sup_.Unsubscribe(id_); }

void ServiceEventTally::Fill(ServiceSample* sample) const {
  std::lock_guard lock(mu_);
  auto it = by_service_.find(sample->status.name);
  if (it == by_service_.end()) return;
  sample->start_limit_hits = it->second.gave_up;
  // The delay counts only while a restart waits for it.
  if (sample->status.state == ServiceState::kBackoff) {
    sample->backoff_delay_seconds = it->second.delay_seconds;
  }
}

std::vector<ServiceSample> SampleServices(framework::Supervisor& sup,
                                          const ServiceEventTally& tally) {
  std::vector<ServiceSample> out;
  for (auto& st : sup.StatusAll()) {
    ServiceSample s;
    s.status = std::move(st);
    tally.Fill(&s);
    if (auto members = sup.Members(s.status.name); members.ok()) {
      s.usage = framework::SumProcessUsage(*members);
    }
    out.push_back(std::move(s));
  }
  return out;
}

void AppendServiceMetrics(const std::vector<ServiceSample>& samples,
                          framework::MetricFamilies* out) {
  auto family = [&](const char* name, const char* help, MetricType type, auto value) {
    auto f = MetricFamily(name, help, type);
    for (const auto& s : samples) {
      framework::AddSample(f, static_cast<double>(value(s)), {{"service", s.status.name}});
    }
    out->push_back(std::move(f));
  };
  // One series per state, 1 for the current one: `duende_service_state{state="failed"} == 1`
  // finds every failed service.
  auto state =
      MetricFamily("duende_service_state", "1 for the service's state now, 0 for the other states.",
                   MetricType::Gauge);
  for (const auto& s : samples) {
    for (ServiceState st : {ServiceState::kStopped, ServiceState::kStarting, ServiceState::kRunning,
                            ServiceState::kStopping, ServiceState::kBackoff, ServiceState::kExited,
                            ServiceState::kFailed}) {
      framework::AddSample(state, s.status.state == st ? 1 : 0,
                           {{"service", s.status.name}, {"state", framework::StateName(st)}});
    }
  }
  out->push_back(std::move(state));
  family("duende_service_up", "1 when the service is running and ready, else 0.", MetricType::Gauge,
         [](const ServiceSample& s) {
           return s.status.state == ServiceState::kRunning && s.status.ready ? 1 : 0;
         });
  family("duende_service_restarts_total", "Restarts the restart policy made.", MetricType::Counter,
         [](const ServiceSample& s) { return s.status.restarts; });
  family("duende_service_spawns_total", "Processes started for the service.", MetricType::Counter,
         [](const ServiceSample& s) { return s.status.spawns; });
  family("duende_service_last_exit_code",
         "Exit code of the last exit; -1 when it was killed by a signal or has not exited.",
         MetricType::Gauge, [](const ServiceSample& s) {
           return s.status.last_exit && !s.status.last_exit->signaled ? s.status.last_exit->code
                                                                      : -1;
         });
  family("duende_service_last_exit_signal",
         "Signal that ended the last exit; 0 when it exited by itself or has not exited.",
         MetricType::Gauge, [](const ServiceSample& s) {
           return s.status.last_exit && s.status.last_exit->signaled ? s.status.last_exit->signal
                                                                     : 0;
         });
  family("duende_service_backoff_delay_seconds",
         "Delay before the scheduled restart while in backoff, else 0.", MetricType::Gauge,
         [](const ServiceSample& s) { return s.backoff_delay_seconds; });
  family("duende_service_start_limit_hits_total",
         "Times the start limit was hit and the service went to failed.", MetricType::Counter,
         [](const ServiceSample& s) { return s.start_limit_hits; });
  family("duende_service_processes", "Processes of the service now.", MetricType::Gauge,
         [](const ServiceSample& s) { return s.usage.processes; });
  family("duende_service_cpu_seconds_total",
         "User and system CPU time of the service's processes now running, in seconds.",
         MetricType::Counter, [](const ServiceSample& s) { return s.usage.cpu_seconds; });
  family("duende_service_resident_memory_bytes", "Resident memory of the service's processes.",
         MetricType::Gauge, [](const ServiceSample& s) { return s.usage.resident_bytes; });
  family("duende_service_locked_memory_bytes", "Locked memory (VmLck) of the service's processes.",
         MetricType::Gauge, [](const ServiceSample& s) { return s.usage.locked_bytes; });
  family("duende_service_open_fds", "Open descriptors of the service's processes.",
         MetricType::Gauge, [](const ServiceSample& s) { return s.usage.open_fds; });
}

framework::Result<std::unique_ptr<framework::MetricsEndpoint>> StartSupervisorMetrics(
    framework::Supervisor& sup, const ServiceEventTally& tally,
    const framework::MetricsConfig& config) {
  return framework::MetricsEndpoint::Start(config, [&sup, &tally] {
    framework::MetricFamilies out;
    auto self = framework::ReadProcessUsage(0);
    framework::AppendProcessMetrics(self.ok() ? *self : framework::ProcessUsage{}, &out);
    AppendServiceMetrics(SampleServices(sup, tally), &out);
    return out;
  });
}

}  // namespace duende::cli
