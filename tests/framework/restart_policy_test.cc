// Examples of RestartPolicy with a fake clock (the model test covers random sequences).
#include "duende/framework/restart_policy.h"

#include <gtest/gtest.h>

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kMs = 1000000;

PolicyOptions Options() {
  PolicyOptions o;
  o.restart.policy = RestartConfig::Policy::kOnFailure;
  o.restart.backoff.initial = milliseconds(100);
  o.restart.backoff.multiplier = 2;
  o.restart.backoff.max = seconds(1);
  o.restart.backoff.jitter = BackoffConfig::Jitter::kNone;
  o.restart.backoff.reset_after = seconds(10);
  o.restart.start_limit_burst = 5;
  o.restart.start_limit_interval = seconds(10);
  o.stop_timeout = seconds(2);
  return o;
}

ExitStatus Code(int code) {
  ExitStatus s;
  s.code = code;
  return s;
}
ExitStatus Sig(int sig) {
  ExitStatus s;
  s.signaled = true;
  s.signal = sig;
  return s;
}

// Plays the I/O side: a kSpawn succeeds at once.
struct Driver {
  RestartPolicy policy;
  int64_t now = 0;
  std::vector<PolicyAction> actions;
  std::vector<PolicyEvent> events;

  explicit Driver(PolicyOptions o) : policy(std::move(o)) {}

  void Take(PolicyStep& step) {
    for (auto& e : step.events) events.push_back(e);
    for (auto a : step.actions) {
      actions.push_back(a);
      if (a == PolicyAction::kSpawn) {
        PolicyStep next;
        policy.Spawned(now, &next);
        Take(next);
      }
    }
  }
  void Start() {
    PolicyStep s;
    policy.Start(now, &s);
    Take(s);
  }
  void Stop() {
    PolicyStep s;
    policy.Stop(now, &s);
    Take(s);
  }
  void Exit(ExitStatus st) {
    PolicyStep s;
    policy.Exited(now, st, &s);
    Take(s);
  }
  void Ready() {
    PolicyStep s;
    policy.Ready(now, &s);
    Take(s);
  }
  // Advances to the next deadline and ticks.
  void RunToDeadline() {
    auto d = policy.NextDeadline();
    ASSERT_TRUE(d.has_value());
    now = *d;
    PolicyStep s;
    policy.Tick(now, &s);
    Take(s);
  }
  std::vector<int64_t> DelaysMs() const {
    std::vector<int64_t> out;
    for (auto& e : events) {
      if (e.type == EventType::kRestartScheduled) out.push_back(e.delay.count() / kMs);
    }
    return out;
  }
  int Count(PolicyAction a) const {
    return static_cast<int>(std::count(actions.begin(), actions.end(), a));
  }
};

TEST(RestartPolicyTest, CrashesRestartWithTheDelaySequenceThenGiveUp) {
  Driver d(Options());
  d.Start();
  EXPECT_EQ(d.policy.state(), ServiceState::kRunning);
  for (int i = 0; i < 4; ++i) {
    d.now += 10 * kMs;
    d.Exit(Code(1));
    EXPECT_EQ(d.policy.state(), ServiceState::kBackoff);
    d.RunToDeadline();
    EXPECT_EQ(d.policy.state(), ServiceState::kRunning);
  }
  EXPECT_EQ(d.DelaysMs(), (std::vector<int64_t>{100, 200, 400, 800}));
  d.now += 10 * kMs;
  d.Exit(Code(1));  // a 6th start within 10 s would pass the burst of 5
  EXPECT_EQ(d.policy.state(), ServiceState::kFailed);
  EXPECT_NE(d.policy.reason().find("start limit hit: 5 starts within 10.00s"), std::string::npos)
      << d.policy.reason();
  EXPECT_FALSE(d.policy.NextDeadline().has_value());
  EXPECT_EQ(d.Count(PolicyAction::kSpawn), 5);
}

TEST(RestartPolicyTest, FailedRetriesAfterTheInterval) {
  PolicyOptions o = Options();
  o.restart.start_limit_burst = 1;
  o.restart.start_limit_retry_after = seconds(30);
  Driver d(o);
  d.Start();
  d.Exit(Code(1));
  ASSERT_EQ(d.policy.state(), ServiceState::kFailed);
  EXPECT_EQ(*d.policy.NextDeadline(), 30000 * kMs);
  d.RunToDeadline();
  EXPECT_EQ(d.policy.state(), ServiceState::kRunning);
}

TEST(RestartPolicyTest, PreventedExitCodeStaysDown) {
  Driver d(Options());
  d.Start();
  d.Exit(Code(78));
  EXPECT_EQ(d.policy.state(), ServiceState::kExited);
  EXPECT_EQ(d.policy.reason(), "exit code 78 is in prevent_exit_codes");
}

TEST(RestartPolicyTest, OnFailureDoesNotRestartACleanExitButAlwaysDoes) {
  Driver a(Options());
  a.Start();
  a.Exit(Code(0));
  EXPECT_EQ(a.policy.state(), ServiceState::kExited);
  PolicyOptions o = Options();
  o.restart.policy = RestartConfig::Policy::kAlways;
  Driver b(o);
  b.Start();
  b.Exit(Code(0));
  EXPECT_EQ(b.policy.state(), ServiceState::kBackoff);
  PolicyOptions n = Options();
  n.restart.policy = RestartConfig::Policy::kNever;
  Driver c(n);
  c.Start();
  c.Exit(Sig(9));
  EXPECT_EQ(c.policy.state(), ServiceState::kExited);
}

TEST(RestartPolicyTest, UpForResetAfterStartsTheSequenceAgain) {
  Driver d(Options());
  d.Start();
  d.Exit(Code(1));
  d.RunToDeadline();  // 100 ms
  d.Exit(Code(1));
  d.RunToDeadline();     // 200 ms
  d.now += 11000 * kMs;  // up longer than reset_after
  d.Exit(Code(1));
  EXPECT_EQ(d.DelaysMs(), (std::vector<int64_t>{100, 200, 100}));
}

TEST(RestartPolicyTest, DyingBeforeReadyIsAFailedStartEvenWithCodeZero) {
  PolicyOptions o = Options();
  o.wait_for_ready = true;
  Driver d(o);
  d.Start();
  EXPECT_EQ(d.policy.state(), ServiceState::kStarting);
  d.Exit(Code(0));
  EXPECT_EQ(d.policy.state(), ServiceState::kBackoff);
}

TEST(RestartPolicyTest, NotReadyWithinGraceIsAHealthFailure) {
  PolicyOptions o = Options();
  o.wait_for_ready = true;
  o.ready_timeout = seconds(3);
  Driver d(o);
  d.Start();
  d.RunToDeadline();
  EXPECT_EQ(d.now, 3000 * kMs);
  EXPECT_EQ(d.policy.state(), ServiceState::kStopping);
  EXPECT_EQ(d.Count(PolicyAction::kSignalStop), 1);
  d.Exit(Sig(15));
  EXPECT_EQ(d.policy.state(), ServiceState::kBackoff);  // a health kill is a failure
}

TEST(RestartPolicyTest, StopSendsSignalThenKillAfterTimeoutAndDoubleStopIsNoop) {
  Driver d(Options());
  d.Start();
  d.Stop();
  d.Stop();
  EXPECT_EQ(d.Count(PolicyAction::kSignalStop), 1);
  EXPECT_EQ(d.policy.state(), ServiceState::kStopping);
  d.RunToDeadline();
  EXPECT_EQ(d.now, 2000 * kMs);
  EXPECT_EQ(d.Count(PolicyAction::kKill), 1);
  d.Exit(Sig(9));
  EXPECT_EQ(d.policy.state(), ServiceState::kStopped);
  EXPECT_FALSE(d.policy.NextDeadline().has_value());
}

TEST(RestartPolicyTest, WatchdogMissedRestarts) {
  PolicyOptions o = Options();
  o.watchdog = seconds(1);
  Driver d(o);
  d.Start();
  d.now = 900 * kMs;
  d.policy.WatchdogPing(d.now);
  EXPECT_EQ(*d.policy.NextDeadline(), 1900 * kMs);
  d.RunToDeadline();
  EXPECT_EQ(d.policy.state(), ServiceState::kStopping);
}

TEST(RestartPolicyTest, StopDuringBackoffCancelsTheRestart) {
  Driver d(Options());
  d.Start();
  d.Exit(Code(1));
  d.Stop();
  EXPECT_EQ(d.policy.state(), ServiceState::kStopped);
  EXPECT_FALSE(d.policy.NextDeadline().has_value());
}

// A spawn the next attempt would repeat (E2BIG, ENOENT, ...) gives up at once; one that may
// heal is retried with backoff like any failed start.
TEST(RestartPolicyTest, PermanentSpawnFailureGivesUpAtOnceOthersAreRetried) {
  for (bool permanent : {true, false}) {
    PolicyOptions o = Options();
    o.restart.policy = RestartConfig::Policy::kAlways;
    RestartPolicy policy(o);
    PolicyStep start;
    policy.Start(0, &start);
    ASSERT_EQ(start.actions, std::vector<PolicyAction>{PolicyAction::kSpawn});
    PolicyStep failed;
    policy.SpawnFailed(kMs, "unable to spawn x: execve: Argument list too long", &failed,
                       permanent);
    ASSERT_EQ(failed.events.size(), 2u);
    EXPECT_EQ(failed.events[0].type, EventType::kSpawnFailed);
    if (permanent) {
      EXPECT_EQ(failed.events[1].type, EventType::kGaveUp);
      EXPECT_EQ(failed.events[1].reason,
                "spawn failed: unable to spawn x: execve: Argument list too long; not retrying "
                "(every attempt would fail alike)");
      // The failure reports where it led.
      EXPECT_EQ(failed.events[0].state, ServiceState::kFailed);
      EXPECT_EQ(policy.state(), ServiceState::kFailed);
      EXPECT_FALSE(policy.NextDeadline().has_value());
    } else {
      EXPECT_EQ(failed.events[1].type, EventType::kRestartScheduled);
      EXPECT_EQ(failed.events[0].state, ServiceState::kBackoff);
      EXPECT_EQ(policy.state(), ServiceState::kBackoff);
    }
  }
  // With start_limit_retry_after, a permanent failure is tried again after that long only.
  PolicyOptions o = Options();
  o.restart.start_limit_retry_after = seconds(30);
  RestartPolicy policy(o);
  PolicyStep s;
  policy.Start(0, &s);
  PolicyStep failed;
  policy.SpawnFailed(0, "unable to spawn x: execve: No such file or directory", &failed, true);
  ASSERT_TRUE(policy.NextDeadline().has_value());
  EXPECT_EQ(*policy.NextDeadline(), 30'000 * kMs);
  EXPECT_NE(policy.reason().find("; retrying in 30.00s"), std::string::npos) << policy.reason();
}

TEST(RestartPolicyTest, EveryStateAndEventHasItsDocumentedName) {
  const std::vector<std::pair<ServiceState, std::string>> states = {
      {ServiceState::kStopped, "stopped"}, {ServiceState::kStarting, "starting"},
      {ServiceState::kRunning, "running"}, {ServiceState::kStopping, "stopping"},
      {ServiceState::kBackoff, "backoff"}, {ServiceState::kExited, "exited"},
      {ServiceState::kFailed, "failed"},
  };
  for (const auto& [state, name] : states) {
    ASSERT_NE(StateName(state), nullptr);
    EXPECT_EQ(StateName(state), name);
  }
  const std::vector<std::pair<EventType, std::string>> events = {
      {EventType::kSpawned, "spawned"},
      {EventType::kSpawnFailed, "spawn_failed"},
      {EventType::kReady, "ready"},
      {EventType::kStatus, "status"},
      {EventType::kHealthFailed, "health_failed"},
      {EventType::kStopping, "stopping"},
      {EventType::kKilled, "killed"},
      {EventType::kExited, "exited"},
      {EventType::kRestartScheduled, "restart_scheduled"},
      {EventType::kNotRestarting, "not_restarting"},
      {EventType::kGaveUp, "gave_up"},
      {EventType::kStopped, "stopped"},
      {EventType::kMainPid, "main_pid"},
  };
  for (const auto& [type, name] : events) {
    ASSERT_NE(EventTypeName(type), nullptr);
    EXPECT_EQ(EventTypeName(type), name);
  }
  // A value outside the enum (a corrupted or newer value) still prints as something.
  ASSERT_NE(StateName(static_cast<ServiceState>(99)), nullptr);
  EXPECT_STREQ(StateName(static_cast<ServiceState>(99)), "?");
  ASSERT_NE(EventTypeName(static_cast<EventType>(99)), nullptr);
  EXPECT_STREQ(EventTypeName(static_cast<EventType>(99)), "?");
}

TEST(RestartPolicyTest, NextStartIsTheScheduledRestartOrTheRetry) {
  PolicyOptions o = Options();
  o.restart.start_limit_burst = 2;
  o.restart.start_limit_retry_after = seconds(30);
  Driver d(o);
  EXPECT_FALSE(d.policy.next_start_ns().has_value());  // stopped
  d.Start();
  EXPECT_FALSE(d.policy.next_start_ns().has_value());  // running
  d.now = 5 * kMs;
  d.Exit(Code(1));
  ASSERT_EQ(d.policy.state(), ServiceState::kBackoff);
  ASSERT_TRUE(d.policy.next_start_ns().has_value());
  EXPECT_EQ(*d.policy.next_start_ns(), 105 * kMs);
  d.RunToDeadline();
  d.Exit(Code(1));  // a third start within 10 s would pass the burst of 2
  ASSERT_EQ(d.policy.state(), ServiceState::kFailed);
  ASSERT_TRUE(d.policy.next_start_ns().has_value());
  EXPECT_EQ(*d.policy.next_start_ns(), d.now + 30'000 * kMs);
  // Without a retry interval, failed is terminal: no next start.
  PolicyOptions terminal = Options();
  terminal.restart.start_limit_burst = 1;
  Driver t(terminal);
  t.Start();
  t.Exit(Code(1));
  ASSERT_EQ(t.policy.state(), ServiceState::kFailed);
  EXPECT_FALSE(t.policy.next_start_ns().has_value());
}

// Every deadline fires at its time, not a nanosecond before.
void ExpectNothingDueBefore(Driver& d, int64_t due_ns) {
  ASSERT_TRUE(d.policy.NextDeadline().has_value());
  ASSERT_EQ(*d.policy.NextDeadline(), due_ns);
  const ServiceState before = d.policy.state();
  PolicyStep s;
  d.policy.Tick(due_ns - 1, &s);
  EXPECT_TRUE(s.actions.empty()) << StateName(before);
  EXPECT_TRUE(s.events.empty()) << StateName(before);
  EXPECT_EQ(d.policy.state(), before);
  d.RunToDeadline();
}

TEST(RestartPolicyTest, TickBeforeADeadlineDoesNothing) {
  PolicyOptions stop = Options();  // stopping: SIGKILL once stop_timeout (2 s) has passed
  Driver stopping(stop);
  stopping.Start();
  stopping.Stop();
  ExpectNothingDueBefore(stopping, 2000 * kMs);
  EXPECT_EQ(stopping.Count(PolicyAction::kKill), 1);

  PolicyOptions ready = Options();  // starting: not ready within ready_timeout (3 s)
  ready.wait_for_ready = true;
  ready.ready_timeout = seconds(3);
  Driver starting(ready);
  starting.Start();
  ExpectNothingDueBefore(starting, 3000 * kMs);
  EXPECT_EQ(starting.policy.state(), ServiceState::kStopping);

  PolicyOptions watchdog = Options();  // running: the watchdog (1 s)
  watchdog.watchdog = seconds(1);
  Driver running(watchdog);
  running.Start();
  ExpectNothingDueBefore(running, 1000 * kMs);
  EXPECT_EQ(running.policy.state(), ServiceState::kStopping);

  Driver backoff(Options());  // backoff: the restart (100 ms)
  backoff.Start();
  backoff.Exit(Code(1));
  ExpectNothingDueBefore(backoff, 100 * kMs);
  EXPECT_EQ(backoff.policy.state(), ServiceState::kRunning);
  EXPECT_EQ(backoff.policy.restarts(), 1u);

  PolicyOptions retry = Options();  // failed: the retry (30 s)
  retry.restart.start_limit_burst = 1;
  retry.restart.start_limit_retry_after = seconds(30);
  Driver failed(retry);
  failed.Start();
  failed.Exit(Code(1));
  ExpectNothingDueBefore(failed, 30'000 * kMs);
  EXPECT_EQ(failed.policy.state(), ServiceState::kRunning);

  Driver idle(Options());  // running without a watchdog: nothing is ever due
  idle.Start();
  EXPECT_FALSE(idle.policy.NextDeadline().has_value());
  PolicyStep s;
  idle.policy.Tick(1'000'000 * kMs, &s);
  EXPECT_TRUE(s.events.empty());
  EXPECT_EQ(idle.policy.state(), ServiceState::kRunning);
}

// The readiness deadline belongs to one child: a child that exited does not leave it behind
// for the next one, whose spawn is still pending.
TEST(RestartPolicyTest, AnExitedChildsReadyDeadlineDoesNotCarryOver) {
  PolicyOptions o = Options();
  o.wait_for_ready = true;
  o.ready_timeout = seconds(3);
  RestartPolicy policy(o);
  PolicyStep s;
  policy.Start(0, &s);
  policy.Spawned(0, &s);
  ASSERT_EQ(*policy.NextDeadline(), 3000 * kMs);
  policy.Exited(1000 * kMs, Code(1), &s);
  ASSERT_EQ(policy.state(), ServiceState::kBackoff);
  PolicyStep restart;
  policy.Tick(1100 * kMs, &restart);
  ASSERT_EQ(restart.actions, std::vector<PolicyAction>{PolicyAction::kSpawn});
  ASSERT_EQ(policy.state(), ServiceState::kStarting);
  // Not spawned yet: no deadline, and the old one does not fire.
  EXPECT_FALSE(policy.NextDeadline().has_value());
  PolicyStep late;
  policy.Tick(3000 * kMs, &late);
  EXPECT_TRUE(late.actions.empty());
  EXPECT_TRUE(late.events.empty());
  EXPECT_EQ(policy.state(), ServiceState::kStarting);
}

TEST(RestartPolicyTest, TheWatchdogRunsFromTheMomentOfReadiness) {
  PolicyOptions o = Options();
  o.watchdog = seconds(1);
  Driver d(o);
  d.now = 5000 * kMs;
  d.Start();
  ASSERT_EQ(d.policy.state(), ServiceState::kRunning);
  ASSERT_TRUE(d.policy.NextDeadline().has_value());
  EXPECT_EQ(*d.policy.NextDeadline(), 6000 * kMs);
}

TEST(RestartPolicyTest, WatchdogPingWithoutAWatchdogSetsNoDeadline) {
  Driver d(Options());  // watchdog = 0: off
  d.Start();
  d.now = 500 * kMs;
  d.policy.WatchdogPing(d.now);
  EXPECT_FALSE(d.policy.NextDeadline().has_value());
  PolicyStep s;
  d.policy.Tick(d.now, &s);
  EXPECT_TRUE(s.events.empty());
  EXPECT_EQ(d.policy.state(), ServiceState::kRunning);
}

// The exit event reports the state of the decision it led to, even when a zero delay has
// already started the next child in the same step, and whatever the step held before.
TEST(RestartPolicyTest, TheExitEventReportsWhereTheExitLed) {
  PolicyOptions o = Options();
  o.restart.backoff.initial = milliseconds(0);
  RestartPolicy zero(o);
  PolicyStep s;
  zero.Start(0, &s);
  zero.Spawned(0, &s);
  PolicyStep exit;
  zero.Exited(kMs, Code(1), &exit);
  ASSERT_EQ(exit.events.size(), 2u);
  EXPECT_EQ(exit.events[0].type, EventType::kExited);
  EXPECT_EQ(exit.events[1].type, EventType::kRestartScheduled);
  EXPECT_EQ(exit.events[0].state, ServiceState::kBackoff);
  EXPECT_EQ(exit.actions, std::vector<PolicyAction>{PolicyAction::kSpawn});
  EXPECT_EQ(zero.state(), ServiceState::kStarting);

  // A restart by request: the exit leads straight to the next spawn, with no event of its own.
  RestartPolicy restarted(Options());
  PolicyStep r;
  restarted.Start(0, &r);
  restarted.Spawned(0, &r);
  restarted.Restart(kMs, &r);
  PolicyStep again;
  // Leftovers past the end of the vector (cleared, capacity kept) must not be read as events.
  again.events.assign(4, {EventType::kStatus, {}, "", ServiceState::kFailed});
  again.events.clear();
  restarted.Exited(2 * kMs, Code(0), &again);
  ASSERT_EQ(again.events.size(), 1u);
  EXPECT_EQ(again.events[0].type, EventType::kExited);
  EXPECT_EQ(again.events[0].state, ServiceState::kStarting);
  EXPECT_EQ(again.actions, std::vector<PolicyAction>{PolicyAction::kSpawn});

  RestartPolicy policy(Options());
  PolicyStep t;
  policy.Start(0, &t);
  policy.Spawned(0, &t);
  PolicyStep step;
  step.events.push_back({EventType::kStatus, {}, "earlier", ServiceState::kStopped});
  policy.Exited(kMs, Code(1), &step);
  ASSERT_EQ(step.events.size(), 3u);
  EXPECT_EQ(step.events[0].state, ServiceState::kStopped);  // untouched
  EXPECT_EQ(step.events[1].type, EventType::kExited);
  EXPECT_EQ(step.events[1].state, ServiceState::kBackoff);
}

// reason() explains failed/exited only: once the service runs again or is stopped, it is "".
TEST(RestartPolicyTest, TheReasonIsClearedWhenTheServiceLeavesExitedOrFailed) {
  Driver d(Options());
  d.Start();
  d.Exit(Code(78));
  ASSERT_EQ(d.policy.state(), ServiceState::kExited);
  ASSERT_FALSE(d.policy.reason().empty());
  d.Start();
  EXPECT_EQ(d.policy.state(), ServiceState::kRunning);
  EXPECT_EQ(d.policy.reason(), "");
  d.Exit(Code(78));
  ASSERT_FALSE(d.policy.reason().empty());
  d.Stop();
  EXPECT_EQ(d.policy.state(), ServiceState::kStopped);
  EXPECT_EQ(d.policy.reason(), "");
}

TEST(RestartPolicyTest, NotRestartingNamesThePolicy) {
  PolicyOptions n = Options();
  n.restart.policy = RestartConfig::Policy::kNever;
  Driver never(n);
  never.Start();
  never.Exit(Code(3));
  ASSERT_EQ(never.policy.state(), ServiceState::kExited);
  EXPECT_EQ(never.policy.reason(), "exited with code 3; restart = never");
  Driver on_failure(Options());
  on_failure.Start();
  on_failure.Exit(Code(0));
  ASSERT_EQ(on_failure.policy.state(), ServiceState::kExited);
  EXPECT_EQ(on_failure.policy.reason(), "exited with code 0; restart = on-failure");
}

// A start exactly start_limit_interval before the next one is outside its window.
TEST(RestartPolicyTest, TheStartLimitWindowExcludesItsOldEdge) {
  PolicyOptions o = Options();
  o.restart.start_limit_burst = 1;
  o.restart.start_limit_interval = seconds(1);
  Driver edge(o);
  edge.Start();  // at 0
  edge.now = 900 * kMs;
  edge.Exit(Code(1));  // the restart would be at 1000 ms: the start at 0 is out of the window
  EXPECT_EQ(edge.policy.state(), ServiceState::kBackoff);
  Driver inside(o);
  inside.Start();
  inside.now = 899 * kMs;
  inside.Exit(Code(1));  // at 999 ms: two starts within 1 s
  EXPECT_EQ(inside.policy.state(), ServiceState::kFailed);
}

// Readiness is per child: an earlier child having been ready does not make the next one so.
TEST(RestartPolicyTest, AnEarlierChildsReadinessDoesNotCountForTheNext) {
  PolicyOptions o = Options();
  o.wait_for_ready = true;
  Driver d(o);
  d.Start();
  d.Ready();
  ASSERT_EQ(d.policy.state(), ServiceState::kRunning);
  d.Stop();
  d.Exit(Sig(15));
  ASSERT_EQ(d.policy.state(), ServiceState::kStopped);
  d.now = 60'000 * kMs;
  d.Start();
  ASSERT_EQ(d.policy.state(), ServiceState::kStarting);
  d.Exit(Code(0));  // before READY=1: a failed start, restarted despite on-failure
  EXPECT_EQ(d.policy.state(), ServiceState::kBackoff);
}

}  // namespace
}  // namespace duende::framework
