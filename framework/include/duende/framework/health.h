// Health: what a daemon says about itself when asked (Daemon::HealthCheck()).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace duende::framework {

enum class HealthState { kHealthy, kDegraded, kUnhealthy };

/// "healthy", "degraded", "unhealthy".
const char* HealthStateName(HealthState state);

/// One named check (e.g. "wal", "listener") and how long it took.
struct HealthCheckResult {
  std::string name;
  HealthState state = HealthState::kHealthy;
  std::string message;  ///< why, when not healthy
  std::chrono::nanoseconds latency{0};
};

struct HealthReport {
  /// The worst state of the checks (healthy when there are none).
  HealthState state = HealthState::kHealthy;
  std::vector<HealthCheckResult> checks;
  /// Time the whole health check took.
  std::chrono::nanoseconds latency{0};

  /// Adds a check and lowers `state` to it when it is worse.
  void Add(HealthCheckResult check);
  /// "degraded (wal: healthy; disk: degraded: 95% full) in 12us"
  std::string ToString() const;
};

}  // namespace duende::framework
