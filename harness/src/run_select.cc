// Making a run's fault injectors, and faults whose target a probe selects when they fire
// ([fault.select], docs/cluster.md): the probe runs against each candidate in rounds 100 ms
// apart until one passes or `within` is over; the fault then acts on the chosen target(s), and
// its fault.injected says which and why. When none passes, the fault is recorded as not having
// taken effect (so faults-took-effect fails with the reason), and the run goes on.
#include "run.h"

namespace duende::harness::internal {

namespace {

constexpr int64_t kSelectRoundEveryNs = 100 * kMs;

// "http GET /metrics", "request 'INFO'", "tcp connect", "command sh -c ...".
std::string DescribeProbe(const ProbeSpec& p) {
  switch (p.kind) {
    case ProbeSpec::Kind::kHttp:
      return "http GET " + p.path;
    case ProbeSpec::Kind::kRequest:
      return "request '" + p.send + "'";
    case ProbeSpec::Kind::kTcp:
      return "tcp connect";
    case ProbeSpec::Kind::kCommand: {
      std::string out = "command";
      for (const auto& a : p.command) out += " " + a;
      return out;
    }
  }
  return "?";
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

json FaultParams(const FaultSpec& f) {
  json params = TomlToJson(*f.table);
  for (const char* k : {"name", "kind", "target", "at", "duration", "repeat", "every", "select"}) {
    params.erase(k);
  }
  return params;
}

framework::Result<std::unique_ptr<faults::Fault>> Run::MakeFault(const FaultSpec& f) {
  auto diags = std::make_shared<framework::Diagnostics>();
  // String parameters may name run variables (a disk fault's path = "{run_dir}/kvd").
  toml::table params = *f.table;
  for (auto&& [key, value] : params) {
    if (auto* text = value.as_string()) *text = Expand(text->get());
  }
  // The selection is the harness's, not the injector's; it makes a partition's node.
  params.erase("select");
  if (f.select && f.kind == "partition" && !f.node.empty()) params.insert_or_assign("node", f.node);
  framework::TomlReader r(params, f.file, "[[fault]] " + f.name, diags);
  return f.kind == kPowerLossKind   ? PowerLossFault(f.target)
         : SignalsThroughAdapter(f) ? AdapterSignalFault(f)
                                    : faults::CreateFault(f.kind, r, env_);
}

ProbeSpec Run::CandidateProbe(const ProbeSpec& probe, const std::string& target) {
  std::string address, node;
  pid_t pid = -1;
  {
    std::lock_guard lock(mu_);
    const TargetState& t = targets_.at(target);
    address = t.expanded.address;
    node = t.spec->node;
    pid = t.pid;
  }
  const auto hp = framework::SplitHostPort(address);
  auto lookup = [&](std::string_view v) -> std::optional<std::string> {
    if (v == "select.target") return target;
    if (v == "select.address") return address;
    if (v == "select.host") return hp ? std::string(hp->host) : "";
    if (v == "select.port") return hp ? std::to_string(hp->port) : "";
    if (v == "select.node") return node;
    if (v == "select.pid") return std::to_string(pid);
    return std::nullopt;
  };
  auto expand = [&](const std::string& text) { return Expand(ExpandVariables(text, lookup)); };
  ProbeSpec p = probe;
  p.name = probe.name + " on " + target;
  p.address = expand(probe.address);
  p.path = expand(probe.path);
  p.send = expand(probe.send);
  for (auto& a : p.command) a = expand(a);
  return p;
}

void Run::InjectSelected(FaultInstance& f, int64_t scheduled_ns) {
  const FaultSpec& spec = *f.spec;  // the scenario's
  const FaultSelectSpec& sel = *spec.select;
  f.selection_done = true;
  const int64_t start = MonotonicNs();
  const int64_t deadline = start + sel.within.count();
  std::vector<std::string> passed;
  json candidates = json::object();
  int rounds = 0;
  while (true) {
    ++rounds;
    for (const auto& c : sel.candidates) {
      auto r = RunProbe(CandidateProbe(sel.probe, c));
      candidates[c] = {{"ok", r.ok}, {"detail", r.detail}};
      if (r.ok) passed.push_back(c);
    }
    if (!passed.empty() || MonotonicNs() >= deadline) break;
    if (!SleepUntil(std::min(deadline, MonotonicNs() + kSelectRoundEveryNs))) break;
  }
  if (passed.empty() && aborted_) {
    f.injected = f.healed = true;  // interrupted while looking: nothing to record or heal
    return;
  }
  const int64_t took = MonotonicNs() - start;
  std::vector<std::string> chosen = passed;
  if (!sel.all && passed.size() > 1) {
    // One of them, the same one for the same seed.
    std::mt19937_64 rng(seed_ ^ (static_cast<uint64_t>(f.inject_at) * 0x9E3779B97F4A7C15ull));
    chosen = {passed[rng() % passed.size()]};
  }
  const std::string what = sel.role.empty() ? "selected" : sel.role;
  const std::string probe = DescribeProbe(sel.probe);
  std::string reason = what + " by probe " + probe;
  std::vector<std::string> not_passed;
  for (const auto& c : sel.candidates) {
    if (std::find(passed.begin(), passed.end(), c) == passed.end()) not_passed.push_back(c);
  }
  if (!passed.empty()) {
    reason += ": " + Join(passed) + " passed (" +
              candidates[passed.front()]["detail"].get<std::string>() + ")";
    if (!not_passed.empty()) reason += "; " + Join(not_passed) + " did not";
  }
  reason += " (round " + std::to_string(rounds) + ", " +
            framework::FormatDuration(nanoseconds{took}) + ")";
  json selection = {{"role", sel.role},           {"probe", probe},
                    {"expect", sel.probe.expect}, {"pick", sel.all ? "all" : "one"},
                    {"passed", passed},           {"candidates", candidates},
                    {"rounds", rounds},           {"took_ns", took}};
  if (chosen.empty()) {
    std::string why = "no candidate passed the " + what + " probe (" + probe + ") within " +
                      framework::FormatDuration(sel.within) + " (" + std::to_string(rounds) +
                      " rounds)";
    for (const auto& c : sel.candidates) {
      why += "; " + c + ": " + candidates[c]["detail"].get<std::string>();
    }
    selection["reason"] =
        "no " + what + " by probe " + probe + " within " + framework::FormatDuration(sel.within);
    f.injected = f.healed = true;
    rec_.Record(events::kFaultInjected, spec.name,
                {{"kind", spec.kind},
                 {"on", ""},
                 {"pid", -1},
                 {"scheduled_ns", scheduled_ns},
                 {"lag_ns", MonotonicNs() - scheduled_ns},
                 {"params", FaultParams(spec)},
                 {"select", selection}});
    // effects = 0: a counted miss, which failed requests around it cannot turn into an effect.
    rec_.Record(events::kFaultHealed, spec.name,
                {{"took_effect", false}, {"effects", 0}, {"evidence", "not injected: " + why}});
    return;
  }
  selection["reason"] = reason;
  // A fault with a duration lasts that long from when it fired, however long the probe took.
  if (f.heal_at > f.inject_at) f.heal_at += std::max<int64_t>(0, MonotonicNs() - t0_ - f.inject_at);
  // The instances first (`more` must not grow while one of them is in use), then each injection.
  f.more.resize(chosen.size() - 1);
  for (size_t i = 0; i < chosen.size(); ++i) {
    FaultInstance& inst = i == 0 ? f : f.more[i - 1];
    auto owned = std::make_shared<FaultSpec>(spec);
    owned->target = chosen[i];
    owned->name = sel.all ? spec.name + "@" + chosen[i] : spec.name;
    {
      std::lock_guard lock(mu_);
      owned->node = targets_.at(chosen[i]).spec->node;  // a partition isolates this node
    }
    inst.inject_at = f.inject_at;
    inst.heal_at = f.heal_at;
    inst.selection_done = true;
    inst.selection = selection;
    inst.selection["chosen"] = chosen[i];
    inst.selected_spec = owned;
    inst.spec = owned.get();
  }
  for (size_t i = 0; i < chosen.size(); ++i) {
    FaultInstance& inst = i == 0 ? f : f.more[i - 1];
    auto fault = MakeFault(*inst.spec);
    if (!fault.ok()) {
      inst.injected = inst.failed = true;
      rec_.Record(events::kFaultError, inst.spec->name, {{"error", fault.error().Message()}});
      Fail("fault " + inst.spec->name + " could not be made for " + chosen[i] + ": " +
           fault.error().Message());
      continue;
    }
    inst.fault = std::move(fault).value();
    Inject(inst, scheduled_ns);
  }
}

}  // namespace duende::harness::internal
