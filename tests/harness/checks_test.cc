// Checks over hand-built event logs: each invariant passes on a healthy history and fails,
// with evidence, on the broken one.
#include "duende/harness/checks.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <functional>

#include "duende/harness/load_history.h"

namespace duende::harness {
namespace {

using model::Event;
using model::Verdict;
constexpr int64_t kMs = 1000000;

class LogBuilder {
 public:
  LogBuilder& Add(int64_t ms, std::string type, std::string target, nlohmann::json data = {}) {
    events_.push_back(Event{ms * kMs, std::move(type), std::move(target),
                            data.is_null() ? nlohmann::json::object() : data});
    return *this;
  }
  std::vector<Event> events() const { return events_; }

 private:
  std::vector<Event> events_;
};

Scenario OneTarget(const std::string& checks_toml) {
  std::string text = R"([scenario]
name = "t"
duration = "10s"
[[target]]
name = "kvd"
command = ["kvd"]
[target.restart.backoff]
initial = "100ms"
multiplier = 2.0
max = "1s"
jitter = "none"
[load]
[load.readback]
request = "GET {key}"
expect = "VALUE {seq}"
)" + checks_toml;
  auto s = ParseScenario(text, "t.toml");
  EXPECT_TRUE(s.ok()) << s.error().Message();
  return s.ok() ? s.value() : Scenario{};
}

model::CheckResult Check(const Scenario& s, const std::vector<Event>& events) {
  EXPECT_FALSE(s.checks.empty());
  return EvaluateCheck(s.checks.at(0), s, events);
}

std::string Joined(const model::CheckResult& r) {
  std::string out = r.measured + " | " + r.threshold;
  for (const auto& e : r.evidence) out += "\n  " + e;
  return out;
}

TEST(ChecksTest, RestartWithin) {
  auto s = OneTarget("[[check]]\nkind = \"restart_within\"\nwithin = \"500ms\"\n");
  LogBuilder ok;
  ok.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 10}})
      .Add(20, "target.ready", "kvd", {{"pid", 10}})
      .Add(1000, "target.exited", "kvd", {{"pid", 10}, {"signal", 9}})
      .Add(1010, "target.spawned", "kvd", {{"pid", 11}})
      .Add(1100, "target.ready", "kvd", {{"pid", 11}});
  auto r = Check(s, ok.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(r.measured.find("100"), std::string::npos) << r.measured;

  LogBuilder slow = ok;
  slow.Add(2000, "target.exited", "kvd", {{"pid", 11}, {"signal", 9}})
      .Add(2010, "target.spawned", "kvd", {{"pid", 12}})
      .Add(2700, "target.ready", "kvd", {{"pid", 12}});
  r = Check(s, slow.events());
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("too slow"), std::string::npos) << Joined(r);

  LogBuilder never = ok;
  never.Add(3000, "target.exited", "kvd", {{"pid", 11}, {"code", 1}})
      .Add(3001, "target.gave_up", "kvd", {{"reason", "start limit"}});
  r = Check(s, never.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("not restarted (gave up: start limit)"), std::string::npos) << Joined(r);

  // Exits during the run's own stop are not crashes; no crash at all is a failure.
  LogBuilder stop;
  stop.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 10}})
      .Add(500, "run.phase", "", {{"phase", "stopping"}})
      .Add(510, "target.exited", "kvd", {{"pid", 10}, {"code", 0}});
  r = Check(s, stop.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("no crash"), std::string::npos);
}

// "not restarted" once stood next to "ready again after 11.6ms" when one exit (nginx's
// daemonizing parent, exit 0) was not restarted and the kill's was.
TEST(ChecksTest, RestartWithinCountsRestartsAndNonRestartsApart) {
  auto s = OneTarget("[[check]]\nkind = \"restart_within\"\nwithin = \"500ms\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 10}})
      .Add(20, "target.ready", "kvd", {{"pid", 10}})
      .Add(1000, "target.exited", "kvd", {{"pid", 10}, {"signal", 9}})
      .Add(1005, "target.spawned", "kvd", {{"pid", 11}})
      .Add(1012, "target.ready", "kvd", {{"pid", 11}})
      .Add(2000, "target.exited", "kvd", {{"pid", 11}, {"code", 0}})
      .Add(4000, "run.phase", "", {{"phase", "stopping"}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_EQ(r.measured, "slowest 12.0ms over 1 restart(s); 1 of 2 crash(es) not restarted");

  // A kill 100 ms before the run's stop: the restart was not due yet; nothing to judge.
  LogBuilder late;
  late.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 10}})
      .Add(20, "target.ready", "kvd", {{"pid", 10}})
      .Add(1000, "target.exited", "kvd", {{"pid", 10}, {"signal", 9}})
      .Add(1005, "target.spawned", "kvd", {{"pid", 11}})
      .Add(1012, "target.ready", "kvd", {{"pid", 11}})
      .Add(3900, "target.exited", "kvd", {{"pid", 11}, {"signal", 9}})
      .Add(4000, "run.phase", "", {{"phase", "stopping"}});
  r = Check(s, late.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "slowest 12.0ms over 1 restart(s); 1 cut short by the run's stop");
  EXPECT_NE(Joined(r).find("before it was back (not judged)"), std::string::npos) << Joined(r);
}

TEST(ChecksTest, BackoffPolicyNoJitter) {
  auto s = OneTarget("[[check]]\nkind = \"backoff_policy\"\ntolerance = \"20ms\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1, "target.spawned", "kvd", {{"pid", 1}})
      .Add(100, "target.exited", "kvd", {{"pid", 1}, {"code", 1}})
      .Add(100, "target.restart_scheduled", "kvd", {{"delay_ns", 100 * kMs}})
      .Add(201, "target.spawned", "kvd", {{"pid", 2}})
      .Add(202, "target.exited", "kvd", {{"pid", 2}, {"code", 1}})
      .Add(202, "target.restart_scheduled", "kvd", {{"delay_ns", 200 * kMs}})
      .Add(403, "target.spawned", "kvd", {{"pid", 3}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);

  LogBuilder wrong_delay = b;
  wrong_delay.Add(404, "target.exited", "kvd", {{"pid", 3}, {"code", 1}})
      .Add(404, "target.restart_scheduled", "kvd", {{"delay_ns", 100 * kMs}})  // must be 400
      .Add(505, "target.spawned", "kvd", {{"pid", 4}});
  r = Check(s, wrong_delay.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("outside the policy"), std::string::npos) << Joined(r);

  LogBuilder late_timer = b;
  late_timer.Add(404, "target.exited", "kvd", {{"pid", 3}, {"code", 1}})
      .Add(404, "target.restart_scheduled", "kvd", {{"delay_ns", 400 * kMs}})
      .Add(904, "target.spawned", "kvd", {{"pid", 4}});  // 100 ms late
  r = Check(s, late_timer.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("timer off by"), std::string::npos) << Joined(r);
}

TEST(ChecksTest, NoLostWrites) {
  auto s = OneTarget("[[check]]\nkind = \"no_lost_writes\"\n");
  LogBuilder ok;
  ok.Add(0, "run.started", "")
      .Add(100, "readback.result", "", {{"keys", 64}, {"acked_writes", 900}, {"lost", 0}});
  EXPECT_EQ(Check(s, ok.events()).verdict, Verdict::kPass);
  LogBuilder lost;
  lost.Add(0, "run.started", "")
      .Add(100, "readback.result", "",
           {{"keys", 64},
            {"acked_writes", 900},
            {"lost", 2},
            {"lost_examples",
             {{{"key", "k7"}, {"acked", 811}, {"found", "VALUE 790"}},
              {{"key", "k9"}, {"acked", 812}, {"found", nullptr}}}}});
  auto r = Check(s, lost.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "2 lost of 64 key(s) (900 acknowledged writes)");
  EXPECT_NE(Joined(r).find("key \"k7\": acknowledged 811, read back \"VALUE 790\""),
            std::string::npos)
      << Joined(r);
  EXPECT_EQ(Check(s, LogBuilder().Add(0, "run.started", "").events()).verdict, Verdict::kFail);
  LogBuilder none;
  none.Add(0, "run.started", "").Add(1, "readback.result", "", {{"acked_writes", 0}, {"lost", 0}});
  EXPECT_EQ(Check(s, none.events()).verdict, Verdict::kFail);
}

LogBuilder LoadLog(int seconds, int bad_second, int bad_errors, int64_t bad_p99_us = 900) {
  LogBuilder b;
  b.Add(0, "run.started", "");
  for (int i = 0; i < seconds; ++i) {
    bool bad = i == bad_second;
    b.Add((i + 1) * 1000, "load.second", "load",
          {{"second", i},
           {"start_ns", i * 1000 * kMs},
           {"sent", 100},
           {"ok", bad ? 100 - bad_errors : 100},
           {"errors", bad ? bad_errors : 0},
           {"timeouts", 0},
           {"p99_us", bad ? bad_p99_us : 900}});
  }
  return b;
}

TEST(ChecksTest, AvailabilityPerWindow) {
  auto s = OneTarget("[[check]]\nkind = \"availability\"\nmin = 0.95\nwindow = \"1s\"\n");
  EXPECT_EQ(Check(s, LoadLog(5, 2, 4).events()).verdict, Verdict::kPass);
  auto r = Check(s, LoadLog(5, 2, 30).events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("70 ok of 100 = 70.00%"), std::string::npos) << Joined(r);
  // A 2 s window averages the bad second with a good one: 85%.
  auto s2 = OneTarget("[[check]]\nkind = \"availability\"\nmin = 0.8\nwindow = \"2s\"\n");
  EXPECT_EQ(Check(s2, LoadLog(6, 2, 30).events()).verdict, Verdict::kPass);
}

TEST(ChecksTest, ErrorRateIgnoresFaultWindows) {
  auto s = OneTarget("[[check]]\nkind = \"error_rate\"\nmax = 0.01\ngrace = \"500ms\"\n");
  LogBuilder b = LoadLog(6, 2, 50);
  EXPECT_EQ(Check(s, b.events()).verdict, Verdict::kFail);
  // The bad second lies in a fault window: kill at 2.1 s, ready again at 2.4 s.
  b.Add(2100, "fault.injected", "kill", {{"on", "kvd"}})
      .Add(2100, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(2100, "fault.healed", "kill", {{"took_effect", true}})
      .Add(2400, "target.ready", "kvd", {{"pid", 2}});
  auto events = b.events();
  std::sort(events.begin(), events.end(),
            [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
  auto r = Check(s, events);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
}

TEST(ChecksTest, P99InSteadyState) {
  auto s = OneTarget("[[check]]\nkind = \"p99_latency\"\nmax = \"5ms\"\n");
  EXPECT_EQ(Check(s, LoadLog(4, 1, 0, 4000).events()).verdict, Verdict::kPass);
  auto r = Check(s, LoadLog(4, 1, 0, 9000).events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(r.measured.find("worst p99 9"), std::string::npos) << r.measured;
}

// --- Fault windows: requests are judged by their own send time.

std::vector<Event> Sorted(std::vector<Event> events) {
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
  return events;
}

// A kill of `target` at `at_ms`: injected, exited, healed, spawned and ready after `back_ms`.
void Kill(LogBuilder& b, const std::string& fault, const std::string& target, int64_t at_ms,
          int64_t back_ms, int pid) {
  b.Add(at_ms, "fault.injected", fault, {{"on", target}, {"kind", "kill"}})
      .Add(at_ms, "target.exited", target, {{"pid", pid}, {"signal", 9}})
      .Add(at_ms, "fault.healed", fault, {{"took_effect", true}})
      .Add(at_ms + back_ms / 2, "target.spawned", target, {{"pid", pid + 1}})
      .Add(at_ms + back_ms, "target.ready", target, {{"pid", pid + 1}});
}

TEST(FaultWindowsTest, FaultAtAnExactSecondCoversItsOwnInstantNotTheEnd) {
  LogBuilder b;
  b.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(b, "kill", "kvd", 2000, 50, 1);
  auto w = FaultWindows(Sorted(b.events()), 300 * kMs);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].from_ns, 2000 * kMs);
  EXPECT_EQ(w[0].back_ns, 2050 * kMs);
  EXPECT_EQ(w[0].to_ns, 2350 * kMs);
  EXPECT_FALSE(w[0].never_back);
  EXPECT_FALSE(InFaultWindow(w, 2000 * kMs - 1));
  EXPECT_TRUE(InFaultWindow(w, 2000 * kMs));
  EXPECT_TRUE(InFaultWindow(w, 2350 * kMs - 1));
  EXPECT_FALSE(InFaultWindow(w, 2350 * kMs));
  // A request sent before the kill and still in flight when it came is the fault's too.
  EXPECT_TRUE(InFaultWindow(w, 1990 * kMs, 2000 * kMs));
  EXPECT_FALSE(InFaultWindow(w, 1990 * kMs, 2000 * kMs - 1));
  EXPECT_TRUE(InFaultWindow(w, 2349 * kMs, 2400 * kMs));
}

TEST(FaultWindowsTest, BackToBackFaultsEachEndWhenTheTargetIsBack) {
  LogBuilder b;
  b.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(b, "kill", "kvd", 1000, 100, 1);
  Kill(b, "kill", "kvd", 1100, 100, 2);  // injected the instant the first restart was ready
  auto w = FaultWindows(Sorted(b.events()), 0);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].to_ns, 1100 * kMs);
  EXPECT_EQ(w[1].from_ns, 1100 * kMs);
  EXPECT_EQ(w[1].to_ns, 1200 * kMs);
  EXPECT_TRUE(InFaultWindow(w, 1100 * kMs));
  EXPECT_FALSE(InFaultWindow(w, 1200 * kMs));
}

TEST(FaultWindowsTest, OverlappingFaultsOnTwoTargetsStayApart) {
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(5, "target.ready", "a", {{"pid", 1}})
      .Add(5, "target.ready", "b", {{"pid", 10}});
  Kill(b, "kill-a", "a", 1000, 500, 1);
  b.Add(1200, "fault.injected", "delay-b", {{"on", "b"}, {"kind", "latency"}})
      .Add(1300, "fault.healed", "delay-b", {{"took_effect", true}});
  auto w = FaultWindows(Sorted(b.events()), 100 * kMs);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].fault, "kill-a");
  EXPECT_EQ(w[0].to_ns, 1600 * kMs);  // a ready at 1500 + grace
  EXPECT_EQ(w[1].fault, "delay-b");
  EXPECT_EQ(w[1].to_ns, 1400 * kMs);  // a's exit does not stretch b's window
  EXPECT_TRUE(InFaultWindow(w, 1550 * kMs));
  EXPECT_FALSE(InFaultWindow(w, 1600 * kMs));
}

TEST(FaultWindowsTest, TargetThatNeverComesBackKeepsItsWindowOpen) {
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(5, "target.ready", "kvd", {{"pid", 1}})
      .Add(1000, "fault.injected", "kill", {{"on", "kvd"}})
      .Add(1001, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(1001, "fault.healed", "kill", {{"took_effect", true}})
      .Add(1002, "target.gave_up", "kvd", {{"reason", "start limit"}})
      .Add(4000, "run.phase", "", {{"phase", "stopping"}});
  auto w = FaultWindows(b.events(), 300 * kMs);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].never_back);
  EXPECT_EQ(w[0].down_ns, 1001 * kMs);
  EXPECT_EQ(w[0].to_ns, INT64_MAX);
  EXPECT_TRUE(InFaultWindow(w, 3999 * kMs));
}

TEST(FaultWindowsTest, EndOfRunStopIsNotAFault) {
  LogBuilder b;
  b.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(b, "kill", "kvd", 1000, 50, 1);
  b.Add(4000, "run.phase", "", {{"phase", "stopping"}})
      .Add(4001, "target.exited", "kvd", {{"pid", 2}, {"code", 0}})
      .Add(4001, "target.stopped", "kvd", {{"pid", 2}});
  auto w = FaultWindows(Sorted(b.events()), 300 * kMs);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_FALSE(w[0].never_back);
  EXPECT_EQ(w[0].to_ns, 1350 * kMs);
  EXPECT_FALSE(InFaultWindow(w, 2000 * kMs));
}

TEST(FaultWindowsTest, TargetWithoutReadinessIsBackWhenSpawned) {
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "kill", {{"on", "kvd"}})
      .Add(1001, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(1001, "fault.healed", "kill", {{"took_effect", true}})
      .Add(1040, "target.spawned", "kvd", {{"pid", 2}});
  auto w = FaultWindows(b.events(), 0);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].to_ns, 1040 * kMs);
}

// A history of `n` requests every 10 ms from `from_ms`; `reply(i)` is the reply text of
// request i ("OK" is right).
void AddOps(LogBuilder& b, int64_t from_ms, int n, const std::function<std::string(int)>& reply,
            int64_t latency_ms = 1) {
  std::vector<LoadOp> ops;
  for (int i = 0; i < n; ++i) {
    LoadOp op;
    op.client = static_cast<uint32_t>(i % 4);
    op.invoke_ns = (from_ms + 10 * i) * kMs;
    op.complete_ns = op.invoke_ns + latency_ms * kMs;
    op.key = static_cast<uint64_t>(i);
    op.seq = static_cast<uint64_t>(i + 1);
    std::string text = reply(i);
    op.outcome = text == "OK" ? OpOutcome::kOk : OpOutcome::kWrongReply;
    if (text != "OK") op.text = text;
    ops.push_back(op);
  }
  b.Add(from_ms + 10 * n, model::events::kLoadOps, "load", EncodeOps(ops));
}

TEST(ChecksTest, ErrorRateJudgesEveryRequestAfterTheLastFault) {
  // The nginx case: wrong replies after the restart, and the run's own stop at the
  // end. Before, that stop opened a window that never closed and this PASSED "0 of N".
  auto s = OneTarget("[[check]]\nkind = \"error_rate\"\nmax = 0.01\ngrace = \"300ms\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(b, "kill", "kvd", 1000, 20, 1);
  AddOps(b, 0, 400, [](int i) { return i * 10 >= 1020 && i % 3 != 0 ? "bad" : "OK"; });
  b.Add(4100, "run.phase", "", {{"phase", "stopping"}})
      .Add(4101, "target.exited", "kvd", {{"pid", 2}, {"code", 0}});
  auto r = Check(s, Sorted(b.events()));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  // 400 requests, 32 in [1000, 1320): 368 judged; 2/3 of those after 1.02 s are bad.
  EXPECT_NE(r.measured.find("of 368)"), std::string::npos) << Joined(r);
  EXPECT_NE(r.measured.find("32 in fault windows"), std::string::npos) << Joined(r);
  EXPECT_NE(Joined(r).find("replies 'bad' where /^OK/ was expected"), std::string::npos)
      << Joined(r);

  LogBuilder good;
  good.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(good, "kill", "kvd", 1000, 20, 1);
  AddOps(good, 0, 400, [](int i) { return i * 10 >= 1000 && i * 10 < 1100 ? "ERR down" : "OK"; });
  good.Add(4100, "run.phase", "", {{"phase", "stopping"}})
      .Add(4101, "target.exited", "kvd", {{"pid", 2}, {"code", 0}});
  r = Check(s, Sorted(good.events()));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(r.measured.find("(0 of 368)"), std::string::npos) << Joined(r);
}

TEST(ChecksTest, ErrorRateLeavesOutRequestsInFlightDuringALoadGeneratorStall) {
  // Requests 100..129 (sent 1.0-1.29 s) "failed" while duende's own load generator was not
  // scheduled (a stall 1.0-1.3 s in load.summary): not the target's doing, not judged.
  auto s = OneTarget("[[check]]\nkind = \"error_rate\"\nmax = 0.01\ngrace = \"100ms\"\n");
  auto log = [](bool with_stall) {
    LogBuilder b;
    b.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
    AddOps(b, 0, 300, [](int i) { return i >= 100 && i < 130 ? "timeout" : "OK"; });
    nlohmann::json summary = {{"sent", 300}};
    if (with_stall) {
      summary["stalls"] =
          nlohmann::json::array({{{"start_ns", 1000 * kMs}, {"end_ns", 1300 * kMs}}});
    }
    b.Add(3100, "load.summary", "load", summary);
    return Sorted(b.events());
  };
  auto r = Check(s, log(true));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(r.measured.find("(0 of 269)"), std::string::npos) << Joined(r);  // 31 overlap it
  EXPECT_NE(r.measured.find("31 during load-generator stalls"), std::string::npos) << Joined(r);
  EXPECT_NE(Joined(r).find("the load generator itself stalled 300.0ms at +1.00s"),
            std::string::npos)
      << Joined(r);
  // The same history without the stall: the target is blamed, as it must be.
  r = Check(s, log(false));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(r.measured.find("(30 of 300)"), std::string::npos) << Joined(r);
}

TEST(ChecksTest, ErrorRateReportsATargetThatNeverCameBack) {
  auto s = OneTarget("[[check]]\nkind = \"error_rate\"\nmax = 0.01\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(5, "target.ready", "kvd", {{"pid", 1}})
      .Add(1000, "fault.injected", "kill", {{"on", "kvd"}})
      .Add(1000, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(1000, "fault.healed", "kill", {{"took_effect", true}});
  AddOps(b, 0, 300, [](int i) { return i * 10 >= 1000 ? "x" : "OK"; });
  auto r = Check(s, Sorted(b.events()));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);  // 100 judged, none bad
  EXPECT_NE(Joined(r).find("was never ready again"), std::string::npos) << Joined(r);
}

TEST(ChecksTest, P99JudgesRequestsBySendTime) {
  auto s = OneTarget("[[check]]\nkind = \"p99_latency\"\nmax = \"20ms\"\ngrace = \"100ms\"\n");
  LogBuilder fast;
  fast.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(fast, "kill", "kvd", 1000, 20, 1);
  AddOps(
      fast, 0, 100, [](int) { return "OK"; }, 2);
  AddOps(
      fast, 1000, 12, [](int) { return "OK"; }, 500);  // slow, but sent in the window
  AddOps(
      fast, 1200, 100, [](int) { return "OK"; }, 3);
  auto r = Check(s, Sorted(fast.events()));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(r.measured.find("p99 3.0ms of 200"), std::string::npos) << Joined(r);

  LogBuilder slow;
  slow.Add(0, "run.started", "").Add(5, "target.ready", "kvd", {{"pid", 1}});
  Kill(slow, "kill", "kvd", 1000, 20, 1);
  AddOps(
      slow, 0, 100, [](int) { return "OK"; }, 2);
  AddOps(
      slow, 1200, 100, [](int) { return "OK"; }, 150);
  r = Check(s, Sorted(slow.events()));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("100 of 200 requests took longer than 20.0ms"), std::string::npos)
      << Joined(r);
}

TEST(ChecksTest, NoLostWritesFromTheHistoryNamesTheFirstLoss) {
  auto s = OneTarget("[[check]]\nkind = \"no_lost_writes\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "");
  AddOps(b, 0, 100, [](int) { return "OK"; });  // keys 0..99, seq key+1, acked at +1ms
  b.Add(700, "fault.injected", "kill", {{"on", "kvd"}});
  std::vector<LoadOp> reads;
  for (uint64_t k = 0; k < 100; ++k) {
    LoadOp op;
    op.key = k;
    op.invoke_ns = op.complete_ns = 3000 * kMs;
    op.found = k < 70 ? k + 1 : 0;  // writes acknowledged from 0.7 s on are gone
    if (op.found == 0) op.text = "NOTFOUND";
    reads.push_back(op);
  }
  b.Add(3000, model::events::kReadbackOps, "load", EncodeOps(reads, true))
      .Add(3001, "readback.result", "load",
           {{"keys", 100}, {"acked_writes", 100}, {"lost", 30}, {"unique_keys", true}});
  auto r = Check(s, Sorted(b.events()));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(r.measured.find("30 lost of 100"), std::string::npos) << Joined(r);
  EXPECT_NE(Joined(r).find("first lost: key k70 seq 71 acknowledged at +701.0ms, read back: NOT "
                           "FOUND ('NOTFOUND')"),
            std::string::npos)
      << Joined(r);

  for (auto& op : reads) op.found = op.key + 1;
  LogBuilder ok;
  ok.Add(0, "run.started", "");
  AddOps(ok, 0, 100, [](int) { return "OK"; });
  ok.Add(3000, model::events::kReadbackOps, "load", EncodeOps(reads, true))
      .Add(3001, "readback.result", "load", {{"keys", 100}, {"acked_writes", 100}, {"lost", 0}});
  r = Check(s, Sorted(ok.events()));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
}

TEST(LoadHistoryTest, EncodeDecodeRoundTrip) {
  std::vector<LoadOp> ops = {
      {3, 1'000'000'123, 1'000'500'000, OpOutcome::kOk, 17, 204, "", 0, {}, {}, {}, {}},
      {0,
       999'000'000,
       1'300'000'000,
       OpOutcome::kTimeout,
       5,
       9,
       "no reply within 300ms",
       0,
       {},
       {},
       {},
       {}},
      {4,
       1'100'000'000,
       1'100'000'000,
       OpOutcome::kNotSent,
       0,
       0,
       "connect: refused",
       0,
       {},
       {},
       {},
       {}},
      {1, 1'200'000'000, 1'200'100'000, OpOutcome::kWrongReply, 2, 11, "bad\n", 0, {}, {}, {}, {}}};
  auto json = EncodeOps(ops);
  EXPECT_EQ(json["base_ns"], 999'000'000);
  auto back = DecodeOps(json);
  ASSERT_EQ(back.size(), ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(back[i].client, ops[i].client);
    EXPECT_EQ(back[i].invoke_ns, ops[i].invoke_ns);
    EXPECT_EQ(back[i].complete_ns, ops[i].complete_ns);
    EXPECT_EQ(back[i].outcome, ops[i].outcome);
    EXPECT_EQ(back[i].key, ops[i].key);
    EXPECT_EQ(back[i].seq, ops[i].seq);
    EXPECT_EQ(back[i].text, ops[i].text);
  }
  EXPECT_TRUE(Indeterminate(OpOutcome::kTimeout));
  EXPECT_FALSE(Indeterminate(OpOutcome::kNotSent));
  size_t bad = 0;
  nlohmann::json broken = {{"base_ns", 1}, {"ops", {{1, 2}, {0, 0, 0, "z", 1, 1}}}};
  EXPECT_TRUE(DecodeOps(broken, false, &bad).empty());
  EXPECT_EQ(bad, 2u);
}

TEST(ChecksTest, RecoversWithin) {
  auto s = OneTarget("[[check]]\nkind = \"recovers_within\"\nwithin = \"1s\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "pause", {{"on", "kvd"}})
      .Add(1500, "steady_state", "", {{"ok", false}})
      .Add(2000, "fault.healed", "pause", {{"took_effect", true}})
      .Add(2300, "steady_state", "", {{"ok", true}});
  EXPECT_EQ(Check(s, b.events()).verdict, Verdict::kPass);
  LogBuilder slow;
  slow.Add(0, "run.started", "")
      .Add(2000, "fault.healed", "pause", {{"took_effect", true}})
      .Add(3500, "steady_state", "", {{"ok", true}});
  EXPECT_EQ(Check(s, slow.events()).verdict, Verdict::kFail);
  LogBuilder never;
  never.Add(0, "run.started", "").Add(2000, "fault.healed", "pause", {{"took_effect", true}});
  auto r = Check(s, never.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("never came back"), std::string::npos);
}

TEST(ChecksTest, NoOrphans) {
  auto s = OneTarget("[[check]]\nkind = \"no_orphans\"\n");
  LogBuilder ok;
  ok.Add(0, "run.leftovers", "", {{"leftovers", nlohmann::json::array()}});
  EXPECT_EQ(Check(s, ok.events()).verdict, Verdict::kPass);
  LogBuilder bad;
  bad.Add(0, "run.leftovers", "",
          {{"leftovers", {{{"pid", 77}, {"comm", "sleep"}, {"state", "S"}, {"pgid", 70}}}}});
  auto r = Check(s, bad.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("pid 77 (sleep)"), std::string::npos);
}

LogBuilder Instances(std::vector<std::pair<int, int64_t>> fds_and_vmlck, int64_t rss = 1 << 20) {
  LogBuilder b;
  b.Add(0, "run.started", "");
  int64_t t = 0;
  int pid = 100;
  for (const auto& [fds, vmlck] : fds_and_vmlck) {
    b.Add(t + 1, "target.spawned", "kvd", {{"pid", pid}})
        .Add(t + 2, "target.sample", "kvd",  // before ready: ignored
             {{"pid", pid}, {"rss_bytes", rss}, {"fds", 3}, {"vmlck_bytes", 0}})
        .Add(t + 3, "target.ready", "kvd", {{"pid", pid}});
    for (int k = 0; k < 3; ++k) {
      b.Add(t + 10 + k, "target.sample", "kvd",
            {{"pid", pid},
             {"rss_bytes", rss},
             {"fds", fds + (k == 1 ? 5 : 0)},
             {"vmlck_bytes", vmlck}});
    }
    b.Add(t + 50, "target.exited", "kvd", {{"pid", pid}, {"signal", 9}});
    t += 100;
    ++pid;
  }
  return b;
}

TEST(ChecksTest, FdGrowthAcrossRestarts) {
  auto s = OneTarget("[[check]]\nkind = \"fd_growth\"\n");
  auto r = Check(s, Instances({{8, 0}, {8, 0}, {8, 0}}).events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  r = Check(s, Instances({{8, 0}, {9, 0}, {10, 0}}).events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "grew by 2");
  EXPECT_NE(Joined(r).find("8, 9, 10"), std::string::npos) << Joined(r);
  EXPECT_EQ(Check(s, Instances({{8, 0}}).events()).verdict, Verdict::kFail);  // nothing to compare
}

TEST(ChecksTest, MemoryLockedAfterEachRestart) {
  auto s = OneTarget("[[check]]\nkind = \"memory_locked\"\n");
  EXPECT_EQ(Check(s, Instances({{8, 4096}, {8, 4096}}).events()).verdict, Verdict::kPass);
  auto r = Check(s, Instances({{8, 4096}, {8, 0}}).events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("pid 101"), std::string::npos) << Joined(r);
}

TEST(ChecksTest, MaxRss) {
  auto s = OneTarget("[[check]]\nkind = \"max_rss\"\nmax = \"2MiB\"\n");
  EXPECT_EQ(Check(s, Instances({{8, 0}}, 1 << 20).events()).verdict, Verdict::kPass);
  EXPECT_EQ(Check(s, Instances({{8, 0}}, 3 << 20).events()).verdict, Verdict::kFail);
}

TEST(ChecksTest, ExitCodes) {
  auto s = OneTarget("[[check]]\nkind = \"exit_codes\"\nallowed = [0, \"SIGKILL\"]\n");
  LogBuilder b;
  b.Add(0, "target.exited", "kvd", {{"signal", 9}}).Add(1, "target.exited", "kvd", {{"code", 0}});
  EXPECT_EQ(Check(s, b.events()).verdict, Verdict::kPass);
  b.Add(2, "target.exited", "kvd", {{"code", 3}, {"signal", nullptr}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "1 of 3 exit(s) outside the set");
}

TEST(ChecksTest, LogPatterns) {
  LogBuilder b;
  b.Add(0, "target.log", "kvd", {{"line", "listening on 127.0.0.1:7000"}})
      .Add(1, "target.log", "kvd", {{"line", "wal: write failed: No space left on device"}});
  auto matches = OneTarget("[[check]]\nkind = \"log_matches\"\npattern = \"^listening on\"\n");
  EXPECT_EQ(Check(matches, b.events()).verdict, Verdict::kPass);
  auto never = OneTarget("[[check]]\nkind = \"log_never_matches\"\npattern = \"No space\"\n");
  auto r = Check(never, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("wal: write failed"), std::string::npos);
}

TEST(ChecksTest, CommandProbe) {
  auto s = OneTarget("[[check]]\nkind = \"command_probe\"\ncommand = [\"true\"]\n");
  LogBuilder ok;
  ok.Add(0, "probe.result", "", {{"name", "command_probe"}, {"ok", true}, {"detail", "exit 0"}});
  EXPECT_EQ(Check(s, ok.events()).verdict, Verdict::kPass);
  LogBuilder bad;
  bad.Add(0, "probe.result", "",
          {{"name", "command_probe"}, {"ok", false}, {"detail", "exited with code 1"}});
  EXPECT_EQ(Check(s, bad.events()).verdict, Verdict::kFail);
  EXPECT_EQ(Check(s, {}).verdict, Verdict::kFail);
}

TEST(ChecksTest, ImplicitFaultEffectCheck) {
  auto s = OneTarget("[[fault]]\nkind = \"kill\"\nat = \"1s\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "kill", {{"on", "kvd"}})
      .Add(1001, "fault.healed", "kill", {{"took_effect", false}, {"evidence", "ESRCH"}});
  auto results = EvaluateChecks(s, b.events());
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].name, "faults-took-effect");
  EXPECT_EQ(results[0].verdict, Verdict::kFail);
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

TEST(ChecksTest, GivesUp) {
  auto s = OneTarget("[[check]]\nkind = \"gives_up\"\nwithin = \"1s\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 1}})
      .Add(11, "target.exited", "kvd", {{"pid", 1}, {"code", 3}})
      .Add(60, "target.spawned", "kvd", {{"pid", 2}})
      .Add(61, "target.exited", "kvd", {{"pid", 2}, {"code", 3}})
      .Add(62, "target.gave_up", "kvd", {{"reason", "5 starts within 10s"}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "gave up after 52.0ms and 2 start(s)");
  LogBuilder never;
  never.Add(0, "run.started", "").Add(10, "target.spawned", "kvd", {{"pid", 1}});
  EXPECT_EQ(Check(s, never.events()).verdict, Verdict::kFail);
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

// libfiu cannot say whether a point fired: the target's reaction (failed requests while the
// fault was on) decides, and no reaction is a miss.
TEST(ChecksTest, SyscallFaultTookEffectByTheTargetsReaction) {
  auto s = OneTarget("[[fault]]\nkind = \"syscall\"\nat = \"1s\"\npoint = \"posix/io/rw/write\"\n");
  LogBuilder quiet = LoadLog(4, -1, 0);
  quiet.Add(1500, "fault.injected", "syscall", {{"kind", "syscall"}, {"on", "kvd"}})
      .Add(2500, "fault.healed", "syscall", {{"took_effect", false}});
  auto events = quiet.events();
  std::sort(events.begin(), events.end(),
            [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
  EXPECT_EQ(EvaluateChecks(s, events).back().verdict, Verdict::kFail);
  LogBuilder reacted = LoadLog(4, 2, 40);
  reacted.Add(1500, "fault.injected", "syscall", {{"kind", "syscall"}, {"on", "kvd"}})
      .Add(2500, "fault.healed", "syscall", {{"took_effect", false}});
  events = reacted.events();
  std::sort(events.begin(), events.end(),
            [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
  auto r = EvaluateChecks(s, events).back();
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(Joined(r).find("40 failed request(s)"), std::string::npos) << Joined(r);
}

// With duende's shim the firing is counted: a counted zero is a miss even when requests
// failed meanwhile (they failed for another reason), and the reaction is not consulted.
TEST(ChecksTest, CountedZeroFiringsIsAMissWhateverTheTargetDid) {
  auto s = OneTarget("[[fault]]\nkind = \"syscall\"\nat = \"1s\"\npoint = \"posix/io/rw/write\"\n");
  LogBuilder reacted = LoadLog(4, 2, 40);
  reacted.Add(1500, "fault.injected", "syscall", {{"kind", "syscall"}, {"on", "kvd"}})
      .Add(2500, "fault.healed", "syscall",
           {{"took_effect", false},
            {"effects", 0},
            {"evidence", "posix/io/rw/write was enabled but NEVER CALLED"}});
  auto events = reacted.events();
  std::sort(events.begin(), events.end(),
            [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
  auto r = EvaluateChecks(s, events).back();
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("never took effect: posix/io/rw/write was enabled but NEVER CALLED"),
            std::string::npos)
      << Joined(r);
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

// A scenario whose one target has the [target.restart.backoff] table `backoff` and a
// backoff_policy check with a 20 ms tolerance.
Scenario WithBackoff(const std::string& backoff) {
  auto s = ParseScenario(
      "[scenario]\nname = \"t\"\nduration = \"10s\"\n[[target]]\nname = \"kvd\"\n"
      "command = [\"kvd\"]\n[target.restart.backoff]\n" +
          backoff + "[[check]]\nkind = \"backoff_policy\"\ntolerance = \"20ms\"\n",
      "t.toml");
  EXPECT_TRUE(s.ok()) << s.error().Message();
  return s.ok() ? s.value() : Scenario{};
}

// Exits at `at_ms`, a restart scheduled with `delay_ms` (attempt `attempt` when > 0), and the
// spawn `delay_ms` + `late_ms` later.
void Restart(LogBuilder& b, int64_t at_ms, int64_t delay_ms, int attempt = 0, int64_t late_ms = 1) {
  nlohmann::json d = {{"delay_ns", delay_ms * kMs}};
  if (attempt > 0) d["attempt"] = attempt;
  b.Add(at_ms, "target.exited", "kvd", {{"code", 1}})
      .Add(at_ms, "target.restart_scheduled", "kvd", d)
      .Add(at_ms + delay_ms + late_ms, "target.spawned", "kvd");
}

model::CheckResult Delays(const Scenario& s, const std::vector<int64_t>& delays_ms) {
  LogBuilder b;
  b.Add(0, "run.started", "").Add(1, "target.spawned", "kvd");
  int64_t t = 100;
  for (int64_t d : delays_ms) {
    Restart(b, t, d);
    t += d + 50;
  }
  return Check(s, b.events());
}

TEST(BackoffPolicyCheckTest, FullJitterAllowsZeroUpToTheBase) {
  auto s = WithBackoff("initial = \"100ms\"\nmultiplier = 2.0\nmax = \"1s\"\njitter = \"full\"\n");
  auto r = Delays(s, {0, 200, 1});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "3 delay(s); worst timer error 1.0ms");
  r = Delays(s, {50, 250});  // attempt 2 allows at most 200 ms
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(
      Joined(r).find("attempt 2: delay 250.0ms, policy allows [0ns, 200.0ms] (outside the policy)"),
      std::string::npos)
      << Joined(r);
}

TEST(BackoffPolicyCheckTest, EqualJitterAllowsHalfTheBaseUpToTheBase) {
  auto s = WithBackoff("initial = \"100ms\"\nmultiplier = 2.0\nmax = \"1s\"\njitter = \"equal\"\n");
  EXPECT_EQ(Delays(s, {50, 100, 400}).verdict, Verdict::kPass);
  auto r = Delays(s, {49});
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("policy allows [50.0ms, 100.0ms]"), std::string::npos) << Joined(r);
  EXPECT_EQ(Delays(s, {101}).verdict, Verdict::kFail);
}

TEST(BackoffPolicyCheckTest, NoJitterGrowsByTheMultiplierUpToTheCap) {
  auto s = WithBackoff("initial = \"100ms\"\nmultiplier = 3.0\nmax = \"1s\"\njitter = \"none\"\n");
  auto r = Delays(s, {100, 300, 900, 1000, 1000});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(Delays(s, {100, 200}).verdict, Verdict::kFail) << "x3, not x2";
  EXPECT_EQ(Delays(s, {100, 300, 900, 2700}).verdict, Verdict::kFail) << "capped at 1s";
}

TEST(BackoffPolicyCheckTest,
     DecorrelatedJitterStaysBetweenInitialAndThePreviousTimesTheMultiplier) {
  auto s = WithBackoff(
      "initial = \"100ms\"\nmultiplier = 3.0\nmax = \"1s\"\njitter = \"decorrelated\"\n");
  // Each delay in [100ms, min(1s, previous * 3)], the first previous being initial.
  EXPECT_EQ(Delays(s, {300, 900, 1000, 100}).verdict, Verdict::kPass);
  auto r = Delays(s, {300, 901});
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("policy allows [100.0ms, 900.0ms]"), std::string::npos) << Joined(r);
  EXPECT_EQ(Delays(s, {99}).verdict, Verdict::kFail) << "below initial";
  EXPECT_EQ(Delays(s, {150, 451}).verdict, Verdict::kFail) << "previous was 150ms: at most 450ms";
}

TEST(BackoffPolicyCheckTest, ImmediateFirstRestartThenTheBackoffFromInitial) {
  auto s = WithBackoff(
      "initial = \"100ms\"\nmultiplier = 2.0\nmax = \"1s\"\njitter = \"none\"\n"
      "immediate_first_restart = true\n");
  auto r = Delays(s, {0, 100, 200});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(Delays(s, {100}).verdict, Verdict::kFail) << "the first restart is immediate";
  EXPECT_EQ(Delays(s, {0, 200}).verdict, Verdict::kFail) << "the second waits initial";
}

TEST(BackoffPolicyCheckTest, AnAttemptFieldAndAResetAfterALongUptimeRestartTheSequence) {
  auto s = WithBackoff(
      "initial = \"100ms\"\nmultiplier = 2.0\nmax = \"10s\"\njitter = \"none\"\n"
      "reset_after = \"1s\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "").Add(1, "target.spawned", "kvd");
  Restart(b, 100, 100);
  Restart(b, 300, 200);
  b.Add(600, "target.ready", "kvd");
  // Up for 2 s (>= reset_after): the next delay is initial again.
  Restart(b, 2600, 100);
  // The attempt number the supervisor reports wins over counting.
  Restart(b, 2800, 800, /*attempt=*/4);
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "4 delay(s); worst timer error 1.0ms");

  // Up for only 500 ms: no reset, the third delay must be 400 ms.
  LogBuilder short_up;
  short_up.Add(0, "run.started", "").Add(1, "target.spawned", "kvd");
  Restart(short_up, 100, 100);
  Restart(short_up, 300, 200);
  short_up.Add(600, "target.ready", "kvd");
  Restart(short_up, 1100, 100);
  EXPECT_EQ(Check(s, short_up.events()).verdict, Verdict::kFail);
}

TEST(BackoffPolicyCheckTest, TheTimerMayBeLateByTheToleranceAndEarlyByAMillisecond) {
  auto s = WithBackoff("initial = \"100ms\"\nmultiplier = 2.0\nmax = \"1s\"\njitter = \"none\"\n");
  auto at = [&](int64_t late_ms) {
    LogBuilder b;
    b.Add(0, "run.started", "").Add(1, "target.spawned", "kvd");
    Restart(b, 100, 100, 0, late_ms);
    return Check(s, b.events());
  };
  EXPECT_EQ(at(20).verdict, Verdict::kPass);
  EXPECT_EQ(at(0).verdict, Verdict::kPass);
  EXPECT_EQ(at(-1).verdict, Verdict::kPass);
  auto r = at(21);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("spawned after 121.0ms (timer off by 21.0ms)"), std::string::npos)
      << Joined(r);
  EXPECT_EQ(r.measured, "1 delay(s); worst timer error 21.0ms");
  r = at(-2);
  EXPECT_EQ(r.verdict, Verdict::kFail) << "spawned before its delay was up";
  EXPECT_NE(Joined(r).find("timer off by 2.0ms"), std::string::npos) << Joined(r);
}

TEST(BackoffPolicyCheckTest, ARestartThatNeverCameIsNotMeasuredAndNoRestartFails) {
  auto s = WithBackoff("initial = \"100ms\"\nmultiplier = 2.0\nmax = \"1s\"\njitter = \"none\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1, "target.spawned", "kvd")
      .Add(100, "target.exited", "kvd", {{"code", 1}})
      .Add(100, "target.restart_scheduled", "kvd", {{"delay_ns", 100 * kMs}})
      .Add(150, "target.stopped", "kvd")
      .Add(900, "target.spawned", "kvd");  // a start by hand, not this restart
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "1 delay(s); worst timer error 0ns");
  EXPECT_EQ(Joined(r).find("spawned after"), std::string::npos) << Joined(r);

  LogBuilder none;
  none.Add(0, "run.started", "").Add(1, "target.spawned", "kvd");
  r = Check(s, none.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "no restart was scheduled: there is no backoff delay to check");
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

TEST(ProcessChecksTest, MaxRssMeasuresOnlySamplesAfterReadinessAndNamesTheFirstOverrun) {
  auto s = OneTarget("[[check]]\nkind = \"max_rss\"\nmax = \"2MiB\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1, "target.spawned", "kvd", {{"pid", 7}})
      .Add(2, "target.sample", "kvd", {{"pid", 7}, {"rss_bytes", 64 << 20}})  // initialising
      .Add(3, "target.ready", "kvd", {{"pid", 7}})
      .Add(4, "target.sample", "kvd", {{"pid", 7}, {"rss_bytes", 2 << 20}})
      .Add(5, "target.sample", "kvd", {{"pid", 7}, {"rss_bytes", 1 << 20}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": exactly the bound passes";
  EXPECT_EQ(r.measured, "max 2.0 MiB over 2 samples");
  EXPECT_EQ(r.threshold, "<= 2.0 MiB");
  b.Add(6, "target.sample", "kvd", {{"pid", 7}, {"rss_bytes", (2 << 20) + 1}})
      .Add(7, "target.sample", "kvd", {{"pid", 7}, {"rss_bytes", 5 << 20}});
  r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "max 5.0 MiB over 4 samples");
  ASSERT_EQ(r.evidence.size(), 1u) << Joined(r) << ": the first overrun only";
  EXPECT_EQ(r.evidence[0], "+6.0ms kvd pid 7 RSS 2.0 MiB");
  LogBuilder none;
  none.Add(0, "run.started", "").Add(1, "target.spawned", "kvd", {{"pid", 7}});
  r = Check(s, none.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "no resource sample of the target was recorded");
}

TEST(ProcessChecksTest, SamplesOfAPidNeverSpawnedAreAnExternalTargetsInstance) {
  auto s = OneTarget("[[check]]\nkind = \"fd_growth\"\nmax_growth = 1\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(10, "target.sample", "kvd", {{"pid", 40}, {"fds", 9}})
      .Add(11, "target.sample", "kvd", {{"pid", 40}, {"fds", 7}})  // the floor counts
      .Add(20, "target.sample", "kvd", {{"pid", 41}, {"fds", 8}})
      .Add(30, "target.sample", "other", {{"pid", 42}, {"fds", 100}});  // not judged
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "grew by 1");
  EXPECT_EQ(r.threshold, "growth <= 1 fds across restarts");
  EXPECT_NE(Joined(r).find("kvd fds per instance (pid order of start): 7, 8"), std::string::npos)
      << Joined(r);
  b.Add(40, "target.sample", "kvd", {{"pid", 43}, {"fds", 9}});
  EXPECT_EQ(Check(s, b.events()).verdict, Verdict::kFail) << "grew by 2 > 1";
}

TEST(ProcessChecksTest, MemoryLockedJudgesTheLastSampleOfEachInstanceAgainstMin) {
  auto s = OneTarget("[[check]]\nkind = \"memory_locked\"\nmin = \"8KiB\"\n");
  auto r = Check(s, Instances({{8, 8192}, {8, 8192}}).events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "0 of 2 instance(s) unlocked; lowest 8.0 KiB");
  r = Check(s, Instances({{8, 8192}, {8, 8191}}).events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "1 of 2 instance(s) unlocked; lowest 8.0 KiB");
  EXPECT_NE(Joined(r).find("kvd pid 101 (started +101.0ms): VmLck 8.0 KiB (not locked)"),
            std::string::npos)
      << Joined(r);
  r = Check(s, LogBuilder().Add(0, "run.started", "").events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
}

TEST(ProcessChecksTest, NoOrphansCountsOnlyTheChecksTargetAndNeedsTheLeftoverRecord) {
  auto s = OneTarget("[[check]]\nkind = \"no_orphans\"\ntarget = \"kvd\"\n");
  LogBuilder b;
  b.Add(0, "run.leftovers", "",
        {{"leftovers",
          {{{"pid", 77},
            {"comm", "sleep"},
            {"state", "S"},
            {"ppid", 1},
            {"pgid", 70},
            {"target", "other"}},
           {{"pid", 78},
            {"comm", "kvd"},
            {"exe", "/usr/bin/kvd"},
            {"state", "Z"},
            {"ppid", 1},
            {"pgid", 78},
            {"target", "kvd"}}}}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "1 left (pids 78)");
  ASSERT_EQ(r.evidence.size(), 1u) << Joined(r);
  EXPECT_EQ(r.evidence[0],
            "pid 78 (kvd, /usr/bin/kvd) state Z ppid 1 pgid 78 of target kvd survived the run");
  auto all = OneTarget("[[check]]\nkind = \"no_orphans\"\n");
  r = Check(all, b.events());
  EXPECT_EQ(r.measured, "2 left (pids 77, 78)");
  r = Check(all, LogBuilder().Add(0, "run.started", "").events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "the run did not record its leftovers (run.leftovers)");
  r = Check(all, LogBuilder().Add(0, "run.leftovers", "", {{"leftovers", {}}}).events());
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_EQ(r.measured, "0 left");
}

TEST(RecoveryCheckTest, OnlyHealsOfFaultsOnTheChecksTargetAndOnlySteadyRoundsAfterTheHeal) {
  auto s = OneTarget("[[check]]\nkind = \"recovers_within\"\nwithin = \"1s\"\ntarget = \"kvd\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(500, "fault.injected", "elsewhere", {{"on", "other"}})
      .Add(600, "fault.healed", "elsewhere", {{"took_effect", true}})  // not kvd's: skipped
      .Add(1000, "fault.injected", "pause", {{"on", "kvd"}})
      .Add(1999, "steady_state", "", {{"ok", true}})  // before the heal: does not count
      .Add(2000, "fault.healed", "pause", {{"took_effect", true}})
      .Add(2500, "steady_state", "", {{"ok", false}})
      .Add(3000, "steady_state", "", {{"ok", true}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": exactly `within` passes";
  EXPECT_EQ(r.measured, "slowest 1.00s");
  ASSERT_EQ(r.evidence.size(), 1u) << Joined(r);
  EXPECT_EQ(r.evidence[0], "+2.00s pause healed; steady again after 1.00s");

  LogBuilder other;
  other.Add(0, "run.started", "")
      .Add(500, "fault.injected", "elsewhere", {{"on", "other"}})
      .Add(600, "fault.healed", "elsewhere", {{"took_effect", true}});
  r = Check(s, other.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "no fault was healed: nothing to recover from");

  LogBuilder never;
  never.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "pause", {{"on", "kvd"}})
      .Add(2000, "fault.healed", "pause", {{"took_effect", true}});
  r = Check(s, never.events());
  EXPECT_EQ(r.measured, "never recovered");
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

TEST(OutputChecksTest, LogPatternsReadOnlyTheTargetsLinesAndCountThem) {
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1, "target.log", "kvd", {{"line", "listening on 127.0.0.1:7000"}})
      .Add(2, "target.log", "other", {{"line", "panic: out of memory"}})
      .Add(3, "target.log", "kvd", {{"line", "ready"}});
  auto matches =
      OneTarget("[[check]]\nkind = \"log_matches\"\npattern = \"^panic\"\ntarget = \"kvd\"\n");
  auto r = Check(matches, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail) << "the other target's line is not kvd's";
  EXPECT_EQ(r.measured, "0 matching of 2 line(s)");
  EXPECT_EQ(r.threshold, "some line matches /^panic/");
  EXPECT_EQ(r.evidence.at(0), "no output line of the target matched");
  auto never = OneTarget(
      "[[check]]\nkind = \"log_never_matches\"\npattern = \"^panic\"\ntarget = \"kvd\"\n");
  r = Check(never, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_TRUE(r.evidence.empty()) << Joined(r);
  auto ready = OneTarget("[[check]]\nkind = \"log_matches\"\npattern = \"ready|listening\"\n");
  r = Check(ready, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass);
  EXPECT_EQ(r.measured, "2 matching of 2 line(s)");
  EXPECT_EQ(r.evidence.at(0), "+1.0ms kvd: listening on 127.0.0.1:7000");
}

TEST(OutputChecksTest, CommandProbeReadsTheResultNamedAfterTheCheck) {
  auto s =
      OneTarget("[[check]]\nname = \"db-ok\"\nkind = \"command_probe\"\ncommand = [\"true\"]\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(5, "probe.result", "", {{"name", "other"}, {"ok", false}, {"detail", "exited 1"}})
      .Add(6, "probe.result", "", {{"name", "db-ok"}, {"ok", true}, {"detail", "exit 0"}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "exit 0");
  EXPECT_EQ(r.evidence.at(0), "+6.0ms exit 0");
  LogBuilder failed;
  failed.Add(0, "probe.result", "", {{"name", "db-ok"}, {"ok", false}, {"detail", "exited 3"}});
  r = Check(s, failed.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "exited 3");
  r = Check(s, LogBuilder().Add(5, "probe.result", "", {{"name", "other"}, {"ok", true}}).events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "the command probe did not run (no probe.result named db-ok)");
}

TEST(OutputChecksTest, ExitCodesJudgeSignalsByNameAndOnlyTheChecksTarget) {
  auto s =
      OneTarget("[[check]]\nkind = \"exit_codes\"\nallowed = [0, \"TERM\"]\ntarget = \"kvd\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1, "target.exited", "kvd", {{"signal", 15}})
      .Add(2, "target.exited", "kvd", {{"code", 0}, {"signal", 0}})
      .Add(3, "target.exited", "other", {{"code", 2}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.threshold, "in {0, SIGTERM}");
  EXPECT_EQ(r.measured, "0 of 2 exit(s) outside the set");
  b.Add(4, "target.exited", "kvd", {{"signal", 9}});
  r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "+4.0ms kvd killed by signal 9 (SIGKILL not allowed)");
}

TEST(OutputChecksTest, GivesUpMustComeWithinTheBoundAndBeforeTheStop) {
  auto s = OneTarget("[[check]]\nkind = \"gives_up\"\nwithin = \"1s\"\n");
  auto log = [](int64_t gave_up_ms, bool stop_first) {
    LogBuilder b;
    b.Add(0, "run.started", "").Add(100, "target.spawned", "kvd", {{"pid", 1}});
    if (stop_first) b.Add(gave_up_ms - 1, "run.phase", "", {{"phase", "stopping"}});
    b.Add(gave_up_ms, "target.gave_up", "kvd", {{"reason", "start limit"}});
    return b.events();
  };
  auto r = Check(s, log(1100, false));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": exactly 1 s after the first start";
  EXPECT_EQ(r.evidence.at(0), "+1.10s kvd gave up: start limit");
  r = Check(s, log(1101, false));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_EQ(r.measured, "gave up after 1.00s and 1 start(s)");
  r = Check(s, log(500, true));
  EXPECT_EQ(r.verdict, Verdict::kFail) << "a give-up during the run's own stop is not one";
  EXPECT_EQ(r.evidence.at(0), "kvd never gave up (1 start(s))");
}

TEST(FaultEffectTest, InjectionErrorsAndUncountedMissesFailAndEffectsPass) {
  auto s = OneTarget("[[fault]]\nkind = \"kill\"\nat = \"1s\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "kill", {{"kind", "kill"}, {"on", "kvd"}})
      .Add(1001, "fault.healed", "kill", {{"took_effect", true}, {"evidence", "SIGKILL sent"}});
  auto r = EvaluateChecks(s, b.events()).back();
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "1 of 1 took effect");
  EXPECT_EQ(r.evidence.at(0), "+1.00s kill: SIGKILL sent");
  b.Add(2000, "fault.error", "latency", {{"error", "no proxy"}});
  r = EvaluateChecks(s, b.events()).back();
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "1 of 2 took effect");
  EXPECT_EQ(r.evidence.at(1), "+2.00s latency could not be injected: no proxy");
  // Non-string evidence is shown as JSON.
  LogBuilder j;
  j.Add(0, "run.started", "").Add(5, "fault.healed", "k", {{"took_effect", true}, {"evidence", 3}});
  r = EvaluateChecks(s, j.events()).back();
  EXPECT_EQ(r.evidence.at(0), "+5.0ms k: 3");
  r = EvaluateChecks(s, LogBuilder().Add(0, "run.started", "").events()).back();
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "no fault was injected");
  EXPECT_EQ(EvaluateChecks(OneTarget(""), b.events()).size(), 0u)
      << "no faults in the scenario: no implicit check";
}

TEST(FaultEffectTest, AnUncountedSyscallOrOomFaultTookEffectWhenTheTargetDiedMeanwhile) {
  auto s = OneTarget("[[fault]]\nkind = \"kill\"\nat = \"1s\"\n");
  auto run = [&](const std::string& kind, int64_t exit_ms, int signal) {
    LogBuilder b;
    b.Add(0, "run.started", "")
        .Add(1000, "fault.injected", "f", {{"kind", kind}, {"on", "kvd"}})
        .Add(exit_ms, "target.exited", "kvd", {{"signal", signal}})
        .Add(2000, "fault.healed", "f", {{"took_effect", false}});
    auto events = b.events();
    std::sort(events.begin(), events.end(),
              [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
    return EvaluateChecks(s, events).back();
  };
  auto r = run("oom", 1500, 9);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(Joined(r).find("the target was SIGKILLed 500.0ms after its memory limit was lowered"),
            std::string::npos)
      << Joined(r);
  EXPECT_EQ(run("oom", 1500, 15).verdict, Verdict::kFail) << "only SIGKILL is the kernel's";
  EXPECT_EQ(run("oom", 2500, 9).verdict, Verdict::kFail) << "after the heal";
  EXPECT_EQ(run("oom", 999, 9).verdict, Verdict::kFail) << "before the injection";
  r = run("disk", 2000, 6);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(Joined(r).find("the target reacted: it killed by signal 6 1.00s after the injection"),
            std::string::npos)
      << Joined(r);
  EXPECT_EQ(run("kill", 1500, 9).verdict, Verdict::kFail) << "a kill fault counts its own effect";
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

LoadOp Op(uint64_t key, uint64_t seq, int64_t invoke_ms, int64_t complete_ms,
          OpOutcome outcome = OpOutcome::kOk) {
  LoadOp op;
  op.key = key;
  op.seq = seq;
  op.invoke_ns = invoke_ms * kMs;
  op.complete_ns = complete_ms * kMs;
  op.outcome = outcome;
  return op;
}

LoadOp Read(uint64_t key, uint64_t found) {
  LoadOp op = Op(key, 0, 9000, 9001);
  op.found = found;
  if (found == 0) op.text = "NOTFOUND";
  return op;
}

// Writes (acknowledged or not) and what the read-back found, in one log.
model::CheckResult Lost(const std::vector<LoadOp>& writes, const std::vector<LoadOp>& reads,
                        const std::vector<std::pair<int64_t, std::string>>& faults = {}) {
  auto s = OneTarget("[[check]]\nkind = \"no_lost_writes\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "");
  for (const auto& [at, name] : faults) b.Add(at, "fault.injected", name, {{"on", "kvd"}});
  b.Add(8000, model::events::kLoadOps, "load", EncodeOps(writes))
      .Add(9000, model::events::kReadbackOps, "load", EncodeOps(reads, true))
      .Add(9001, "readback.result", "load", {{"keys", reads.size()}});
  return Check(s, Sorted(b.events()));
}

TEST(LostWritesHistoryTest, OnlyTheLastAcknowledgedSeqOfEachKeyMustBeReadBack) {
  // Key 1: seq 2 acknowledged, seq 3 failed and seq 0 is not a write; found 2: nothing lost.
  std::vector<LoadOp> writes = {Op(1, 2, 10, 11), Op(1, 3, 20, 21, OpOutcome::kWrongReply),
                                Op(1, 0, 30, 31), Op(2, 5, 40, 41), Op(2, 4, 50, 51)};
  auto r = Lost(writes, {Read(1, 2), Read(2, 5)});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "0 lost of 2 keys (last write of each)");
  // Found an older seq than the last acknowledged one: lost.
  r = Lost(writes, {Read(1, 2), Read(2, 4)});
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_EQ(r.evidence.at(0), "first lost: key k2 seq 5 acknowledged at +41.0ms, read back: seq 4");
  // A key never read back cannot be judged; no acknowledged write, nothing to verify.
  r = Lost(writes, {Read(1, 2)});
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "1 key(s) with an acknowledged write were not read back");
  r = Lost({Op(1, 3, 20, 21, OpOutcome::kTimeout)}, {Read(1, 0)});
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "no write was acknowledged: nothing to verify");
}

TEST(LostWritesHistoryTest, LossesAreListedByAcknowledgementTimeWithTheFaultsAfterThem) {
  // Eight keys lost, acknowledged in the reverse order of their keys.
  std::vector<LoadOp> writes;
  std::vector<LoadOp> reads;
  for (uint64_t k = 1; k <= 8; ++k) {
    const int64_t ack = 1000 - static_cast<int64_t>(k) * 100;  // k8 at 200 ms ... k1 at 900 ms
    writes.push_back(Op(k, 1, ack - 1, ack));
    reads.push_back(Read(k, 0));
  }
  auto r = Lost(writes, reads, {{100, "early"}, {500, "kill"}, {950, "late"}});
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "8 lost of 8 keys (last write of each)");
  std::vector<std::string> want = {
      "first lost: key k8 seq 1 acknowledged at +200.0ms, read back: NOT FOUND ('NOTFOUND')",
      "lost writes were acknowledged between +200.0ms and +900.0ms",
      // The fault before the first loss took none of them and is not named.
      "4 of the 8 lost were acknowledged before fault kill at +500.0ms",
      "8 of the 8 lost were acknowledged before fault late at +950.0ms",
      "lost: key k7 seq 1 acknowledged at +300.0ms, read back: NOT FOUND ('NOTFOUND')",
      "lost: key k6 seq 1 acknowledged at +400.0ms, read back: NOT FOUND ('NOTFOUND')",
      "lost: key k5 seq 1 acknowledged at +500.0ms, read back: NOT FOUND ('NOTFOUND')",
      "lost: key k4 seq 1 acknowledged at +600.0ms, read back: NOT FOUND ('NOTFOUND')",
      "lost: key k3 seq 1 acknowledged at +700.0ms, read back: NOT FOUND ('NOTFOUND')"};
  EXPECT_EQ(r.evidence, want) << Joined(r) << ": at most six losses are listed";
}

TEST(NoLostWritesTest, AReadBackThatFailedIsAFailureWithItsError) {
  auto s = OneTarget("[[check]]\nkind = \"no_lost_writes\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(5, "readback.result", "load", {{"error", "connection refused"}, {"acked_writes", 3}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "the read-back failed: connection refused");
  // Only the last readback.result counts.
  b.Add(6, "readback.result", "load", {{"keys", 3}, {"acked_writes", 3}, {"lost", 0}});
  r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "0 lost of 3 key(s) (3 acknowledged writes)");
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

// load.second events: one per entry of `seconds` = {errors, timeouts, p99_us, sent}, starting at
// `from_ms`, 100 sent each unless given.
struct Second {
  int errors = 0;
  int timeouts = 0;
  int64_t p99_us = 900;
  int sent = 100;
};
LogBuilder Seconds(int64_t from_ms, const std::vector<Second>& seconds) {
  LogBuilder b;
  b.Add(0, "run.started", "");
  for (size_t i = 0; i < seconds.size(); ++i) {
    const Second& s = seconds[i];
    const int64_t start = from_ms + static_cast<int64_t>(i) * 1000;
    b.Add(start + 1000, "load.second", "load",
          {{"second", i},
           {"start_ns", start * kMs},
           {"sent", s.sent},
           {"ok", s.sent - s.errors - s.timeouts},
           {"errors", s.errors},
           {"timeouts", s.timeouts},
           {"p99_us", s.p99_us}});
  }
  return b;
}

TEST(LoadSecondsChecksTest, AvailabilityWindowsStartAtTheFirstSecondAndTheBoundIsInclusive) {
  auto s = OneTarget("[[check]]\nkind = \"availability\"\nmin = 0.85\nwindow = \"2s\"\n");
  // Seconds from +5 s; the 2 s windows (rounded to the nearest) hold {5}, {6, 7}, {8, 9}.
  auto b = Seconds(5000, {{}, {}, {30, 0}, {}, {}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": 85% meets min = 0.85";
  EXPECT_EQ(r.measured, "worst window 85.00%");
  auto strict = OneTarget("[[check]]\nkind = \"availability\"\nmin = 0.86\nwindow = \"2s\"\n");
  r = Check(strict, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  ASSERT_EQ(r.evidence.size(), 1u) << Joined(r);
  EXPECT_EQ(r.evidence[0], "window +7.00s: 170 ok of 200 = 85.00%");
}

TEST(LoadSecondsChecksTest, ErrorRateCountsErrorsAndTimeoutsOfSecondsOutsideFaults) {
  auto s = OneTarget("[[check]]\nkind = \"error_rate\"\nmax = 0.004\n");
  auto b = Seconds(0, {{}, {1, 1}, {}, {}, {}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": 2 of 500 = 0.4% meets max";
  EXPECT_EQ(r.measured, "0.40% (2 of 500)");
  EXPECT_EQ(r.evidence.at(0), "second at +1.00s: 1 errors, 1 timeouts of 100");
  auto strict = OneTarget("[[check]]\nkind = \"error_rate\"\nmax = 0.003\n");
  EXPECT_EQ(Check(strict, b.events()).verdict, Verdict::kFail);
  r = Check(s, LogBuilder().Add(0, "run.started", "").events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "no request was sent outside the fault windows");
}

TEST(LoadSecondsChecksTest, P99OfSecondsIsInclusiveAndSkipsEmptySeconds) {
  auto s = OneTarget("[[check]]\nkind = \"p99_latency\"\nmax = \"5ms\"\n");
  auto b = Seconds(0, {{0, 0, 5000}, {0, 0, 90000, 0}, {0, 0, 1200}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": exactly 5 ms, and the empty second";
  EXPECT_EQ(r.measured, "worst p99 5.0ms over 2 second(s)");
  b = Seconds(0, {{0, 0, 5001}, {}});
  r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.evidence.at(0), "second at +0ns: p99 5.0ms");
}

TEST(LoadHistoryChecksTest, P99IsTheNearestRankAndNamesTheFirstAndSlowestSlowRequests) {
  auto s = OneTarget("[[check]]\nkind = \"p99_latency\"\nmax = \"20ms\"\n");
  auto log = [](int64_t slow1_ms, int64_t slow2_ms) {
    std::vector<LoadOp> ops;
    for (int i = 0; i < 100; ++i) {
      int64_t lat = i == 30 ? slow1_ms : i == 70 ? slow2_ms : 1;
      ops.push_back(Op(static_cast<uint64_t>(i), 0, 20 * i, 20 * i + lat));
    }
    // Not answered for want of a connection: not in the latency histogram.
    ops.push_back(Op(500, 0, 100, 900, OpOutcome::kNotSent));
    LogBuilder b;
    b.Add(0, "run.started", "").Add(3000, model::events::kLoadOps, "load", EncodeOps(ops));
    return b.events();
  };
  // Of 100 latencies the 99th smallest: one slow request does not move it, two do.
  auto r = Check(s, log(80, 1));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "p99 1.0ms of 100; 0 in fault windows");
  r = Check(s, log(20, 20));
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": exactly max";
  r = Check(s, log(50, 80));
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "p99 50.0ms of 100; 0 in fault windows");
  std::vector<std::string> want = {
      "2 of 100 requests took longer than 20.0ms; the first was sent at +600.0ms and took 50.0ms, "
      "the slowest (sent at +1.40s) 80.0ms",
      "second +0s: 1 of 50 slower than 20.0ms", "second +1s: 1 of 50 slower than 20.0ms"};
  EXPECT_EQ(r.evidence, want) << Joined(r);
  r = Check(s, log(80, 50));
  EXPECT_NE(Joined(r).find("the first was sent at +600.0ms and took 80.0ms, the slowest (sent at "
                           "+600.0ms) 80.0ms"),
            std::string::npos)
      << Joined(r);
}

TEST(RecoveryCheckTest, TheHealsFaultIsTheLastInjectionOfThatNameAndARoundAtTheHealCounts) {
  auto s = OneTarget("[[check]]\nkind = \"recovers_within\"\nwithin = \"1s\"\ntarget = \"kvd\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "pause", {{"on", "kvd"}})
      .Add(1500, "fault.injected", "other", {{"on", "elsewhere"}})
      .Add(2000, "fault.healed", "pause", {{"took_effect", true}})
      .Add(2000, "steady_state", "", {{"ok", true}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "slowest 0ns");
  // A heal with no injection before it concerns no target.
  LogBuilder orphan;
  orphan.Add(0, "run.started", "").Add(2000, "fault.healed", "pause", {{"took_effect", true}});
  r = Check(s, orphan.events());
  EXPECT_EQ(r.evidence.at(0), "no fault was healed: nothing to recover from");
  // A round logged just before the heal (same instant) is not a recovery from it.
  LogBuilder before;
  before.Add(0, "run.started", "")
      .Add(1000, "fault.injected", "pause", {{"on", "kvd"}})
      .Add(2000, "steady_state", "", {{"ok", true}})
      .Add(2000, "fault.healed", "pause", {{"took_effect", true}})
      .Add(2400, "steady_state", "", {{"ok", true}});
  EXPECT_EQ(Check(s, before.events()).measured, "slowest 400.0ms");
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

TEST(CheckHelpersTest, ByteSizesSwitchUnitsAtExactlyOneKiBAndOneMiB) {
  auto s = OneTarget("[[check]]\nkind = \"max_rss\"\nmax = \"2MiB\"\n");
  auto measured = [&](int64_t rss) {
    LogBuilder b;
    b.Add(0, "run.started", "").Add(1, "target.sample", "kvd", {{"pid", 1}, {"rss_bytes", rss}});
    return Check(s, b.events()).measured;
  };
  EXPECT_EQ(measured(1023), "max 1023 B over 1 samples");
  EXPECT_EQ(measured(1024), "max 1.0 KiB over 1 samples");
  EXPECT_EQ(measured((1 << 20) - 1), "max 1024.0 KiB over 1 samples");
  EXPECT_EQ(measured(1 << 20), "max 1.0 MiB over 1 samples");
}

TEST(CheckHelpersTest, TimesAreFromTheRunsStartAndOnlyTheStoppingPhaseEndsCrashes) {
  auto s = OneTarget("[[check]]\nkind = \"restart_within\"\nwithin = \"500ms\"\n");
  LogBuilder b;
  b.Add(500, "run.started", "")
      .Add(510, "run.phase", "", {{"phase", "steady"}})  // not the stop
      .Add(520, "target.spawned", "kvd", {{"pid", 1}})
      .Add(1500, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(1600, "target.spawned", "kvd", {{"pid", 2}})
      .Add(2000, "run.phase", "", {{"phase", "stopping"}})
      .Add(2000, "target.exited", "kvd", {{"pid", 2}, {"code", 0}});  // at the stop: not a crash
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_EQ(r.measured, "slowest 100.0ms over 1 restart(s)");
  EXPECT_NE(Joined(r).find("+1.00s kvd"), std::string::npos) << Joined(r) << ": 1.5 s - 0.5 s";
  EXPECT_GE(r.duration_s, 0);
  EXPECT_LT(r.duration_s, 10);
}

TEST(CheckHelpersTest, EvidenceKeepsTwelveLinesAndSaysMoreWereLeftOut) {
  auto s = OneTarget("[[check]]\nkind = \"exit_codes\"\nallowed = [0]\n");
  LogBuilder b;
  for (int i = 0; i < 20; ++i) b.Add(i, "target.exited", "kvd", {{"code", 1}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.measured, "20 of 20 exit(s) outside the set");
  ASSERT_EQ(r.evidence.size(), 13u);
  EXPECT_EQ(r.evidence[11], "+11.0ms kvd exited with code 1 (1 not allowed)");
  EXPECT_EQ(r.evidence[12], "...");
}

TEST(CheckHelpersTest, AllowedExitsAreCodesOrKnownSignalNames) {
  for (const char* bad : {"[0, \"NOPE\"]", "[true]", "0"}) {
    auto s = ParseScenario(
        std::string("[scenario]\nname = \"t\"\n[[target]]\nname = \"kvd\"\ncommand = [\"kvd\"]\n"
                    "[[check]]\nkind = \"exit_codes\"\nallowed = ") +
            bad + "\n",
        "t.toml");
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.error().Message().find("t.toml:8:11: "), std::string::npos)
        << bad << ": " << s.error().Message();
  }
  auto s = OneTarget("[[check]]\nkind = \"exit_codes\"\nallowed = [3, \"kill\", \"SIGTERM\"]\n");
  ASSERT_EQ(s.checks.size(), 1u);
  EXPECT_EQ(s.checks[0].allowed, (std::vector<std::string>{"3", "SIGKILL", "SIGTERM"}));
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

// A fault `kind` on kvd from 1 s to 2 s whose effect was not counted, plus `extra` events.
model::CheckResult Uncounted(const std::string& kind, const std::vector<Event>& extra) {
  auto s = OneTarget("[[fault]]\nkind = \"kill\"\nat = \"1s\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(500, "fault.injected", "g", {{"kind", kind}, {"on", "kvd"}})  // another fault
      .Add(1000, "fault.injected", "f", {{"kind", kind}, {"on", "kvd"}})
      .Add(2000, "fault.healed", "f", {{"took_effect", false}});
  auto events = b.events();
  events.insert(events.end(), extra.begin(), extra.end());
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& x, const Event& y) { return x.ts_ns < y.ts_ns; });
  return EvaluateChecks(s, events).back();
}

Event Exit(int64_t ms, const std::string& target, int signal) {
  return Event{ms * kMs, "target.exited", target, {{"signal", signal}}};
}

TEST(FaultEffectTest, TheReactionWindowIsFromTheInjectionToTheHealBothIncluded) {
  EXPECT_EQ(Uncounted("oom", {Exit(1000, "kvd", 9)}).verdict, Verdict::kPass);
  EXPECT_EQ(Uncounted("oom", {Exit(2000, "kvd", 9)}).verdict, Verdict::kPass);
  EXPECT_EQ(Uncounted("oom", {Exit(1500, "other", 9)}).verdict, Verdict::kFail)
      << "another target's death is not this fault's";
  EXPECT_EQ(Uncounted("syscall", {Exit(1000, "kvd", 6)}).verdict, Verdict::kPass);
  EXPECT_EQ(Uncounted("syscall", {Exit(2000, "kvd", 6)}).verdict, Verdict::kPass);
  EXPECT_EQ(Uncounted("syscall", {Exit(2001, "kvd", 6)}).verdict, Verdict::kFail);
  EXPECT_EQ(Uncounted("syscall", {Exit(1500, "other", 6)}).verdict, Verdict::kFail);
  auto r = Uncounted("disk", {Exit(1250, "kvd", 6)});
  EXPECT_NE(Joined(r).find("it killed by signal 6 250.0ms after the injection"), std::string::npos)
      << Joined(r) << ": timed from this fault's injection, not the other's";
}

Event Sec(int64_t start_ms, int errors) {
  return Event{(start_ms + 1000) * kMs,
               "load.second",
               "load",
               {{"start_ns", start_ms * kMs},
                {"sent", 100},
                {"ok", 100 - errors},
                {"errors", errors},
                {"timeouts", 0},
                {"p99_us", 900}}};
}

TEST(FaultEffectTest, FailedRequestsCountOnlyInSecondsOverlappingTheFault) {
  // Seconds [0, 1 s) and [2 s, 3 s) touch the fault's [1 s, 2 s] only at its ends.
  EXPECT_EQ(Uncounted("syscall", {Sec(0, 5), Sec(2000, 5)}).verdict, Verdict::kFail);
  auto r = Uncounted("syscall", {Sec(0, 5), Sec(1000, 3), Sec(2000, 5)});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  EXPECT_NE(Joined(r).find("the target reacted: 3 failed request(s)"), std::string::npos)
      << Joined(r);
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

TEST(RestartCheckTest, ATargetWithoutReadinessIsBackWhenSpawnedAndOthersReadinessDoesNotCount) {
  auto s =
      OneTarget("[[check]]\nkind = \"restart_within\"\nwithin = \"500ms\"\ntarget = \"kvd\"\n");
  LogBuilder b;
  b.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 1}})
      .Add(20, "target.ready", "other", {{"pid", 5}})  // not kvd's readiness
      .Add(1000, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(1500, "target.spawned", "kvd", {{"pid", 2}});
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r) << ": exactly `within`";
  EXPECT_EQ(r.evidence.at(0), "+1.00s kvd killed by signal 9; spawned again after 500.0ms");
}

TEST(RestartCheckTest, AStopExactlyWithinAfterTheCrashStillJudgesIt) {
  auto s = OneTarget("[[check]]\nkind = \"restart_within\"\nwithin = \"500ms\"\n");
  auto log = [](int64_t stop_ms) {
    LogBuilder b;
    b.Add(0, "run.started", "")
        .Add(10, "target.spawned", "kvd", {{"pid", 1}})
        .Add(20, "target.ready", "kvd", {{"pid", 1}})
        .Add(1000, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
        .Add(stop_ms, "run.phase", "", {{"phase", "stopping"}});
    return b.events();
  };
  auto r = Check(s, log(1499));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r) << ": nothing left to measure";
  EXPECT_EQ(r.evidence.at(0),
            "every crash came right before the run's stop: no restart to measure");
  EXPECT_EQ(r.evidence.at(1),
            "+1.00s kvd killed by signal 9; the run stopped 499.0ms later, before it was back "
            "(not judged)");
  r = Check(s, log(1500));
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r) << ": it had the whole `within` to return";
  EXPECT_EQ(r.measured, "1 of 1 crash(es) not restarted");
  // A later exit ends the search: the restart after it is that exit's.
  LogBuilder twice;
  twice.Add(0, "run.started", "")
      .Add(10, "target.spawned", "kvd", {{"pid", 1}})
      .Add(20, "target.ready", "kvd", {{"pid", 1}})
      .Add(1000, "target.exited", "kvd", {{"pid", 1}, {"signal", 9}})
      .Add(1100, "target.exited", "kvd", {{"pid", 1}, {"code", 0}})
      .Add(1200, "target.ready", "kvd", {{"pid", 2}});
  r = Check(s, twice.events());
  EXPECT_EQ(r.measured, "slowest 100.0ms over 1 restart(s); 1 of 2 crash(es) not restarted");
}

TEST(LoadHistoryChecksTest, AvailabilityGroupsRequestsByTheirSendTime) {
  auto s = OneTarget("[[check]]\nkind = \"availability\"\nmin = 0.9\nwindow = \"1s\"\n");
  std::vector<LoadOp> ops;
  // From +2 s: 10 requests per second for 3 s; the second second has 2 failures, and one
  // request of the first is abandoned by the run's stop (not judged).
  for (int i = 0; i < 30; ++i) {
    OpOutcome o = (i == 12 || i == 15) ? OpOutcome::kWrongReply : OpOutcome::kOk;
    ops.push_back(Op(static_cast<uint64_t>(i), 0, 2000 + 100 * i, 2000 + 100 * i + 1, o));
  }
  ops.push_back(Op(99, 0, 2050, 2051, OpOutcome::kAbandoned));
  LogBuilder b;
  b.Add(0, "run.started", "").Add(6000, model::events::kLoadOps, "load", EncodeOps(ops));
  auto r = Check(s, b.events());
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.measured, "worst window 80.00%");
  ASSERT_EQ(r.evidence.size(), 1u) << Joined(r);
  EXPECT_EQ(r.evidence[0], "window +3.00s: 8 ok of 10 = 80.00%");
  auto lenient = OneTarget("[[check]]\nkind = \"availability\"\nmin = 0.8\nwindow = \"1s\"\n");
  EXPECT_EQ(Check(lenient, b.events()).verdict, Verdict::kPass);
}

}  // namespace
}  // namespace duende::harness
