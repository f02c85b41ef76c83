// Stateful model test of RestartPolicy (rapidcheck rc::state, a fake clock).
//
// Random sequences of start/stop/restart/ready/exit/health-failure/time-passing commands are
// run against the real policy and against the small model below; after every command the
// state, the backoff attempt, the pending deadline, the actions taken (spawn, stop signal,
// SIGKILL) and the restart delays must agree. Jitter is "none" here so the delays are exact;
// the jitter bands are properties in backoff_test.cc.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <algorithm>
#include <deque>
#include <optional>

#include "duende/framework/restart_policy.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
constexpr int64_t kMs = 1000000;

enum class Intent { kNone, kStop, kRestart, kHealth };

struct Model {
  PolicyOptions opt;
  int64_t now = 0;
  ServiceState state = ServiceState::kStopped;
  Intent intent = Intent::kNone;
  uint32_t attempt = 0;
  std::deque<int64_t> starts;
  std::optional<int64_t> ready_since;
  std::optional<int64_t> deadline;  // the one pending deadline of the current state
  bool child = false;
  // What the I/O side should have seen so far.
  int spawns = 0;
  int stop_signals = 0;
  int kills = 0;
  std::vector<int64_t> delays;

  int64_t Base(uint32_t n) const { return Backoff::Base(opt.restart.backoff, n).count(); }

  void Spawn() {
    starts.push_back(now);
    ++spawns;
    child = true;
    intent = Intent::kNone;
    ready_since.reset();
    deadline.reset();
    state = ServiceState::kStarting;
    if (!opt.wait_for_ready) {
      Ready();
    } else if (opt.ready_timeout.count() > 0) {
      deadline = now + opt.ready_timeout.count();
    }
  }
  void Ready() {
    if (state != ServiceState::kStarting) return;
    state = ServiceState::kRunning;
    ready_since = now;
    deadline.reset();
  }
  void BeginStop(Intent i) {
    state = ServiceState::kStopping;
    intent = i;
    ++stop_signals;
    deadline = now + opt.stop_timeout.count();
  }
  void Start() {
    switch (state) {
      case ServiceState::kStarting:
      case ServiceState::kRunning:
        return;
      case ServiceState::kStopping:
        if (intent == Intent::kStop) intent = Intent::kRestart;
        return;
      default:
        attempt = 0;
        starts.clear();
        Spawn();
    }
  }
  void Stop() {
    switch (state) {
      case ServiceState::kStarting:
      case ServiceState::kRunning:
        BeginStop(Intent::kStop);
        return;
      case ServiceState::kStopping:
        intent = Intent::kStop;
        return;
      case ServiceState::kStopped:
        return;
      default:
        state = ServiceState::kStopped;
        deadline.reset();
    }
  }
  void Restart() {
    if (state == ServiceState::kStarting || state == ServiceState::kRunning) {
      BeginStop(Intent::kRestart);
    } else {
      Start();
    }
  }
  void HealthFail() {
    if (state == ServiceState::kStarting || state == ServiceState::kRunning) {
      BeginStop(Intent::kHealth);
    }
  }
  void Decide(bool failed) {
    ready_since.reset();
    const auto policy = opt.restart.policy;
    if (policy == RestartConfig::Policy::kNever ||
        (policy == RestartConfig::Policy::kOnFailure && !failed)) {
      state = ServiceState::kExited;
      return;
    }
    ++attempt;
    const int64_t delay = Base(attempt);
    const int64_t at = now + delay;
    const int64_t in_window = std::count_if(starts.begin(), starts.end(), [&](int64_t s) {
      return s > at - opt.restart.start_limit_interval.count();
    });
    if (in_window >= opt.restart.start_limit_burst) {
      state = ServiceState::kFailed;
      if (opt.restart.start_limit_retry_after.count() > 0) {
        deadline = now + opt.restart.start_limit_retry_after.count();
      }
      return;
    }
    delays.push_back(delay);
    state = ServiceState::kBackoff;
    deadline = at;
    if (delay == 0) Spawn();
  }
  void Exit(const ExitStatus& st) {
    const bool was_ready = ready_since.has_value();
    const Intent i = intent;
    child = false;
    deadline.reset();
    intent = Intent::kNone;
    if (i == Intent::kStop) {
      state = ServiceState::kStopped;
      return;
    }
    if (i == Intent::kRestart) {
      attempt = 0;
      starts.clear();
      Spawn();
      return;
    }
    if (ready_since && now - *ready_since >= opt.restart.backoff.reset_after.count()) attempt = 0;
    if (i == Intent::kHealth) return Decide(true);
    if (!st.signaled && st.code == 78) {
      state = ServiceState::kExited;
      return;
    }
    if (opt.wait_for_ready && !was_ready) return Decide(true);
    Decide(!st.success());
  }
  // Time passes to `target`, firing each deadline on the way.
  void Advance(int64_t target) {
    while (deadline && *deadline <= target) {
      now = *deadline;
      deadline.reset();
      switch (state) {
        case ServiceState::kStopping:
          ++kills;
          break;
        case ServiceState::kStarting:
          BeginStop(Intent::kHealth);
          break;
        case ServiceState::kBackoff:
          Spawn();
          break;
        case ServiceState::kFailed:
          attempt = 0;
          starts.clear();
          Spawn();
          break;
        default:
          break;
      }
    }
    now = target;
  }
};

struct Sut {
  explicit Sut(const PolicyOptions& o) : policy(o) {}
  RestartPolicy policy;
  int64_t now = 0;
  bool child = false;
  int spawns = 0;
  int stop_signals = 0;
  int kills = 0;
  std::vector<int64_t> delays;

  void Take(PolicyStep& step) {
    for (auto& e : step.events) {
      if (e.type == EventType::kRestartScheduled) delays.push_back(e.delay.count());
    }
    for (auto a : step.actions) {
      switch (a) {
        case PolicyAction::kSpawn: {
          RC_ASSERT(!child);  // never two children of one service
          child = true;
          ++spawns;
          PolicyStep next;
          policy.Spawned(now, &next);
          Take(next);
          break;
        }
        case PolicyAction::kSignalStop:
          RC_ASSERT(child);
          ++stop_signals;
          break;
        case PolicyAction::kKill:
          RC_ASSERT(child);
          ++kills;
          break;
      }
    }
  }
};

void CheckAgree(const Model& m, const Sut& s) {
  RC_ASSERT(s.policy.state() == m.state);
  RC_ASSERT(s.policy.attempt() == m.attempt);
  RC_ASSERT(s.policy.NextDeadline() == m.deadline);
  RC_ASSERT(s.policy.has_child() == m.child);
  RC_ASSERT(s.child == m.child);
  RC_ASSERT(s.spawns == m.spawns);
  RC_ASSERT(s.stop_signals == m.stop_signals);
  RC_ASSERT(s.kills == m.kills);
  RC_ASSERT(s.delays == m.delays);
  if (m.deadline) RC_ASSERT(*m.deadline >= m.now);
}

using Cmd = rc::state::Command<Model, Sut>;

template <typename Derived>
struct Simple : Cmd {
  void apply(Model& m) const override { static_cast<const Derived*>(this)->On(m); }
  void run(const Model& m, Sut& s) const override {
    Model expected = m;
    apply(expected);
    PolicyStep step;
    static_cast<const Derived*>(this)->OnSut(s, &step);
    s.Take(step);
    CheckAgree(expected, s);
  }
};

struct StartCmd : Simple<StartCmd> {
  void On(Model& m) const { m.Start(); }
  void OnSut(Sut& s, PolicyStep* st) const { s.policy.Start(s.now, st); }
  void show(std::ostream& os) const override { os << "Start"; }
};
struct StopCmd : Simple<StopCmd> {
  void On(Model& m) const { m.Stop(); }
  void OnSut(Sut& s, PolicyStep* st) const { s.policy.Stop(s.now, st); }
  void show(std::ostream& os) const override { os << "Stop"; }
};
struct RestartCmd : Simple<RestartCmd> {
  void On(Model& m) const { m.Restart(); }
  void OnSut(Sut& s, PolicyStep* st) const { s.policy.Restart(s.now, st); }
  void show(std::ostream& os) const override { os << "Restart"; }
};
struct ReadyCmd : Simple<ReadyCmd> {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.child); }
  void On(Model& m) const {
    if (m.opt.wait_for_ready) m.Ready();
  }
  void OnSut(Sut& s, PolicyStep* st) const {
    if (s.policy.options().wait_for_ready) s.policy.Ready(s.now, st);
  }
  void show(std::ostream& os) const override { os << "Ready"; }
};
struct HealthFailCmd : Simple<HealthFailCmd> {
  void checkPreconditions(const Model& m) const override { RC_PRE(m.child); }
  void On(Model& m) const { m.HealthFail(); }
  void OnSut(Sut& s, PolicyStep* st) const { s.policy.HealthFailed(s.now, "probe", st); }
  void show(std::ostream& os) const override { os << "HealthFail"; }
};
struct ExitCmd : Simple<ExitCmd> {
  ExitStatus status;
  ExitCmd() {
    if (*rc::gen::arbitrary<bool>()) {
      status.signaled = true;
      status.signal = *rc::gen::element(9, 15, 11);
    } else {
      status.code = *rc::gen::element(0, 1, 2, 78);
    }
  }
  void checkPreconditions(const Model& m) const override { RC_PRE(m.child); }
  void On(Model& m) const { m.Exit(status); }
  void OnSut(Sut& s, PolicyStep* st) const {
    s.child = false;
    s.policy.Exited(s.now, status, st);
  }
  void show(std::ostream& os) const override { os << "Exit(" << status.ToString() << ")"; }
};
struct AdvanceCmd : Cmd {
  int64_t dt;
  AdvanceCmd() : dt(*rc::gen::inRange<int64_t>(0, 3000) * kMs) {}
  void apply(Model& m) const override { m.Advance(m.now + dt); }
  void run(const Model& m, Sut& s) const override {
    Model expected = m;
    apply(expected);
    const int64_t target = s.now + dt;
    while (auto d = s.policy.NextDeadline()) {
      if (*d > target) break;
      RC_ASSERT(*d >= s.now);  // a deadline is never in the past
      s.now = *d;
      PolicyStep step;
      s.policy.Tick(s.now, &step);
      s.Take(step);
    }
    s.now = target;
    CheckAgree(expected, s);
  }
  void show(std::ostream& os) const override { os << "Advance(" << dt / kMs << "ms)"; }
};

PolicyOptions GenOptions() {
  PolicyOptions o;
  o.restart.policy =
      *rc::gen::element(RestartConfig::Policy::kNever, RestartConfig::Policy::kOnFailure,
                        RestartConfig::Policy::kAlways);
  o.restart.prevent_exit_codes = {78};
  auto& b = o.restart.backoff;
  b.initial = milliseconds(*rc::gen::element(0, 50, 100, 500));
  b.multiplier = *rc::gen::element(1.0, 2.0, 3.0);
  b.max = milliseconds(*rc::gen::element(100, 1000, 5000));
  b.jitter = BackoffConfig::Jitter::kNone;
  b.reset_after = milliseconds(*rc::gen::element(0, 1000, 5000));
  b.immediate_first_restart = *rc::gen::arbitrary<bool>();
  o.restart.start_limit_burst = *rc::gen::inRange<uint32_t>(1, 6);
  o.restart.start_limit_interval = milliseconds(*rc::gen::element(1000, 5000, 10000));
  o.restart.start_limit_retry_after = milliseconds(*rc::gen::element(0, 0, 2000));
  o.stop_timeout = milliseconds(*rc::gen::element(100, 2000));
  o.wait_for_ready = *rc::gen::arbitrary<bool>();
  o.ready_timeout = milliseconds(*rc::gen::element(0, 1500));
  o.seed = 1;
  return o;
}

RC_GTEST_PROP(RestartPolicyModelTest, AgreesWithTheModel, ()) {
  Model model;
  model.opt = GenOptions();
  Sut sut(model.opt);
  rc::state::check(model, sut,
                   rc::state::gen::execOneOfWithArgs<StartCmd, StopCmd, RestartCmd, ReadyCmd,
                                                     HealthFailCmd, ExitCmd, AdvanceCmd>());
}

}  // namespace
}  // namespace duende::framework
