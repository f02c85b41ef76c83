// Daemon: the lifecycle a daemon implements; Run() (run.h) drives it.
//
//   ParseArgs(own flags) -> Init(config) -> Run(context) ... -> Shutdown(timeout)
//
// Run(context) is the daemon's main loop on the main thread; it returns when the context
// says to stop (SIGTERM/SIGINT) or when the daemon is done or has failed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/health.h"
#include "duende/framework/metrics.h"
#include "duende/framework/result.h"

namespace duende::framework {

class DaemonContext;

/// Why Daemon::Run() returned; decides the process's exit code.
struct ExitReason {
  enum class Kind {
    kStopped,    ///< asked to stop (signal or RequestShutdown()); exit 0
    kCompleted,  ///< finished its work on its own; exit 0
    kFailed,     ///< could not go on; exit `exit_code`
  };
  Kind kind = Kind::kStopped;
  int exit_code = kExitOk;
  std::string message;

  static ExitReason Stopped() { return {Kind::kStopped, kExitOk, "stopped"}; }
  static ExitReason Completed(std::string message = "completed") {
    return {Kind::kCompleted, kExitOk, std::move(message)};
  }
  static ExitReason Failed(std::string message, int exit_code = kExitFailed) {
    return {Kind::kFailed, exit_code, std::move(message)};
  }
};

class Daemon {
 public:
  virtual ~Daemon() = default;

  /// Identity for logs and messages when the config has no `name`.
  virtual std::string Name() const = 0;

  /// The daemon's own command-line options (everything Run() does not handle itself), called
  /// before the config is loaded. Errors: invalid_argument with a message such as
  /// "unknown option --prot; did you mean --port?" (Run() exits 2). Default: accepts none.
  virtual Result<void> ParseArgs(const std::vector<std::string>& args);

  /// Usage lines of the daemon's own options, for --help.
  virtual std::string Usage() const { return ""; }

  /// Prepares to run with `config` (the [app] table holds its own settings; validate them with
  /// a TomlReader so errors carry file:line:col). Runs after mlock, before Run().
  /// Errors: invalid_argument for a bad config (Run() exits 2), anything else exits 1.
  virtual Result<void> Init(const DaemonConfig& config) = 0;

  /// The main loop. Must return soon after context.ShouldShutdown() turns true (the driver
  /// exits with an error once shutdown_timeout has passed since the stop signal).
  virtual ExitReason Run(DaemonContext& context) = 0;

  /// Releases what Run() left (flush buffers, close files) within `timeout`.
  virtual Result<void> Shutdown(std::chrono::nanoseconds timeout);

  /// Applies a new, already validated config (SIGHUP), called on the thread that calls
  /// DaemonContext::ApplyReload() / WaitForShutdown(). Errors keep the old config in force.
  /// Default: accepts it.
  virtual Result<void> Reload(const DaemonConfig& config);

  /// The daemon's view of its own health. Called from the driver's control thread (watchdog,
  /// SIGUSR1): must be thread-safe and quick. Default: healthy with no checks.
  virtual HealthReport HealthCheck();

  /// Requests, errors, latency histogram and custom values. Thread-safe like HealthCheck().
  virtual MetricsSnapshot Metrics();
};

}  // namespace duende::framework
