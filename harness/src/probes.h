// Synchronous steady-state probes for the runner (tcp connect, http GET, one request line,
// a command), each bounded by its timeout.
#pragma once

#include <string>

#include "duende/harness/scenario.h"

namespace duende::harness::internal {

struct ProbeOutcome {
  bool ok = false;
  std::string detail;  ///< "connected", "HTTP 200", "reply 'PONG'", "exited with code 1", ...
};

/// Runs one probe (variables in it must already be expanded). Never blocks past its timeout
/// (plus the time to kill and reap a command).
ProbeOutcome RunProbe(const ProbeSpec& probe);

/// Connects to "host:port" within `timeout_ms`; returns the socket or -1 (errno set).
int ConnectWithTimeout(const std::string& address, int timeout_ms, std::string* error);

}  // namespace duende::harness::internal
