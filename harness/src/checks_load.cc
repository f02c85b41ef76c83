// Load checks: lost writes, availability, error rate and p99 latency judged request by request
// outside the fault windows, and recovery of the steady-state probes after each heal.
#include <algorithm>
#include <map>

#include "checks_internal.h"
#include "duende/harness/load_history.h"

namespace duende::harness::check_internal {

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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

namespace {

// The requests judged by error_rate and p99_latency: every finished request that was not in
// flight during a fault window (sent before one and answered in it, or sent in it), nor during
// a stall of the load generator itself (its thread ran late: what such a request measured is
// the machine's scheduling of duende, not the target).
struct Judged {
  std::vector<LoadOp> ops;             // the whole history
  std::vector<const LoadOp*> outside;  // not in flight during any window or stall: judged
  size_t inside = 0;                   // in flight during a window: not judged
  size_t in_stall = 0;                 // in flight during a load-generator stall: not judged
  std::vector<FaultWindow> windows;
  std::vector<events::LoadStall> stalls;
};

Judged JudgeByWindows(const Log& log, int64_t grace) {
  Judged j;
  j.ops = OpsFromEvents(log.events);
  j.windows = FaultWindows(log.events, grace);
  j.stalls = events::LoadStalls(log.events);
  for (const auto& op : j.ops) {
    if (op.outcome == OpOutcome::kAbandoned) continue;  // cut short by the run's own stop
    if (InFaultWindow(j.windows, op.invoke_ns, op.complete_ns)) {
      ++j.inside;
    } else if (std::any_of(j.stalls.begin(), j.stalls.end(), [&](const events::LoadStall& st) {
                 return op.invoke_ns <= st.end_ns && op.complete_ns >= st.start_ns;
               })) {
      ++j.in_stall;
    } else {
      j.outside.push_back(&op);
    }
  }
  return j;
}

// What was not judged: the fault windows, and the load generator's own stalls.
void NotJudgedEvidence(CheckResult& r, const Log& log, const Judged& j, int64_t grace) {
  WindowEvidence(r, log, j.windows, grace);
  for (const auto& st : j.stalls) {
    Evidence(r, "the load generator itself stalled " + Dur(st.end_ns - st.start_ns) + " at " +
                    log.At(st.start_ns) +
                    " (its thread ran late: the machine did not schedule it); requests in "
                    "flight then are not judged");
  }
}

// "; 193 in fault windows[; 12 during load-generator stalls]"
std::string NotJudgedCounts(const Judged& j) {
  std::string out = "; " + std::to_string(j.inside) + " in fault windows";
  if (j.in_stall > 0) out += "; " + std::to_string(j.in_stall) + " during load-generator stalls";
  return out;
}

}  // namespace

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
  NotJudgedEvidence(r, log, j, grace);
  if (sent == 0) return Fail(r, "no request was sent outside the fault windows");
  double rate = static_cast<double>(bad) / static_cast<double>(sent);
  r.measured = Pct(rate) + " (" + std::to_string(bad) + " of " + std::to_string(sent) + ")";
  if (!j.ops.empty()) r.measured += NotJudgedCounts(j);
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
    NotJudgedEvidence(r, log, j, grace);
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
  r.measured = "p99 " + Dur(p99) + " of " + std::to_string(timed.size()) + NotJudgedCounts(j);
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
  NotJudgedEvidence(r, log, j, grace);
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

}  // namespace duende::harness::check_internal
