#include "duende/framework/health.h"

#include "duende/framework/clock.h"

namespace duende::framework {

const char* HealthStateName(HealthState state) {
  switch (state) {
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kDegraded:
      return "degraded";
    case HealthState::kUnhealthy:
      return "unhealthy";
  }
  return "unhealthy";
}

void HealthReport::Add(HealthCheckResult check) {
  if (static_cast<int>(check.state) > static_cast<int>(state)) state = check.state;
  checks.push_back(std::move(check));
}

std::string HealthReport::ToString() const {
  std::string out = HealthStateName(state);
  if (!checks.empty()) {
    out += " (";
    for (size_t i = 0; i < checks.size(); ++i) {
      const auto& c = checks[i];
      if (i > 0) out += "; ";
      out += c.name + ": " + HealthStateName(c.state);
      if (!c.message.empty()) out += ": " + c.message;
    }
    out += ")";
  }
  return out + " in " + FormatDuration(latency);
}

}  // namespace duende::framework
