#include "duende/framework/daemon.h"

namespace duende::framework {

Result<void> Daemon::ParseArgs(const std::vector<std::string>& args) {
  if (args.empty()) return {};
  return MessageError("unknown option '" + args[0] + "' (see --help)");
}

Result<void> Daemon::Shutdown(std::chrono::nanoseconds /*timeout*/) { return {}; }

Result<void> Daemon::Reload(const DaemonConfig& /*config*/) { return {}; }

HealthReport Daemon::HealthCheck() { return {}; }

MetricsSnapshot Daemon::Metrics() { return {}; }

}  // namespace duende::framework
