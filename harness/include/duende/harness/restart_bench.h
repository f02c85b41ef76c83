// Restart benchmarks of a user's own daemon (`duende bench restart`) and the pieces duende's
// own benchmarks share (tests/bench/supervisor_bench.cc): percentiles, and a bare
// posix_spawn + pidfd parent, the floor a supervisor's restart latency is compared with.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::harness {

/// The p-quantile (0..1) of `v` by nearest rank; 0 for an empty vector.
double Percentile(std::vector<double> v, double p);

/// A parent that does nothing but posix_spawn `argv` and wait for it on a pidfd, respawning it
/// at once whenever it exits, and noting when each child exited and when the next spawn began.
class BareParent {
 public:
  struct Restart {
    pid_t old_pid = -1;
    int64_t exited_ns = 0;   ///< CLOCK_MONOTONIC when the pidfd said the old child was gone
    int64_t spawned_ns = 0;  ///< when the next posix_spawn began
    pid_t pid = -1;          ///< the new child
  };

  /// `env`: "NAME=value" entries added to this process's environment for the children.
  explicit BareParent(std::vector<std::string> argv, std::vector<std::string> env = {});
  ~BareParent();
  BareParent(const BareParent&) = delete;
  BareParent& operator=(const BareParent&) = delete;

  /// Starts the loop (the first child). Errors: posix_spawn's errno for the first child.
  framework::Result<void> Start();
  /// SIGKILLs the current child and ends the loop. Idempotent.
  void Stop();
  /// The current child, or -1.
  pid_t pid() const { return pid_.load(); }
  /// Waits up to `timeout_ms` for the restart that replaced `old_pid`.
  std::optional<Restart> WaitRestart(pid_t old_pid, int timeout_ms);

 private:
  void Loop();

  std::vector<std::string> argv_;
  std::vector<std::string> env_;
  std::atomic<bool> stop_{false};
  std::atomic<pid_t> pid_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Restart> restarts_;
  int spawn_error_ = 0;
  bool started_ = false;
  std::thread thread_;
};

/// One distribution in milliseconds.
struct LatencySummary {
  size_t count = 0;
  double median_ms = 0, p99_ms = 0, max_ms = 0;
};
LatencySummary Summarize(const std::vector<double>& ms);

/// What `duende bench restart` measured.
struct RestartBenchResult {
  std::string daemon;    ///< the config's name
  std::string platform;  ///< "native" (duende's supervisor) or the adapter's platform
  int kills = 0;         ///< SIGKILLs sent to the daemon under the platform
  /// Each from the SIGKILL (sent by this process) to: the platform seeing the exit, the new
  /// child's spawn beginning, the new child ready (its readiness probe or READY=1; with no
  /// readiness configured, ready at spawn). One measurement per kill.
  std::vector<double> kill_to_exit_ms, kill_to_spawn_ms, kill_to_ready_ms;
  /// The backoff delay the policy chose for each restart, and the timer's error: the spawn's
  /// start minus (the exit's scheduling time + that delay).
  std::vector<double> backoff_delay_ms, backoff_error_ms;
  /// The bare posix_spawn + pidfd parent, killed as often, restarting the same argv at once.
  std::vector<double> bare_kill_to_exit_ms, bare_kill_to_spawn_ms;
};

struct RestartBenchOptions {
  int kills = 20;
  std::string platform = "native";
  /// Longest wait for one restart (exit, backoff, spawn, ready).
  int restart_timeout_ms = 30000;
};

/// Runs the daemon of `config` under `options.platform` (adapters::MakeAdapter; "native" is
/// duende's Supervisor), waits until it is ready, SIGKILLs its main process `kills` times
/// (each time once it is ready again), then does the same with a BareParent of
/// config.command. Errors: invalid_argument for an unknown platform or a config without a
/// command; the platform's start error; timed_out naming the kill that got no restart (a
/// policy that stays down, a start limit, a daemon that never becomes ready).
framework::Result<RestartBenchResult> RunRestartBench(const framework::DaemonConfig& config,
                                                      const RestartBenchOptions& options);

}  // namespace duende::harness
