#include "run.h"

namespace duende::harness::internal {

// An exit no fault explains (none injected into the target in the last few seconds) and not
// part of the end-of-run stop; only the first one of each target gets its output shown.
bool Run::UnexpectedExit(const std::string& target, int64_t ts_ns) {
  if (stopping_) return false;
  std::lock_guard lock(mu_);
  auto f = last_fault_ns_.find(target);
  if (f != last_fault_ns_.end() && ts_ns - f->second < kFaultExplainsExitNs) return false;
  return tail_shown_.insert(target).second;
}

void Run::OnServiceEvent(const framework::ServiceEvent& ev) {
  using framework::EventType;
  json d = json::object();
  std::string type;
  {
    std::lock_guard lock(mu_);
    auto it = targets_.find(ev.service);
    TargetState* t = it == targets_.end() ? nullptr : &it->second;
    switch (ev.type) {
      case EventType::kSpawned:
        type = events::kTargetSpawned;
        d = {{"pid", ev.pid}, {"pgid", ev.pgid}};
        if (t != nullptr) {
          t->pid = ev.pid;
          t->pgid = ev.pgid;
          t->ready = false;
          t->ready_ns = 0;
          t->spawned_ns = ev.ts_ns;
          if (!t->clock_file.empty() && journal_) {
            // libfaketime's shared memory, named after this pid, outlives a SIGKILL.
            auto j = journal_->Begin({"faketime-shm", {std::to_string(ev.pid)}});
            if (j.ok()) t->faketime_journal[ev.pid] = *j;
          }
        }
        if (ev.pgid > 0) pgids_seen_.insert(ev.pgid);
        break;
      case EventType::kReady:
        type = events::kTargetReady;
        d = {{"pid", ev.pid}};
        if (t != nullptr) {
          t->ready = true;
          t->ready_ns = ev.ts_ns;
          d["after_ns"] = ev.ts_ns - t->spawned_ns;
        }
        break;
      case EventType::kExited: {
        type = events::kTargetExited;
        d = {{"pid", ev.pid}, {"code", nullptr}, {"signal", nullptr}};
        if (ev.exit) {
          if (ev.exit->signaled) {
            d["signal"] = ev.exit->signal;
          } else {
            d["code"] = ev.exit->code;
          }
          d["status"] = ev.exit->ToString();
        }
        if (!ev.left_running.empty()) {
          // It daemonized without pid_file: the run cannot track it (the supervisor killed
          // what it left); the run stops with the remedy.
          d["left_running"] = ev.left_running;
          d["remedy"] = ev.detail;
          if (t != nullptr) t->daemonized = true;
          if (daemonized_error_.empty())
            daemonized_error_ = "target " + ev.service + ": " + ev.detail;
        }
        auto k = active_kind_.find(ev.service);
        d["oom_kill"] = ev.exit && ev.exit->signaled && ev.exit->signal == SIGKILL &&
                        k != active_kind_.end() && k->second == "oom";
        if (t != nullptr) {
          t->ready = false;
          if (t->pid == ev.pid) t->pid = -1;
          if (auto j = t->faketime_journal.find(ev.pid); j != t->faketime_journal.end()) {
            faults::RemoveFaketimeShm(ev.pid);
            if (journal_) journal_->Done(j->second);
            t->faketime_journal.erase(j);
          }
        }
        break;
      }
      case EventType::kRestartScheduled:
        type = events::kTargetRestartScheduled;
        d = {{"delay_ns", ev.delay.count()}};
        if (t != nullptr) {
          // The backoff attempt: restarts in a row, reset once the child stayed up for
          // reset_after (the policy's rule, framework/backoff.h).
          const auto& b = t->spec->daemon.restart.backoff;
          if (t->ready_ns > 0 && ev.ts_ns - t->ready_ns >= b.reset_after.count()) t->attempt = 0;
          d["attempt"] = ++t->attempt;
        }
        break;
      case EventType::kGaveUp:
        type = events::kTargetGaveUp;
        d = {{"reason", ev.detail}};
        if (t != nullptr) t->gave_up = true;
        break;
      case EventType::kStopped:
        type = events::kTargetStopped;
        d = {{"pid", ev.pid}};
        break;
      case EventType::kSpawnFailed:
        type = events::kTargetSpawnFailed;
        d = {{"reason", ev.detail}};
        if (t != nullptr && ev.state == framework::ServiceState::kFailed) {
          t->spawn_error = ev.detail;
        }
        break;
      case EventType::kHealthFailed:
        type = events::kTargetHealthFailed;
        d = {{"pid", ev.pid}, {"reason", ev.detail}};
        break;
      case EventType::kStopping:
        type = events::kTargetStopping;
        d = {{"pid", ev.pid}};
        break;
      case EventType::kKilled:
        type = events::kTargetKilled;
        d = {{"pid", ev.pid}};
        break;
      case EventType::kNotRestarting:
        type = events::kTargetNotRestarting;
        d = {{"reason", ev.detail}};
        if (t != nullptr) t->gave_up = true;
        break;
      case EventType::kStatus:
        type = events::kTargetStatus;
        d = {{"text", ev.detail}};
        break;
      case EventType::kMainPid:
        type = events::kTargetMainPid;
        d = {{"pid", ev.pid}, {"pgid", ev.pgid}, {"detail", ev.detail}};
        if (t != nullptr) {
          t->pid = ev.pid;
          t->pgid = ev.pgid;
        }
        if (ev.pgid > 0) pgids_seen_.insert(ev.pgid);
        break;
    }
  }
  cv_.notify_all();
  rec_.Append(model::Event{ev.ts_ns, type, ev.service, d});
  if (ev.type == framework::EventType::kSpawned || ev.type == framework::EventType::kMainPid) {
    TraceProcess(ev.service, ev.pid);
  }
  if (ev.type == framework::EventType::kExited && UnexpectedExit(ev.service, ev.ts_ns)) {
    RecordOutputTail(ev.service, "exited", ev.pid);
  }
}

bool Run::StartTargets() {
  framework::SupervisorOptions so;
  so.log_dir = run_dir_ + "/logs";
  so.seed = seed_;
  so.subreaper = true;
  // Every target in a cgroup of its own (process groups where none can be made), and
  // readiness that counts only the target's own listener.
  static std::atomic<uint32_t> runs_in_process{0};
  so.cgroup_per_service = true;
  so.cgroup_prefix = "duende-" + std::to_string(getpid()) + "-" +
                     std::to_string(runs_in_process.fetch_add(1)) + "-";
  so.probes_need_own_listener = true;
  auto sup = framework::Supervisor::Create(so);
  if (!sup.ok()) {
    Fail("unable to create the supervisor: " + sup.error().Message());
    return false;
  }
  sup_ = std::move(sup).value();
  if (o_.on_supervisor) o_.on_supervisor(sup_.get());
  sup_->Subscribe([this](const framework::ServiceEvent& ev) { OnServiceEvent(ev); });
  std::map<std::string, framework::DaemonConfig> platform_configs;
  for (auto& [name, st] : targets_) {
    if (st.spec->external) continue;
    framework::DaemonConfig c = st.expanded.daemon;
    c.name = name;
    c.command = st.expanded.command;
    auto exe = ResolveProgram(c.command[0]);
    if (!exe.ok()) {
      Fail("target " + name + ": " + exe.error().Message());
      return false;
    }
    c.command[0] = *exe;
    if (!EnterNode(name, &c.command)) return false;
    c.env = st.expanded.env;
    c.working_dir = st.expanded.working_dir;
    c.pid_file = st.expanded.pid_file;
    for (auto* p : {&c.health.readiness, &c.health.liveness}) {
      if (p->address.empty()) p->address = st.expanded.address;
      p->address = Expand(p->address);
      for (auto& a : p->command) a = Expand(a);
    }
    for (auto& path : c.sandbox.read_only_paths) path = Expand(path);
    if (st.spec->fiu || st.spec->clock) {
      // libfiu's and libfaketime's preloads and settings reach the child through its
      // environment (one LD_PRELOAD: the last entry of a name wins, and each Prepare* folds
      // in the one before).
      framework::SpawnOptions so2;
      so2.argv = c.command;
      if (st.spec->fiu) {
        st.fiu_prefix = run_dir_ + "/fiu-" + name;
        auto r = faults::PrepareFiuSpawn(so2, st.fiu_prefix, seed_, journal_.get());
        if (!r.ok()) {
          Fail("target " + name + " needs libfiu (fiu = true): " + r.error().Message());
          return false;
        }
      }
      if (st.spec->clock) {
        st.clock_file = run_dir_ + "/clock-" + name;
        auto r = faults::PrepareFaketimeSpawn(so2, st.clock_file, journal_.get());
        if (!r.ok()) {
          Fail("target " + name + " needs libfaketime (clock = true): " + r.error().Message());
          return false;
        }
      }
      std::map<std::string, std::string> env;
      for (const auto& kv : so2.env_overrides) {
        size_t eq = kv.find('=');
        env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      for (auto& [k, v] : env) c.env.emplace_back(k, v);
    }
    if (!st.expanded.data_tmpfs_path.empty()) {
      framework::SpawnOptions wrap;
      wrap.argv = c.command;
      auto r =
          faults::PreparePrivateTmpfs(wrap, st.expanded.data_tmpfs_path, st.spec->data_tmpfs_bytes);
      if (!r.ok()) {
        Fail("target " + name +
             " needs a private tmpfs ([target.data_tmpfs]): " + r.error().Message());
        return false;
      }
      c.command = std::move(wrap.argv);
    }
    if (st.spec->platform != "native") {
      platform_configs.emplace(name, std::move(c));
      continue;
    }
    JournalTargetCgroup(st, so.cgroup_prefix + name);
    auto r = sup_->Add(c, /*start=*/false);
    if (!r.ok()) {
      Fail("target " + name + ": " + r.error().Message());
      return false;
    }
    RecordTracking(name);
  }
  sup_thread_ = std::thread([this] { (void)sup_->Run(); });
  for (auto& [name, st] : targets_) {
    if (st.spec->external) continue;
    // A node's ports are its namespace's own: the host's listeners do not matter there.
    if (st.spec->node.empty() && !CheckPortsFree(name, st)) return false;
    if (auto pc = platform_configs.find(name); pc != platform_configs.end()) {
      if (!StartOnPlatform(name, st, std::move(pc->second))) return false;
      continue;
    }
    auto r = sup_->Start(name);
    if (!r.ok()) {
      Fail("unable to start " + name + ": " + r.error().Message());
      return false;
    }
  }
  return true;
}

bool Run::WaitReady() {
  for (auto& [name, st] : targets_) {
    const auto& d = st.spec->daemon.health.readiness;
    int64_t timeout = std::min<int64_t>(d.grace_period.count(), 20'000 * kMs);
    const int64_t deadline = MonotonicNs() + timeout;
    if (st.spec->external) {
      // Found by its pid file and/or its address.
      while (true) {
        pid_t pid = -1;
        if (!st.expanded.pid_file.empty()) {
          // Checked like a started target's: no symbolic link, a regular file, one pid.
          auto named = framework::PidFile::ReadChecked(st.expanded.pid_file);
          pid = named.ok() ? *named : -1;
          if (pid > 0 && kill(pid, 0) != 0) pid = -1;
        }
        bool up = st.expanded.pid_file.empty() || pid > 0;
        if (up && !st.expanded.address.empty()) {
          std::string err;
          int fd = internal::ConnectWithTimeout(st.expanded.address, 200, &err);
          up = fd >= 0;
          if (fd >= 0) close(fd);
        }
        if (up) {
          std::lock_guard lock(mu_);
          st.pid = pid;
          st.ready = true;
          rec_.Record(events::kTargetReady, name, {{"pid", pid}, {"external", true}});
          break;
        }
        if (MonotonicNs() >= deadline) {
          Fail("external target " + name + " is not up (pid file " + st.expanded.pid_file +
               ", address " + st.expanded.address + ") after " +
               framework::FormatDuration(nanoseconds(timeout)));
          return false;
        }
        if (!SleepUntil(MonotonicNs() + 50 * kMs)) return false;
      }
      continue;
    }
    if (!st.spec->await_ready) continue;
    std::unique_lock lock(mu_);
    while (!st.ready && !st.gave_up && !st.daemonized) {
      lock.unlock();
      if (!SleepUntil(std::min(deadline, MonotonicNs() + 10 * kMs))) return false;
      lock.lock();
      if (MonotonicNs() >= deadline) break;
    }
    if (!st.ready && st.daemonized) {
      Fail(daemonized_error_);
      return false;
    }
    if (!st.ready && !st.spawn_error.empty()) {
      Fail("target " + name + " could not be started: " + st.spawn_error +
           " (a spawn that fails this way is not retried)");
      return false;
    }
    if (!st.ready) {
      const bool gave_up = st.gave_up;
      const pid_t pid = st.pid;
      const bool show = tail_shown_.insert(name).second;
      lock.unlock();
      if (show) RecordOutputTail(name, "not ready", pid);
      Fail("target " + name + " did not become ready within " +
           framework::FormatDuration(nanoseconds(timeout)) + (gave_up ? " (it gave up)" : "") +
           "; its last output lines are above, all of it in " + run_dir_ + "/logs/" + name +
           ".log");
      return false;
    }
  }
  return true;
}

void Run::JournalTargetCgroup(TargetState& st, const std::string& cgroup_name) {
  // Journaled before the supervisor creates it: a killed run's next heal kills what is left in
  // it and removes it. Every hierarchy the group may use is listed (missing ones are skipped).
  const auto v = framework::DetectCgroupVersion();
  if (!journal_ || v == framework::CgroupVersion::kNone) return;
  const auto& res = st.spec->daemon.resources;
  framework::CgroupControllers want{res.memory_max.has_value(), res.pids_max.has_value(),
                                    res.cpu_quota.has_value()};
  std::vector<std::string> args = {v == framework::CgroupVersion::kV2 ? "v2" : "v1"};
  for (const char* controller : {"pids", "memory", "cpu"}) {
    auto dir = framework::Cgroup::PlannedDir(cgroup_name, controller, want);
    if (dir.ok() && std::find(args.begin(), args.end(), *dir) == args.end()) args.push_back(*dir);
  }
  if (args.size() < 2) return;
  if (auto j = journal_->Begin({"cgroup", args}); j.ok()) st.cgroup_journal = *j;
}

void Run::RecordTracking(const std::string& name) {
  auto st = sup_->Status(name);
  if (!st.ok()) return;
  rec_.Record(
      events::kTargetTracking, name,
      {{"mode", st->tracked_by_cgroup ? "cgroup" : "process-group"}, {"detail", st->tracking}});
}

bool Run::CheckPortsFree(const std::string& name, const TargetState& st) {
  std::map<uint16_t, std::string> ports;  // port -> where it comes from
  if (st.port != 0) ports[st.port] = "from its address " + st.expanded.address;
  // A {port.X} that is another target's address is a client's reference to that target.
  std::set<uint16_t> others;
  for (const auto& [n, o] : targets_) {
    if (n != name && o.port != 0) others.insert(o.port);
  }
  for (const auto& var : internal::PortVariables(*st.spec)) {
    auto it = ports_.find(var);
    if (it == ports_.end() || it->second == 0 || others.count(it->second) != 0) continue;
    ports.emplace(it->second, "{" + var + "}");
  }
  if (ports.empty()) return true;
  const auto ours = OurProcesses(name);
  for (const auto& [port, from] : ports) {
    std::string taken = internal::PortTaken(name, port, from, ours);
    if (!taken.empty()) {
      Fail(taken);
      return false;
    }
  }
  return true;
}

bool Run::RenderFiles() {
  for (const auto& t : s_.targets) {
    for (const auto& f : t.files) {
      auto path = internal::WriteRunFile(run_dir_, f.path, Expand(f.text), f.mode);
      if (!path.ok()) {
        Fail("target " + t.name + ": file " + f.name + ": " + path.error().Message());
        return false;
      }
      rec_.Record(
          events::kTargetFile, t.name,
          {{"name", f.name}, {"path", *path}, {"mode", f.mode}, {"template", f.template_file}});
    }
  }
  return true;
}

void Run::RecordOutputTail(const std::string& target, const std::string& reason, pid_t pid) {
  const std::string log = run_dir_ + "/logs/" + target + ".log";
  json lines = json::array();
  for (auto& l : internal::LastLines(log, kOutputTailLines)) lines.push_back(std::move(l));
  rec_.Record(events::kTargetOutputTail, target,
              {{"reason", reason}, {"pid", pid}, {"lines", lines}, {"log", log}});
}

}  // namespace duende::harness::internal
