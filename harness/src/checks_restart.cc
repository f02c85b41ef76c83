// Supervision checks: restarts after crashes, the backoff between them, giving up, and the
// exit statuses a target may end with.
#include <algorithm>
#include <optional>

#include "checks_internal.h"
#include "duende/framework/process.h"

namespace duende::harness::check_internal {

CheckResult RestartWithin(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const int64_t within = c.within.value_or(std::chrono::seconds(1)).count();
  r.threshold = "<= " + Dur(within) + " from each crash to ready again";
  int64_t worst = -1;
  int crashes = 0;
  int restarted = 0;
  int not_restarted = 0;
  int cut_by_stop = 0;
  for (const auto& name : TargetsOf(c, s)) {
    bool has_ready = std::any_of(log.events.begin(), log.events.end(), [&](const Event& e) {
      return e.type == events::kTargetReady && e.target == name;
    });
    const char* back_type = has_ready ? events::kTargetReady : events::kTargetSpawned;
    for (size_t i = 0; i < log.events.size(); ++i) {
      const Event& e = log.events[i];
      if (e.target != name || !IsCrash(log, e)) continue;
      ++crashes;
      std::optional<int64_t> back;
      std::string gave_up;
      for (size_t j = i + 1; j < log.events.size(); ++j) {
        const Event& n = log.events[j];
        if (n.target != name) continue;
        if (n.type == back_type) {
          back = n.ts_ns;
          break;
        }
        if (n.type == events::kTargetGaveUp) gave_up = Str(n.data, "reason");
        if (n.type == events::kTargetExited) break;
      }
      if (!back && gave_up.empty() && log.stopping_ns != INT64_MAX &&
          log.stopping_ns - e.ts_ns < within) {
        // The run's own stop came before the restart was due: nothing to judge.
        ++cut_by_stop;
        Evidence(r, log.At(e.ts_ns) + " " + name + " " + ExitText(e) + "; the run stopped " +
                        Dur(log.stopping_ns - e.ts_ns) + " later, before it was back (not judged)");
        continue;
      }
      if (!back) {
        r.verdict = Verdict::kFail;
        ++not_restarted;
        Evidence(r, log.At(e.ts_ns) + " " + name + " " + ExitText(e) + " and was not restarted" +
                        (gave_up.empty() ? "" : " (gave up: " + gave_up + ")"));
        continue;
      }
      ++restarted;
      int64_t d = *back - e.ts_ns;
      worst = std::max(worst, d);
      std::string line = log.At(e.ts_ns) + " " + name + " " + ExitText(e) + "; " +
                         (has_ready ? "ready" : "spawned") + " again after " + Dur(d);
      if (d > within) {
        r.verdict = Verdict::kFail;
        line += " (too slow)";
      }
      Evidence(r, line);
    }
  }
  if (crashes == 0) {
    return Fail(r,
                "no crash of the target was recorded: the fault did not take effect, so "
                "there is no restart to measure");
  }
  // One sentence that covers every crash, so "not restarted" never stands next to a
  // restart that happened (the evidence lists each crash).
  std::string m;
  if (restarted > 0) {
    m = "slowest " + Dur(worst) + " over " + std::to_string(restarted) + " restart(s)";
  }
  if (not_restarted > 0) {
    m += (m.empty() ? "" : "; ") + std::to_string(not_restarted) + " of " +
         std::to_string(crashes) + " crash(es) not restarted";
  }
  if (cut_by_stop > 0) {
    m += (m.empty() ? "" : "; ") + std::to_string(cut_by_stop) + " cut short by the run's stop";
  }
  r.measured = m;
  if (restarted == 0 && not_restarted == 0) {
    return Fail(r, "every crash came right before the run's stop: no restart to measure");
  }
  return r;
}

namespace {

// base(n) = min(max, initial * multiplier^(n-1)), n counted from the first delayed attempt
// (framework/backoff.h documents the same formula).
int64_t BackoffBase(const framework::BackoffConfig& b, uint32_t attempt) {
  uint32_t n = b.immediate_first_restart ? attempt - 1 : attempt;
  double d = static_cast<double>(b.initial.count()) *
             std::pow(b.multiplier, static_cast<double>(n == 0 ? 0 : n - 1));
  return std::min<int64_t>(b.max.count(), d > 9e18 ? INT64_MAX : static_cast<int64_t>(d));
}

}  // namespace

CheckResult BackoffPolicy(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const int64_t tol = c.tolerance.value_or(std::chrono::milliseconds(20)).count();
  r.threshold =
      "delays within the policy's jitter bounds; restart within " + Dur(tol) + " of the delay";
  int checked = 0;
  int64_t worst_err = 0;
  for (const auto& name : TargetsOf(c, s)) {
    const TargetSpec* t = s.FindTarget(name);
    if (t == nullptr) continue;
    const framework::BackoffConfig& b = t->daemon.restart.backoff;
    uint32_t attempt = 0;
    int64_t previous = b.initial.count();
    int64_t ready_ts = -1;
    for (size_t i = 0; i < log.events.size(); ++i) {
      const Event& e = log.events[i];
      if (e.target != name) continue;
      if (e.type == events::kTargetReady) ready_ts = e.ts_ns;
      if (e.type == events::kTargetExited && ready_ts >= 0 &&
          e.ts_ns - ready_ts >= b.reset_after.count()) {
        attempt = 0;
        previous = b.initial.count();
      }
      if (e.type != events::kTargetRestartScheduled) continue;
      attempt =
          e.data.contains("attempt") ? static_cast<uint32_t>(I64(e.data, "attempt")) : attempt + 1;
      const int64_t delay = I64(e.data, "delay_ns");
      int64_t lo = 0;
      int64_t hi = 0;
      if (b.immediate_first_restart && attempt == 1) {
        lo = hi = 0;
      } else {
        const int64_t base = BackoffBase(b, std::max<uint32_t>(1, attempt));
        switch (b.jitter) {
          case framework::BackoffConfig::Jitter::kNone:
            lo = hi = base;
            break;
          case framework::BackoffConfig::Jitter::kFull:
            lo = 0;
            hi = base;
            break;
          case framework::BackoffConfig::Jitter::kEqual:
            lo = base / 2;
            hi = base;
            break;
          case framework::BackoffConfig::Jitter::kDecorrelated:
            lo = std::min(b.initial.count(), b.max.count());
            hi = std::min<int64_t>(
                b.max.count(), static_cast<int64_t>(static_cast<double>(previous) * b.multiplier));
            hi = std::max(hi, lo);
            previous = delay;
            break;
        }
      }
      ++checked;
      // 1 µs of slack for rounding in the policy's arithmetic.
      bool in_bounds = delay >= lo - 1000 && delay <= hi + 1000;
      std::string line = log.At(e.ts_ns) + " " + name + " attempt " + std::to_string(attempt) +
                         ": delay " + Dur(delay) + ", policy allows [" + Dur(lo) + ", " + Dur(hi) +
                         "]";
      if (!in_bounds) {
        r.verdict = Verdict::kFail;
        line += " (outside the policy)";
      }
      // The actual restart: the next spawn of this target.
      for (size_t j = i + 1; j < log.events.size(); ++j) {
        const Event& n = log.events[j];
        if (n.target != name) continue;
        if (n.type == events::kTargetSpawned) {
          int64_t actual = n.ts_ns - e.ts_ns;
          int64_t err = actual - delay;
          worst_err = std::max(worst_err, std::abs(err));
          line += "; spawned after " + Dur(actual);
          if (err < -1000000 || err > tol) {
            r.verdict = Verdict::kFail;
            line += " (timer off by " + Dur(std::abs(err)) + ")";
          }
          break;
        }
        if (n.type == events::kTargetExited || n.type == events::kTargetGaveUp ||
            n.type == events::kTargetStopped) {
          break;
        }
      }
      Evidence(r, line);
    }
  }
  if (checked == 0) {
    return Fail(r, "no restart was scheduled: there is no backoff delay to check");
  }
  r.measured = std::to_string(checked) + " delay(s); worst timer error " + Dur(worst_err);
  return r;
}

CheckResult ExitCodes(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  std::string allowed;
  for (const auto& a : c.allowed) allowed += (allowed.empty() ? "" : ", ") + a;
  r.threshold = "in {" + allowed + "}";
  auto targets = TargetsOf(c, s);
  size_t n = 0;
  size_t bad = 0;
  for (const auto& e : log.events) {
    if (e.type != events::kTargetExited || targets.count(e.target) == 0) continue;
    ++n;
    std::string what;
    if (e.data.contains("signal") && e.data["signal"].is_number_integer() &&
        e.data["signal"].get<int>() != 0) {
      what = framework::SignalName(e.data["signal"].get<int>());
    } else {
      what = std::to_string(I64(e.data, "code"));
    }
    if (std::find(c.allowed.begin(), c.allowed.end(), what) == c.allowed.end()) {
      ++bad;
      r.verdict = Verdict::kFail;
      Evidence(
          r, log.At(e.ts_ns) + " " + e.target + " " + ExitText(e) + " (" + what + " not allowed)");
    }
  }
  r.measured = std::to_string(bad) + " of " + std::to_string(n) + " exit(s) outside the set";
  return r;
}

CheckResult GivesUp(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const int64_t within = c.within.value_or(std::chrono::seconds(10)).count();
  r.threshold = "gives up within " + Dur(within) + " of the first start";
  auto targets = TargetsOf(c, s);
  for (const auto& name : targets) {
    std::optional<int64_t> first;
    int starts = 0;
    bool found = false;
    for (const auto& e : log.events) {
      if (e.target != name) continue;
      if (e.type == events::kTargetSpawned) {
        ++starts;
        if (!first) first = e.ts_ns;
      }
      if (e.type == events::kTargetGaveUp && first && e.ts_ns < log.stopping_ns) {
        int64_t d = e.ts_ns - *first;
        r.measured = "gave up after " + Dur(d) + " and " + std::to_string(starts) + " start(s)";
        Evidence(r, log.At(e.ts_ns) + " " + name + " gave up: " + Str(e.data, "reason"));
        if (d > within) r.verdict = Verdict::kFail;
        found = true;
        break;
      }
    }
    if (!found) {
      return Fail(r, name + " never gave up (" + std::to_string(starts) + " start(s))");
    }
  }
  return r;
}

}  // namespace duende::harness::check_internal
