#include "run.h"

namespace duende::harness::internal {

std::vector<ProbeSpec> Run::SteadyProbes() {
  std::vector<ProbeSpec> probes;
  for (const auto& p : s_.steady_state.probes) {
    ProbeSpec e = p;
    e.address = Expand(p.address);
    for (auto& a : e.command) a = Expand(a);
    e.send = Expand(p.send);
    probes.push_back(e);
  }
  if (probes.empty()) {
    // Implicit steady state: the load's address (or each target's) accepts connections.
    std::set<std::string> addresses;
    if (load_config_) addresses.insert(load_config_->address);
    if (addresses.empty()) {
      for (const auto& [name, t] : targets_) {
        if (!t.expanded.address.empty()) addresses.insert(t.expanded.address);
      }
    }
    for (const auto& a : addresses) {
      ProbeSpec p;
      p.name = "connect " + a;
      p.kind = ProbeSpec::Kind::kTcp;
      p.address = a;
      p.timeout = std::chrono::milliseconds(500);
      probes.push_back(p);
    }
  }
  return probes;
}

bool Run::ProbeRound(const std::string& phase, const std::string& fault, bool record_failure) {
  auto probes = SteadyProbes();
  bool all_ok = true;
  json failed = json::array();
  std::vector<std::pair<ProbeSpec, internal::ProbeOutcome>> results;
  for (const auto& p : probes) {
    auto r = internal::RunProbe(p);
    CheckOwnListener(p, &r);
    if (!r.ok) {
      all_ok = false;
      failed.push_back(p.name + ": " + r.detail);
    }
    results.emplace_back(p, r);
  }
  if (probes.empty()) {
    // Nothing to probe: steady means every supervised target is up and ready.
    std::lock_guard lock(mu_);
    for (const auto& [name, t] : targets_) {
      if (!t.spec->external && t.spec->await_ready && !t.ready) {
        all_ok = false;
        failed.push_back(name + " is not ready");
      }
    }
  }
  if (all_ok || record_failure) {
    for (const auto& [p, r] : results) {
      json d = {{"name", p.name}, {"ok", r.ok}, {"detail", r.detail}, {"phase", phase}};
      // A command probe's output is its evidence (bounded by RunProbe).
      if (!r.out.empty()) d["stdout"] = r.out;
      if (!r.err.empty()) d["stderr"] = r.err;
      rec_.Record(events::kProbeResult, p.name, d);
    }
    json d = {{"phase", phase}, {"ok", all_ok}, {"failed", failed}};
    if (!fault.empty()) d["fault"] = fault;
    rec_.Record(events::kSteadyState, "", d);
  }
  return all_ok;
}

bool Run::WaitSteady(const std::string& phase, const std::string& fault, int64_t timeout_ns) {
  const int64_t deadline = MonotonicNs() + timeout_ns;
  int64_t next_record = 0;
  while (true) {
    int64_t now = MonotonicNs();
    bool record = now >= deadline || now >= next_record;
    if (record) next_record = now + 500 * kMs;
    if (ProbeRound(phase, fault, record)) return true;
    if (now >= deadline) return false;
    if (stop_threads_ || !SleepUntil(std::min(deadline, MonotonicNs() + kProbeEveryNs))) {
      return false;
    }
  }
}

void Run::Inject(FaultInstance& f, int64_t scheduled_ns) {
  if (f.spec->select && !f.selection_done) return InjectSelected(f, scheduled_ns);
  const int64_t start = MonotonicNs();
  faults::TargetRef ref;
  ref.name = f.spec->target;
  {
    std::lock_guard lock(mu_);
    auto& t = targets_.at(f.spec->target);
    ref.pid = t.pid;
    ref.pgid = t.pgid;
    ref.fiu_fifo_prefix = t.fiu_prefix;
    ref.clock_file = t.clock_file;
    ref.port = t.port;
    active_kind_[f.spec->target] = f.spec->kind;
    last_fault_ns_[f.spec->target] = start;
  }
  // A platform target's main process is the one the platform reports now (systemd's
  // MainPID, the daemon under the container's init), not the process duende spawned.
  // A partition acts between nodes, not on the target's process.
  const bool by_adapter = f.spec->kind == kPowerLossKind || SignalsThroughAdapter(*f.spec) ||
                          f.spec->kind == "partition";
  if (ref.pid > 0 || by_adapter) {
    if (pid_t main = PlatformMainPid(f.spec->target); main != 0) {
      ref.pid = main;
      ref.pgid = -1;
    }
  }
  // A partition acts on links between nodes, not on one target: its groups are in the
  // evidence of fault.fired.
  json injected = {{"kind", f.spec->kind},
                   {"on", f.spec->kind == "partition" ? "" : f.spec->target},
                   {"pid", ref.pid},
                   {"scheduled_ns", scheduled_ns},
                   {"lag_ns", start - scheduled_ns},
                   {"params", FaultParams(*f.spec)}};
  if (!f.selection.is_null()) injected["select"] = f.selection;
  rec_.Record(events::kFaultInjected, f.spec->name, std::move(injected));
  auto r = ref.pid > 0 || by_adapter
               ? f.fault->Inject(ref)
               : framework::Result<void>(framework::ErrnoError(
                     "target " + ref.name + " has no running process", ESRCH));
  f.injected = true;
  if (!r.ok()) {
    f.failed = true;
    rec_.Record(events::kFaultError, f.spec->name, {{"error", r.error().Message()}});
    // A target that is down (ESRCH) is part of the story; anything else means the fault
    // could not be done here at all.
    if (r.error().code != std::errc::no_such_process) {
      Fail("fault " + f.spec->name + " could not be injected: " + r.error().Message());
    }
    return;
  }
  auto rec = f.fault->Record();
  if (rec.took_effect) {
    std::string ev;
    for (const auto& e : rec.evidence) ev += (ev.empty() ? "" : "; ") + e;
    rec_.Record(events::kFaultFired, f.spec->name, {{"evidence", ev}});
  }
}

void Run::Heal(FaultInstance& f) {
  for (auto& other : f.more) Heal(other);
  if (f.healed) return;
  f.healed = true;
  if (f.failed) {
    (void)f.fault->Heal();  // whatever half-happened is undone; fault.error said the rest
    return;
  }
  auto r = f.fault->Heal();
  auto rec = f.fault->Record();
  std::string ev;
  for (const auto& e : rec.evidence) ev += (ev.empty() ? "" : "; ") + e;
  json d = {{"took_effect", rec.took_effect}, {"evidence", ev}};
  if (rec.effects >= 0) d["effects"] = rec.effects;
  if (!r.ok()) d["heal_error"] = r.error().Message();
  rec_.Record(events::kFaultHealed, f.spec->name, d);
  {
    std::lock_guard lock(mu_);
    active_kind_.erase(f.spec->target);
  }
  {
    std::lock_guard lock(recovery_mu_);
    recovery_queue_.push_back(f.spec->name);
  }
  recovery_cv_.notify_all();
}

bool Run::Timeline() {
  struct Action {
    int64_t at;
    bool inject;
    size_t index;
  };
  std::vector<Action> actions;
  for (size_t i = 0; i < faults_.size(); ++i) {
    actions.push_back({faults_[i].inject_at, true, i});
    // An instant fault (no duration) is healed right after its injection, in the same step.
    if (faults_[i].heal_at > faults_[i].inject_at) {
      actions.push_back({faults_[i].heal_at, false, i});
    }
  }
  // Heals before injections at the same instant; otherwise in time order.
  std::stable_sort(actions.begin(), actions.end(), [](const Action& a, const Action& b) {
    return a.at != b.at ? a.at < b.at : (!a.inject && b.inject);
  });
  framework::UniqueFd tfd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
  if (!tfd) {
    Fail(std::string("timerfd_create: ") + std::strerror(errno));
    return false;
  }
  auto wait_until = [&](int64_t abs_ns) -> bool {
    itimerspec its{};
    its.it_value.tv_sec = abs_ns / 1000000000;
    its.it_value.tv_nsec = abs_ns % 1000000000;
    timerfd_settime(tfd.get(), TFD_TIMER_ABSTIME, &its, nullptr);
    while (true) {
      pollfd p[2] = {{tfd.get(), POLLIN, 0}, {o_.abort_fd, POLLIN, 0}};
      int n = poll(p, o_.abort_fd >= 0 ? 2 : 1, -1);
      if (n < 0 && errno == EINTR) continue;
      if (o_.abort_fd >= 0 && (p[1].revents & POLLIN) != 0) return !Aborted();
      if ((p[0].revents & POLLIN) != 0) {
        uint64_t expirations = 0;
        (void)!read(tfd.get(), &expirations, sizeof expirations);
        return true;
      }
    }
  };
  for (size_t k = 0; k < actions.size(); ++k) {
    const Action a = actions[k];  // a copy: a deferred heal below inserts into `actions`
    int64_t when = t0_ + a.at;
    if (!wait_until(when)) return false;
    FaultInstance& f = faults_[a.index];
    if (a.inject) {
      Inject(f, when);
      if (f.heal_at == f.inject_at) Heal(f);
    } else if (f.injected && f.heal_at > a.at) {
      // Its injection moved its heal later (a [fault.select] probe took time): keep its duration.
      const Action later{f.heal_at, false, a.index};
      actions.insert(
          std::upper_bound(actions.begin() + static_cast<ptrdiff_t>(k) + 1, actions.end(), later,
                           [](const Action& x, const Action& y) { return x.at < y.at; }),
          later);
    } else if (f.injected) {
      Heal(f);
    }
  }
  return wait_until(t0_ + s_.meta.duration.count());
}

void Run::RecoveryLoop() {
  while (true) {
    std::string fault;
    {
      std::unique_lock lock(recovery_mu_);
      recovery_cv_.wait(lock, [&] { return stop_threads_ || !recovery_queue_.empty(); });
      if (stop_threads_) return;
      fault = recovery_queue_.front();
      recovery_queue_.erase(recovery_queue_.begin());
    }
    WaitSteady("recovery", fault, s_.steady_state.recover_timeout.count());
  }
}

void Run::CheckOwnListener(const ProbeSpec& probe, internal::ProbeOutcome* outcome) {
  if (!outcome->ok || !sup_ || probe.kind == ProbeSpec::Kind::kCommand) return;
  const uint16_t port = PortOf(probe.address);
  for (const auto& [name, t] : targets_) {
    if (t.spec->external || t.port == 0 || t.port != port) continue;
    // A platform's daemon holds its listener inside the platform (a container's namespaces).
    if (t.adapter) return;
    auto members = sup_->Members(name);
    std::string why = framework::ListenerNotHeldBy(
        probe.address, members.ok() ? *members : std::vector<pid_t>{}, "target " + name);
    if (!why.empty()) *outcome = {false, why};
    return;
  }
}

}  // namespace duende::harness::internal
