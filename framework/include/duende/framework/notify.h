// Notifier: the daemon's side of the sd_notify protocol, for the in-process driver.
//
// When NOTIFY_SOCKET is set (by systemd with Type=notify, or by duende's supervisor) the
// driver reports READY=1, RELOADING=1, STOPPING=1, STATUS=... and, when WATCHDOG_USEC is set,
// WATCHDOG=1 at half that interval. Without NOTIFY_SOCKET every call is a cheap no-op.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

class Notifier {
 public:
  /// A notifier that sends nothing.
  Notifier() = default;

  /// Reads NOTIFY_SOCKET ("/path" or "@abstract"), WATCHDOG_USEC and WATCHDOG_PID (the
  /// watchdog applies only when WATCHDOG_PID is unset or our pid). With `unset` the variables
  /// are removed so that children of the daemon do not inherit them.
  /// Errors: EINVAL for an unusable address (too long, not absolute); socket() errno.
  static Result<Notifier> FromEnvironment(bool unset = true);

  Notifier(Notifier&&) noexcept;
  Notifier& operator=(Notifier&&) noexcept;

  bool enabled() const { return fd_.valid(); }

  /// Sends one datagram of "KEY=value" lines. Errors: sendto errno (ECONNREFUSED when the
  /// manager's socket is gone). A disabled notifier returns success.
  Result<void> Send(std::string_view state);

  Result<void> Ready(std::string_view status = {});
  /// RELOADING=1 with MONOTONIC_USEC (as systemd's Type=notify-reload expects).
  Result<void> Reloading();
  Result<void> Stopping();
  Result<void> Watchdog();
  Result<void> Status(std::string_view status);

  /// WATCHDOG_USEC, or 0 when no watchdog is asked for.
  std::chrono::microseconds watchdog_usec() const { return watchdog_usec_; }
  /// How often to send WATCHDOG=1: half of WATCHDOG_USEC (0 when off).
  std::chrono::microseconds watchdog_interval() const { return watchdog_usec_ / 2; }
  const std::string& address() const { return address_; }

 private:
  UniqueFd fd_;
  std::string address_;
  std::chrono::microseconds watchdog_usec_{0};
  std::mutex mu_;  // one datagram at a time from several threads
};

}  // namespace duende::framework
