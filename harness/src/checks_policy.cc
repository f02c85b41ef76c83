// Checks of resilience under overload and failing dependencies: the latency of every reply
// (fault windows included: a daemon that waits on a dead dependency shows here), the latency
// of the admitted (successful) requests alone, and goodput, the successful replies a second.
#include <algorithm>
#include <cstdio>
#include <map>

#include "checks_internal.h"
#include "duende/harness/load_history.h"

namespace duende::harness::check_internal {
namespace {

// The requests whose latency is known: replies (right or wrong) and timeouts, in invoke order;
// `ok_only` keeps the successful ones.
std::vector<LoadOp> Timed(const Log& log, bool ok_only) {
  std::vector<LoadOp> out;
  for (LoadOp& op : OpsFromEvents(log.events)) {
    const bool timed = op.outcome == OpOutcome::kOk || op.outcome == OpOutcome::kWrongReply ||
                       op.outcome == OpOutcome::kTimeout;
    if (timed && (!ok_only || op.outcome == OpOutcome::kOk)) out.push_back(std::move(op));
  }
  return out;
}

int64_t Latency(const LoadOp& op) { return op.complete_ns - op.invoke_ns; }

// Nearest rank: the smallest latency that at least 99% of `ops` do not exceed.
int64_t P99(const std::vector<LoadOp>& ops) {
  std::vector<int64_t> lat;
  lat.reserve(ops.size());
  for (const LoadOp& op : ops) lat.push_back(Latency(op));
  const size_t rank = (lat.size() * 99 + 99) / 100 - 1;
  std::nth_element(lat.begin(), lat.begin() + static_cast<ptrdiff_t>(rank), lat.end());
  return lat[rank];
}

CheckResult JudgeP99(CheckResult r, const Log& log, const std::vector<LoadOp>& ops, int64_t max,
                     const std::string& what) {
  const int64_t p99 = P99(ops);
  r.measured = "p99 " + Dur(p99) + " of " + std::to_string(ops.size()) + " " + what;
  if (p99 <= max) return r;
  r.verdict = Verdict::kFail;
  // Where the slow ones sit: per second of send time, and what they were answered.
  std::map<int64_t, std::pair<size_t, size_t>> per_second;  // second -> (slow, all)
  std::map<std::string, size_t> answers;
  size_t slow = 0;
  for (const LoadOp& op : ops) {
    auto& b = per_second[(op.invoke_ns - log.start_ns) / 1'000'000'000];
    ++b.second;
    if (Latency(op) <= max) continue;
    ++b.first;
    ++slow;
    answers[op.outcome == OpOutcome::kOk        ? std::string("success")
            : op.outcome == OpOutcome::kTimeout ? "no reply (" + op.text + ")"
                                                : "'" + Printable(op.text) + "'"] += 1;
  }
  Evidence(r, std::to_string(slow) + " of " + std::to_string(ops.size()) + " " + what +
                  " took longer than " + Dur(max));
  for (const auto& [answer, n] : answers) {
    Evidence(r, std::to_string(n) + " slow: " + answer);
  }
  for (const auto& [sec, b] : per_second) {
    if (b.first == 0) continue;
    Evidence(r, "second +" + std::to_string(sec) + "s: " + std::to_string(b.first) + " of " +
                    std::to_string(b.second) + " slower than " + Dur(max));
  }
  return r;
}

}  // namespace

CheckResult ReplyLatency(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const int64_t max = c.max_latency.value_or(std::chrono::milliseconds(100)).count();
  r.threshold = "p99 <= " + Dur(max) + " over every reply and timeout, fault windows included";
  const std::vector<LoadOp> ops = Timed(log, /*ok_only=*/false);
  if (ops.empty()) return Fail(r, "no request was answered or timed out: nothing to measure");
  return JudgeP99(r, log, ops, max, "replies");
}

CheckResult AdmittedLatency(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const int64_t max = c.max_latency.value_or(std::chrono::milliseconds(100)).count();
  r.threshold = "p99 <= " + Dur(max) + " over the successful requests";
  const std::vector<LoadOp> ops = Timed(log, /*ok_only=*/true);
  if (ops.empty()) return Fail(r, "no request succeeded: nothing was admitted");
  return JudgeP99(r, log, ops, max, "successful requests");
}

CheckResult Goodput(const CheckSpec& c, const Log& log) {
  CheckResult r = Base(c);
  const double min = c.min_rate.value_or(0);
  char buf[96];
  std::snprintf(buf, sizeof buf, ">= %.0f successful replies/s", min);
  r.threshold = buf;
  const std::vector<LoadOp> ops = OpsFromEvents(log.events);
  if (ops.empty()) return Fail(r, "no load was recorded (no load.ops events)");
  // The span of send times: from the first request due to the last.
  const int64_t from = ops.front().invoke_ns;
  const int64_t to = std::max(ops.back().invoke_ns, from + 1);
  std::map<int64_t, std::pair<size_t, size_t>> per_second;  // second -> (ok, sent)
  size_t ok = 0;
  size_t sent = 0;
  for (const LoadOp& op : ops) {
    if (op.outcome == OpOutcome::kAbandoned) continue;
    ++sent;
    auto& b = per_second[(op.invoke_ns - from) / 1'000'000'000];
    ++b.second;
    if (op.outcome != OpOutcome::kOk) continue;
    ++ok;
    ++b.first;
  }
  const double seconds = static_cast<double>(to - from) / 1e9;
  const double rate = static_cast<double>(ok) / seconds;
  std::snprintf(buf, sizeof buf, "%.0f successful replies/s (%zu of %zu over %.2fs)", rate, ok,
                sent, seconds);
  r.measured = buf;
  if (rate >= min) return r;
  r.verdict = Verdict::kFail;
  for (const auto& [sec, b] : per_second) {
    Evidence(r, "second +" + std::to_string(sec) + "s of the load: " + std::to_string(b.first) +
                    " successful of " + std::to_string(b.second) + " sent");
  }
  return r;
}

}  // namespace duende::harness::check_internal
