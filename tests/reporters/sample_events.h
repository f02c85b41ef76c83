// Hand-built event logs for reporter tests (the runner writes real ones; these mirror
// docs/events.md so that the reporters are tested against the contract, not the runner).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "duende/model/event_log.h"
#include "duende/model/model.h"

namespace duende::reporters::testing {

// The reporters' tests read and write the result model (duende/model/).
using model::CheckResult;
using model::Combine;
using model::Event;
using model::EventLogWriter;
using model::ReadEventLog;
using model::RunReport;
using model::RunReportFromEvents;
using model::ScenarioResult;
using model::Verdict;
using model::VerdictName;

using Json = nlohmann::json;

inline constexpr int64_t kStartNs = 5'000'000'000;  // monotonic time of run.started
inline constexpr int64_t kSec = 1'000'000'000;

inline Event Ev(int64_t ts, std::string type, std::string target, Json data = Json::object()) {
  return Event{ts, std::move(type), std::move(target), std::move(data)};
}

/// A 30 s run of a key-value daemon under load: a SIGKILL at 10 s (restart, a burst of errors),
/// 300 ms of latency at 18-24 s (p99 rises), a readback that finds 3 lost writes; one check
/// fails. Deterministic: every figure is a formula of the second.
inline std::vector<Event> KillUnderLoad(std::string name = "kill-under-load") {
  std::vector<Event> ev;
  int64_t t0 = kStartNs;
  ev.push_back(
      Ev(t0, "run.started", "",
         {{"scenario", name},
          {"file", "scenarios/" + name + ".toml"},
          {"description", "SIGKILL the store while it takes writes; no acked write may be lost"},
          {"seed", 1234567},
          {"replay_command", "duende run scenarios/" + name + ".toml --seed 1234567"},
          {"wall_start_ns", 1795000000000000000},
          {"duration_ns", 30 * kSec},
          {"hostname", "ci-runner-1"},
          {"tool_version", "0.1.0"}}));
  ev.push_back(Ev(t0 + 2'000'000, "target.spawned", "kvd", {{"pid", 4101}}));
  ev.push_back(
      Ev(t0 + 40'000'000, "target.ready", "kvd", {{"pid", 4101}, {"after_ns", 38'000'000}}));
  for (int s = 0; s < 30; ++s) {
    int64_t ts = t0 + (s + 1) * kSec;
    if (s == 10) {
      int64_t f = t0 + 10 * kSec;
      ev.push_back(Ev(f, "fault.injected", "kill-kvd",
                      {{"kind", "kill"},
                       {"on", "kvd"},
                       {"scheduled_ns", 10 * kSec},
                       {"lag_ns", 120'000},
                       {"params", {{"signal", "SIGKILL"}}}}));
      ev.push_back(Ev(f + 300'000, "target.exited", "kvd",
                      {{"pid", 4101},
                       {"code", nullptr},
                       {"signal", 9},
                       {"status", "killed by signal 9 (SIGKILL)"},
                       {"oom_kill", false}}));
      ev.push_back(Ev(f + 310'000, "fault.fired", "kill-kvd",
                      {{"evidence", "pid 4101 killed by signal 9 (SIGKILL)"}}));
      ev.push_back(Ev(f + 400'000, "target.restart_scheduled", "kvd",
                      {{"delay_ns", 100'000'000}, {"attempt", 1}}));
      ev.push_back(Ev(f + 101'000'000, "target.spawned", "kvd", {{"pid", 4188}}));
      ev.push_back(
          Ev(f + 140'000'000, "target.ready", "kvd", {{"pid", 4188}, {"after_ns", 39'000'000}}));
      ev.push_back(Ev(f + 500'000'000, "fault.healed", "kill-kvd",
                      {{"took_effect", true}, {"evidence", "kvd restarted as pid 4188"}}));
    }
    if (s == 18) {
      ev.push_back(Ev(t0 + 18 * kSec, "fault.injected", "slow-net",
                      {{"kind", "latency"},
                       {"on", "kvd"},
                       {"scheduled_ns", 18 * kSec},
                       {"lag_ns", 90'000},
                       {"params", {{"delay", "300ms"}}}}));
      ev.push_back(Ev(t0 + 18 * kSec + 5'000'000, "fault.fired", "slow-net",
                      {{"evidence", "first delayed request at +5ms"}}));
    }
    if (s == 24) {
      ev.push_back(Ev(t0 + 24 * kSec, "fault.healed", "slow-net",
                      {{"took_effect", true}, {"evidence", "412 requests delayed"}}));
    }
    bool slow = s >= 18 && s < 24;
    int64_t ok = s == 10 ? 1630 : (slow ? 640 + 7 * s : 2300 + (s * 37) % 120);
    int64_t errors = s == 10 ? 58 : (s == 11 ? 4 : 0);
    int64_t timeouts = slow ? 3 + s % 4 : 0;
    double p99 = slow ? 301000 + 900 * (s % 3) : (s == 10 ? 98000 : 1100 + (s * 53) % 400);
    ev.push_back(Ev(ts, "load.second", "writes",
                    {{"second", s},
                     {"sent", ok + errors + timeouts},
                     {"ok", ok},
                     {"errors", errors},
                     {"timeouts", timeouts},
                     {"rate", ok},
                     {"p50_us", slow ? 300400 : 420 + s % 30},
                     {"p90_us", p99 * 0.6},
                     {"p99_us", p99},
                     {"p999_us", p99 * 1.4},
                     {"max_us", p99 * 2}}));
  }
  int64_t end = t0 + 30 * kSec;
  ev.push_back(Ev(end + 1'000'000, "load.summary", "writes",
                  {{"sent", 61234},
                   {"ok", 61000},
                   {"errors", 62},
                   {"timeouts", 27},
                   {"achieved_rate", 2041.1},
                   {"target_rate", 2500},
                   {"p50_us", 430},
                   {"p99_us", 250000}}));
  ev.push_back(Ev(end + 60'000'000, "readback.result", "kvd",
                  {{"keys", 61000},
                   {"acked_writes", 61000},
                   {"lost", 3},
                   {"lost_examples", {{{"key", "k-10233"}, {"acked", true}, {"found", false}}}}}));
  ev.push_back(Ev(end + 70'000'000, "target.stopped", "kvd", {{"pid", 4188}}));
  ev.push_back(Ev(end + 71'000'000, "check.result", "no-lost-writes",
                  {{"kind", "no_lost_writes"},
                   {"verdict", "FAIL"},
                   {"measured", "3 lost of 61000"},
                   {"threshold", "0"},
                   {"evidence",
                    {"k-10233 acked at 9.998s, missing after restart",
                     "k-10240 acked at 9.999s, missing after restart",
                     "k-10241 acked at 10.000s, missing after restart"}},
                   {"duration_s", 0.012}}));
  ev.push_back(Ev(end + 72'000'000, "check.result", "restarted",
                  {{"kind", "restarted_within"},
                   {"verdict", "PASS"},
                   {"measured", "101ms"},
                   {"threshold", "<= 2s"},
                   {"evidence", {"kvd down 10.000s-10.101s"}},
                   {"duration_s", 0.001}}));
  ev.push_back(Ev(end + 73'000'000, "check.result", "p99-outside-faults",
                  {{"kind", "latency_p99"},
                   {"verdict", "PASS"},
                   {"measured", "1.5ms"},
                   {"threshold", "<= 50ms"},
                   {"duration_s", 0.002}}));
  ev.push_back(Ev(end + 80'000'000, "run.finished", "", {{"verdict", "FAIL"}}));
  return ev;
}

/// A short passing run with no load and no faults.
inline std::vector<Event> QuietPass() {
  int64_t t0 = kStartNs + 100 * kSec;
  return {
      Ev(t0, "run.started", "",
         {{"scenario", "graceful-stop"},
          {"file", "scenarios/graceful-stop.toml"},
          {"seed", 7},
          {"replay_command", "duende run scenarios/graceful-stop.toml --seed 7"},
          {"wall_start_ns", 1795000100000000000},
          {"duration_ns", 2 * kSec}}),
      Ev(t0 + 1'000'000, "target.spawned", "kvd", {{"pid", 5001}}),
      Ev(t0 + 30'000'000, "target.ready", "kvd", {{"pid", 5001}, {"after_ns", 29'000'000}}),
      Ev(t0 + 2 * kSec, "target.stopped", "kvd", {{"pid", 5001}}),
      Ev(t0 + 2 * kSec + 1'000'000, "check.result", "clean-exit",
         {{"kind", "exit_code"}, {"verdict", "PASS"}, {"measured", 0}, {"threshold", 0}}),
      Ev(t0 + 2 * kSec + 2'000'000, "run.finished", "", {{"verdict", "PASS"}}),
  };
}

/// Text that breaks naive escaping: markup, quotes, control characters, invalid UTF-8,
/// characters XML 1.0 forbids, CR, emoji, "]]>".
inline std::string NastyText() {
  return std::string("a<b>&\"c'd ]]> \x01\x02\x1b[31mred\x1b[0m \x7f tab\tcr\r\nnl ") +
         "\xff\xfe\xc3\x28 \xed\xa0\x80 \xef\xbf\xbf \xf0\x9f\x92\xa5 | `code` *x* "
         "<script>alert(1)</script>";
}

/// A run whose every string field carries NastyText().
inline std::vector<Event> NastyRun() {
  std::string n = NastyText();
  int64_t t0 = kStartNs;
  return {
      Ev(t0, "run.started", "",
         {{"scenario", n},
          {"file", n},
          {"description", n},
          {"seed", 1},
          {"replay_command", n},
          {"hostname", n},
          {"tool_version", n}}),
      Ev(t0 + kSec, "fault.injected", n, {{"kind", n}, {"on", n}}),
      Ev(t0 + 2 * kSec, "target.exited", n, {{"status", n}}),
      Ev(t0 + 3 * kSec, "check.result", n,
         {{"kind", n},
          {"verdict", "FAIL"},
          {"measured", n},
          {"threshold", n},
          {"evidence", {n, n}}}),
      Ev(t0 + 3 * kSec, "check.result", n + "2",
         {{"kind", n}, {"verdict", "ERROR"}, {"measured", n}, {"threshold", n}}),
      Ev(t0 + 4 * kSec, "run.finished", "", {{"verdict", "ERROR"}, {"error", n}}),
  };
}

}  // namespace duende::reporters::testing
