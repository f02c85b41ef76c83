#include "run.h"

namespace duende::harness::internal {

void Run::StopEverything() {
  if (sup_ && o_.on_supervisor) o_.on_supervisor(nullptr);
  stopping_ = true;
  rec_.Record(events::kRunPhase, "", {{"phase", "stopping"}});
  if (load_) load_->Stop();
  // Faults first (a paused target cannot stop), then the targets.
  for (auto& f : faults_) {
    if (f.injected) Heal(f);
  }
  stop_threads_ = true;
  recovery_cv_.notify_all();
  if (recovery_.joinable()) recovery_.join();
  if (sampler_.joinable()) sampler_.join();
  if (sup_) {
    sup_->Shutdown();
    if (sup_thread_.joinable()) sup_thread_.join();
  }
  RemovePlatformTargets();
  for (auto& [name, t] : targets_) {
    if (t.proxy) {
      t.proxy.reset();
      rec_.Record(events::kProxyStopped, name);
    }
    if (!t.fiu_prefix.empty()) faults::RemoveFiuFifos(t.fiu_prefix);
  }
  faults_.clear();  // destructors heal whatever is left
  RemoveNodes();    // after the targets: their namespaces go last
}

void Run::RecordLeftovers() {
  std::set<pid_t> pgids;
  {
    std::lock_guard lock(mu_);
    pgids = pgids_seen_;
  }
  const pid_t self = getpid();
  // Every process of a target still running (its cgroup's members; without a cgroup its
  // process groups), and any child of ours (an orphan reparented to us, the subreaper).
  auto find = [&] {
    std::map<pid_t, std::string> left;
    if (sup_) {
      for (const auto& [name, t] : targets_) {
        if (t.spec->external) continue;
        auto members = sup_->Members(name);
        if (!members.ok()) continue;
        for (pid_t p : *members) left.emplace(p, name);
      }
    }
    for (const auto& p : framework::ListProcesses()) {
      if (p.pid == self) continue;
      if (pgids.count(p.pgid) != 0 || p.ppid == self) left.emplace(p.pid, "");
    }
    return left;
  };
  // Processes take a moment to vanish after their stop signal or SIGKILL; give them 1 s.
  std::map<pid_t, std::string> left;
  for (int i = 0; i < 50; ++i) {
    left = find();
    if (left.empty()) break;
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  json arr = json::array();
  for (const auto& [pid, target] : left) arr.push_back(internal::LeftoverJson(pid, target));
  for (const auto& p : platform_leftovers_) arr.push_back(p);
  rec_.Record(events::kRunLeftovers, "", {{"leftovers", arr}, {"process_groups", pgids.size()}});
  // Nothing is left running, whatever the verdict: what is left is killed, the supervisor
  // kills and removes the targets' cgroups.
  for (const auto& [pid, target] : left) kill(pid, SIGKILL);
  sup_.reset();
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  for (auto& [name, t] : targets_) {
    if (t.cgroup_journal != 0 && journal_) journal_->Done(t.cgroup_journal);
    t.cgroup_journal = 0;
  }
}

std::vector<pid_t> Run::OurProcesses(const std::string& except) {
  std::vector<pid_t> ours = {getpid()};
  for (const auto& [name, t] : targets_) {
    if (name == except || t.spec->external || !sup_) continue;
    auto members = sup_->Members(name);
    if (members.ok()) ours.insert(ours.end(), members->begin(), members->end());
  }
  return ours;
}

void Run::KeepOrRemoveRunDir(Verdict verdict) {
  if (run_dir_.empty()) return;
  std::error_code ec;
  if (o_.keep_run_dir) {
    run_dir_kept_ = true;
  } else if ((verdict != Verdict::kPass || tracer_) && o_.keep_evidence_on_failure) {
    // Evidence stays: the event log, the targets' output and their syscall traces (asked for
    // with trace = true, so kept on a pass too); their data goes.
    for (const auto& entry : fs::directory_iterator(run_dir_, ec)) {
      const std::string leaf = entry.path().filename().string();
      if (leaf != "events.jsonl" && leaf != "logs" && leaf != "trace") {
        fs::remove_all(entry.path(), ec);
      }
    }
    run_dir_kept_ = true;
  } else {
    fs::remove_all(run_dir_, ec);
  }
}

void Run::RecordLogs() {
  for (const auto& [name, t] : targets_) {
    if (t.spec->external) continue;
    std::ifstream in(run_dir_ + "/logs/" + name + ".log");
    std::string line;
    size_t n = 0;
    size_t cut = 0;
    // The target writes this file: a line without end is kept to its first 64 KiB.
    while (framework::GetLineLimited(in, &line, framework::kMaxOutputLineBytes, &cut)) {
      if (++n > kMaxLogLines) {
        rec_.Record(events::kTargetLogTruncated, name, {{"after_lines", kMaxLogLines}});
        break;
      }
      if (cut > 0) line += " [" + std::to_string(cut) + " more bytes cut]";
      rec_.Record(events::kTargetLog, name, {{"line", line}});
    }
  }
}

}  // namespace duende::harness::internal
