// MetricsEndpoint: serves GET /metrics in the Prometheus text format with prometheus-cpp's
// exposer (civetweb threads). Values are collected when a scrape arrives, by a callback, so the
// owner's hot path does nothing for metrics. See docs/metrics.md for every metric.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "duende/framework/health.h"
#include "duende/framework/metrics.h"
#include "duende/framework/metrics_config.h"
#include "duende/framework/process_usage.h"
#include "duende/framework/result.h"

namespace prometheus {
class Exposer;
}

namespace duende::framework {

using MetricFamilies = std::vector<prometheus::MetricFamily>;
using MetricLabels = std::vector<prometheus::ClientMetric::Label>;

class MetricsEndpoint {
 public:
  /// Called on an exposer thread for every scrape; must be thread-safe. An exception it throws
  /// is caught (the scrape then shows the endpoint's own metrics only).
  using Collector = std::function<MetricFamilies()>;

  /// Listens on `config.listen` and serves the collector's families at /metrics. Errors:
  /// invalid_argument for an address MetricsListenProblem() refuses; the bind's errno
  /// (EADDRINUSE: port in use, EADDRNOTAVAIL: not an address of this machine, EACCES) or
  /// EIO when the server did not start; every message starts with config.origin when set.
  static Result<std::unique_ptr<MetricsEndpoint>> Start(const MetricsConfig& config,
                                                        Collector collect);
  /// Stops the server and joins its threads.
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  /// The port it listens on (the one chosen when the config said 0).
  uint16_t port() const { return port_; }
  /// "http://127.0.0.1:9464/metrics"
  std::string url() const;

 private:
  class Collectable;
  MetricsEndpoint() = default;

  std::string host_;
  uint16_t port_ = 0;
  std::shared_ptr<Collectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

/// A family without samples. `name` follows the Prometheus naming guide (base unit suffix,
/// `_total` for counters).
prometheus::MetricFamily MetricFamily(std::string name, std::string help,
                                      prometheus::MetricType type);
/// Adds one sample to a counter, gauge or untyped family.
void AddSample(prometheus::MetricFamily& family, double value, MetricLabels labels = {});
/// Adds a histogram sample built from a MetricsRecorder snapshot, in seconds.
void AddHistogram(prometheus::MetricFamily& family, const MetricsSnapshot& snapshot,
                  MetricLabels labels = {});

/// The process_* metrics of the Prometheus client conventions (process_cpu_seconds_total,
/// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
/// process_max_fds, process_start_time_seconds) for `usage`.
void AppendProcessMetrics(const ProcessUsage& usage, MetricFamilies* out);

/// A framework daemon's families: its MetricsRecorder (duende_daemon_requests_total,
/// _errors_total, _request_duration_seconds histogram, custom values), its health
/// (duende_daemon_health) and its locked memory (duende_daemon_locked_memory_bytes).
void AppendDaemonMetrics(const MetricsSnapshot& metrics, const HealthReport& health,
                         uint64_t locked_bytes, MetricFamilies* out);

class Daemon;

/// The endpoint of a framework daemon (Run() starts it for [metrics] listen): its process
/// metrics, AppendDaemonMetrics of daemon.Metrics() and daemon.HealthCheck(), collected per
/// scrape. Errors: as MetricsEndpoint::Start.
Result<std::unique_ptr<MetricsEndpoint>> StartDaemonMetrics(Daemon& daemon,
                                                            const MetricsConfig& config);

/// The text format (0.0.4) of `families`, as the endpoint serves it.
std::string SerializeMetrics(const MetricFamilies& families);

}  // namespace duende::framework
