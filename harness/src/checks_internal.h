// What the check evaluators share: the log context every check reads, the evidence and verdict
// helpers, and the evaluators themselves (one file per family of checks; the registry in
// checks.cc names them).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "duende/harness/checks.h"
#include "duende/harness/scenario.h"
#include "duende/model/events.h"
#include "duende/model/model.h"

namespace duende::harness::check_internal {

using model::CheckResult;
using model::Event;
using model::Verdict;
using Events = std::vector<Event>;
namespace events = model::events;

/// Evidence lines a check keeps; one more line "..." says that some were left out.
inline constexpr size_t kMaxEvidence = 12;

/// "1.204s", "350ms": a duration in nanoseconds as the reports print it.
std::string Dur(int64_t ns);
/// "512 B", "1.5 KiB", "3.0 MiB".
std::string Bytes(uint64_t b);
/// A share (0..1) as "12.34%".
std::string Pct(double x);
/// The integer field `key` of an event's data; `dflt` when it is missing or not a number.
int64_t I64(const nlohmann::json& d, const char* key, int64_t dflt = 0);
/// The string field `key` of an event's data; "" when missing.
std::string Str(const nlohmann::json& d, const char* key);

/// The context every check needs: the run's start (for "+1.2s" times) and the start of the
/// stop phase (exits after it are the run's own, not crashes).
struct Log {
  const Events& events;
  int64_t start_ns = 0;
  int64_t stopping_ns = INT64_MAX;

  explicit Log(const Events& e);
  /// `ts` relative to the run's start: "+1.204s".
  std::string At(int64_t ts) const;
};

/// A result named after the check, verdict PASS, nothing measured yet.
CheckResult Base(const CheckSpec& c);
/// Appends an evidence line, up to kMaxEvidence and then one "...".
void Evidence(CheckResult& r, std::string line);
/// `r` as FAIL with `why` as its first evidence line.
CheckResult Fail(CheckResult r, std::string why);
/// How a target.exited event ended: its status text, "killed by signal N" or the exit code.
std::string ExitText(const Event& e);
/// `text` with control characters escaped, for evidence quoting a target's bytes.
std::string Printable(std::string_view text);
/// An exit the run did not ask for (a target.exited before the stop phase).
bool IsCrash(const Log& log, const Event& e);
/// The targets a check judges: its `target`, or every target the run started.
std::set<std::string> TargetsOf(const CheckSpec& c, const Scenario& s);

// The evaluators, one per check kind (check_kinds.h lists them with their parameters).
CheckResult RestartWithin(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult BackoffPolicy(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult GivesUp(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult ExitCodes(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult NoLostWrites(const CheckSpec& c, const Log& log);
CheckResult Availability(const CheckSpec& c, const Log& log);
CheckResult ErrorRate(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult P99Latency(const CheckSpec& c, const Log& log);
CheckResult RecoversWithin(const CheckSpec& c, const Log& log);
CheckResult ReplyLatency(const CheckSpec& c, const Log& log);
CheckResult AdmittedLatency(const CheckSpec& c, const Log& log);
CheckResult Goodput(const CheckSpec& c, const Log& log);
CheckResult NoOrphans(const CheckSpec& c, const Log& log);
CheckResult MaxRss(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult FdGrowth(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult MemoryLocked(const CheckSpec& c, const Scenario& s, const Log& log);
CheckResult LogMatch(const CheckSpec& c, const Scenario& s, const Log& log, bool never);
CheckResult CommandProbe(const CheckSpec& c, const Log& log);
// Model checks over a mixed workload's history (checks_models.cc).
CheckResult CounterCheck(const CheckSpec& c, const Log& log);
CheckResult SetCheck(const CheckSpec& c, const Log& log);
CheckResult RegisterCheck(const CheckSpec& c, const Log& log);
CheckResult QueueCheck(const CheckSpec& c, const Log& log);
// Linearizability of the read/write history (checks_linearizable.cc).
CheckResult LinearizableCheck(const CheckSpec& c, const Log& log);
/// The implicit "faults-took-effect" check every scenario with faults gets.
CheckResult FaultsTookEffect(const Log& log);

}  // namespace duende::harness::check_internal

namespace duende::harness {
struct CheckKind;
/// `kinds` followed by the model checks (counter, set, register, kv, queue).
std::vector<CheckKind> WithModelChecks(const std::vector<CheckKind>& kinds);
}  // namespace duende::harness
