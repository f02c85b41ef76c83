// Synchronous steady-state probes for the runner (tcp connect, http GET, one request line,
// a command), each bounded by its timeout.
#pragma once

#include <string>
#include <utility>

#include "duende/harness/scenario.h"

namespace duende::harness::internal {

struct ProbeOutcome {
  ProbeOutcome() = default;
  ProbeOutcome(bool ok_in, std::string detail_in, std::string out_in = "", std::string err_in = "")
      : ok(ok_in), detail(std::move(detail_in)), out(std::move(out_in)), err(std::move(err_in)) {}
  bool ok = false;
  std::string detail;  ///< "connected", "HTTP 200", "reply 'PONG'", "exited with code 1", ...
  /// Command probes: the last kMaxProbeOutput bytes of stdout and of stderr (the evidence a
  /// probe script prints), with "[N bytes cut] " in front when there was more.
  std::string out, err;
};

inline constexpr size_t kMaxProbeOutput = 4096;

/// Runs one probe (variables in it must already be expanded). Never blocks past its timeout
/// (plus the time to kill and reap a command).
ProbeOutcome RunProbe(const ProbeSpec& probe);

/// Connects to "host:port" within `timeout_ms`; returns the socket or -1 (errno set).
int ConnectWithTimeout(const std::string& address, int timeout_ms, std::string* error);

}  // namespace duende::harness::internal
