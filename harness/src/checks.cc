#include "duende/harness/checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "checks_internal.h"
#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/toml_reader.h"
#include "duende/harness/check_kinds.h"
#include "duende/harness/load_history.h"
#include "duende/model/events.h"

namespace duende::harness {
namespace check_internal {

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

int64_t I64(const nlohmann::json& d, const char* key, int64_t dflt) {
  return events::IntField(d, key, dflt);
}

std::string Str(const nlohmann::json& d, const char* key) { return events::StringField(d, key); }

Log::Log(const Events& e) : events(e) {
  if (!e.empty()) start_ns = e.front().ts_ns;
  for (const auto& ev : e) {
    if (ev.type == events::kRunStarted) start_ns = ev.ts_ns;
    if (ev.type == events::kRunPhase && Str(ev.data, "phase") == "stopping") {
      stopping_ns = std::min(stopping_ns, ev.ts_ns);
    }
  }
}

std::string Log::At(int64_t ts) const { return "+" + Dur(ts - start_ns); }

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

}  // namespace check_internal

namespace {

namespace events = model::events;
using check_internal::Base;
using check_internal::IsCrash;
using check_internal::Log;
using framework::TomlReader;
using model::CheckResult;
using model::Event;
using model::Verdict;
using Events = std::vector<model::Event>;

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

void RateParam(TomlReader& r, const CheckParam& p, CheckSpec& c) {
  c.min_rate = r.Double(p.key, 0, 1e9, p.required);
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
      {"reply_latency",
       "p99 latency <= `max` over every reply and timeout, fault windows included (a daemon "
       "that waits on a dead dependency instead of failing fast shows here)",
       {{"max", true, DurationParam<&C::max_latency>}},
       [](const C& c, const Scenario&, const Events& e) { return ReplyLatency(c, Log(e)); }},
      {"admitted_latency",
       "p99 latency <= `max` over the successful requests only (those a daemon admitted and "
       "served; its fast refusals are left out)",
       {{"max", true, DurationParam<&C::max_latency>}},
       [](const C& c, const Scenario&, const Events& e) { return AdmittedLatency(c, Log(e)); }},
      {"goodput",
       "successful replies per second over the load's span >= `min`",
       {{"min", true, RateParam}},
       [](const C& c, const Scenario&, const Events& e) { return Goodput(c, Log(e)); }},
      {"gives_up",
       "the supervisor gives up on the target (start limit) within `within` of its first start",
       {{"within", true, DurationParam<&C::within>}},
       [](const C& c, const Scenario& s, const Events& e) { return GivesUp(c, s, Log(e)); }},
  };
  static const std::vector<CheckKind> kAll = WithModelChecks(kKinds);
  return kAll;
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
