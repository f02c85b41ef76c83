// What `duende supervise` knows about its services beyond ServiceStatus, and its /metrics.
//
// A ServiceSample is one service now: its status, the figures kept from its events (the
// backoff delay of the restart it waits for, start-limit hits) and what its processes cost.
// The metrics endpoint renders samples; a live view can read the same samples.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "duende/framework/metrics_endpoint.h"
#include "duende/framework/process_usage.h"
#include "duende/framework/supervisor.h"

namespace duende::cli {

struct ServiceSample {
  framework::ServiceStatus status;
  /// The delay of the scheduled restart while in backoff (0 otherwise), in seconds.
  double backoff_delay_seconds = 0;
  /// Times the start limit was hit (the service went to `failed`) since the supervisor began.
  uint64_t start_limit_hits = 0;
  /// CPU, memory and descriptors summed over every process of the service now.
  framework::ProcessUsage usage;
};

/// Keeps, per service, the figures that only events carry. Subscribes on construction; the
/// callback runs on the supervisor's loop and takes one uncontended lock.
class ServiceEventTally {
 public:
  explicit ServiceEventTally(framework::Supervisor& sup);
  ~ServiceEventTally();
  ServiceEventTally(const ServiceEventTally&) = delete;
  ServiceEventTally& operator=(const ServiceEventTally&) = delete;

  /// Fills backoff_delay_seconds and start_limit_hits of `sample` (by its status's name).
  void Fill(ServiceSample* sample) const;

 private:
  struct Tally {
    double delay_seconds = 0;
    uint64_t gave_up = 0;
  };
  framework::Supervisor& sup_;
  framework::Supervisor::SubscriptionId id_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, Tally> by_service_;
};

/// Every service of `sup` now (thread-safe: status and members are asked on the loop; /proc is
/// read on the caller's thread).
std::vector<ServiceSample> SampleServices(framework::Supervisor& sup,
                                          const ServiceEventTally& tally);

/// The duende_service_* families of `samples` (docs/metrics.md).
void AppendServiceMetrics(const std::vector<ServiceSample>& samples,
                          framework::MetricFamilies* out);

/// Serves `config.listen` for `duende supervise`: its own process metrics and its services'.
/// Errors: as MetricsEndpoint::Start.
framework::Result<std::unique_ptr<framework::MetricsEndpoint>> StartSupervisorMetrics(
    framework::Supervisor& sup, const ServiceEventTally& tally,
    const framework::MetricsConfig& config);

}  // namespace duende::cli
