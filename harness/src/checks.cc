#include "duende/harness/checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"

namespace duende::harness {
namespace {

using reporters::CheckResult;
using reporters::Event;
using reporters::Verdict;
using Events = std::vector<Event>;

constexpr size_t kMaxEvidence = 12;

std::string Dur(int64_t ns) { return framework::FormatDuration(nanoseconds(ns)); }

std::string Bytes(uint64_t b) {
  char buf[64];
  if (b >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1 << 20));
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  }
  return buf;
}

std::string Pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", x * 100);
  return buf;
}

int64_t I64(const nlohmann::json& d, const char* key, int64_t dflt = 0) {
  auto it = d.find(key);
  if (it == d.end() || !it->is_number()) return dflt;
  return it->get<int64_t>();
}

std::string Str(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  if (it == d.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// The context every check needs: the run's start (for "+1.2s" times), the stop phase, which
// events concern which target.
struct Log {
  const Events& events;
  int64_t start_ns = 0;
  int64_t stopping_ns = INT64_MAX;

  explicit Log(const Events& e) : events(e) {
    if (!e.empty()) start_ns = e.front().ts_ns;
    for (const auto& ev : e) {
      if (ev.type == "run.started") start_ns = ev.ts_ns;
      if (ev.type == "run.phase" && Str(ev.data, "phase") == "stopping") {
        stopping_ns = std::min(stopping_ns, ev.ts_ns);
      }
    }
  }

  std::string At(int64_t ts) const { return "+" + Dur(ts - start_ns); }

  bool Concerns(const Event& e, const std::string& target) const {
    return target.empty() || e.target == target;
  }
};

CheckResult Base(const CheckSpec& c) {
  CheckResult r;
  r.name = c.name;
  r.kind = c.kind;
  return r;
}

void Evidence(CheckResult& r, std::string line) {
  if (r.evidence.size() < kMaxEvidence) {
    r.evidence.push_back(std::move(line));
  } else if (r.evidence.size() == kMaxEvidence) {
    r.evidence.push_back("...");
  }
}

CheckResult Fail(CheckResult r, std::string why) {
  r.verdict = Verdict::kFail;
  r.evidence.insert(r.evidence.begin(), std::move(why));
  return r;
}

std::string ExitText(const Event& e) {
  std::string s = Str(e.data, "status");
  if (!s.empty()) return s;
  if (e.data.contains("signal") && e.data["signal"].is_number()) {
    return "killed by signal " + std::to_string(e.data["signal"].get<int>());
  }
  return "exited with code " + std::to_string(I64(e.data, "code"));
}

// A crash is an exit that the run did not ask for (before the stop phase).
bool IsCrash(const Log& log, const Event& e) {
  return e.type == "target.exited" && e.ts_ns < log.stopping_ns;
}

std::set<std::string> TargetsOf(const CheckSpec& c, const Scenario& s) {
  std::set<std::string> out;
  if (!c.target.empty()) {
    out.insert(c.target);
  } else {
    for (const auto& t : s.targets) {
      if (!t.external) out.insert(t.name);
    }
  }
  return out;
}

CheckResult RestartWithin(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const int64_t within = c.within.value_or(std::chrono::seconds(1)).count();
  r.threshold = "<= " + Dur(within) + " from each crash to ready again";
  int64_t worst = -1;
  int crashes = 0;
  for (const auto& name : TargetsOf(c, s)) {
    bool has_ready = std::any_of(log.events.begin(), log.events.end(), [&](const Event& e) {
      return e.type == "target.ready" && e.target == name;
    });
    const char* back_type = has_ready ? "target.ready" : "target.spawned";
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
        if (n.type == "target.gave_up") gave_up = Str(n.data, "reason");
        if (n.type == "target.exited") break;
      }
      if (!back) {
        r.verdict = Verdict::kFail;
        Evidence(r, log.At(e.ts_ns) + " " + name + " " + ExitText(e) + " and was not restarted" +
                        (gave_up.empty() ? "" : " (gave up: " + gave_up + ")"));
        worst = INT64_MAX;
        continue;
      }
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
  r.measured = worst == INT64_MAX
                   ? "not restarted"
                   : "slowest " + Dur(worst) + " over " + std::to_string(crashes) + " crash(es)";
  return r;
}

// base(n) = min(max, initial * multiplier^(n-1)), n counted from the first delayed attempt
// (framework/backoff.h documents the same formula).
int64_t BackoffBase(const framework::BackoffConfig& b, uint32_t attempt) {
  uint32_t n = b.immediate_first_restart ? attempt - 1 : attempt;
  double d = static_cast<double>(b.initial.count()) *
             std::pow(b.multiplier, static_cast<double>(n == 0 ? 0 : n - 1));
  return std::min<int64_t>(b.max.count(), d > 9e18 ? INT64_MAX : static_cast<int64_t>(d));
}

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
      if (e.type == "target.ready") ready_ts = e.ts_ns;
      if (e.type == "target.exited" && ready_ts >= 0 &&
          e.ts_ns - ready_ts >= b.reset_after.count()) {
        attempt = 0;
        previous = b.initial.count();
      }
      if (e.type != "target.restart_scheduled") continue;
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
        if (n.type == "target.spawned") {
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
        if (n.type == "target.exited" || n.type == "target.gave_up" || n.type == "target.stopped") {
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

CheckResult NoLostWrites(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "0 lost";
  const Event* rb = nullptr;
  for (const auto& e : log.events) {
    if (e.type == "readback.result") rb = &e;
  }
  if (rb == nullptr) return Fail(r, "no read-back was recorded (readback.result missing)");
  const int64_t lost = I64(rb->data, "lost");
  const int64_t acked = I64(rb->data, "acked_writes");
  const int64_t keys = I64(rb->data, "keys");
  r.measured = std::to_string(lost) + " lost of " + std::to_string(keys) + " key(s) (" +
               std::to_string(acked) + " acknowledged writes)";
  if (rb->data.contains("error") && rb->data["error"].is_string()) {
    return Fail(r, "the read-back failed: " + rb->data["error"].get<std::string>());
  }
  if (acked == 0) {
    return Fail(r, "no write was acknowledged: nothing to verify");
  }
  if (lost > 0) {
    r.verdict = Verdict::kFail;
    if (rb->data.contains("lost_examples") && rb->data["lost_examples"].is_array()) {
      for (const auto& ex : rb->data["lost_examples"]) {
        std::string found =
            ex.contains("found") && !ex["found"].is_null() ? ex["found"].dump() : "nothing";
        Evidence(r, "key " + (ex.contains("key") ? ex["key"].dump() : std::string("?")) +
                        ": acknowledged " +
                        (ex.contains("acked") ? ex["acked"].dump() : std::string("?")) +
                        ", read back " + found);
      }
    }
  }
  return r;
}

struct Second {
  int64_t start = 0;
  int64_t end = 0;
  int64_t sent = 0;
  int64_t ok = 0;
  int64_t errors = 0;
  int64_t timeouts = 0;
  int64_t p99_us = 0;
};

std::vector<Second> LoadSeconds(const Log& log) {
  std::vector<Second> out;
  for (const auto& e : log.events) {
    if (e.type != "load.second") continue;
    Second s;
    s.end = e.ts_ns;
    s.start = I64(e.data, "start_ns", e.ts_ns - 1000000000);
    s.sent = I64(e.data, "sent");
    s.ok = I64(e.data, "ok");
    s.errors = I64(e.data, "errors");
    s.timeouts = I64(e.data, "timeouts");
    s.p99_us = I64(e.data, "p99_us");
    out.push_back(s);
  }
  return out;
}

// The intervals during which faults act: injection to heal, extended to the target being
// ready again when it went down in between, plus `grace`.
std::vector<std::pair<int64_t, int64_t>> FaultWindows(const Log& log, int64_t grace) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < log.events.size(); ++i) {
    const Event& e = log.events[i];
    if (e.type != "fault.injected") continue;
    std::string on = Str(e.data, "on");
    int64_t end = e.ts_ns;
    bool down = false;
    for (size_t j = i + 1; j < log.events.size(); ++j) {
      const Event& n = log.events[j];
      if (n.type == "fault.healed" && n.target == e.target) end = std::max(end, n.ts_ns);
      if (n.target == on && n.type == "target.exited") down = true;
      if (down && n.target == on && n.type == "target.ready") {
        end = std::max(end, n.ts_ns);
        down = false;
      }
      if (n.type == "fault.injected" && n.target == e.target) break;
    }
    if (down) end = INT64_MAX / 2;
    out.emplace_back(e.ts_ns, end + grace);
  }
  return out;
}

bool Overlaps(const Second& s, const std::vector<std::pair<int64_t, int64_t>>& windows) {
  for (const auto& [a, b] : windows) {
    if (s.start < b && s.end > a) return true;
  }
  return false;
}

CheckResult Availability(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const double min = c.min.value_or(0.99);
  const int64_t window =
      std::max<int64_t>(c.window.value_or(std::chrono::seconds(1)).count(), 1000000000);
  r.threshold = ">= " + Pct(min) + " per " + Dur(window);
  auto secs = LoadSeconds(log);
  if (secs.empty()) return Fail(r, "no load was recorded (no load.second events)");
  const int64_t t0 = secs.front().start;
  std::map<int64_t, std::pair<int64_t, int64_t>> buckets;  // index -> (ok, sent)
  for (const auto& s : secs) {
    auto& b = buckets[(s.start - t0 + window / 2) / window];
    b.first += s.ok;
    b.second += s.sent;
  }
  double worst = 1.0;
  for (const auto& [idx, b] : buckets) {
    if (b.second == 0) continue;
    double a = static_cast<double>(b.first) / static_cast<double>(b.second);
    worst = std::min(worst, a);
    if (a < min) {
      r.verdict = Verdict::kFail;
      Evidence(r, "window " + log.At(t0 + idx * window) + ": " + std::to_string(b.first) +
                      " ok of " + std::to_string(b.second) + " = " + Pct(a));
    }
  }
  r.measured = "worst window " + Pct(worst);
  return r;
}

CheckResult ErrorRate(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const double max = c.max.value_or(0.01);
  const int64_t grace = c.grace.value_or(std::chrono::seconds(1)).count();
  r.threshold = "<= " + Pct(max) + " outside fault windows (+" + Dur(grace) + " grace)";
  auto windows = FaultWindows(log, grace);
  int64_t sent = 0;
  int64_t bad = 0;
  for (const auto& s : LoadSeconds(log)) {
    if (Overlaps(s, windows)) continue;
    sent += s.sent;
    bad += s.errors + s.timeouts;
    if (s.errors + s.timeouts > 0) {
      Evidence(r, "second at " + log.At(s.start) + ": " + std::to_string(s.errors) + " errors, " +
                      std::to_string(s.timeouts) + " timeouts of " + std::to_string(s.sent));
    }
  }
  if (sent == 0) return Fail(r, "no request was sent outside the fault windows");
  double rate = static_cast<double>(bad) / static_cast<double>(sent);
  r.measured = Pct(rate) + " (" + std::to_string(bad) + " of " + std::to_string(sent) + ")";
  if (rate > max) r.verdict = Verdict::kFail;
  if (r.verdict == Verdict::kPass) r.evidence.clear();
  return r;
}

CheckResult P99Latency(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const int64_t max = c.max_latency.value_or(std::chrono::milliseconds(50)).count();
  const int64_t grace = c.grace.value_or(std::chrono::seconds(1)).count();
  r.threshold = "p99 <= " + Dur(max) + " in every steady second";
  auto windows = FaultWindows(log, grace);
  int64_t worst = 0;
  int n = 0;
  for (const auto& s : LoadSeconds(log)) {
    if (Overlaps(s, windows) || s.sent == 0) continue;
    ++n;
    worst = std::max(worst, s.p99_us * 1000);
    if (s.p99_us * 1000 > max) {
      r.verdict = Verdict::kFail;
      Evidence(r, "second at " + log.At(s.start) + ": p99 " + Dur(s.p99_us * 1000));
    }
  }
  if (n == 0) return Fail(r, "no steady-state second of load was recorded");
  r.measured = "worst p99 " + Dur(worst) + " over " + std::to_string(n) + " second(s)";
  return r;
}

CheckResult RecoversWithin(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const int64_t within = c.within.value_or(std::chrono::seconds(5)).count();
  r.threshold = "steady state within " + Dur(within) + " after each heal";
  int64_t worst = 0;
  int heals = 0;
  for (size_t i = 0; i < log.events.size(); ++i) {
    const Event& e = log.events[i];
    if (e.type != "fault.healed") continue;
    if (!c.target.empty()) {
      // Only faults on the check's target.
      bool on_target = false;
      for (size_t j = i; j-- > 0;) {
        const Event& p = log.events[j];
        if (p.type == "fault.injected" && p.target == e.target) {
          on_target = Str(p.data, "on") == c.target;
          break;
        }
      }
      if (!on_target) continue;
    }
    ++heals;
    std::optional<int64_t> back;
    for (size_t j = i + 1; j < log.events.size(); ++j) {
      const Event& n = log.events[j];
      if (n.type == "steady_state" && n.data.value("ok", false) && n.ts_ns >= e.ts_ns) {
        back = n.ts_ns;
        break;
      }
    }
    if (!back) {
      r.verdict = Verdict::kFail;
      worst = INT64_MAX;
      Evidence(r, log.At(e.ts_ns) + " " + e.target + " healed; the steady state never came back");
      continue;
    }
    int64_t d = *back - e.ts_ns;
    worst = std::max(worst, d);
    std::string line = log.At(e.ts_ns) + " " + e.target + " healed; steady again after " + Dur(d);
    if (d > within) {
      r.verdict = Verdict::kFail;
      line += " (too slow)";
    }
    Evidence(r, line);
  }
  if (heals == 0) return Fail(r, "no fault was healed: nothing to recover from");
  r.measured = worst == INT64_MAX ? "never recovered" : "slowest " + Dur(worst);
  return r;
}

CheckResult NoOrphans(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "0 processes left";
  const Event* lo = nullptr;
  for (const auto& e : log.events) {
    if (e.type == "run.leftovers") lo = &e;
  }
  if (lo == nullptr) return Fail(r, "the run did not record its leftovers (run.leftovers)");
  // Every process left, each with what it was and whose (target cgroups list them all).
  std::string pids;
  size_t n = 0;
  if (lo->data.contains("leftovers") && lo->data["leftovers"].is_array()) {
    for (const auto& p : lo->data["leftovers"]) {
      const std::string target = p.value("target", std::string());
      if (!c.target.empty() && !target.empty() && target != c.target) continue;
      ++n;
      const std::string pid = p.value("pid", nlohmann::json()).dump();
      pids += (pids.empty() ? "" : ", ") + pid;
      const std::string exe = p.value("exe", std::string());
      Evidence(r, "pid " + pid + " (" + p.value("comm", std::string("?")) +
                      (exe.empty() ? "" : ", " + exe) + ") state " +
                      p.value("state", std::string("?")) + " ppid " +
                      p.value("ppid", nlohmann::json()).dump() + " pgid " +
                      p.value("pgid", nlohmann::json()).dump() +
                      (target.empty() ? "" : " of target " + target) + " survived the run");
    }
  }
  r.measured = std::to_string(n) + " left" + (pids.empty() ? "" : " (pids " + pids + ")");
  if (n > 0) r.verdict = Verdict::kFail;
  return r;
}

struct Instance {
  std::string target;
  int64_t pid = 0;
  int64_t spawned_ns = 0;
  int64_t ready_ns = -1;
  std::vector<const Event*> samples;  // after ready (or spawn when never ready)
};

std::vector<Instance> Instances(const CheckSpec& c, const Scenario& s, const Log& log) {
  std::vector<Instance> out;
  auto targets = TargetsOf(c, s);
  std::map<std::pair<std::string, int64_t>, size_t> index;
  for (const auto& e : log.events) {
    if (targets.count(e.target) == 0) continue;
    if (e.type == "target.spawned") {
      index[{e.target, I64(e.data, "pid")}] = out.size();
      out.push_back(Instance{e.target, I64(e.data, "pid"), e.ts_ns, -1, {}});
    } else if (e.type == "target.ready") {
      auto it = index.find({e.target, I64(e.data, "pid")});
      if (it != index.end()) out[it->second].ready_ns = e.ts_ns;
    } else if (e.type == "target.sample") {
      auto it = index.find({e.target, I64(e.data, "pid")});
      if (it == index.end()) {
        // An external target: one instance per pid seen.
        index[{e.target, I64(e.data, "pid")}] = out.size();
        out.push_back(Instance{e.target, I64(e.data, "pid"), e.ts_ns, e.ts_ns, {}});
        it = index.find({e.target, I64(e.data, "pid")});
      }
      out[it->second].samples.push_back(&e);
    }
  }
  // Drop samples taken before readiness (the daemon was still initialising).
  for (auto& inst : out) {
    if (inst.ready_ns < 0) continue;
    std::vector<const Event*> kept;
    for (const Event* e : inst.samples) {
      if (e->ts_ns >= inst.ready_ns) kept.push_back(e);
    }
    if (!kept.empty()) inst.samples = kept;
  }
  return out;
}

CheckResult MaxRss(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const uint64_t max = c.max_bytes.value_or(0);
  r.threshold = "<= " + Bytes(max);
  uint64_t worst = 0;
  size_t n = 0;
  for (const auto& inst : Instances(c, s, log)) {
    for (const Event* e : inst.samples) {
      ++n;
      auto rss = static_cast<uint64_t>(I64(e->data, "rss_bytes"));
      if (rss > worst) worst = rss;
      if (rss > max && r.verdict == Verdict::kPass) {
        r.verdict = Verdict::kFail;
        Evidence(r, log.At(e->ts_ns) + " " + inst.target + " pid " + std::to_string(inst.pid) +
                        " RSS " + Bytes(rss));
      }
    }
  }
  if (n == 0) return Fail(r, "no resource sample of the target was recorded");
  r.measured = "max " + Bytes(worst) + " over " + std::to_string(n) + " samples";
  return r;
}

CheckResult FdGrowth(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const int64_t max_growth = c.max_growth.value_or(0);
  r.threshold = "growth <= " + std::to_string(max_growth) + " fds across restarts";
  std::map<std::string, std::vector<std::pair<const Instance*, int64_t>>> per_target;
  auto instances = Instances(c, s, log);
  for (const auto& inst : instances) {
    if (inst.samples.empty()) continue;
    // The floor of an instance's fd count: connections come and go, a leak stays.
    int64_t floor = INT64_MAX;
    for (const Event* e : inst.samples) floor = std::min(floor, I64(e->data, "fds"));
    per_target[inst.target].emplace_back(&inst, floor);
  }
  int64_t worst = 0;
  size_t compared = 0;
  for (const auto& [target, list] : per_target) {
    if (list.size() < 2) continue;
    compared += list.size();
    std::string series;
    for (const auto& [inst, floor] : list) {
      series += (series.empty() ? "" : ", ") + std::to_string(floor);
      worst = std::max(worst, floor - list.front().second);
    }
    Evidence(r, target + " fds per instance (pid order of start): " + series);
  }
  if (compared == 0) {
    return Fail(r, "fewer than two sampled instances of the target: no restart to compare across");
  }
  r.measured = "grew by " + std::to_string(worst);
  if (worst > max_growth) r.verdict = Verdict::kFail;
  return r;
}

CheckResult MemoryLocked(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const uint64_t min = std::max<uint64_t>(1, c.min_bytes.value_or(1));
  r.threshold = "VmLck >= " + Bytes(min) + " in every instance";
  size_t n = 0;
  size_t bad = 0;
  uint64_t lowest = UINT64_MAX;
  for (const auto& inst : Instances(c, s, log)) {
    if (inst.samples.empty()) continue;
    ++n;
    auto vmlck = static_cast<uint64_t>(I64(inst.samples.back()->data, "vmlck_bytes"));
    lowest = std::min(lowest, vmlck);
    std::string line = inst.target + " pid " + std::to_string(inst.pid) + " (started " +
                       log.At(inst.spawned_ns) + "): VmLck " + Bytes(vmlck);
    if (vmlck < min) {
      ++bad;
      r.verdict = Verdict::kFail;
      line += " (not locked)";
    }
    Evidence(r, line);
  }
  if (n == 0) return Fail(r, "no resource sample of the target was recorded");
  r.measured = std::to_string(bad) + " of " + std::to_string(n) + " instance(s) unlocked; lowest " +
               Bytes(lowest);
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
    if (e.type != "target.exited" || targets.count(e.target) == 0) continue;
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

CheckResult LogMatch(const CheckSpec& c, const Scenario& s, const Log& log, bool never) {
  CheckResult r = Base(c);
  r.threshold = std::string(never ? "no line matches /" : "some line matches /") + c.pattern + "/";
  std::regex re(c.pattern);
  auto targets = TargetsOf(c, s);
  size_t lines = 0;
  size_t matches = 0;
  for (const auto& e : log.events) {
    if (e.type != "target.log" || targets.count(e.target) == 0) continue;
    ++lines;
    std::string line = Str(e.data, "line");
    if (std::regex_search(line, re)) {
      ++matches;
      Evidence(r, log.At(e.ts_ns) + " " + e.target + ": " + line);
    }
  }
  r.measured = std::to_string(matches) + " matching of " + std::to_string(lines) + " line(s)";
  if (never ? matches > 0 : matches == 0) r.verdict = Verdict::kFail;
  if (!never && matches == 0) Evidence(r, "no output line of the target matched");
  return r;
}

CheckResult CommandProbe(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "exit 0";
  for (const auto& e : log.events) {
    if (e.type != "probe.result" || Str(e.data, "name") != c.name) continue;
    bool ok = e.data.value("ok", false);
    r.measured = ok ? "exit 0" : Str(e.data, "detail");
    Evidence(r, log.At(e.ts_ns) + " " + Str(e.data, "detail"));
    if (!ok) r.verdict = Verdict::kFail;
    return r;
  }
  return Fail(r, "the command probe did not run (no probe.result named " + c.name + ")");
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
      if (e.type == "target.spawned") {
        ++starts;
        if (!first) first = e.ts_ns;
      }
      if (e.type == "target.gave_up" && first && e.ts_ns < log.stopping_ns) {
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

// For a fault whose injector cannot observe its own firing (syscall and disk faults through
// libfiu): what the target did while it was on, or "" when nothing was seen.
std::string Reaction(const Log& log, const Event& healed) {
  const Event* injected = nullptr;
  for (const auto& e : log.events) {
    if (&e == &healed) break;
    if (e.type == "fault.injected" && e.target == healed.target) injected = &e;
  }
  if (injected == nullptr) return "";
  const std::string kind = Str(injected->data, "kind");
  const std::string on = Str(injected->data, "on");
  const int64_t from = injected->ts_ns;
  const int64_t to = healed.ts_ns;
  if (kind == "oom") {
    // The injector reads the cgroup's OOM counter; when that did not move, a SIGKILL of the
    // target while its limit was lowered is still the kernel's doing (no other fault was on).
    for (const auto& e : log.events) {
      if (e.type == "target.exited" && e.target == on && e.ts_ns >= from && e.ts_ns <= to &&
          I64(e.data, "signal") == 9) {
        return "the target was SIGKILLed " + Dur(e.ts_ns - from) +
               " after its memory limit was lowered (the cgroup's oom_kill counter did not "
               "show it)";
      }
    }
    return "";
  }
  if (kind != "syscall" && kind != "disk") return "";
  for (const auto& e : log.events) {
    if (e.type == "target.exited" && e.target == on && e.ts_ns >= from && e.ts_ns <= to) {
      return "the target reacted: it " + ExitText(e) + " " + Dur(e.ts_ns - from) +
             " after the injection";
    }
  }
  int64_t failed = 0;
  for (const auto& sec : LoadSeconds(log)) {
    if (sec.start < to && sec.end > from) failed += sec.errors + sec.timeouts;
  }
  if (failed > 0) {
    return "the target reacted: " + std::to_string(failed) +
           " failed request(s) in the load seconds around the fault";
  }
  return "";
}

CheckResult FaultsTookEffect(const Log& log) {
  CheckResult r;
  r.name = "faults-took-effect";
  r.kind = "faults_took_effect";
  r.threshold = "every injected fault took effect";
  size_t n = 0;
  size_t missed = 0;
  for (const auto& e : log.events) {
    if (e.type == "fault.error") {
      ++n;
      ++missed;
      r.verdict = Verdict::kFail;
      Evidence(
          r, log.At(e.ts_ns) + " " + e.target + " could not be injected: " + Str(e.data, "error"));
    }
    if (e.type != "fault.healed") continue;
    ++n;
    bool took = e.data.value("took_effect", false);
    std::string ev = e.data.contains("evidence")
                         ? (e.data["evidence"].is_string() ? e.data["evidence"].get<std::string>()
                                                           : e.data["evidence"].dump())
                         : "";
    if (!took && !e.data.contains("effects")) {
      // Where the effect was not counted (libfiu without duende's shim), the target's reaction
      // can tell: failed requests or an exit while the fault was on. A counted zero stays a
      // miss: the reaction then had another cause.
      std::string reaction = Reaction(log, e);
      if (!reaction.empty()) {
        took = true;
        ev += (ev.empty() ? "" : "; ") + reaction;
      }
    }
    if (!took) {
      ++missed;
      r.verdict = Verdict::kFail;
      Evidence(r, log.At(e.ts_ns) + " " + e.target + " never took effect" +
                      (ev.empty() ? "" : ": " + ev));
    } else {
      Evidence(r, log.At(e.ts_ns) + " " + e.target + ": " + ev);
    }
  }
  r.measured = std::to_string(n - missed) + " of " + std::to_string(n) + " took effect";
  if (n == 0) return Fail(r, "no fault was injected");
  return r;
}

}  // namespace

CheckResult EvaluateCheck(const CheckSpec& c, const Scenario& s, const Events& events) {
  Log log(events);
  const int64_t t0 = framework::MonotonicNs();
  CheckResult r;
  if (c.kind == "restart_within") {
    r = RestartWithin(c, s, log);
  } else if (c.kind == "backoff_policy") {
    r = BackoffPolicy(c, s, log);
  } else if (c.kind == "no_lost_writes") {
    r = NoLostWrites(c, log);
  } else if (c.kind == "availability") {
    r = Availability(c, log);
  } else if (c.kind == "error_rate") {
    r = ErrorRate(c, log);
  } else if (c.kind == "p99_latency") {
    r = P99Latency(c, log);
  } else if (c.kind == "recovers_within") {
    r = RecoversWithin(c, log);
  } else if (c.kind == "no_orphans") {
    r = NoOrphans(c, log);
  } else if (c.kind == "max_rss") {
    r = MaxRss(c, s, log);
  } else if (c.kind == "fd_growth") {
    r = FdGrowth(c, s, log);
  } else if (c.kind == "memory_locked") {
    r = MemoryLocked(c, s, log);
  } else if (c.kind == "exit_codes") {
    r = ExitCodes(c, s, log);
  } else if (c.kind == "log_matches" || c.kind == "log_never_matches") {
    r = LogMatch(c, s, log, c.kind == "log_never_matches");
  } else if (c.kind == "gives_up") {
    r = GivesUp(c, s, log);
  } else if (c.kind == "command_probe") {
    r = CommandProbe(c, log);
  } else {
    r = Base(c);
    r.verdict = Verdict::kError;
    r.evidence.push_back("unknown check kind '" + c.kind + "'");
  }
  r.duration_s = static_cast<double>(framework::MonotonicNs() - t0) / 1e9;
  return r;
}

std::vector<CheckResult> EvaluateChecks(const Scenario& scenario, const Events& events) {
  std::vector<CheckResult> out;
  for (const auto& c : scenario.checks) out.push_back(EvaluateCheck(c, scenario, events));
  if (!scenario.faults.empty()) out.push_back(FaultsTookEffect(Log(events)));
  return out;
}

}  // namespace duende::harness
