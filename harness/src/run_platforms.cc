// Targets on another platform than duende's own supervisor (platform = "systemd", "oci", ...):
// started through the platform's adapter, which restarts them by the platform's own policy and
// reports what happens as the supervisor's events. What the platform needs (a private systemd
// user manager, an OCI bundle) is made here, journaled, and removed at the end of the run.
#include "run.h"

namespace duende::harness::internal {
namespace {

// The `power-loss` fault: the platform cuts the daemon's power (Adapter::PowerLoss). The
// adapter is looked up when the fault is injected (faults are made before targets start).
class PowerLoss final : public faults::Fault {
 public:
  explicit PowerLoss(std::function<adapters::Adapter*()> find) : find_(std::move(find)) {
    rec_.kind = kPowerLossKind;
  }
  framework::Result<void> Inject(const faults::TargetRef& target) override {
    rec_.injected_ns = MonotonicNs();
    adapters::Adapter* a = find_();
    if (a == nullptr) {
      return framework::MessageError(
          "target " + target.name +
              ": platform native has no power to cut (use platform = \"microvm\")",
          std::errc::operation_not_supported);
    }
    DUENDE_TRY(a->PowerLoss());
    rec_.took_effect = true;
    rec_.evidence.push_back(std::string("power cut on platform ") +
                            adapters::PlatformName(a->platform()));
    return {};
  }
  framework::Result<void> Heal() override {
    if (rec_.healed_ns == 0) rec_.healed_ns = MonotonicNs();
    return {};
  }
  faults::FaultRecord Record() const override { return rec_; }

 private:
  std::function<adapters::Adapter*()> find_;
  faults::FaultRecord rec_;
};

// `kill` and `pause` on a platform whose host pid is not the daemon's (microvm: qemu): the
// signal goes through Adapter::Kill, which reaches the daemon inside. Pause stops it with
// SIGSTOP until healed, then SIGCONT.
class AdapterSignal final : public faults::Fault {
 public:
  AdapterSignal(std::string kind, int signal, std::function<adapters::Adapter*()> find)
      : signal_(signal), find_(std::move(find)) {
    rec_.kind = std::move(kind);
  }
  ~AdapterSignal() override { (void)Heal(); }
  framework::Result<void> Inject(const faults::TargetRef& target) override {
    rec_.injected_ns = MonotonicNs();
    adapter_ = find_();
    if (adapter_ == nullptr) {
      return framework::ErrnoError("target " + target.name + " has no platform adapter", ESRCH);
    }
    const auto before = adapter_->Status();
    DUENDE_TRY(adapter_->Kill(signal_));
    rec_.took_effect = true;
    rec_.evidence.push_back(
        "sent " + framework::SignalName(signal_) + " to " + target.name + " through the " +
        adapters::PlatformName(adapter_->platform()) + " adapter" +
        (before.ok() && before->pid > 0 ? " (platform pid " + std::to_string(before->pid) + ")"
                                        : std::string()));
    stopped_ = signal_ == SIGSTOP;
    return {};
  }
  framework::Result<void> Heal() override {
    if (rec_.injected_ns == 0 || rec_.healed_ns != 0) return {};
    rec_.healed_ns = MonotonicNs();
    if (stopped_ && adapter_ != nullptr) {
      stopped_ = false;
      auto r = adapter_->Kill(SIGCONT);
      rec_.evidence.push_back(r.ok() ? "sent SIGCONT through the adapter"
                                     : "SIGCONT through the adapter: " + r.error().Message());
      // A daemon that died while stopped is no longer there to continue: not an error.
      if (!r.ok() && r.error().code != std::errc::no_such_process) return r.error();
    }
    return {};
  }
  faults::FaultRecord Record() const override { return rec_; }

 private:
  int signal_;
  std::function<adapters::Adapter*()> find_;
  adapters::Adapter* adapter_ = nullptr;
  bool stopped_ = false;
  faults::FaultRecord rec_;
};

}  // namespace

adapters::Adapter* Run::TargetAdapter(const std::string& target) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(target);
  return it == targets_.end() ? nullptr : it->second.adapter.get();
}

framework::Result<std::unique_ptr<faults::Fault>> Run::AdapterSignalFault(const FaultSpec& f) {
  int signal = SIGSTOP;
  if (f.kind == "kill") {
    const std::string name = (*f.table)["signal"].value_or(std::string("SIGKILL"));
    signal = framework::ParseSignal(name);
    if (signal <= 0) {
      return framework::MessageError("fault " + f.name + ": unknown signal '" + name + "'");
    }
  }
  const std::string target = f.target;
  return std::unique_ptr<faults::Fault>(
      new AdapterSignal(f.kind, signal, [this, target] { return TargetAdapter(target); }));
}

bool Run::SignalsThroughAdapter(const FaultSpec& f) const {
  if (f.kind != "kill" && f.kind != "pause") return false;
  for (const auto& t : s_.targets) {
    if (t.name != f.target) continue;
    auto p = adapters::ParsePlatform(t.platform);
    if (!p) return false;
    const auto traits = adapters::TraitsOf(*p);
    return traits.signals && !traits.host_pid;
  }
  return false;
}

framework::Result<std::unique_ptr<faults::Fault>> Run::PowerLossFault(const std::string& target) {
  return std::unique_ptr<faults::Fault>(
      new PowerLoss([this, target] { return TargetAdapter(target); }));
}

bool Run::StartOnPlatform(const std::string& name, TargetState& st, framework::DaemonConfig c) {
  const std::string& pname = st.spec->platform;
  const auto platform = adapters::ParsePlatform(pname);
  if (!platform) {
    Fail("target " + name + ": " + adapters::CannotRun(pname));
    return false;
  }
  adapters::AdapterOptions options;
  std::string detail = "platform " + pname;
  if (*platform == adapters::Platform::kSystemd) {
    if (!systemd_) {
      // systemd is not PID 1 on every machine that runs scenarios: a private user manager in
      // a mount namespace of its own runs the units, and everything in it ends with it.
      auto m = adapters::SystemdUserManager::Start();
      if (!m.ok()) {
        Fail("target " + name +
             " (platform systemd): unable to start a private systemd user manager: " +
             m.error().Message());
        return false;
      }
      systemd_ = std::move(m).value();
      if (journal_) {
        // A killed run: its manager gets SIGTERM from the kernel (parent death signal) and
        // stops its units; the next heal kills it if it did not, and removes its directory.
        auto info = framework::ReadProcessInfo(systemd_->pid());
        if (info.ok()) {
          auto j = journal_->Begin(
              {"process", {std::to_string(info->pid), std::to_string(info->start_time)}});
          if (j.ok()) systemd_journal_.push_back(*j);
        }
        if (auto j = journal_->Begin({"dir", {systemd_->runtime_dir()}}); j.ok()) {
          systemd_journal_.push_back(*j);
        }
      }
    }
    systemd_->Configure(&options);
    options.log_dir = run_dir_ + "/logs";
    detail += " (private user manager pid " + std::to_string(systemd_->pid()) + ", " +
              systemd_->runtime_dir() + ")";
  } else if (*platform == adapters::Platform::kOci) {
    options.oci_bundle_dir = run_dir_ + "/oci-" + name;
    options.oci_container_id = env_.run_id + "-" + name;
    options.log_dir = run_dir_ + "/logs";
    // The working directory is bound read-write at the same path: the run directory, so
    // that the daemon's data ({run_dir}/...) outlives the container and is the host's.
    if (c.working_dir.empty()) c.working_dir = run_dir_;
    // libfiu's FIFOs and libfaketime's clock file are in the run directory: bound too.
    if (!st.fiu_prefix.empty() || !st.clock_file.empty()) {
      options.render.oci.writable_binds.push_back(run_dir_);
    }
    // `runc run` dies with duende (parent death signal) but its container would not: a killed
    // run's container is deleted by the next heal.
    if (journal_) {
      if (auto j = journal_->Begin({"oci-container", {options.oci_container_id}}); j.ok()) {
        st.platform_journal = *j;
      }
    }
    detail +=
        " (bundle " + options.oci_bundle_dir + ", container " + options.oci_container_id + ")";
  } else if (*platform == adapters::Platform::kWasi) {
    // The bridge listens on the target's address and feeds the module's stdin/stdout.
    if (st.port != 0) options.render.wasi.address = "127.0.0.1:" + std::to_string(st.port);
    options.log_dir = run_dir_ + "/logs";
    detail += " (node:wasi behind a TCP bridge on port " + std::to_string(st.port) + ")";
  } else if (*platform == adapters::Platform::kMicrovm) {
    // The VM's directory (initramfs, data disk, console log) lives in the run directory; the
    // adapter journals it for a killed run.
    options.render.microvm.state_dir = run_dir_;
    if (st.port != 0) options.render.microvm.port = st.port;
    detail += " (qemu microVM, port " + std::to_string(st.port) + " forwarded)";
  }
  auto a = adapters::MakeAdapter(*platform, c, options);
  if (!a.ok()) {
    Fail("target " + name + " (platform " + pname + "): " + a.error().Message());
    return false;
  }
  {
    std::lock_guard lock(mu_);
    st.adapter = std::move(a).value();
  }
  st.adapter->Subscribe([this](const framework::ServiceEvent& ev) { OnServiceEvent(ev); });
  rec_.Record(events::kTargetTracking, name, {{"mode", "platform"}, {"detail", detail}});
  if (auto r = st.adapter->Start(); !r.ok()) {
    Fail("unable to start " + name + " on platform " + pname + ": " + r.error().Message());
    return false;
  }
  return true;
}

pid_t Run::PlatformMainPid(const std::string& name) {
  adapters::Adapter* a = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = targets_.find(name);
    if (it != targets_.end()) a = it->second.adapter.get();
  }
  if (a == nullptr) return 0;
  auto s = a->Status();
  return s.ok() && s->pid > 0 ? s->pid : -1;
}

void Run::RemovePlatformTargets() {
  for (auto& [name, t] : targets_) {
    if (!t.adapter) continue;
    if (auto r = t.adapter->Remove(); !r.ok()) {
      rec_.Record(events::kTargetTracking, name,
                  {{"mode", "platform"}, {"detail", "removing it: " + r.error().Message()}});
    }
    if (t.platform_journal != 0 && journal_) journal_->Done(t.platform_journal);
    t.platform_journal = 0;
  }
  if (systemd_) {
    // What the manager still runs after its units were stopped is a leftover of the run.
    // (The manager's destructor kills them.)
    for (pid_t p : systemd_->ProcessesInNamespace()) {
      platform_leftovers_.push_back(internal::LeftoverJson(p, ""));
    }
    systemd_.reset();
    for (uint64_t j : systemd_journal_) {
      if (journal_) journal_->Done(j);
    }
    systemd_journal_.clear();
  }
}

}  // namespace duende::harness::internal
