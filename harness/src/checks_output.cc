// Checks of what the targets printed and what the run observed: output patterns, the command
// probe, and whether each injected fault took effect.
#include "checks_internal.h"
#include "duende/harness/load_protocol.h"

namespace duende::harness::check_internal {

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
    // What the command printed is the evidence a probe script gives: its last lines.
    for (const char* stream : {"stdout", "stderr"}) {
      const std::string text = Str(e.data, stream);
      std::vector<std::string> lines;
      size_t from = 0;
      while (from < text.size()) {
        size_t nl = text.find('\n', from);
        if (nl == std::string::npos) nl = text.size();
        if (nl > from) lines.push_back(text.substr(from, nl - from));
        from = nl + 1;
      }
      constexpr size_t kLines = 5;
      const size_t first = lines.size() > kLines ? lines.size() - kLines : 0;
      for (size_t i = first; i < lines.size(); ++i) {
        Evidence(r, std::string(stream) + ": " + Printable(lines[i].substr(0, 300)));
      }
    }
    if (!ok) r.verdict = Verdict::kFail;
    return r;
  }
  return Fail(r, "the command probe did not run (no probe.result named " + c.name + ")");
}

namespace {

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
  for (const auto& sec : events::LoadSeconds(log.events)) {
    if (sec.start_ns < to && sec.end_ns > from) failed += sec.errors + sec.timeouts;
  }
  if (failed > 0) {
    return "the target reacted: " + std::to_string(failed) +
           " failed request(s) in the load seconds around the fault";
  }
  return "";
}

}  // namespace

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

}  // namespace duende::harness::check_internal
