#include "duende/harness/checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/toml_reader.h"
#include "duende/harness/check_kinds.h"
#include "duende/harness/load_history.h"
#include "duende/harness/load_protocol.h"
#include "duende/model/events.h"

namespace duende::harness {

namespace events = model::events;
namespace {

using model::CheckResult;
using model::Event;
using model::Verdict;
using Events = std::vector<Event>;
using framework::TomlReader;

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
  return events::IntField(d, key, dflt);
}

std::string Str(const nlohmann::json& d, const char* key) { return events::StringField(d, key); }

// The context every check needs: the run's start (for "+1.2s" times), the stop phase, which
// events concern which target.
struct Log {
  const Events& events;
  int64_t start_ns = 0;
  int64_t stopping_ns = INT64_MAX;

  explicit Log(const Events& e) : events(e) {
    if (!e.empty()) start_ns = e.front().ts_ns;
    for (const auto& ev : e) {
      if (ev.type == events::kRunStarted) start_ns = ev.ts_ns;
      if (ev.type == events::kRunPhase && Str(ev.data, "phase") == "stopping") {
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

std::string Printable(std::string_view text) { return PrintableText(text); }

// A crash is an exit that the run did not ask for (before the stop phase).
bool IsCrash(const Log& log, const Event& e) {
  return e.type == events::kTargetExited && e.ts_ns < log.stopping_ns;
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

// The lost-write verdict recomputed from the request history: the last acknowledged seq of
// each key (load.ops) against what the read-back found (readback.ops).
CheckResult LostFromHistory(CheckResult r, const Log& log, const Event& rb,
                            const std::vector<LoadOp>& reads) {
  struct Acked {
    uint64_t seq = 0;
    int64_t ack_ns = 0;
  };
  std::map<uint64_t, Acked> last;
  for (const auto& op : OpsFromEvents(log.events)) {
    if (op.outcome != OpOutcome::kOk || op.seq == 0) continue;
    Acked& a = last[op.key];
    if (op.seq > a.seq) a = Acked{op.seq, op.complete_ns};
  }
  std::map<uint64_t, const LoadOp*> read_of;
  for (const auto& op : reads) read_of[op.key] = &op;
  struct Lost {
    uint64_t key, seq;
    int64_t ack_ns;
    const LoadOp* read;
  };
  std::vector<Lost> lost;
  size_t unread = 0;
  for (const auto& [key, a] : last) {
    auto it = read_of.find(key);
    if (it == read_of.end()) {
      ++unread;
      continue;
    }
    if (it->second->found < a.seq) lost.push_back(Lost{key, a.seq, a.ack_ns, it->second});
  }
  const bool unique = rb.data.value("unique_keys", false);
  r.measured = std::to_string(lost.size()) + " lost of " + std::to_string(last.size()) +
               (unique ? " acknowledged writes (unique keys)" : " keys (last write of each)");
  if (last.empty()) return Fail(r, "no write was acknowledged: nothing to verify");
  if (unread > 0) {
    return Fail(r,
                std::to_string(unread) + " key(s) with an acknowledged write were not read back");
  }
  if (lost.empty()) return r;
  r.verdict = Verdict::kFail;
  std::sort(lost.begin(), lost.end(),
            [](const Lost& a, const Lost& b) { return a.ack_ns < b.ack_ns; });
  auto found = [](const LoadOp* read) {
    return read->found == 0 ? "NOT FOUND ('" + Printable(read->text) + "')"
                            : "seq " + std::to_string(read->found);
  };
  const Lost& first = lost.front();
  Evidence(r, "first lost: key k" + std::to_string(first.key) + " seq " +
                  std::to_string(first.seq) + " acknowledged at " + log.At(first.ack_ns) +
                  ", read back: " + found(first.read));
  Evidence(r, "lost writes were acknowledged between " + log.At(lost.front().ack_ns) + " and " +
                  log.At(lost.back().ack_ns));
  // Which faults came after them: the ones that took the writes.
  for (const auto& e : log.events) {
    if (e.type != events::kFaultInjected || e.ts_ns < first.ack_ns) continue;
    size_t before = 0;
    for (const Lost& l : lost) before += l.ack_ns <= e.ts_ns ? 1 : 0;
    Evidence(r, std::to_string(before) + " of the " + std::to_string(lost.size()) +
                    " lost were acknowledged before fault " + e.target + " at " + log.At(e.ts_ns));
  }
  for (size_t k = 1; k < lost.size() && k < 6; ++k) {
    Evidence(r, "lost: key k" + std::to_string(lost[k].key) + " seq " +
                    std::to_string(lost[k].seq) + " acknowledged at " + log.At(lost[k].ack_ns) +
                    ", read back: " + found(lost[k].read));
  }
  return r;
}

CheckResult NoLostWrites(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  r.threshold = "0 lost";
  const Event* rb = nullptr;
  for (const auto& e : log.events) {
    if (e.type == events::kReadbackResult) rb = &e;
  }
  if (rb == nullptr) return Fail(r, "no read-back was recorded (readback.result missing)");
  if (rb->data.contains("error") && rb->data["error"].is_string()) {
    return Fail(r, "the read-back failed: " + rb->data["error"].get<std::string>());
  }
  auto reads = OpsFromEvents(log.events, events::kReadbackOps);
  if (!reads.empty()) return LostFromHistory(r, log, *rb, reads);
  // A log without the request history: the read-back's own summary.
  const int64_t lost = I64(rb->data, "lost");
  const int64_t acked = I64(rb->data, "acked_writes");
  const int64_t keys = I64(rb->data, "keys");
  r.measured = std::to_string(lost) + " lost of " + std::to_string(keys) + " key(s) (" +
               std::to_string(acked) + " acknowledged writes)";
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

using events::LoadSecond;

std::vector<LoadSecond> LoadSeconds(const Log& log) { return events::LoadSeconds(log.events); }

bool Overlaps(const LoadSecond& s, const std::vector<FaultWindow>& windows) {
  for (const auto& w : windows) {
    if (s.start_ns < w.to_ns && s.end_ns > w.from_ns) return true;
  }
  return false;
}

// Evidence lines naming each fault window (the reader sees what was left out and why).
void WindowEvidence(CheckResult& r, const Log& log, const std::vector<FaultWindow>& windows,
                    int64_t grace) {
  for (const auto& w : windows) {
    if (w.never_back) {
      Evidence(r, "fault " + w.fault + " " + log.At(w.from_ns) + ": " + w.on + " went down at " +
                      log.At(w.down_ns) +
                      " and was never ready again: its window stays open to the end of the run");
    } else {
      Evidence(r, "fault " + w.fault + " window " + log.At(w.from_ns) + " .. " + log.At(w.to_ns) +
                      " (back " + log.At(w.back_ns) + ", +" + Dur(grace) + " grace)");
    }
  }
}

// Failed requests grouped by what went wrong, most frequent first:
// "412 replies 'bad' where 'OK' was expected (first +1.204s)".
void FailureGroups(CheckResult& r, const Log& log, const Scenario& s,
                   const std::vector<const LoadOp*>& failed) {
  struct Group {
    size_t count = 0;
    int64_t first = INT64_MAX;
  };
  std::map<std::pair<char, std::string>, Group> groups;
  for (const LoadOp* op : failed) {
    auto& g = groups[{static_cast<char>(op->outcome), op->text}];
    ++g.count;
    g.first = std::min(g.first, op->invoke_ns);
  }
  std::vector<std::pair<std::pair<char, std::string>, Group>> sorted(groups.begin(), groups.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second.count > b.second.count; });
  const std::string expected = s.load ? s.load->expect : std::string();
  for (const auto& [what, g] : sorted) {
    const auto& [outcome, text] = what;
    const std::string n = std::to_string(g.count);
    std::string line;
    switch (static_cast<OpOutcome>(outcome)) {
      case OpOutcome::kWrongReply:
        line = n + (g.count == 1 ? " reply '" : " replies '") + Printable(text) + "'" +
               (expected.empty() ? "" : " where /" + Printable(expected) + "/ was expected");
        break;
      case OpOutcome::kTimeout:
        line = n + " timed out (" + text + ")";
        break;
      case OpOutcome::kNotSent:
        line = n + " not sent (" + text + ")";
        break;
      case OpOutcome::kDropped:
        line = n + " lost with the connection (" + text + ")";
        break;
      default:
        line = n + " " + text;
    }
    Evidence(r, line + ", first sent at " + log.At(g.first));
  }
}

CheckResult Availability(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const double min = c.min.value_or(0.99);
  const int64_t window =
      std::max<int64_t>(c.window.value_or(std::chrono::seconds(1)).count(), 1000000000);
  r.threshold = ">= " + Pct(min) + " per " + Dur(window);
  std::map<int64_t, std::pair<int64_t, int64_t>> buckets;  // index -> (ok, sent)
  int64_t t0 = 0;
  const auto ops = OpsFromEvents(log.events);
  if (!ops.empty()) {
    // Each request in the window of its own send time.
    t0 = ops.front().invoke_ns;
    for (const auto& op : ops) {
      if (op.outcome == OpOutcome::kAbandoned) continue;
      auto& b = buckets[(op.invoke_ns - t0) / window];
      b.first += op.outcome == OpOutcome::kOk ? 1 : 0;
      b.second += 1;
    }
  } else {
    auto secs = LoadSeconds(log);
    if (secs.empty()) return Fail(r, "no load was recorded (no load.ops or load.second events)");
    t0 = secs.front().start_ns;
    for (const auto& sec : secs) {
      auto& b = buckets[(sec.start_ns - t0 + window / 2) / window];
      b.first += sec.ok;
      b.second += sec.sent;
    }
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

// The requests judged by error_rate and p99_latency: every finished request that was not in
// flight during a fault window (sent before one and answered in it, or sent in it).
struct Judged {
  std::vector<LoadOp> ops;             // the whole history
  std::vector<const LoadOp*> outside;  // not in flight during any window: judged
  size_t inside = 0;                   // in flight during a window: not judged
  std::vector<FaultWindow> windows;
};

Judged JudgeByWindows(const Log& log, int64_t grace) {
  Judged j;
  j.ops = OpsFromEvents(log.events);
  j.windows = FaultWindows(log.events, grace);
  for (const auto& op : j.ops) {
    if (op.outcome == OpOutcome::kAbandoned) continue;  // cut short by the run's own stop
    if (InFaultWindow(j.windows, op.invoke_ns, op.complete_ns)) {
      ++j.inside;
    } else {
      j.outside.push_back(&op);
    }
  }
  return j;
}

CheckResult ErrorRate(const CheckSpec& c, const Scenario& s, const Log& log) {
  CheckResult r = Base(c);
  const double max = c.max.value_or(0.01);
  const int64_t grace = c.grace.value_or(std::chrono::seconds(1)).count();
  r.threshold = "<= " + Pct(max) + " outside fault windows (+" + Dur(grace) + " grace)";
  Judged j = JudgeByWindows(log, grace);
  int64_t sent = 0;
  int64_t bad = 0;
  if (!j.ops.empty()) {
    std::vector<const LoadOp*> failed;
    for (const LoadOp* op : j.outside) {
      ++sent;
      if (op->outcome != OpOutcome::kOk) failed.push_back(op);
    }
    bad = static_cast<int64_t>(failed.size());
    FailureGroups(r, log, s, failed);
  } else {
    // A log without the request history: whole seconds that overlap no window.
    for (const auto& sec : LoadSeconds(log)) {
      if (Overlaps(sec, j.windows)) continue;
      sent += sec.sent;
      bad += sec.errors + sec.timeouts;
      if (sec.errors + sec.timeouts > 0) {
        Evidence(r, "second at " + log.At(sec.start_ns) + ": " + std::to_string(sec.errors) +
                        " errors, " + std::to_string(sec.timeouts) + " timeouts of " +
                        std::to_string(sec.sent));
      }
    }
  }
  WindowEvidence(r, log, j.windows, grace);
  if (sent == 0) return Fail(r, "no request was sent outside the fault windows");
  double rate = static_cast<double>(bad) / static_cast<double>(sent);
  r.measured = Pct(rate) + " (" + std::to_string(bad) + " of " + std::to_string(sent) + ")";
  if (!j.ops.empty()) r.measured += "; " + std::to_string(j.inside) + " in fault windows";
  if (rate > max) r.verdict = Verdict::kFail;
  return r;
}

CheckResult P99Latency(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const int64_t max = c.max_latency.value_or(std::chrono::milliseconds(50)).count();
  const int64_t grace = c.grace.value_or(std::chrono::seconds(1)).count();
  Judged j = JudgeByWindows(log, grace);
  if (j.ops.empty()) {
    // A log without the request history: every whole second that overlaps no window.
    r.threshold = "p99 <= " + Dur(max) + " in every steady second";
    int64_t worst = 0;
    int n = 0;
    for (const auto& sec : LoadSeconds(log)) {
      if (Overlaps(sec, j.windows) || sec.sent == 0) continue;
      ++n;
      worst = std::max(worst, sec.p99_us * 1000);
      if (sec.p99_us * 1000 > max) {
        r.verdict = Verdict::kFail;
        Evidence(r, "second at " + log.At(sec.start_ns) + ": p99 " + Dur(sec.p99_us * 1000));
      }
    }
    if (n == 0) return Fail(r, "no steady-state second of load was recorded");
    r.measured = "worst p99 " + Dur(worst) + " over " + std::to_string(n) + " second(s)";
    return r;
  }
  r.threshold = "p99 <= " + Dur(max) + " outside fault windows (+" + Dur(grace) + " grace)";
  // What the histogram holds: replies (right or wrong) and timeouts, never a request that
  // failed for want of a connection.
  std::vector<const LoadOp*> timed;
  for (const LoadOp* op : j.outside) {
    if (op->outcome == OpOutcome::kOk || op->outcome == OpOutcome::kWrongReply ||
        op->outcome == OpOutcome::kTimeout)
      timed.push_back(op);
  }
  if (timed.empty()) {
    WindowEvidence(r, log, j.windows, grace);
    return Fail(r, "no request was answered outside the fault windows");
  }
  auto latency = [](const LoadOp* op) { return op->complete_ns - op->invoke_ns; };
  std::vector<int64_t> lat;
  lat.reserve(timed.size());
  for (const LoadOp* op : timed) lat.push_back(latency(op));
  // Nearest rank: the smallest latency that at least 99% of the requests do not exceed.
  const size_t rank = (timed.size() * 99 + 99) / 100 - 1;
  std::nth_element(lat.begin(), lat.begin() + static_cast<ptrdiff_t>(rank), lat.end());
  const int64_t p99 = lat[rank];
  size_t slow = 0;
  const LoadOp* first_slow = nullptr;
  const LoadOp* slowest = nullptr;
  for (const LoadOp* op : timed) {
    if (latency(op) <= max) continue;
    ++slow;
    if (first_slow == nullptr) first_slow = op;
    if (slowest == nullptr || latency(op) > latency(slowest)) slowest = op;
  }
  r.measured = "p99 " + Dur(p99) + " of " + std::to_string(timed.size()) + "; " +
               std::to_string(j.inside) + " in fault windows";
  if (p99 > max) {
    r.verdict = Verdict::kFail;
    Evidence(r, std::to_string(slow) + " of " + std::to_string(timed.size()) +
                    " requests took longer than " + Dur(max) + "; the first was sent at " +
                    log.At(first_slow->invoke_ns) + " and took " + Dur(latency(first_slow)) +
                    ", the slowest (sent at " + log.At(slowest->invoke_ns) + ") " +
                    Dur(latency(slowest)));
    // Where the slow ones sit: per second of send time.
    std::map<int64_t, std::pair<size_t, size_t>> per_second;  // second -> (slow, all)
    for (const LoadOp* op : timed) {
      auto& b = per_second[(op->invoke_ns - log.start_ns) / 1'000'000'000];
      b.second += 1;
      if (latency(op) > max) b.first += 1;
    }
    for (const auto& [sec, b] : per_second) {
      if (b.first == 0) continue;
      Evidence(r, "second +" + std::to_string(sec) + "s: " + std::to_string(b.first) + " of " +
                      std::to_string(b.second) + " slower than " + Dur(max));
    }
  }
  WindowEvidence(r, log, j.windows, grace);
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
    if (e.type != events::kFaultHealed) continue;
    if (!c.target.empty()) {
      // Only faults on the check's target.
      bool on_target = false;
      for (size_t j = i; j-- > 0;) {
        const Event& p = log.events[j];
        if (p.type == events::kFaultInjected && p.target == e.target) {
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
      if (n.type == events::kSteadyState && n.data.value("ok", false) && n.ts_ns >= e.ts_ns) {
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
    if (e.type == events::kRunLeftovers) lo = &e;
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
    if (e.type == events::kTargetSpawned) {
      index[{e.target, I64(e.data, "pid")}] = out.size();
      out.push_back(Instance{e.target, I64(e.data, "pid"), e.ts_ns, -1, {}});
    } else if (e.type == events::kTargetReady) {
      auto it = index.find({e.target, I64(e.data, "pid")});
      if (it != index.end()) out[it->second].ready_ns = e.ts_ns;
    } else if (e.type == events::kTargetSample) {
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

CheckResult LogMatch(const CheckSpec& c, const Scenario& s, const Log& log, bool never) {
  CheckResult r = Base(c);
  r.threshold = std::string(never ? "no line matches /" : "some line matches /") + c.pattern + "/";
  // Validated when the scenario was read; an invalid pattern here (an edited event log's
  // scenario) matches nothing rather than throwing.
  const auto re = ReplyMatcher::Create(c.pattern);
  auto targets = TargetsOf(c, s);
  size_t lines = 0;
  size_t matches = 0;
  for (const auto& e : log.events) {
    if (e.type != events::kTargetLog || targets.count(e.target) == 0) continue;
    ++lines;
    std::string line = Str(e.data, "line");
    if (re.ok() && re->Search(line)) {
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
    if (e.type != events::kProbeResult || Str(e.data, "name") != c.name) continue;
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

// For a fault whose injector cannot observe its own firing (syscall and disk faults through
// libfiu): what the target did while it was on, or "" when nothing was seen.
std::string Reaction(const Log& log, const Event& healed) {
  const Event* injected = nullptr;
  for (const auto& e : log.events) {
    if (&e == &healed) break;
    if (e.type == events::kFaultInjected && e.target == healed.target) injected = &e;
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
      if (e.type == events::kTargetExited && e.target == on && e.ts_ns >= from && e.ts_ns <= to &&
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
    if (e.type == events::kTargetExited && e.target == on && e.ts_ns >= from && e.ts_ns <= to) {
      return "the target reacted: it " + ExitText(e) + " " + Dur(e.ts_ns - from) +
             " after the injection";
    }
  }
  int64_t failed = 0;
  for (const auto& sec : LoadSeconds(log)) {
    if (sec.start_ns < to && sec.end_ns > from) failed += sec.errors + sec.timeouts;
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
    if (e.type == events::kFaultError) {
      ++n;
      ++missed;
      r.verdict = Verdict::kFail;
      Evidence(
          r, log.At(e.ts_ns) + " " + e.target + " could not be injected: " + Str(e.data, "error"));
    }
    if (e.type != events::kFaultHealed) continue;
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

// Readers of the check parameters, one per value type, writing one CheckSpec member.
template <auto kMember>
void DurationParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.*kMember = r.Duration(p.key, p.required);
}

template <auto kMember>
void FractionParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.*kMember = r.Double(p.key, 0, 1, p.required);
}

template <auto kMember>
void BytesParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.*kMember = r.ByteSize(p.key, p.required);
}

void GrowthParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.max_growth = r.Int(p.key, 0, 1 << 20, p.required);
}

// The pattern is a regular expression; the scenario reader checks that it compiles.
void PatternParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.pattern = r.String(p.key, p.required).value_or("");
}

void CommandParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.command = r.StringArray(p.key, p.required).value_or(std::vector<std::string>{});
}

// Exit codes (0) and signal names ("SIGKILL", "TERM"), kept as "0" and "SIGKILL".
void ExitsParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  const toml::node* n = r.Raw(p.key);
  if (n == nullptr) {
    if (p.required) {
      r.Fail("kind", "missing required key 'allowed' in " + r.where() +
                         " (add allowed = [0, \"SIGTERM\"])");
    }
    return;
  }
  if (!n->is_array()) {
    r.Fail(p.key, "'allowed' in " + r.where() + " must be an array such as [0, \"SIGKILL\"]");
    return;
  }
  for (const auto& item : *n->as_array()) {
    if (item.is_integer()) {
      c.allowed.push_back(std::to_string(item.as_integer()->get()));
    } else if (item.is_string() && framework::ParseSignal(*item.value<std::string>()) != 0) {
      c.allowed.push_back(
          framework::SignalName(framework::ParseSignal(*item.value<std::string>())));
    } else {
      r.Fail(p.key, "every element of 'allowed' in " + r.where() +
                        " must be an exit code (0) or a signal name (\"SIGKILL\")");
      break;
    }
  }
}

}  // namespace

const std::vector<CheckKind>& CheckKinds() {
  using C = CheckSpec;
  static const std::vector<CheckKind> kKinds = {
      {"restart_within",
       "every crash of the target is followed by a restart within `within`",
       {{"within", true, DurationParam<&C::within>}},
       [](const C& c, const Scenario& s, const Events& e) { return RestartWithin(c, s, Log(e)); }},
      {"backoff_policy",
       "each restart delay lies within the backoff policy's bounds (jitter included) and the "
       "restart happened that long after the exit, within `tolerance`",
       {{"tolerance", false, DurationParam<&C::tolerance>}},
       [](const C& c, const Scenario& s, const Events& e) { return BackoffPolicy(c, s, Log(e)); }},
      {"no_lost_writes",
       "every acknowledged write is read back after recovery",
       {},
       [](const C& c, const Scenario&, const Events& e) { return NoLostWrites(c, Log(e)); }},
      {"availability",
       "the share of successful requests is >= `min` in every `window`",
       {{"min", true, FractionParam<&C::min>}, {"window", false, DurationParam<&C::window>}},
       [](const C& c, const Scenario&, const Events& e) { return Availability(c, Log(e)); }},
      {"error_rate",
       "the error share is <= `max` outside fault windows (plus `grace` after heal)",
       {{"max", true, FractionParam<&C::max>}, {"grace", false, DurationParam<&C::grace>}},
       [](const C& c, const Scenario& s, const Events& e) { return ErrorRate(c, s, Log(e)); }},
      {"p99_latency",
       "p99 latency <= `max` in steady state (outside fault windows plus `grace`)",
       {{"max", true, DurationParam<&C::max_latency>}, {"grace", false, DurationParam<&C::grace>}},
       [](const C& c, const Scenario&, const Events& e) { return P99Latency(c, Log(e)); }},
      {"recovers_within",
       "the steady-state probes pass again within `within` after each heal",
       {{"within", true, DurationParam<&C::within>}},
       [](const C& c, const Scenario&, const Events& e) { return RecoversWithin(c, Log(e)); }},
      {"no_orphans",
       "no process of the run (target or its children) survives the run",
       {},
       [](const C& c, const Scenario&, const Events& e) { return NoOrphans(c, Log(e)); }},
      {"max_rss",
       "the target's resident memory stays <= `max`",
       {{"max", true, BytesParam<&C::max_bytes>}},
       [](const C& c, const Scenario& s, const Events& e) { return MaxRss(c, s, Log(e)); }},
      {"fd_growth",
       "the target's open fd count does not grow by more than `max_growth` across restarts",
       {{"max_growth", false, GrowthParam}},
       [](const C& c, const Scenario& s, const Events& e) { return FdGrowth(c, s, Log(e)); }},
      {"memory_locked",
       "after each (re)start the target has >= `min` bytes locked (VmLck)",
       {{"min", false, BytesParam<&C::min_bytes>}},
       [](const C& c, const Scenario& s, const Events& e) { return MemoryLocked(c, s, Log(e)); }},
      {"exit_codes",
       "every exit of the target is in `allowed` (codes or signal names)",
       {{"allowed", true, ExitsParam}},
       [](const C& c, const Scenario& s, const Events& e) { return ExitCodes(c, s, Log(e)); }},
      {"log_matches",
       "some output line of the target matches `pattern`",
       {{"pattern", true, PatternParam}},
       [](const C& c, const Scenario& s, const Events& e) {
         return LogMatch(c, s, Log(e), /*never=*/false);
       }},
      {"log_never_matches",
       "no output line of the target matches `pattern`",
       {{"pattern", true, PatternParam}},
       [](const C& c, const Scenario& s, const Events& e) {
         return LogMatch(c, s, Log(e), /*never=*/true);
       }},
      {"command_probe",
       "`command` exits 0 after the run (before the targets stop)",
       {{"command", true, CommandParam}},
       [](const C& c, const Scenario&, const Events& e) { return CommandProbe(c, Log(e)); }},
      {"gives_up",
       "the supervisor gives up on the target (start limit) within `within` of its first start",
       {{"within", true, DurationParam<&C::within>}},
       [](const C& c, const Scenario& s, const Events& e) { return GivesUp(c, s, Log(e)); }},
  };
  return kKinds;
}

const CheckKind* FindCheckKind(std::string_view name) {
  for (const CheckKind& k : CheckKinds()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::vector<FaultWindow> FaultWindows(const Events& events, int64_t grace) {
  constexpr int64_t kOpen = INT64_MAX;
  Log log(events);
  // Each target's down intervals: an exit (before the run's own stop) to its next readiness.
  struct Down {
    int64_t from, to;  // to = kOpen: never back
  };
  std::map<std::string, std::vector<Down>> downs;
  std::set<std::string> reports_ready;
  for (const auto& e : events) {
    if (e.type == events::kTargetReady) reports_ready.insert(e.target);
  }
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (!IsCrash(log, e)) continue;
    const char* back_type =
        reports_ready.count(e.target) ? events::kTargetReady : events::kTargetSpawned;
    int64_t to = kOpen;
    for (size_t j = i + 1; j < events.size(); ++j) {
      if (events[j].target == e.target && events[j].type == back_type) {
        to = events[j].ts_ns;
        break;
      }
    }
    downs[e.target].push_back(Down{e.ts_ns, to});
  }
  std::vector<FaultWindow> out;
  const std::vector<events::FaultSpan> spans = events::FaultSpans(events);
  for (size_t i = 0; i < spans.size(); ++i) {
    const events::FaultSpan& span = spans[i];
    FaultWindow w;
    w.fault = span.fault;
    w.on = span.on;
    w.from_ns = span.injected_ns;
    w.back_ns = std::max(span.injected_ns, span.healed_ns.value_or(span.injected_ns));
    // An exit from the next fault on the same target on is that fault's (back-to-back faults
    // each end when the target is back from their own effect).
    int64_t next_fault = kOpen;
    for (size_t j = i + 1; j < spans.size(); ++j) {
      if (spans[j].fault == span.fault || (!w.on.empty() && spans[j].on == w.on)) {
        next_fault = spans[j].injected_ns;
        break;
      }
    }
    // The target went down while the fault acted (or within the grace after): the window
    // lasts until it is back. Intervals are in time order, so one pass extends it fully.
    for (const auto& [target, list] : downs) {
      if (!w.on.empty() && target != w.on) continue;
      for (const Down& d : list) {
        if (d.from < w.from_ns || d.from > w.back_ns + grace || d.from >= next_fault) continue;
        if (d.to == kOpen) {
          w.never_back = true;
          w.down_ns = d.from;
          if (w.on.empty()) w.on = target;
        }
        w.back_ns = std::max(w.back_ns, d.to == kOpen ? w.back_ns : d.to);
      }
    }
    w.to_ns = w.never_back ? kOpen : w.back_ns + grace;
    out.push_back(std::move(w));
  }
  return out;
}

bool InFaultWindow(const std::vector<FaultWindow>& windows, int64_t ts) {
  return InFaultWindow(windows, ts, ts);
}

bool InFaultWindow(const std::vector<FaultWindow>& windows, int64_t invoke_ns,
                   int64_t complete_ns) {
  for (const auto& w : windows) {
    if (invoke_ns < w.to_ns && complete_ns >= w.from_ns) return true;
  }
  return false;
}

CheckResult EvaluateCheck(const CheckSpec& c, const Scenario& s, const Events& events) {
  const int64_t t0 = framework::MonotonicNs();
  CheckResult r;
  if (const CheckKind* kind = FindCheckKind(c.kind)) {
    r = kind->evaluate(c, s, events);
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
