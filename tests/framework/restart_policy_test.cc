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

}  // namespace
}  // namespace duende::framework
