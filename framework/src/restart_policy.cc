#include "duende/framework/restart_policy.h"

#include <algorithm>
#include <utility>

#include "duende/framework/clock.h"

namespace duende::framework {

using std::chrono::nanoseconds;

const char* StateName(ServiceState state) {
  switch (state) {
    case ServiceState::kStopped:
      return "stopped";
    case ServiceState::kStarting:
      return "starting";
    case ServiceState::kRunning:
      return "running";
    case ServiceState::kStopping:
      return "stopping";
    case ServiceState::kBackoff:
      return "backoff";
    case ServiceState::kExited:
      return "exited";
    case ServiceState::kFailed:
      return "failed";
  }
  return "?";
}

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kSpawned:
      return "spawned";
    case EventType::kSpawnFailed:
      return "spawn_failed";
    case EventType::kReady:
      return "ready";
    case EventType::kStatus:
      return "status";
    case EventType::kHealthFailed:
      return "health_failed";
    case EventType::kStopping:
      return "stopping";
    case EventType::kKilled:
      return "killed";
    case EventType::kExited:
      return "exited";
    case EventType::kRestartScheduled:
      return "restart_scheduled";
    case EventType::kNotRestarting:
      return "not_restarting";
    case EventType::kGaveUp:
      return "gave_up";
    case EventType::kStopped:
      return "stopped";
    case EventType::kMainPid:
      return "main_pid";
  }
  return "?";
}

RestartPolicy::RestartPolicy(PolicyOptions options)
    : options_(std::move(options)), backoff_(options_.restart.backoff, options_.seed) {}

bool RestartPolicy::has_child() const {
  return state_ == ServiceState::kStarting || state_ == ServiceState::kRunning ||
         state_ == ServiceState::kStopping;
}

std::optional<int64_t> RestartPolicy::next_start_ns() const {
  if (state_ == ServiceState::kBackoff) return restart_at_;
  if (state_ == ServiceState::kFailed) return retry_at_;
  return std::nullopt;
}

void RestartPolicy::Note(PolicyStep* out, EventType type, std::string reason, nanoseconds delay) {
  out->events.push_back({type, delay, std::move(reason), state_});
}

void RestartPolicy::ResetHistory() {
  backoff_.Reset();
  starts_.clear();
}

void RestartPolicy::ClearChildDeadlines() {
  kill_at_.reset();
  ready_deadline_.reset();
  watchdog_at_.reset();
}

void RestartPolicy::SpawnNow(int64_t now_ns, PolicyStep* out) {
  restart_at_.reset();
  retry_at_.reset();
  ready_since_.reset();
  reason_.clear();
  intent_ = Intent::kNone;
  starts_.push_back(now_ns);
  state_ = ServiceState::kStarting;
  out->actions.push_back(PolicyAction::kSpawn);
}

void RestartPolicy::Start(int64_t now_ns, PolicyStep* out) {
  switch (state_) {
    case ServiceState::kStopped:
    case ServiceState::kExited:
    case ServiceState::kFailed:
    case ServiceState::kBackoff:
      ResetHistory();
      SpawnNow(now_ns, out);
      return;
    case ServiceState::kStopping:
      if (intent_ == Intent::kStop) intent_ = Intent::kRestart;
      return;
    case ServiceState::kStarting:
    case ServiceState::kRunning:
      return;
  }
}

void RestartPolicy::BeginStop(int64_t now_ns, Intent intent, PolicyStep* out) {
  ClearChildDeadlines();
  state_ = ServiceState::kStopping;
  intent_ = intent;
  kill_at_ = now_ns + options_.stop_timeout.count();
  out->actions.push_back(PolicyAction::kSignalStop);
  Note(out, EventType::kStopping);
}

void RestartPolicy::Stop(int64_t now_ns, PolicyStep* out) {
  switch (state_) {
    case ServiceState::kStarting:
    case ServiceState::kRunning:
      BeginStop(now_ns, Intent::kStop, out);
      return;
    case ServiceState::kStopping:
      intent_ = Intent::kStop;  // a double stop changes nothing else
      return;
    case ServiceState::kBackoff:
    case ServiceState::kExited:
    case ServiceState::kFailed:
      restart_at_.reset();
      retry_at_.reset();
      reason_.clear();
      state_ = ServiceState::kStopped;
      Note(out, EventType::kStopped, "stopped by request");
      return;
    case ServiceState::kStopped:
      return;
  }
}

void RestartPolicy::Restart(int64_t now_ns, PolicyStep* out) {
  switch (state_) {
    case ServiceState::kStarting:
    case ServiceState::kRunning:
      BeginStop(now_ns, Intent::kRestart, out);
      return;
    case ServiceState::kStopping:
      if (intent_ == Intent::kStop) intent_ = Intent::kRestart;
      return;
    default:
      Start(now_ns, out);
  }
}

void RestartPolicy::Spawned(int64_t now_ns, PolicyStep* out) {
  if (state_ != ServiceState::kStarting) return;
  if (options_.wait_for_ready) {
    if (options_.ready_timeout.count() > 0) {
      ready_deadline_ = now_ns + options_.ready_timeout.count();
    }
    return;
  }
  Ready(now_ns, out);
}

void RestartPolicy::SpawnFailed(int64_t now_ns, const std::string& reason, PolicyStep* out,
                                bool permanent) {
  if (state_ != ServiceState::kStarting) return;
  ClearChildDeadlines();
  const size_t first = out->events.size();
  Note(out, EventType::kSpawnFailed, reason);
  if (permanent) {
    // Retrying an exec that failed with E2BIG or ENOENT only repeats the failure until the
    // start limit: say so once, now.
    ready_since_.reset();
    GiveUp(now_ns, "spawn failed: " + reason + "; not retrying (every attempt would fail alike)",
           out);
  } else {
    AfterEnd(now_ns, /*failed=*/true, reason, out);
  }
  // Like an exit, the failure reports where it led (failed: given up; backoff: retried).
  out->events[first].state = state_;
}

void RestartPolicy::GiveUp(int64_t now_ns, std::string reason, PolicyStep* out) {
  state_ = ServiceState::kFailed;
  reason_ = std::move(reason);
  nanoseconds retry(0);
  const auto& rc = options_.restart;
  if (rc.start_limit_retry_after.count() > 0) {
    retry = rc.start_limit_retry_after;
    retry_at_ = now_ns + retry.count();
    reason_ += "; retrying in " + FormatDuration(retry);
  }
  Note(out, EventType::kGaveUp, reason_, retry);
}

void RestartPolicy::Ready(int64_t now_ns, PolicyStep* out) {
  if (state_ != ServiceState::kStarting) return;
  ready_deadline_.reset();
  state_ = ServiceState::kRunning;
  ready_since_ = now_ns;
  if (options_.watchdog.count() > 0) watchdog_at_ = now_ns + options_.watchdog.count();
  Note(out, EventType::kReady);
}

void RestartPolicy::WatchdogPing(int64_t now_ns) {
  if (state_ == ServiceState::kRunning && options_.watchdog.count() > 0) {
    watchdog_at_ = now_ns + options_.watchdog.count();
  }
}

void RestartPolicy::HealthFailed(int64_t now_ns, const std::string& reason, PolicyStep* out) {
  if (state_ != ServiceState::kStarting && state_ != ServiceState::kRunning) return;
  Note(out, EventType::kHealthFailed, reason);
  BeginStop(now_ns, Intent::kHealth, out);
}

void RestartPolicy::Exited(int64_t now_ns, const ExitStatus& status, PolicyStep* out) {
  if (!has_child()) return;
  const size_t first = out->events.size();
  ExitedImpl(now_ns, status, out);
  // The exit event reports where the exit led: the state of the decision that follows it.
  if (first < out->events.size()) {
    out->events[first].state =
        first + 1 < out->events.size() ? out->events[first + 1].state : state_;
  }
}

void RestartPolicy::ExitedImpl(int64_t now_ns, const ExitStatus& status, PolicyStep* out) {
  const bool was_ready = state_ == ServiceState::kRunning || ready_since_.has_value();
  const Intent intent = intent_;
  ClearChildDeadlines();
  intent_ = Intent::kNone;
  Note(out, EventType::kExited, status.ToString());

  if (intent == Intent::kStop) {
    state_ = ServiceState::kStopped;
    Note(out, EventType::kStopped, "stopped by request");
    return;
  }
  if (intent == Intent::kRestart) {
    ResetHistory();
    SpawnNow(now_ns, out);
    return;
  }
  // Up (ready) for long enough: this failure starts a fresh delay sequence.
  if (ready_since_ && now_ns - *ready_since_ >= options_.restart.backoff.reset_after.count()) {
    backoff_.Reset();
  }
  if (intent == Intent::kHealth) {
    AfterEnd(now_ns, true, "health check failed", out);
    return;
  }
  const auto& prevent = options_.restart.prevent_exit_codes;
  if (!status.signaled && std::find(prevent.begin(), prevent.end(), status.code) != prevent.end()) {
    state_ = ServiceState::kExited;
    reason_ = "exit code " + std::to_string(status.code) + " is in prevent_exit_codes";
    Note(out, EventType::kNotRestarting, reason_);
    return;
  }
  if (options_.wait_for_ready && !was_ready) {
    AfterEnd(now_ns, true, "exited before ready (" + status.ToString() + ")", out);
    return;
  }
  AfterEnd(now_ns, !status.success(), status.ToString(), out);
}

void RestartPolicy::AfterEnd(int64_t now_ns, bool failed, const std::string& why, PolicyStep* out) {
  ready_since_.reset();
  const auto policy = options_.restart.policy;
  if (policy == RestartConfig::Policy::kNever ||
      (policy == RestartConfig::Policy::kOnFailure && !failed)) {
    state_ = ServiceState::kExited;
    reason_ = why + (policy == RestartConfig::Policy::kNever ? "; restart = never"
                                                             : "; restart = on-failure");
    Note(out, EventType::kNotRestarting, reason_);
    return;
  }
  const nanoseconds delay = backoff_.Next();
  const int64_t start_at = now_ns + delay.count();
  const auto& rc = options_.restart;
  if (rc.start_limit_burst > 0 && rc.start_limit_interval.count() > 0) {
    const int64_t window_begin = start_at - rc.start_limit_interval.count();
    while (!starts_.empty() && starts_.front() <= window_begin) starts_.pop_front();
    if (starts_.size() >= rc.start_limit_burst) {
      GiveUp(now_ns,
             "start limit hit: " + std::to_string(starts_.size()) + " starts within " +
                 FormatDuration(rc.start_limit_interval) + " (start_limit_burst = " +
                 std::to_string(rc.start_limit_burst) + "); last: " + why,
             out);
      return;
    }
  }
  state_ = ServiceState::kBackoff;
  restart_at_ = start_at;
  Note(out, EventType::kRestartScheduled, why, delay);
  if (delay.count() == 0) Tick(now_ns, out);
}

void RestartPolicy::Tick(int64_t now_ns, PolicyStep* out) {
  switch (state_) {
    case ServiceState::kStopping:
      if (kill_at_ && *kill_at_ <= now_ns) {
        kill_at_.reset();
        out->actions.push_back(PolicyAction::kKill);
        Note(out, EventType::kKilled,
             "still running " + FormatDuration(options_.stop_timeout) + " after the stop signal");
      }
      return;
    case ServiceState::kStarting:
      if (ready_deadline_ && *ready_deadline_ <= now_ns) {
        ready_deadline_.reset();
        HealthFailed(now_ns, "not ready within " + FormatDuration(options_.ready_timeout), out);
      }
      return;
    case ServiceState::kRunning:
      if (watchdog_at_ && *watchdog_at_ <= now_ns) {
        watchdog_at_.reset();
        HealthFailed(now_ns, "no WATCHDOG=1 within " + FormatDuration(options_.watchdog), out);
      }
      return;
    case ServiceState::kBackoff:
      if (restart_at_ && *restart_at_ <= now_ns) {
        ++restarts_;
        SpawnNow(now_ns, out);
      }
      return;
    case ServiceState::kFailed:
      if (retry_at_ && *retry_at_ <= now_ns) {
        ResetHistory();
        ++restarts_;
        SpawnNow(now_ns, out);
      }
      return;
    case ServiceState::kStopped:
    case ServiceState::kExited:
      return;
  }
}

std::optional<int64_t> RestartPolicy::NextDeadline() const {
  switch (state_) {
    case ServiceState::kStopping:
      return kill_at_;
    case ServiceState::kStarting:
      return ready_deadline_;
    case ServiceState::kRunning:
      return watchdog_at_;
    case ServiceState::kBackoff:
      return restart_at_;
    case ServiceState::kFailed:
      return retry_at_;
    default:
      return std::nullopt;
  }
}

}  // namespace duende::framework
