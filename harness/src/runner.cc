#include "duende/harness/runner.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/faults/proxy.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/pid_file.h"
#include "duende/framework/proc.h"
#include "duende/framework/process.h"
#include "duende/framework/supervisor.h"
#include "duende/harness/checks.h"
#include "duende/harness/event_recorder.h"
#include "duende/harness/load.h"
#include "duende/harness/target_tracking.h"
#include "duende/reporters/event_log.h"
#include "probes.h"
#include "run_support.h"
#include "variables.h"

#ifndef DUENDE_FIXTURES_BUILD_DIR
#define DUENDE_FIXTURES_BUILD_DIR ""
#endif

namespace duende::harness {
namespace {

namespace fs = std::filesystem;
using framework::MonotonicNs;
using nlohmann::json;
using reporters::Verdict;

constexpr int64_t kMs = 1000000;
constexpr int64_t kSampleEveryNs = 100 * kMs;
constexpr int64_t kProbeEveryNs = 25 * kMs;
constexpr size_t kMaxLogLines = 2000;
// Output lines of a target shown when it exits unexpectedly or never gets ready.
constexpr size_t kOutputTailLines = 10;
// An exit this soon after a fault was injected into the target is the fault's doing.
constexpr int64_t kFaultExplainsExitNs = 3000 * kMs;

// A free loopback port (bound, read, closed: the target binds it right after).
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  close(fd);
  return port;
}

uint16_t PortOf(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  int p = std::atoi(address.c_str() + colon + 1);
  return p > 0 && p < 65536 ? static_cast<uint16_t>(p) : 0;
}

json TomlToJson(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    json o = json::object();
    for (const auto& [k, v] : *t) o[std::string(k.str())] = TomlToJson(v);
    return o;
  }
  if (const auto* a = n.as_array()) {
    json arr = json::array();
    for (const auto& v : *a) arr.push_back(TomlToJson(v));
    return arr;
  }
  if (auto s = n.value<std::string>(); s && n.is_string()) return *s;
  if (n.is_integer()) return n.as_integer()->get();
  if (n.is_floating_point()) return n.as_floating_point()->get();
  if (n.is_boolean()) return n.as_boolean()->get();
  return "(date/time)";
}

struct Sample {
  uint64_t rss = 0;
  uint64_t vmlck = 0;
  int64_t fds = -1;
};

bool ReadSample(pid_t pid, Sample* s) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return false;
  std::string line;
  bool has_rss = false;
  while (std::getline(in, line)) {
    // A zombie (killed, not reaped yet) has no memory lines: its sample would read as
    // "nothing locked, nothing resident" and is skipped.
    if (line.compare(0, 6, "VmRSS:") == 0) has_rss = true;
    auto kb = [&](const char* key, uint64_t* out) {
      size_t n = std::strlen(key);
      if (line.compare(0, n, key) == 0) *out = std::strtoull(line.c_str() + n, nullptr, 10) * 1024;
    };
    kb("VmRSS:", &s->rss);
    kb("VmLck:", &s->vmlck);
  }
  if (!has_rss) return false;
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return false;
  int64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  s->fds = n;
  return true;
}

struct TargetState {
  const TargetSpec* spec = nullptr;
  TargetSpec expanded;
  pid_t pid = -1;
  pid_t pgid = -1;
  bool ready = false;
  bool gave_up = false;
  int64_t spawned_ns = 0;
  int64_t ready_ns = 0;
  uint32_t attempt = 0;
  std::string fiu_prefix;
  std::string clock_file;                      // under libfaketime (clock = true)
  std::map<pid_t, uint64_t> faketime_journal;  // pid -> journal id of its shared memory
  uint16_t port = 0;
  bool daemonized = false;      // its main process exited 0 and left processes (no pid_file)
  uint64_t cgroup_journal = 0;  // undo journal entry of its cgroup
  std::unique_ptr<faults::Proxy> proxy;
  uint16_t proxy_port = 0;
};

struct FaultInstance {
  const FaultSpec* spec = nullptr;
  int64_t inject_at = 0;  // offset from t0
  int64_t heal_at = 0;
  std::unique_ptr<faults::Fault> fault;
  bool injected = false;
  bool failed = false;
  bool healed = false;
};

class Run {
 public:
  Run(const Scenario& s, const RunOptions& o) : s_(s), o_(o) {}

  RunOutcome Go();

 private:
  // --- helpers
  std::string Expand(const std::string& text);
  bool SleepUntil(int64_t deadline_ns);  // false when aborted
  bool Aborted();
  void Fail(std::string error) {
    if (error_.empty()) error_ = std::move(error);
  }
  std::vector<ProbeSpec> SteadyProbes();
  bool ProbeRound(const std::string& phase, const std::string& fault, bool record_failure);
  bool WaitSteady(const std::string& phase, const std::string& fault, int64_t timeout_ns);
  // --- phases
  bool Prepare();
  bool StartTargets();
  bool WaitReady();
  bool Timeline();
  void Inject(FaultInstance& f, int64_t scheduled_ns);
  void Heal(FaultInstance& f);
  void StopEverything();
  void RecordLeftovers();
  void RecordLogs();
  bool RenderFiles();
  bool UnexpectedExit(const std::string& target, int64_t ts_ns);
  void RecordOutputTail(const std::string& target, const std::string& reason, pid_t pid);
  void KeepOrRemoveRunDir(Verdict verdict);
  void OnServiceEvent(const framework::ServiceEvent& ev);
  // Target tracking (target_tracking.h): cgroups, ports, listeners, leftovers.
  void JournalTargetCgroup(TargetState& st, const std::string& cgroup_name);
  bool CheckPortsFree(const std::string& name, const TargetState& st);
  void RecordTracking(const std::string& name);
  void CheckOwnListener(const ProbeSpec& probe, internal::ProbeOutcome* outcome);
  std::vector<pid_t> OurProcesses(const std::string& except);
  void SamplerLoop();
  void RecoveryLoop();

  const Scenario& s_;
  const RunOptions& o_;
  EventRecorder rec_;
  uint64_t seed_ = 0;
  std::string run_dir_;
  uint64_t run_dir_journal_ = 0;
  std::string events_path_;  // where the event log goes (RunOptions' or the run dir's)
  bool run_dir_kept_ = false;
  std::atomic<bool> stopping_{false};
  std::map<std::string, int64_t> last_fault_ns_;  // target -> last injection (guarded by mu_)
  std::set<std::string> tail_shown_;              // targets whose output tail was recorded
  std::map<std::string, uint16_t> ports_;
  std::string error_;
  bool aborted_ = false;

  std::mutex mu_;  // guards targets_' runtime fields
  std::condition_variable cv_;
  std::map<std::string, TargetState> targets_;
  std::set<pid_t> pgids_seen_;
  std::string daemonized_error_;  // guarded by mu_: set from the supervisor's thread

  std::unique_ptr<framework::Supervisor> sup_;
  std::thread sup_thread_;
  std::unique_ptr<faults::UndoJournal> journal_;
  faults::FaultEnv env_;
  std::vector<FaultInstance> faults_;
  std::map<std::string, std::string> active_kind_;  // target -> kind of an active fault

  std::optional<LoadConfig> load_config_;
  std::unique_ptr<LoadGenerator> load_;
  int64_t load_start_ns_ = 0;

  std::atomic<bool> stop_threads_{false};
  std::thread sampler_;
  std::thread recovery_;
  std::mutex recovery_mu_;
  std::condition_variable recovery_cv_;
  std::vector<std::string> recovery_queue_;  // faults healed, waiting for steady state
  int64_t t0_ = 0;
};

std::string Run::Expand(const std::string& text) {
  return internal::ExpandVariables(
      text, [this](std::string_view var) -> std::optional<std::string> {
        if (var.rfind("port.", 0) == 0 || var.rfind("proxy.", 0) == 0) {
          auto& p = ports_[std::string(var)];
          if (p == 0) p = FreePort();
          return std::to_string(p);
        }
        if (var == "run_dir") return run_dir_;
        if (var == "seed") return std::to_string(seed_);
        if (var.rfind("env.", 0) == 0) {
          const char* v = std::getenv(std::string(var.substr(4)).c_str());
          return v == nullptr ? "" : v;
        }
        if (var.rfind("file.", 0) == 0) {
          if (const FileSpec* f = FindFile(s_, std::string(var.substr(5)))) {
            return run_dir_ + "/" + f->path;
          }
        }
        return std::nullopt;
      });
}

bool Run::Aborted() {
  if (aborted_) return true;
  if (o_.abort_fd < 0) return false;
  pollfd p{o_.abort_fd, POLLIN, 0};
  if (poll(&p, 1, 0) > 0) {
    aborted_ = true;
    rec_.Record("run.interrupted", "", {{"reason", "signal"}});
  }
  return aborted_;
}

bool Run::SleepUntil(int64_t deadline_ns) {
  while (true) {
    if (Aborted()) return false;
    int64_t left = deadline_ns - MonotonicNs();
    if (left <= 0) return true;
    if (o_.abort_fd >= 0) {
      pollfd p{o_.abort_fd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left / kMs)));
    } else {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(left, 50 * kMs)));
    }
  }
}

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
      rec_.Record("probe.result", p.name,
                  {{"name", p.name}, {"ok", r.ok}, {"detail", r.detail}, {"phase", phase}});
    }
    json d = {{"phase", phase}, {"ok", all_ok}, {"failed", failed}};
    if (!fault.empty()) d["fault"] = fault;
    rec_.Record("steady_state", "", d);
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

bool Run::Prepare() {
  // Scratch directory for the targets' data and logs.
  char tmpl[] = "/tmp/duende-run-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    Fail(std::string("unable to create a run directory in /tmp: ") + std::strerror(errno));
    return false;
  }
  run_dir_ = tmpl;
  fs::create_directories(run_dir_ + "/logs");
  if (o_.events_path.empty() && (o_.keep_run_dir || o_.keep_evidence_on_failure)) {
    // Without --events the log still exists, in the run directory (kept when the run does not
    // pass), so a message can always point to it.
    events_path_ = run_dir_ + "/events.jsonl";
    if (auto r = rec_.OpenFile(events_path_); !r.ok()) {
      Fail("unable to write the event log: " + r.error().Message());
      return false;
    }
  }
  // Leftovers of runs that were killed are healed first; then this run's journal.
  auto heal = faults::HealLeftovers();
  if (heal.journals_healed > 0) {
    rec_.Record("run.healed_leftovers", "",
                {{"journals", heal.journals_healed}, {"actions", heal.actions}});
  }
  auto journal = faults::UndoJournal::Create();
  if (!journal.ok()) {
    Fail("unable to create the undo journal: " + journal.error().Message());
    return false;
  }
  journal_ = std::move(journal).value();
  // A killed run's directory (logs, FIFO and clock files) is removed by the next heal.
  if (auto j = journal_->Begin({"dir", {run_dir_}}); j.ok()) run_dir_journal_ = *j;
  env_.seed = seed_;
  env_.journal = journal_.get();
  env_.scratch_dir = run_dir_;
  env_.run_id = "duende-" + std::to_string(getpid()) + "-" + std::to_string(seed_ % 100000);
  env_.find_proxy = [this](const std::string& target) -> faults::Proxy* {
    auto it = targets_.find(target);
    return it == targets_.end() ? nullptr : it->second.proxy.get();
  };

  for (const auto& t : s_.targets) {
    TargetState st;
    st.spec = &t;
    st.expanded = t;
    for (auto& a : st.expanded.command) a = Expand(a);
    for (auto& [k, v] : st.expanded.env) v = Expand(v);
    st.expanded.address = Expand(t.address);
    st.expanded.pid_file = Expand(t.pid_file);
    st.expanded.working_dir = Expand(t.working_dir);
    st.port = PortOf(st.expanded.address);
    targets_[t.name] = std::move(st);
  }
  if (!RenderFiles()) return false;
  // Proxies in front of targets that ask for one.
  for (auto& [name, st] : targets_) {
    if (!st.spec->proxy) continue;
    if (st.port == 0) {
      Fail("target " + name + " has proxy = true but no address with a port");
      return false;
    }
    uint16_t listen = static_cast<uint16_t>(std::stoi(Expand("{proxy." + name + "}")));
    auto p = faults::Proxy::Start(listen, st.port, seed_);
    if (!p.ok()) {
      Fail("unable to start the proxy in front of " + name + ": " + p.error().Message());
      return false;
    }
    st.proxy = std::move(p).value();
    st.proxy_port = st.proxy->port();
    rec_.Record("proxy.started", name, {{"listen_port", st.proxy_port}, {"target_port", st.port}});
  }
  // Faults: every injection gets its own injector, created before anything starts so that a
  // bad parameter costs nothing.
  for (const auto& f : s_.faults) {
    auto times = InjectionTimes(f);
    for (size_t i = 0; i < times.size(); ++i) {
      auto diags = std::make_shared<framework::Diagnostics>();
      framework::TomlReader r(*f.table, f.file, "[[fault]] " + f.name, diags);
      auto fault = faults::CreateFault(f.kind, r, env_);
      if (!fault.ok()) {
        Fail("fault " + f.name + ": " + fault.error().Message());
        return false;
      }
      FaultInstance fi;
      fi.spec = &f;
      fi.inject_at = times[i].count();
      fi.heal_at = (times[i] + f.duration.value_or(nanoseconds{0})).count();
      fi.fault = std::move(fault).value();
      faults_.push_back(std::move(fi));
    }
  }
  // Load.
  if (s_.load) {
    const LoadSpec& l = *s_.load;
    LoadConfig c = internal::LoadConfigFor(l, s_.meta.duration, seed_);
    std::string address = l.address;
    if (address.empty()) {
      const auto& t = targets_.at(l.target);
      address = t.proxy ? "127.0.0.1:" + std::to_string(t.proxy_port) : t.expanded.address;
    }
    c.address = Expand(address);
    if (c.address.empty()) {
      Fail("[load] has no address: give address = \"127.0.0.1:PORT\" or an address to target " +
           l.target);
      return false;
    }
    auto gen = LoadGenerator::Create(c);
    if (!gen.ok()) {
      Fail("[load]: " + gen.error().Message());
      return false;
    }
    load_config_ = c;
    load_ = std::move(gen).value();
  }
  return true;
}

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
        type = "target.spawned";
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
        type = "target.ready";
        d = {{"pid", ev.pid}};
        if (t != nullptr) {
          t->ready = true;
          t->ready_ns = ev.ts_ns;
          d["after_ns"] = ev.ts_ns - t->spawned_ns;
        }
        break;
      case EventType::kExited: {
        type = "target.exited";
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
        type = "target.restart_scheduled";
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
        type = "target.gave_up";
        d = {{"reason", ev.detail}};
        if (t != nullptr) t->gave_up = true;
        break;
      case EventType::kStopped:
        type = "target.stopped";
        d = {{"pid", ev.pid}};
        break;
      case EventType::kSpawnFailed:
        type = "target.spawn_failed";
        d = {{"reason", ev.detail}};
        break;
      case EventType::kHealthFailed:
        type = "target.health_failed";
        d = {{"pid", ev.pid}, {"reason", ev.detail}};
        break;
      case EventType::kStopping:
        type = "target.stopping";
        d = {{"pid", ev.pid}};
        break;
      case EventType::kKilled:
        type = "target.killed";
        d = {{"pid", ev.pid}};
        break;
      case EventType::kNotRestarting:
        type = "target.not_restarting";
        d = {{"reason", ev.detail}};
        if (t != nullptr) t->gave_up = true;
        break;
      case EventType::kStatus:
        type = "target.status";
        d = {{"text", ev.detail}};
        break;
      case EventType::kMainPid:
        type = "target.main_pid";
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
  rec_.Append(reporters::Event{ev.ts_ns, type, ev.service, d});
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
  sup_->Subscribe([this](const framework::ServiceEvent& ev) { OnServiceEvent(ev); });
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
    c.env = st.expanded.env;
    c.working_dir = st.expanded.working_dir;
    c.pid_file = st.expanded.pid_file;
    for (auto* p : {&c.health.readiness, &c.health.liveness}) {
      if (p->address.empty()) p->address = st.expanded.address;
      p->address = Expand(p->address);
      for (auto& a : p->command) a = Expand(a);
    }
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
    if (!CheckPortsFree(name, st)) return false;
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
          rec_.Record("target.ready", name, {{"pid", pid}, {"external", true}});
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

void Run::Inject(FaultInstance& f, int64_t scheduled_ns) {
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
  json params = TomlToJson(*f.spec->table);
  for (const char* k : {"name", "kind", "target", "at", "duration", "repeat", "every"}) {
    params.erase(k);
  }
  rec_.Record("fault.injected", f.spec->name,
              {{"kind", f.spec->kind},
               {"on", f.spec->target},
               {"pid", ref.pid},
               {"scheduled_ns", scheduled_ns},
               {"lag_ns", start - scheduled_ns},
               {"params", params}});
  auto r = ref.pid > 0 ? f.fault->Inject(ref)
                       : framework::Result<void>(framework::ErrnoError(
                             "target " + ref.name + " has no running process", ESRCH));
  f.injected = true;
  if (!r.ok()) {
    f.failed = true;
    rec_.Record("fault.error", f.spec->name, {{"error", r.error().Message()}});
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
    rec_.Record("fault.fired", f.spec->name, {{"evidence", ev}});
  }
}

void Run::Heal(FaultInstance& f) {
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
  rec_.Record("fault.healed", f.spec->name, d);
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
  for (const auto& a : actions) {
    int64_t when = t0_ + a.at;
    if (!wait_until(when)) return false;
    FaultInstance& f = faults_[a.index];
    if (a.inject) {
      Inject(f, when);
      if (f.heal_at == f.inject_at) Heal(f);
    } else if (f.injected) {
      Heal(f);
    }
  }
  return wait_until(t0_ + s_.meta.duration.count());
}

void Run::SamplerLoop() {
  while (!stop_threads_) {
    std::vector<std::pair<std::string, pid_t>> pids;
    {
      std::lock_guard lock(mu_);
      for (const auto& [name, t] : targets_) {
        if (t.pid > 0) pids.emplace_back(name, t.pid);
      }
    }
    for (const auto& [name, pid] : pids) {
      Sample smp;
      if (ReadSample(pid, &smp)) {
        rec_.Record(
            "target.sample", name,
            {{"pid", pid}, {"rss_bytes", smp.rss}, {"fds", smp.fds}, {"vmlck_bytes", smp.vmlck}});
      }
    }
    std::this_thread::sleep_for(std::chrono::nanoseconds(kSampleEveryNs));
  }
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

void Run::StopEverything() {
  stopping_ = true;
  rec_.Record("run.phase", "", {{"phase", "stopping"}});
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
  for (auto& [name, t] : targets_) {
    if (t.proxy) {
      t.proxy.reset();
      rec_.Record("proxy.stopped", name);
    }
    if (!t.fiu_prefix.empty()) faults::RemoveFiuFifos(t.fiu_prefix);
  }
  faults_.clear();  // destructors heal whatever is left
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
  rec_.Record("run.leftovers", "", {{"leftovers", arr}, {"process_groups", pgids.size()}});
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
      "target.tracking", name,
      {{"mode", st->tracked_by_cgroup ? "cgroup" : "process-group"}, {"detail", st->tracking}});
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

void Run::CheckOwnListener(const ProbeSpec& probe, internal::ProbeOutcome* outcome) {
  if (!outcome->ok || !sup_ || probe.kind == ProbeSpec::Kind::kCommand) return;
  const uint16_t port = PortOf(probe.address);
  for (const auto& [name, t] : targets_) {
    if (t.spec->external || t.port == 0 || t.port != port) continue;
    auto members = sup_->Members(name);
    std::string why = framework::ListenerNotHeldBy(
        probe.address, members.ok() ? *members : std::vector<pid_t>{}, "target " + name);
    if (!why.empty()) *outcome = {false, why};
    return;
  }
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
          "target.file", t.name,
          {{"name", f.name}, {"path", *path}, {"mode", f.mode}, {"template", f.template_file}});
    }
  }
  return true;
}

void Run::RecordOutputTail(const std::string& target, const std::string& reason, pid_t pid) {
  const std::string log = run_dir_ + "/logs/" + target + ".log";
  json lines = json::array();
  for (auto& l : internal::LastLines(log, kOutputTailLines)) lines.push_back(std::move(l));
  rec_.Record("target.output_tail", target,
              {{"reason", reason}, {"pid", pid}, {"lines", lines}, {"log", log}});
}

void Run::KeepOrRemoveRunDir(Verdict verdict) {
  if (run_dir_.empty()) return;
  std::error_code ec;
  if (o_.keep_run_dir) {
    run_dir_kept_ = true;
  } else if (verdict != Verdict::kPass && o_.keep_evidence_on_failure) {
    // Evidence stays: the event log and the targets' output; their data goes.
    for (const auto& entry : fs::directory_iterator(run_dir_, ec)) {
      const std::string leaf = entry.path().filename().string();
      if (leaf != "events.jsonl" && leaf != "logs") fs::remove_all(entry.path(), ec);
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
    while (std::getline(in, line)) {
      if (++n > kMaxLogLines) {
        rec_.Record("target.log_truncated", name, {{"after_lines", kMaxLogLines}});
        break;
      }
      rec_.Record("target.log", name, {{"line", line}});
    }
  }
}

RunOutcome Run::Go() {
  seed_ = o_.seed ? *o_.seed : s_.meta.seed ? *s_.meta.seed : std::random_device{}();
  if (!o_.events_path.empty()) {
    auto r = rec_.OpenFile(o_.events_path);
    if (!r.ok()) {
      RunOutcome out;
      out.result.name = s_.meta.name;
      out.result.verdict = Verdict::kError;
      out.result.error = r.error().Message();
      out.exit_code = framework::kExitEnvironment;
      return out;
    }
  }
  if (o_.reporter != nullptr) {
    rec_.SetObserver([this](const reporters::Event& e) { o_.reporter->OnEvent(e); });
  }
  std::string replay = o_.replay_prefix + " " + s_.file + " --seed " + std::to_string(seed_);
  for (const auto& ov : s_.overrides) replay += " --set '" + ov + "'";
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const int64_t start = rec_.Record("run.started", "",
                                    {{"scenario", s_.meta.name},
                                     {"file", s_.file},
                                     {"description", s_.meta.description},
                                     {"seed", seed_},
                                     {"replay_command", replay},
                                     {"wall_start_ns", framework::WallClockNs()},
                                     {"duration_ns", s_.meta.duration.count()},
                                     {"hostname", host},
                                     {"tool_version", "duende"}});
  if (o_.reporter != nullptr) {
    reporters::ScenarioResult header;
    header.name = s_.meta.name;
    header.file = s_.file;
    header.description = s_.meta.description;
    header.seed = seed_;
    header.replay_command = replay;
    header.start_ns = start;
    header.wall_start_ns = framework::WallClockNs();
    o_.reporter->OnScenarioStart(header);
  }

  bool ok = Prepare() && StartTargets();
  if (ok) {
    sampler_ = std::thread([this] { SamplerLoop(); });
    ok = WaitReady();
  }
  if (ok) {
    rec_.Record("run.phase", "", {{"phase", "steady"}});
    if (!WaitSteady("before", "", s_.steady_state.recover_timeout.count())) {
      if (!aborted_) Fail("the steady state does not hold before any fault (see steady_state)");
      ok = false;
    }
  }
  if (ok) {
    recovery_ = std::thread([this] { RecoveryLoop(); });
    t0_ = MonotonicNs();
    rec_.Record("run.phase", "", {{"phase", "faults"}, {"t0_ns", t0_}});
    if (load_) {
      load_start_ns_ = MonotonicNs();
      const int64_t ls = load_start_ns_;
      load_->Start(
          [this, ls](const LoadSecond& sec) {
            rec_.Record("load.second", "load",
                        {{"second", sec.second},
                         {"start_ns", ls + sec.second * 1000 * kMs},
                         {"sent", sec.sent},
                         {"ok", sec.ok},
                         {"errors", sec.errors},
                         {"timeouts", sec.timeouts},
                         {"rate", sec.rate},
                         {"p50_us", sec.p50_us},
                         {"p90_us", sec.p90_us},
                         {"p99_us", sec.p99_us},
                         {"p999_us", sec.p999_us},
                         {"max_us", sec.max_us}});
          },
          [this](std::vector<LoadOp>&& ops) {
            rec_.Record(kLoadOpsEvent, "load", EncodeOps(ops));
          });
    }
    ok = Timeline();
  }
  if (ok && load_) {
    load_->Wait();
    auto sum = load_->Summary();
    json ex = sum.error_examples;
    rec_.Record("load.summary", "load",
                {{"sent", sum.sent},
                 {"ok", sum.ok},
                 {"errors", sum.errors},
                 {"timeouts", sum.timeouts},
                 {"abandoned", sum.abandoned},
                 {"connects", sum.connects},
                 {"achieved_rate", sum.achieved_rate},
                 {"target_rate", sum.target_rate},
                 {"p50_us", sum.p50_us},
                 {"p90_us", sum.p90_us},
                 {"p99_us", sum.p99_us},
                 {"p999_us", sum.p999_us},
                 {"max_us", sum.max_us},
                 {"error_examples", ex}});
  }
  if (ok) {
    rec_.Record("run.phase", "", {{"phase", "recovery"}});
    // Wait for the recovery watches of the last heals, then for the steady state itself.
    ok = WaitSteady("after", "", s_.steady_state.recover_timeout.count()) || !Aborted();
  }
  if (ok && !aborted_ && load_ && !load_config_->read_template.empty()) {
    rec_.Record("run.phase", "", {{"phase", "readback"}});
    auto rb = ReadBack(*load_config_, load_->LastAckedPerKey());
    if (!rb.ok()) {
      rec_.Record("readback.result", "load", {{"error", rb.error().Message()}, {"lost", 0}});
    } else {
      json ex = json::array();
      for (const auto& [key, acked, found] : rb->lost_examples) {
        ex.push_back({{"key", key}, {"acked", acked}, {"found", found}});
      }
      // Every read into the history, in event-sized batches (the check recomputes from them).
      constexpr size_t kBatch = 5000;
      for (size_t i = 0; i < rb->reads.size(); i += kBatch) {
        std::vector<LoadOp> part(
            rb->reads.begin() + static_cast<ptrdiff_t>(i),
            rb->reads.begin() + static_cast<ptrdiff_t>(std::min(i + kBatch, rb->reads.size())));
        rec_.Record(kReadbackOpsEvent, "load", EncodeOps(part, true));
      }
      rec_.Record("readback.result", "load",
                  {{"keys", rb->keys},
                   {"unique_keys", load_config_->keys == 0},
                   {"acked_writes", rb->acked_writes},
                   {"lost", rb->lost},
                   {"lost_examples", ex}});
    }
  }
  if (ok && !aborted_) {
    for (const auto& c : s_.checks) {
      if (c.kind != "command_probe") continue;
      ProbeSpec p;
      p.name = c.name;
      p.kind = ProbeSpec::Kind::kCommand;
      for (const auto& a : c.command) p.command.push_back(Expand(a));
      p.timeout = std::chrono::seconds(10);
      auto r = internal::RunProbe(p);
      rec_.Record("probe.result", c.name,
                  {{"name", c.name}, {"ok", r.ok}, {"detail", r.detail}, {"phase", "check"}});
    }
  }
  StopEverything();
  RecordLeftovers();
  RecordLogs();
  {
    std::lock_guard lock(mu_);
    if (!daemonized_error_.empty()) Fail(daemonized_error_);
  }
  rec_.Record("run.phase", "", {{"phase", "done"}});

  auto events = rec_.Snapshot();
  std::vector<Verdict> verdicts;
  for (const auto& c : EvaluateChecks(s_, events)) {
    verdicts.push_back(c.verdict);
    rec_.Record("check.result", c.name,
                {{"kind", c.kind},
                 {"verdict", reporters::VerdictName(c.verdict)},
                 {"measured", c.measured},
                 {"threshold", c.threshold},
                 {"evidence", c.evidence},
                 {"duration_s", c.duration_s}});
  }
  Verdict v = reporters::Combine(verdicts);
  if (!error_.empty()) v = Verdict::kError;
  if (aborted_) v = Verdict::kAborted;
  if (aborted_ && error_.empty())
    error_ = "interrupted by a signal; faults healed, targets stopped";
  if (auto fe = rec_.file_error()) {
    if (error_.empty()) error_ = fe->Message();
    if (v == Verdict::kPass || v == Verdict::kFail) v = Verdict::kError;
  }
  rec_.Record("run.finished", "", {{"verdict", reporters::VerdictName(v)}, {"error", error_}});

  KeepOrRemoveRunDir(v);
  if (journal_ && run_dir_journal_ != 0) journal_->Done(run_dir_journal_);
  RunOutcome out;
  out.run_dir = run_dir_;
  out.run_dir_kept = run_dir_kept_;
  out.events_path = o_.events_path.empty() ? events_path_ : o_.events_path;
  out.result = reporters::ScenarioFromEvents(rec_.Snapshot());
  out.result.verdict = v;
  out.result.error = error_;
  if (o_.reporter != nullptr) {
    rec_.SetObserver(nullptr);
    o_.reporter->OnScenarioEnd(out.result);
  }
  out.exit_code = reporters::ExitCodeFor(v);
  return out;
}

}  // namespace

std::vector<std::string> ProgramSearchDirs() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("DUENDE_FIXTURES_DIR"); d != nullptr && *d != '\0') {
    dirs.emplace_back(d);
  }
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(self.parent_path().string());
  if (std::string(DUENDE_FIXTURES_BUILD_DIR).size() > 0) {
    dirs.emplace_back(DUENDE_FIXTURES_BUILD_DIR);
  }
  return dirs;
}

framework::Result<std::string> ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  auto found = framework::FindExecutable(program);
  if (found.ok()) return found;
  std::string looked = "PATH";
  for (const auto& d : ProgramSearchDirs()) {
    std::string p = d + "/" + program;
    if (access(p.c_str(), X_OK) == 0) return p;
    looked += ", " + d;
  }
  return framework::ErrnoError("unable to find " + program + " (looked in " + looked + ")", ENOENT);
}

RunOutcome RunScenario(const Scenario& scenario, const RunOptions& options) {
  Run run(scenario, options);
  return run.Go();
}

}  // namespace duende::harness
