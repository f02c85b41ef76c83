// RestartPolicy: the pure decision logic of one supervised service.
//
// It is told what happened (a start was asked for, the child was spawned, became ready, exited,
// a health check failed, time passed) together with the time, and answers what to do next
// (spawn, send the stop signal, send SIGKILL) and when (NextDeadline()). It never reads a
// clock, touches a process or sleeps, so tests drive it with a fake clock; the Supervisor's
// I/O loop carries out its actions.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/backoff.h"
#include "duende/framework/config.h"
#include "duende/framework/process.h"

namespace duende::framework {

/// The life cycle of a service.
enum class ServiceState {
  kStopped,   ///< not running, by request (the initial state)
  kStarting,  ///< spawned, not ready yet
  kRunning,   ///< spawned and ready
  kStopping,  ///< the stop signal was sent; waiting for the exit
  kBackoff,   ///< exited; a restart is scheduled
  kExited,    ///< exited and the restart policy says stay down (never / clean exit / 78)
  kFailed,    ///< gave up (start limit hit); terminal unless a retry is scheduled
};

/// "stopped", "starting", "running", "stopping", "backoff", "exited", "failed".
const char* StateName(ServiceState state);

/// What happened to a service. Every state change is one of these.
enum class EventType {
  kSpawned,           ///< a child was started (pid, pgid)
  kSpawnFailed,       ///< Spawn() failed (reason); counts as a failed start
  kReady,             ///< READY=1, the readiness probe passed, or no readiness configured
  kStatus,            ///< STATUS= text from the child (no state change)
  kHealthFailed,      ///< liveness threshold, watchdog or readiness grace expired (reason)
  kStopping,          ///< stop signal + SIGCONT sent to the process group
  kKilled,            ///< the stop timeout passed: SIGKILL sent to the process group
  kExited,            ///< the child ended (exit status)
  kRestartScheduled,  ///< a restart will happen after `delay`
  kNotRestarting,     ///< the child ended and the policy says stay down (reason)
  kGaveUp,            ///< start limit hit: terminal `failed` (reason; retry time if any)
  kStopped,           ///< down by request
  kMainPid,           ///< the process started exited 0 and its pid_file names the real main
                      ///< process (a daemon that forks): pid is now that process
};

/// "spawned", "spawn_failed", "ready", "status", "health_failed", "stopping", "killed",
/// "exited", "restart_scheduled", "not_restarting", "gave_up", "stopped", "main_pid".
const char* EventTypeName(EventType type);

/// A decision of the policy about one service, before the Supervisor adds pids and names.
struct PolicyEvent {
  EventType type;
  std::chrono::nanoseconds delay{0};  ///< kRestartScheduled: the delay; kGaveUp: retry after
  std::string reason;
  ServiceState state = ServiceState::kStopped;  ///< the state this event left the service in
};

/// What the I/O side must do, in order.
enum class PolicyAction {
  kSpawn,       ///< start a child now, then call Spawned() or SpawnFailed()
  kSignalStop,  ///< send the stop signal and SIGCONT to the child's process group
  kKill,        ///< send SIGKILL to the child's process group
};

/// The outcome of one input: actions to carry out and events to publish.
struct PolicyStep {
  std::vector<PolicyAction> actions;
  std::vector<PolicyEvent> events;
};

/// Per-service settings the policy needs.
struct PolicyOptions {
  RestartConfig restart;
  /// Time between the stop signal and SIGKILL.
  std::chrono::nanoseconds stop_timeout = std::chrono::seconds(10);
  /// The child is `starting` until Ready(); otherwise ready as soon as spawned.
  bool wait_for_ready = false;
  /// Not ready within this long after the spawn: health failure (0: wait forever).
  std::chrono::nanoseconds ready_timeout{0};
  /// WATCHDOG=1 must arrive this often once ready (0: off).
  std::chrono::nanoseconds watchdog{0};
  /// Seed of the backoff jitter.
  uint64_t seed = 1;
};

class RestartPolicy {
 public:
  explicit RestartPolicy(PolicyOptions options);

  /// A start was asked for. From stopped/exited/failed/backoff: spawn now, with a fresh
  /// backoff sequence and start-rate window (a human decided). While stopping: spawn once the
  /// child has exited. Starting/running: no-op.
  void Start(int64_t now_ns, PolicyStep* out);
  /// A stop was asked for. Running/starting: stop signal now, SIGKILL at now + stop_timeout.
  /// Backoff/exited/failed: straight to stopped. Stopped/stopping: no-op (a double stop).
  void Stop(int64_t now_ns, PolicyStep* out);
  /// Stop (if running) and start again as soon as the child has exited.
  void Restart(int64_t now_ns, PolicyStep* out);

  /// The kSpawn action succeeded.
  void Spawned(int64_t now_ns, PolicyStep* out);
  /// The kSpawn action failed (`reason`, e.g. "unable to spawn x: execve: No such file or
  /// directory"). Counts as a failed start. A `permanent` failure (IsPermanentSpawnError: the
  /// next attempt would fail the same way) gives up at once: kGaveUp, state failed, retried
  /// only after start_limit_retry_after when that is set.
  void SpawnFailed(int64_t now_ns, const std::string& reason, PolicyStep* out,
                   bool permanent = false);
  /// READY=1 or a passing readiness probe. Ignored unless starting.
  void Ready(int64_t now_ns, PolicyStep* out);
  /// WATCHDOG=1: pushes the watchdog deadline out.
  void WatchdogPing(int64_t now_ns);
  /// A liveness failure (threshold reached) or a readiness failure: stop and restart.
  void HealthFailed(int64_t now_ns, const std::string& reason, PolicyStep* out);
  /// The child (the process the policy asked to spawn) has ended.
  void Exited(int64_t now_ns, const ExitStatus& status, PolicyStep* out);
  /// Time passed: carries out every deadline at or before `now_ns`.
  void Tick(int64_t now_ns, PolicyStep* out);

  /// The earliest time at which Tick() has something to do; nullopt when nothing is pending.
  std::optional<int64_t> NextDeadline() const;

  ServiceState state() const { return state_; }
  /// True while a child process exists (starting, running, stopping).
  bool has_child() const;
  /// Restarts in a row since the last reset (the backoff attempt).
  uint32_t attempt() const { return backoff_.attempt(); }
  /// Total restarts made by the policy (not counting manual starts).
  uint64_t restarts() const { return restarts_; }
  /// Why the service is failed/exited ("" otherwise).
  const std::string& reason() const { return reason_; }
  /// When a scheduled restart (backoff) or retry (failed) will happen, if any.
  std::optional<int64_t> next_start_ns() const;
  const PolicyOptions& options() const { return options_; }

 private:
  enum class Intent { kNone, kStop, kRestart, kHealth };

  void SpawnNow(int64_t now_ns, PolicyStep* out);
  void ExitedImpl(int64_t now_ns, const ExitStatus& status, PolicyStep* out);
  void BeginStop(int64_t now_ns, Intent intent, PolicyStep* out);
  void AfterEnd(int64_t now_ns, bool failed, const std::string& why, PolicyStep* out);
  void GiveUp(int64_t now_ns, std::string reason, PolicyStep* out);
  void ClearChildDeadlines();
  void ResetHistory();
  void Note(PolicyStep* out, EventType type, std::string reason = "",
            std::chrono::nanoseconds delay = std::chrono::nanoseconds(0));

  PolicyOptions options_;
  Backoff backoff_;
  ServiceState state_ = ServiceState::kStopped;
  Intent intent_ = Intent::kNone;
  bool start_after_stop_ = false;
  std::deque<int64_t> starts_;  // spawn times within the start-limit window
  std::optional<int64_t> ready_since_;
  std::optional<int64_t> restart_at_;
  std::optional<int64_t> kill_at_;
  std::optional<int64_t> ready_deadline_;
  std::optional<int64_t> watchdog_at_;
  std::optional<int64_t> retry_at_;
  uint64_t restarts_ = 0;
  std::string reason_;
};

}  // namespace duende::framework
