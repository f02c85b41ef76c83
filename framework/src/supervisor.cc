#include "duende/framework/supervisor.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <random>
#include <set>

#include "duende/framework/cgroup.h"
#include "duende/framework/clock.h"
#include "duende/framework/health_channel.h"
#include "duende/framework/notify_socket.h"
#include "duende/framework/pid_file.h"
#include "duende/framework/probe.h"
#include "duende/framework/proc.h"
#include "duende/framework/rotating_file.h"
#include "duende/framework/sandbox.h"
#include "duende/framework/toml_reader.h"

namespace duende::framework {

using std::chrono::nanoseconds;

namespace {

// After the main process of a service ended, its group is swept for orphans this many times,
// at 1, 2, 4, ... ms, until the group is empty: about 2 s in all, then given up.
constexpr int kSweepRounds = 11;

// How long after the started process exited 0 its pid_file may take to name the daemon (when
// no readiness grace period is set), and how often it is looked at meanwhile.
constexpr nanoseconds kPidFileWait = std::chrono::seconds(10);
constexpr nanoseconds kPidFilePoll = std::chrono::milliseconds(5);
// Members left in a service's cgroup get this long to die after SIGKILL.
constexpr int kCgroupKillMs = 2000;
// When the loop ends, killed members not reaped yet get this long to become our zombies.
constexpr std::chrono::milliseconds kPendingReapBudget{2000};

std::string CgroupName(const SupervisorOptions& o, const std::string& service) {
  return (o.cgroup_prefix.empty() ? "duende-" + std::to_string(::getpid()) + "-"
                                  : o.cgroup_prefix) +
         service;
}

PolicyOptions MakePolicyOptions(const DaemonConfig& c, uint64_t seed) {
  PolicyOptions p;
  p.restart = c.restart;
  p.stop_timeout = c.shutdown_timeout;
  const auto kind = c.health.readiness.kind;
  p.wait_for_ready = kind != ProbeConfig::Kind::kNone;
  p.ready_timeout = p.wait_for_ready ? c.health.readiness.grace_period : nanoseconds(0);
  p.watchdog = c.health.watchdog;
  p.seed = seed;
  return p;
}

// A group name or a decimal gid; nullopt when no such group exists.
std::optional<gid_t> LookUpGroup(const std::string& name) {
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
    if (name.size() > 9) return std::nullopt;
    return static_cast<gid_t>(std::stoul(name));
  }
  group g{};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return found->gr_gid;
}

}  // namespace

struct Supervisor::Service {
  DaemonConfig config;
  RestartPolicy policy;
  uint64_t seed = 0;
  Child child;
  pid_t pgid = -1;
  uint64_t spawns = 0;
  std::optional<NotifySocket> notify;
  uint64_t notify_dropped = 0;  // datagrams from outside the service (ServiceStatus)
  UniqueFd log_read;
  UniqueFd log_write;
  std::optional<RotatingFile> log;
  std::optional<Cgroup> cgroup;  // [resources] limits, or cgroup_per_service
  bool tracked_by_cgroup = false;
  std::string tracking;  // ServiceStatus::tracking
  // A daemon that forks (pid_file): the started process exited 0 and the pid file is awaited.
  struct Adoption {
    pid_t launcher = -1;
    ExitStatus launcher_status;
    int64_t deadline_ns = 0;
    std::string problem;  // why the pid file is not acceptable yet
  };
  std::optional<Adoption> adopting;
  bool adopted = false;             // child.pid came from the pid file (not spawned by us)
  std::vector<pid_t> left_running;  // for the next kExited event
  std::set<pid_t> seen_members;     // members signalled since the spawn (reaped at its end)
  std::string exit_note;
  EventLoop::TimerId timer = 0;
  int64_t timer_at = -1;
  enum class ProbeMode { kNone, kReadiness, kLiveness } probe_mode = ProbeMode::kNone;
  std::unique_ptr<ProbeRun> probe;
  UniqueFd health_fd;  // our end of the current child's health channel (kind = "daemon")
  EventLoop::TimerId probe_timer = 0;
  uint32_t liveness_failures = 0;
  pid_t probe_pid = -1;  // the child the probes are about
  std::optional<ExitStatus> last_exit;
  std::string last_reason;
  std::string status_text;
  int64_t since_ns = 0;
  ServiceState last_state = ServiceState::kStopped;

  Service(DaemonConfig c, uint64_t s)
      : config(std::move(c)), policy(MakePolicyOptions(config, s)), seed(s) {}
};

std::string ServiceEvent::ToString() const {
  std::string s = service + ": " + EventTypeName(type);
  if (pid > 0) s += " (pid " + std::to_string(pid) + ")";
  if (exit) s += ": " + exit->ToString();
  if (type == EventType::kRestartScheduled) s += " in " + FormatDuration(delay);
  if (!detail.empty() && !exit) s += ": " + detail;
  s += std::string(" [") + StateName(state) + "]";
  return s;
}

Result<std::unique_ptr<Supervisor>> Supervisor::Create(SupervisorOptions options) {
  auto loop = EventLoop::Create();
  if (!loop.ok()) return loop.error();
  std::unique_ptr<Supervisor> sup(new Supervisor(std::move(options), std::move(*loop)));
  if (sup->options_.subreaper && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return ErrnoError("unable to become child subreaper");
  }
  // A supervisor of many children needs a descriptor or three per child: use the hard limit.
  // Children get the limit we started with back (unless their config sets open_files).
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    sup->child_nofile_ = nofile;
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (sup->options_.handle_signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, sig);
    sup->signal_fd_.Reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sup->signal_fd_) return ErrnoError("unable to create signalfd");
    Supervisor* raw = sup.get();
    DUENDE_TRY(
        sup->loop_->Watch(sup->signal_fd_.get(), EPOLLIN, [raw](uint32_t) { raw->OnSignal(); }));
  }
  return sup;
}

Supervisor::Supervisor(SupervisorOptions options, std::unique_ptr<EventLoop> loop)
    : options_(std::move(options)), loop_(std::move(loop)) {}

Supervisor::~Supervisor() {
  for (auto& s : services_) {
    s->probe.reset();
    if (s->child.pidfd) {
      ::kill(-s->pgid, SIGKILL);
      (void)WaitExit(s->child.pidfd.get());
      loop_->Unwatch(s->child.pidfd.get());
      SweepGroup(s->pgid, kSweepRounds);
    }
  }
  ReapLingering();
  for (auto& s : services_) {
    if (!s->cgroup) continue;
    const auto leaders = StrayLeaders(*s, -1);
    auto members = s->cgroup->Members();
    (void)s->cgroup->Remove();
    // Daemonized members were reparented to us (subreaper): reap what was just killed.
    if (members.ok()) {
      for (pid_t m : *members) ReapKilled(m);
    }
    for (pid_t m : s->seen_members) ::waitpid(m, nullptr, WNOHANG);
    ReapStrays(leaders);
  }
  ReapPending(kPendingReapBudget);
}

bool Supervisor::OnLoopThread() const {
  std::lock_guard<std::recursive_mutex> lock(run_mu_);
  return !running_ || std::this_thread::get_id() == loop_thread_;
}

void Supervisor::Call(const std::function<void()>& fn) {
  std::unique_lock<std::recursive_mutex> lock(run_mu_);
  if (!running_ || std::this_thread::get_id() == loop_thread_) {
    fn();  // the loop is not running elsewhere; holding run_mu_ keeps Run() from starting
    return;
  }
  std::promise<void> done;
  std::future<void> f = done.get_future();
  // Posted under run_mu_: Run() drains the queue after clearing running_, so this runs.
  loop_->Post([&] {
    fn();
    done.set_value();
  });
  lock.unlock();
  f.get();
}

Supervisor::Service* Supervisor::Find(const std::string& name) {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Result<void> Supervisor::Add(const DaemonConfig& config, bool start) {
  Result<void> r;
  Call([&] { r = AddLocked(config, start); });
  return r;
}

Result<void> Supervisor::AddLocked(const DaemonConfig& config, bool start) {
  if (config.name.empty()) return MessageError("a service needs a name");
  if (by_name_.count(config.name) != 0) {
    return MessageError("a service named '" + config.name + "' already exists");
  }
  if (config.command.empty()) {
    return MessageError("service '" + config.name + "' has an empty command");
  }
  if (config.health.liveness.kind == ProbeConfig::Kind::kNotify) {
    return MessageError("service '" + config.name +
                        "': a liveness probe cannot be 'notify'; use watchdog = \"5s\"");
  }
  uint64_t seed = options_.seed;
  if (seed == 0) {
    seed = std::random_device{}();
    seed = (seed << 32) ^ std::random_device{}();
  } else {
    seed ^= std::hash<std::string>{}(config.name);
  }
  auto s = std::make_unique<Service>(config, seed);
  if (config.health.readiness.kind == ProbeConfig::Kind::kNotify ||
      config.health.watchdog.count() > 0) {
    auto ns = NotifySocket::Create(config.name);
    if (!ns.ok()) return ns.error();
    s->notify.emplace(std::move(*ns));
  }
  if (!options_.log_dir.empty()) {
    auto file = RotatingFile::Open(options_.log_dir + "/" + config.name + ".log",
                                   options_.log_max_bytes, options_.log_keep);
    if (!file.ok()) return file.error();
    s->log.emplace(std::move(*file));
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("unable to create log pipe");
    s->log_read.Reset(fds[0]);
    s->log_write.Reset(fds[1]);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  }
  const auto& res = config.resources;
  if (res.memory_max || res.pids_max || res.cpu_quota) {
    // One group per service, kept across restarts; children join it before exec.
    CgroupControllers want{res.memory_max.has_value(), res.pids_max.has_value(),
                           res.cpu_quota.has_value()};
    auto cg = Cgroup::Create(CgroupName(options_, config.name), want);
    if (!cg.ok()) return cg.error();
    s->cgroup.emplace(std::move(*cg));
    Result<void> set;
    if (res.memory_max) set = s->cgroup->SetMemoryLimit(*res.memory_max);
    if (set.ok() && res.pids_max) set = s->cgroup->SetPidsLimit(*res.pids_max);
    if (set.ok() && res.cpu_quota) {
      set = s->cgroup->SetCpuQuota(static_cast<uint64_t>(*res.cpu_quota * 100000.0), 100000);
    }
    if (!set.ok()) {
      (void)s->cgroup->Remove();
      return set.error();
    }
  } else if (options_.cgroup_per_service) {
    auto cg = Cgroup::CreateForTracking(CgroupName(options_, config.name));
    if (cg.ok()) {
      s->cgroup.emplace(std::move(*cg));
    } else {
      s->tracking = "process group (no cgroup: " + cg.error().Message() + ")";
    }
  }
  if (s->cgroup) {
    s->tracked_by_cgroup = true;
    s->tracking = s->cgroup->Describe();
  } else if (s->tracking.empty()) {
    s->tracking = "process group";
  }
  Service* raw = s.get();
  if (s->notify) {
    DUENDE_TRY(loop_->Watch(s->notify->fd(), EPOLLIN, [this, raw](uint32_t) { OnNotify(*raw); }));
  }
  if (s->log_read) {
    DUENDE_TRY(
        loop_->Watch(s->log_read.get(), EPOLLIN, [this, raw](uint32_t) { OnLogReadable(*raw); }));
  }
  s->since_ns = MonotonicNs();
  by_name_[config.name] = raw;
  services_.push_back(std::move(s));
  if (start && !shutting_down_) {
    PolicyStep step;
    raw->policy.Start(MonotonicNs(), &step);
    Apply(*raw, step);
  }
  return {};
}

Result<void> Supervisor::Command(const std::string& name, bool refused_in_shutdown,
                                 void (RestartPolicy::*input)(int64_t, PolicyStep*)) {
  Result<void> r;
  Call([&] {
    Service* s = Find(name);
    if (s == nullptr) {
      r = MessageError("no service named '" + name + "'");
      return;
    }
    if (refused_in_shutdown && shutting_down_) {
      r = MessageError("the supervisor is shutting down", std::errc::operation_canceled);
      return;
    }
    PolicyStep step;
    (s->policy.*input)(MonotonicNs(), &step);
    Apply(*s, step);
  });
  return r;
}

Result<void> Supervisor::Start(const std::string& name) {
  return Command(name, true, &RestartPolicy::Start);
}

Result<void> Supervisor::Stop(const std::string& name) {
  return Command(name, false, &RestartPolicy::Stop);
}

Result<void> Supervisor::Restart(const std::string& name) {
  return Command(name, true, &RestartPolicy::Restart);
}

void Supervisor::StartAll() {
  Call([&] {
    if (shutting_down_) return;
    for (auto& s : services_) {
      PolicyStep step;
      s->policy.Start(MonotonicNs(), &step);
      Apply(*s, step);
    }
  });
}

ServiceStatus Supervisor::StatusOf(const Service& s) const {
  ServiceStatus st;
  st.name = s.config.name;
  st.state = s.policy.state();
  if (s.child.pidfd) {
    st.pid = s.child.pid;
    st.pgid = s.pgid;
  }
  st.ready = st.state == ServiceState::kRunning;
  st.restarts = s.policy.restarts();
  st.attempt = s.policy.attempt();
  st.spawns = s.spawns;
  st.last_exit = s.last_exit;
  st.reason = s.policy.reason().empty() ? s.last_reason : s.policy.reason();
  st.status_text = s.status_text;
  st.since_ns = s.since_ns;
  st.next_start_ns = s.policy.next_start_ns();
  st.tracking = s.tracking;
  st.tracked_by_cgroup = s.tracked_by_cgroup;
  st.notify_dropped = s.notify_dropped;
  return st;
}

Result<ServiceStatus> Supervisor::Status(const std::string& name) {
  std::optional<ServiceStatus> st;
  Call([&] {
    if (Service* s = Find(name)) st = StatusOf(*s);
  });
  if (!st) return MessageError("no service named '" + name + "'");
  return *st;
}

std::vector<ServiceStatus> Supervisor::StatusAll() {
  std::vector<ServiceStatus> out;
  Call([&] {
    out.reserve(services_.size());
    for (const auto& s : services_) out.push_back(StatusOf(*s));
  });
  return out;
}

Supervisor::SubscriptionId Supervisor::Subscribe(EventCallback callback) {
  SubscriptionId id = 0;
  Call([&] {
    id = next_subscription_++;
    subscribers_.emplace(id, std::move(callback));
  });
  return id;
}

void Supervisor::Unsubscribe(SubscriptionId id) {
  Call([&] { subscribers_.erase(id); });
}

void Supervisor::Emit(Service& s, ServiceEvent ev, std::optional<ServiceState> state) {
  ev.seq = ++seq_;
  if (ev.ts_ns == 0) ev.ts_ns = MonotonicNs();
  ev.service = s.config.name;
  ev.state = state.value_or(s.policy.state());
  if (ev.state != s.last_state) {
    s.last_state = ev.state;
    s.since_ns = ev.ts_ns;
  }
  // Copied: a callback may unsubscribe itself (or others) while we iterate.
  auto snapshot = subscribers_;
  for (auto& [id, cb] : snapshot) cb(ev);
}

void Supervisor::Apply(Service& s, PolicyStep& step, pid_t ended_pid) {
  for (auto& pe : step.events) {
    ServiceEvent ev;
    ev.type = pe.type;
    ev.delay = pe.delay;
    ev.detail = pe.reason;
    if (pe.type == EventType::kExited) {
      ev.pid = ended_pid;
      ev.pgid = ended_pid;
      ev.exit = s.last_exit;
      ev.left_running = std::move(s.left_running);
      s.left_running.clear();
      if (!s.exit_note.empty()) ev.detail = std::move(s.exit_note);
      s.exit_note.clear();
    } else if (s.child.pidfd) {
      ev.pid = s.child.pid;
      ev.pgid = s.pgid;
    }
    if (pe.type == EventType::kHealthFailed || pe.type == EventType::kGaveUp ||
        pe.type == EventType::kSpawnFailed) {
      s.last_reason = pe.reason;
    }
    Emit(s, std::move(ev), pe.state);
  }
  for (PolicyAction action : step.actions) {
    switch (action) {
      case PolicyAction::kSpawn: {
        PolicyStep next;
        DoSpawn(s, &next);
        Apply(s, next);
        break;
      }
      case PolicyAction::kSignalStop:
        if (s.adopting) {
          AbandonAdoption(s, "");
          break;
        }
        SignalGroup(s, s.config.stop_signal);
        // A stopped (SIGSTOP) process would never see the stop signal.
        SignalGroup(s, SIGCONT);
        break;
      case PolicyAction::kKill:
        SignalGroup(s, SIGKILL);
        break;
    }
  }
  RearmTimer(s);
  UpdateProbes(s);
  MaybeFinishShutdown();
}

void Supervisor::SignalGroup(Service& s, int signal) {
  if (!s.child.pidfd) return;
  // The leader is not reaped before its pidfd says so, so its pid (= pgid) is still ours. An
  // adopted daemon's group is its own (it called setsid), never ours.
  if (s.pgid == ::getpgrp() || ::kill(-s.pgid, signal) != 0) {
    (void)SignalPidfd(s.child.pidfd.get(), signal);
  }
  if (!s.tracked_by_cgroup) return;
  // Members that left the group (setsid, daemonized workers) get it one by one; members of
  // the group got it above (a second copy could make a handler run twice).
  auto members = s.cgroup->Members();
  if (!members.ok()) return;
  s.seen_members.insert(members->begin(), members->end());
  for (pid_t m : *members) {
    auto info = ReadProcessInfo(m);
    if (info.ok() && info->pgid != s.pgid) ::kill(m, signal);
  }
}

std::vector<pid_t> Supervisor::MembersOf(const Service& s) const {
  std::vector<pid_t> out;
  if (s.tracked_by_cgroup) {
    auto m = s.cgroup->Members();
    if (m.ok()) out = std::move(*m);
    return out;
  }
  if (s.pgid > 0 && s.child.pidfd) {
    for (const auto& p : ListProcesses()) {
      if (p.pgid == s.pgid && p.state != 'Z') out.push_back(p.pid);
    }
  }
  if (s.child.pidfd && std::find(out.begin(), out.end(), s.child.pid) == out.end()) {
    out.push_back(s.child.pid);
  }
  return out;
}

std::vector<pid_t> Supervisor::KillCgroupMembers(Service& s) {
  if (!s.tracked_by_cgroup) return {};
  auto members = s.cgroup->Members();
  if (!members.ok() || members->empty()) return {};
  (void)s.cgroup->KillAll(kCgroupKillMs);
  for (pid_t m : *members) {
    if (m != s.child.pid) ReapKilled(m);
  }
  return *members;
}

void Supervisor::ReapKilled(pid_t pid) {
  // A killed child of ours leaves cgroup.procs a moment before it is a zombie: wait for that.
  // Not our child (ECHILD) while it still exists: its parent, killed too, hands it to us when
  // it ends. Either way it is kept in pending_reap_ and reaped later.
  for (int i = 0; i < 200; ++i) {
    pid_t r = ::waitpid(pid, nullptr, WNOHANG);
    if (r > 0) ++orphans_reaped_;
    if (r > 0) return;
    if (r < 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (::kill(pid, 0) == 0) pending_reap_.insert(pid);
}

void Supervisor::ReapPending(std::chrono::milliseconds budget) {
  // A pid leaves the set when we reap it or when it no longer exists (its parent reaped it).
  // The budget bounds the wait for the slow ones (a loaded machine, an emulated VM); a pid
  // reused by a stranger in the meantime costs at most that budget, never a wrong reap: only
  // our own children can be waited for.
  const int64_t deadline = MonotonicNs() + std::chrono::nanoseconds(budget).count();
  while (!pending_reap_.empty()) {
    for (auto it = pending_reap_.begin(); it != pending_reap_.end();) {
      const pid_t r = ::waitpid(*it, nullptr, WNOHANG);
      if (r > 0) ++orphans_reaped_;
      if (r > 0 || ::kill(*it, 0) != 0) {
        it = pending_reap_.erase(it);
      } else {
        ++it;
      }
    }
    if (pending_reap_.empty() || MonotonicNs() >= deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

Result<std::vector<pid_t>> Supervisor::Members(const std::string& name) {
  std::optional<std::vector<pid_t>> out;
  Call([&] {
    if (Service* s = Find(name)) out = MembersOf(*s);
  });
  if (!out) return MessageError("no service named '" + name + "'");
  return *out;
}

void Supervisor::DoSpawn(Service& s, PolicyStep* out) {
  const DaemonConfig& c = s.config;
  SpawnOptions o;
  o.argv = c.command;
  for (const auto& [k, v] : c.env) o.env_overrides.push_back(k + "=" + v);
  o.env_overrides.push_back("DUENDE_SERVICE=" + c.name);
  if (s.notify) o.env_overrides.push_back("NOTIFY_SOCKET=" + s.notify->address());
  if (c.health.watchdog.count() > 0) {
    o.env_overrides.push_back("WATCHDOG_USEC=" + std::to_string(c.health.watchdog.count() / 1000));
  }
  o.working_dir = c.working_dir;
  o.new_process_group = true;
  o.parent_death_signal = SIGKILL;
  o.stdin_fd = -1;
  if (s.log_write) {
    o.stdout_fd = s.log_write.get();
    o.stderr_fd = s.log_write.get();
  }
  const auto& r = c.resources;
  auto lim = [&](int resource, std::optional<uint64_t> v) {
    if (v) o.rlimits.push_back({resource, static_cast<rlim_t>(*v), static_cast<rlim_t>(*v)});
  };
  lim(RLIMIT_NOFILE, r.open_files);
  if (!r.open_files && child_nofile_) {
    o.rlimits.push_back({RLIMIT_NOFILE, child_nofile_->rlim_cur, child_nofile_->rlim_max});
  }
  lim(RLIMIT_AS, r.address_space);
  lim(RLIMIT_NPROC, r.processes);
  lim(RLIMIT_CORE, r.core_size);
  if (r.lock_memory) o.rlimits.push_back({RLIMIT_MEMLOCK, RLIM_INFINITY, RLIM_INFINITY});
  if (s.cgroup) o.cgroup_procs_files = s.cgroup->ProcsFiles();
  if (!c.user.empty()) {
    passwd* pw = ::getpwnam(c.user.c_str());
    if (pw == nullptr) {
      s.policy.SpawnFailed(MonotonicNs(),
                           "unable to spawn " + c.command[0] + ": no user '" + c.user + "'", out);
      return;
    }
    o.uid = pw->pw_uid;
    if (c.group.empty()) o.gid = pw->pw_gid;
  }
  if (!c.group.empty()) {
    group* gr = ::getgrnam(c.group.c_str());
    if (gr == nullptr) {
      s.policy.SpawnFailed(MonotonicNs(),
                           "unable to spawn " + c.command[0] + ": no group '" + c.group + "'", out);
      return;
    }
    o.gid = gr->gr_gid;
  }
  // Resolved (names, BPF) before the vfork; a service without [sandbox] pays nothing here.
  std::optional<PreparedSandbox> sandbox;
  if (c.sandbox.confines()) {
    auto prepared = PrepareSandbox(c.sandbox, o.uid.has_value() && *o.uid != 0);
    if (!prepared.ok()) {
      s.policy.SpawnFailed(MonotonicNs(),
                           "unable to spawn " + c.command[0] + ": " + prepared.error().Message(),
                           out, /*permanent=*/true);
      return;
    }
    sandbox = std::move(*prepared);
    o.sandbox = &*sandbox;
  }
  UniqueFd child_health;  // closed here once the child holds its copy
  if (c.health.liveness.kind == ProbeConfig::Kind::kDaemon ||
      c.health.readiness.kind == ProbeConfig::Kind::kDaemon) {
    auto channel = CreateHealthChannel();
    if (!channel.ok()) {
      s.policy.SpawnFailed(MonotonicNs(), channel.error().Message(), out);
      return;
    }
    s.health_fd = std::move(channel->first);
    child_health = std::move(channel->second);
    o.pass_fds.emplace_back(child_health.get(), kHealthChildFd);
    o.env_overrides.push_back(std::string(kHealthFdEnv) + "=" + std::to_string(kHealthChildFd));
  }
  // The event's time is when the spawn began: vfork returns only after the child's exec, which
  // on a loaded machine can take milliseconds that are not the supervisor's delay.
  const int64_t spawn_began = MonotonicNs();
  auto child = Spawn(o);
  if (!child.ok()) {
    s.policy.SpawnFailed(MonotonicNs(), child.error().Message(), out,
                         IsPermanentSpawnError(child.error()));
    return;
  }
  s.child = std::move(*child);
  s.pgid = s.child.pid;
  s.adopted = false;
  ++s.spawns;
  s.status_text.clear();
  by_pid_[s.child.pid] = &s;
  Service* raw = &s;
  (void)loop_->Watch(s.child.pidfd.get(), EPOLLIN, [this, raw](uint32_t) { OnChildExit(*raw); });
  ServiceEvent ev;
  ev.type = EventType::kSpawned;
  ev.ts_ns = spawn_began;
  ev.pid = s.child.pid;
  ev.pgid = s.pgid;
  ev.detail = c.command[0];
  Emit(s, std::move(ev));
  s.policy.Spawned(MonotonicNs(), out);
}

void Supervisor::OnChildExit(Service& s) {
  if (!s.child.pidfd) return;
  const pid_t pid = s.child.pid;
  const pid_t pgid = s.pgid;
  // Looked at without reaping: a zombie leader keeps its group id reserved while we decide.
  auto peek = PeekExit(s.child.pidfd.get());
  if (peek.ok() && !peek->has_value()) return;  // not exited yet
  // An adopted daemon that is not our child (no subreaper) tells only that it ended.
  ExitStatus status = peek.ok() ? **peek : ExitStatus{};
  const bool stopping = s.policy.state() == ServiceState::kStopping;
  // A daemon that forks: the started process exiting 0 is the end of its start-up, and the
  // pid file names the real main process (systemd's Type=forking + PIDFile=).
  const bool forked = peek.ok() && status.success() && !stopping && !s.adopted &&
                      !s.config.pid_file.empty() && LeftRunning(s, pid);
  const bool keep_for_report = shutting_down_ && s.tracked_by_cgroup;
  std::vector<pid_t> killed;
  const std::set<pid_t> leaders = StrayLeaders(s, pid);
  if (!forked) {
    if (peek.ok() && status.success() && !stopping && s.tracked_by_cgroup &&
        s.config.pid_file.empty()) {
      for (pid_t m : MembersOf(s)) {
        if (m != pid) s.left_running.push_back(m);
      }
      if (!s.left_running.empty()) {
        std::string pids;
        for (pid_t m : s.left_running) pids += " " + std::to_string(m);
        s.exit_note = "its main process (pid " + std::to_string(pid) +
                      ") exited with code 0 while " + std::to_string(s.left_running.size()) +
                      " of its processes kept running (pids" + pids +
                      "): it daemonizes. Set pid_file to the file it writes its main pid to "
                      "(like systemd's Type=forking + PIDFile=), or keep it in the foreground "
                      "(nginx: \"daemon off;\")";
      }
    }
    // Anything it left is killed first (a worker holding the port must not outlive a
    // restart), except at the final shutdown with a cgroup: what outlived the daemon's own
    // stop stays for Members() (leftover reports) until the destructor kills it.
    if (!keep_for_report) {
      if (pgid != ::getpgrp()) ::kill(-pgid, SIGKILL);
      killed = KillCgroupMembers(s);
    }
  }
  if (s.adopted) {
    // Like systemd: the pid file of a daemon that ended goes, so the next start cannot read
    // its stale pid (only when it still names that process, and never through a link).
    auto named = PidFile::ReadChecked(s.config.pid_file);
    if (named.ok() && *named == pid) ::unlink(s.config.pid_file.c_str());
  }
  auto r = TryReap(s.child.pidfd.get());
  if (r.ok() && !r->has_value()) return;  // cannot happen after the peek; be safe
  if (r.ok()) status = **r;
  // Messages and output sent just before the exit belong to this run: take them first.
  if (s.notify) OnNotify(s);
  if (s.log_read) OnLogReadable(s);
  loop_->Unwatch(s.child.pidfd.get());
  s.child.pidfd.Reset();
  s.child.pid = -1;
  by_pid_.erase(pid);
  s.last_exit = status;
  // Its killed or stopped children were zombies of it; now that it is reaped they are ours.
  for (pid_t m : killed) {
    if (m != pid) ReapKilled(m);
  }
  for (pid_t m : s.seen_members) {
    if (m != pid && ::waitpid(m, nullptr, WNOHANG) > 0) ++orphans_reaped_;
  }
  s.seen_members.clear();
  ReapStrays(leaders);
  ReapPending(std::chrono::milliseconds(0));
  if (forked) {
    s.adopting = Service::Adoption{};
    s.adopting->launcher = pid;
    s.adopting->launcher_status = status;
    // Half the readiness grace (which runs from the spawn): a pid file that never comes is
    // reported as such, before the readiness deadline could say only "not ready".
    const auto& ready = s.config.health.readiness;
    const nanoseconds wait =
        ready.kind != ProbeConfig::Kind::kNone && ready.grace_period.count() > 0
            ? std::min(kPidFileWait, ready.grace_period / 2)
            : kPidFileWait;
    s.adopting->deadline_ns = MonotonicNs() + wait.count();
    UpdateProbes(s);
    TryAdopt(s);
    return;
  }
  PolicyStep step;
  s.policy.Exited(MonotonicNs(), status, &step);
  Apply(s, step, pid);
  if (!keep_for_report) SweepGroup(pgid, 0);
}

bool Supervisor::LeftRunning(const Service& s, pid_t launcher) const {
  if (s.tracked_by_cgroup) {
    for (pid_t m : MembersOf(s)) {
      if (m != launcher) return true;
    }
    return false;
  }
  // Without a cgroup: its process group or session, or an unknown child of ours (a daemon's
  // first fork is reparented to us, the subreaper, when the started process exits).
  const pid_t self = ::getpid();
  for (const auto& p : ListProcesses()) {
    if (p.pid == launcher || p.state == 'Z') continue;
    if (p.pgid == launcher || p.sid == launcher || (p.ppid == self && by_pid_.count(p.pid) == 0)) {
      return true;
    }
  }
  return false;
}

std::set<pid_t> Supervisor::StrayLeaders(const Service& s, pid_t launcher) const {
  // Only services that may daemonize leave strays; spare the others the /proc scan.
  std::set<pid_t> leaders;
  if (!s.tracked_by_cgroup && !s.adopted && s.config.pid_file.empty()) return leaders;
  if (launcher > 0) leaders.insert(launcher);
  for (pid_t m : MembersOf(s)) {
    auto info = ReadProcessInfo(m);
    if (!info.ok()) continue;
    leaders.insert(info->sid);
    leaders.insert(info->pgid);
  }
  return leaders;
}

void Supervisor::ReapStrays(const std::set<pid_t>& leaders) {
  // A daemon's intermediate processes (the first fork, which called setsid) end as zombies of
  // ours once reparented. They led the sessions or groups of the service's processes, which is
  // why `leaders` is taken while those still run.
  if (leaders.empty()) return;
  const pid_t self = ::getpid();
  for (const auto& p : ListProcesses()) {
    if (p.ppid != self || p.state != 'Z' || by_pid_.count(p.pid) != 0) continue;
    if (leaders.count(p.pid) != 0 || leaders.count(p.pgid) != 0 || leaders.count(p.sid) != 0) {
      if (::waitpid(p.pid, nullptr, WNOHANG) > 0) ++orphans_reaped_;
    }
  }
}

Result<pid_t> Supervisor::CheckAdoptable(Service& s, pid_t launcher) {
  auto pid = PidFile::ReadChecked(s.config.pid_file);
  if (!pid.ok()) return pid.error();
  if (*pid == launcher) {
    return ErrnoError("pid file " + s.config.pid_file + " names pid " + std::to_string(*pid) +
                          ", the process started, which has exited",
                      EINVAL);
  }
  return *pid;
}

void Supervisor::TryAdopt(Service& s) {
  if (!s.adopting) return;
  const pid_t launcher = s.adopting->launcher;
  auto pid = CheckAdoptable(s, launcher);
  if (pid.ok()) {
    // The pidfd first, then the check: a pid recycled after the check could not be mistaken.
    auto fd = OpenPidfd(*pid);
    auto info = ReadProcessInfo(*pid);
    std::string refused;
    if (!fd.ok() || !info.ok() || info->state == 'Z') {
      refused = "pid file " + s.config.pid_file + " names pid " + std::to_string(*pid) +
                ", which is not running";
    } else if (s.tracked_by_cgroup ? !s.cgroup->Contains(*pid)
                                   : !(info->ppid == ::getpid() || info->pgid == launcher ||
                                       info->sid == launcher)) {
      refused = "pid file " + s.config.pid_file + " names " + DescribeProcess(*pid) +
                ", which is not a process of service " + s.config.name + " (not in its " +
                (s.tracked_by_cgroup ? s.cgroup->Describe() : "process group or session") +
                "); refused";
    }
    if (refused.empty()) {
      s.adopting.reset();
      s.child.pid = *pid;
      s.child.pidfd = std::move(*fd);
      s.pgid = info->pgid;
      s.adopted = true;
      by_pid_[*pid] = &s;
      Service* raw = &s;
      (void)loop_->Watch(s.child.pidfd.get(), EPOLLIN,
                         [this, raw](uint32_t) { OnChildExit(*raw); });
      ServiceEvent ev;
      ev.type = EventType::kMainPid;
      ev.pid = *pid;
      ev.pgid = s.pgid;
      ev.detail = "from pid file " + s.config.pid_file + " (pid " + std::to_string(launcher) +
                  ", the process started, exited with code 0)";
      Emit(s, std::move(ev));
      RearmTimer(s);
      UpdateProbes(s);
      ReapStrays(StrayLeaders(s, launcher));
      return;
    }
    s.adopting->problem = refused;
  } else {
    s.adopting->problem = pid.error().Message();
  }
  if (MonotonicNs() >= s.adopting->deadline_ns) {
    AbandonAdoption(s, s.adopting->problem);
    return;
  }
  Service* raw = &s;
  loop_->AddTimer(MonotonicNs() + kPidFilePoll.count(), [this, raw] { TryAdopt(*raw); });
}

void Supervisor::AbandonAdoption(Service& s, std::string why) {
  if (!s.adopting) return;
  const Service::Adoption a = *s.adopting;
  s.adopting.reset();
  // Whatever the start left running has no main process to answer for it.
  const auto leaders = StrayLeaders(s, a.launcher);
  KillCgroupMembers(s);
  if (a.launcher > 0 && a.launcher != ::getpgrp()) ::kill(-a.launcher, SIGKILL);
  ReapStrays(leaders);
  PolicyStep step;
  const int64_t now = MonotonicNs();
  if (!why.empty()) {
    // Without a main process this start failed: a health failure (restart with backoff).
    s.policy.HealthFailed(now, why, &step);
  }
  s.policy.Exited(now, a.launcher_status, &step);
  Apply(s, step, a.launcher);
}

void Supervisor::SweepGroup(pid_t pgid, int round) {
  if (pgid <= 0) return;
  while (true) {
    siginfo_t info{};
    if (::waitid(P_PGID, static_cast<id_t>(pgid), &info, WEXITED | WNOHANG) != 0) break;
    if (info.si_pid == 0) break;
    ++orphans_reaped_;
  }
  if (round >= kSweepRounds || ::kill(-pgid, 0) != 0) {  // given up, or the group is gone
    lingering_.erase(pgid);
    return;
  }
  lingering_.insert(pgid);
  ::kill(-pgid, SIGKILL);
  loop_->AddTimer(MonotonicNs() + (int64_t{1000000} << round),
                  [this, pgid, round] { SweepGroup(pgid, round + 1); });
}

void Supervisor::ReapLingering() {
  // Members left in a group were sent SIGKILL: a blocking wait returns promptly, and ECHILD
  // (nothing of that group is our child) ends it.
  for (pid_t pgid : lingering_) {
    ::kill(-pgid, SIGKILL);
    siginfo_t info{};
    while (::waitid(P_PGID, static_cast<id_t>(pgid), &info, WEXITED) == 0) ++orphans_reaped_;
  }
  lingering_.clear();
}

void Supervisor::SweepAll() {
  // A dedicated process (handle_signals): every zombie is ours to reap. A managed child is
  // handled as an exit; any other is an orphan reparented to us (subreaper).
  while (true) {
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) break;
    if (info.si_pid == 0) break;
    auto it = by_pid_.find(info.si_pid);
    if (it != by_pid_.end()) {
      OnChildExit(*it->second);
      continue;
    }
    bool is_probe = false;
    for (auto& s : services_) {
      if (s->probe && s->probe->pid() == info.si_pid) is_probe = true;
    }
    if (is_probe) break;  // its own pidfd callback reaps it, then sweeps again
    ::waitpid(info.si_pid, nullptr, WNOHANG);
    ++orphans_reaped_;
  }
}

void Supervisor::OnSignal() {
  signalfd_siginfo si{};
  bool chld = false;
  while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) {
      chld = true;
    } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      Shutdown();
    }
  }
  if (chld) SweepAll();
}

bool Supervisor::IsServiceProcess(const Service& s, pid_t pid) const {
  if (pid <= 0 || !s.child.pidfd) return false;
  if (pid == s.child.pid) return true;
  if (s.pgid > 1) {
    auto info = ReadProcessInfo(pid);
    if (info.ok() && info->pgid == s.pgid) return true;
  }
  if (s.tracked_by_cgroup) {
    auto members = s.cgroup->Members();
    if (members.ok() && std::find(members->begin(), members->end(), pid) != members->end()) {
      return true;
    }
  }
  return false;
}

void Supervisor::OnNotify(Service& s) {
  for (const NotifyDatagram& d : s.notify->Drain()) {
    // Anyone in the network namespace can reach an abstract address: act only on datagrams
    // the kernel says come from the service's main process, process group or cgroup.
    if (d.truncated || !IsServiceProcess(s, d.sender_pid)) {
      ++s.notify_dropped;
      continue;
    }
    const NotifyMessage& m = d.message;
    const int64_t now = MonotonicNs();
    if (m.status) {
      s.status_text = *m.status;
      ServiceEvent ev;
      ev.type = EventType::kStatus;
      ev.pid = s.child.pid;
      ev.pgid = s.pgid;
      ev.detail = *m.status;
      Emit(s, std::move(ev));
    }
    if (m.stopping) {
      ServiceEvent ev;
      ev.type = EventType::kStatus;
      ev.pid = s.child.pid;
      ev.pgid = s.pgid;
      ev.detail = "STOPPING=1";
      Emit(s, std::move(ev));
    }
    PolicyStep step;
    if (m.ready && s.config.health.readiness.kind == ProbeConfig::Kind::kNotify) {
      s.policy.Ready(now, &step);
    }
    if (m.watchdog) s.policy.WatchdogPing(now);
    Apply(s, step);
  }
}

void Supervisor::OnLogReadable(Service& s) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(s.log_read.get(), buf, sizeof buf);
    if (n <= 0) break;
    (void)s.log->Write(std::string_view(buf, static_cast<size_t>(n)));
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
}

void Supervisor::RearmTimer(Service& s) {
  std::optional<int64_t> at = s.policy.NextDeadline();
  if (at && *at == s.timer_at && s.timer != 0) return;
  if (s.timer != 0) {
    loop_->CancelTimer(s.timer);
    s.timer = 0;
    s.timer_at = -1;
  }
  if (!at) return;
  Service* raw = &s;
  s.timer_at = *at;
  s.timer = loop_->AddTimer(*at, [this, raw] {
    raw->timer = 0;
    raw->timer_at = -1;
    PolicyStep step;
    raw->policy.Tick(MonotonicNs(), &step);
    Apply(*raw, step);
  });
}

void Supervisor::UpdateProbes(Service& s) {
  using Mode = Service::ProbeMode;
  Mode want = Mode::kNone;
  const auto ready_kind = s.config.health.readiness.kind;
  const auto live_kind = s.config.health.liveness.kind;
  const ServiceState st = s.policy.state();
  if (st == ServiceState::kStarting && ready_kind != ProbeConfig::Kind::kNone &&
      ready_kind != ProbeConfig::Kind::kNotify && s.child.pidfd) {
    want = Mode::kReadiness;
  } else if (st == ServiceState::kRunning && live_kind != ProbeConfig::Kind::kNone) {
    want = Mode::kLiveness;
  }
  const pid_t for_pid = want == Mode::kNone ? -1 : s.child.pid;
  if (want == s.probe_mode && for_pid == s.probe_pid) return;
  s.probe_pid = for_pid;
  s.probe.reset();
  if (s.probe_timer != 0) {
    loop_->CancelTimer(s.probe_timer);
    s.probe_timer = 0;
  }
  s.probe_mode = want;
  s.liveness_failures = 0;
  if (want == Mode::kReadiness) ScheduleProbe(s, MonotonicNs());
  if (want == Mode::kLiveness) {
    ScheduleProbe(s, MonotonicNs() + s.config.health.liveness.interval.count());
  }
}

void Supervisor::ScheduleProbe(Service& s, int64_t at_ns) {
  Service* raw = &s;
  s.probe_timer = loop_->AddTimer(at_ns, [this, raw] {
    raw->probe_timer = 0;
    RunProbe(*raw);
  });
}

void Supervisor::RunProbe(Service& s) {
  using Mode = Service::ProbeMode;
  const bool readiness = s.probe_mode == Mode::kReadiness;
  const ProbeConfig& cfg = readiness ? s.config.health.readiness : s.config.health.liveness;
  Service* raw = &s;
  auto on_result = [this, raw, readiness](const ProbeResult& probe_result) {
    Service& sv = *raw;
    ProbeResult result = probe_result;
    if (result.healthy && options_.probes_need_own_listener) {
      const ProbeConfig& pc = readiness ? sv.config.health.readiness : sv.config.health.liveness;
      std::string foreign = ForeignListener(sv, pc);
      if (!foreign.empty()) result = ProbeResult{false, foreign};
    }
    const ProbeConfig& pc = readiness ? sv.config.health.readiness : sv.config.health.liveness;
    // Destroying the finished ProbeRun is safe: it touches nothing after calling us.
    std::unique_ptr<ProbeRun> finished = std::move(sv.probe);
    const int64_t now = MonotonicNs();
    PolicyStep step;
    if (readiness) {
      if (result.healthy) {
        sv.policy.Ready(now, &step);
      } else {
        ScheduleProbe(sv, now + pc.interval.count());
      }
    } else if (result.healthy) {
      sv.liveness_failures = 0;
      ScheduleProbe(sv, now + pc.interval.count());
    } else if (++sv.liveness_failures >= std::max<uint32_t>(1, pc.failure_threshold)) {
      sv.policy.HealthFailed(now,
                             "liveness probe failed " + std::to_string(sv.liveness_failures) +
                                 " times in a row: " + result.detail,
                             &step);
    } else {
      ScheduleProbe(sv, now + pc.interval.count());
    }
    Apply(sv, step);
    if (options_.handle_signals) SweepAll();
  };
  auto run = ProbeRun::Start(loop_.get(), cfg, on_result, s.health_fd.get());
  if (run.ok()) {
    s.probe = std::move(*run);
  } else {
    on_result(ProbeResult{false, run.error().Message()});
  }
}

std::string Supervisor::ForeignListener(const Service& s, const ProbeConfig& probe) const {
  if (probe.kind != ProbeConfig::Kind::kTcp && probe.kind != ProbeConfig::Kind::kHttp) return "";
  return ListenerNotHeldBy(probe.address, MembersOf(s), "service " + s.config.name);
}

bool Supervisor::AnyChild() const {
  for (const auto& s : services_) {
    if (s->child.pidfd || s->adopting) return true;
  }
  return false;
}

void Supervisor::MaybeFinishShutdown() {
  if (shutting_down_ && !AnyChild()) loop_->Quit();
}

void Supervisor::Shutdown() {
  Call([&] {
    shutting_down_ = true;
    for (auto& s : services_) {
      PolicyStep step;
      s->policy.Stop(MonotonicNs(), &step);
      Apply(*s, step);
    }
    MaybeFinishShutdown();
  });
}

Result<void> Supervisor::Run() {
  {
    std::lock_guard<std::recursive_mutex> lock(run_mu_);
    running_ = true;
    loop_thread_ = std::this_thread::get_id();
  }
  Result<void> r;
  while (true) {
    r = loop_->Run();
    if (!r.ok() || (shutting_down_ && !AnyChild())) break;
  }
  {
    std::lock_guard<std::recursive_mutex> lock(run_mu_);
    running_ = false;
  }
  // Commands posted before running_ was cleared still get their answer.
  (void)loop_->RunOnce(0);
  ReapLingering();
  ReapPending(kPendingReapBudget);
  return r;
}

std::string DefaultControlSocket() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/duende-supervise.sock";
  if (::geteuid() == 0) return "/run/duende/supervise.sock";
  const char* tmp = std::getenv("TMPDIR");
  const std::string base = tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp";
  return base + "/duende-" + std::to_string(::geteuid()) + "/supervise.sock";
}

namespace {

Result<ServicesFile> ReadServicesFile(const Result<toml::table>& table, const std::string& path,
                                      const PlatformCheck& check_platform) {
  if (!table.ok()) return table.error();
  auto diags = std::make_shared<Diagnostics>();
  TomlReader root = TomlReader::ForFile(*table, path, diags);
  ServicesFile out;
  const std::string dir =
      path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  auto resolve = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : dir + "/" + p; };
  if (auto sup = root.Table("supervisor")) {
    if (auto v = sup->String("control_socket")) out.control_socket = resolve(*v);
    if (auto v = sup->String("log_dir")) out.options.log_dir = resolve(*v);
    if (auto v = sup->ByteSize("log_max_bytes")) out.options.log_max_bytes = *v;
    if (auto v = sup->Int("log_keep", 0, 1000)) out.options.log_keep = static_cast<uint32_t>(*v);
    if (auto v = sup->Bool("subreaper")) out.options.subreaper = *v;
    if (auto v = sup->Int("seed", 0, INT64_MAX)) out.options.seed = static_cast<uint64_t>(*v);
    if (auto v = sup->Bool("autostart")) out.autostart = *v;
    ReadMetricsListen(*sup, "metrics", &out.metrics);
    if (auto v = sup->Duration("control_timeout")) {
      if (v->count() <= 0) {
        sup->Fail("control_timeout", "control_timeout must be positive, e.g. \"5s\"");
      } else {
        out.control_timeout = *v;
      }
    }
    if (auto v = sup->String("control_group")) {
      if (auto gid = LookUpGroup(*v)) {
        out.control_group = *gid;
      } else {
        sup->Fail("control_group", "no group named '" + *v +
                                       "' on this machine; name an existing group (see "
                                       "/etc/group) or a numeric gid");
      }
    }
    sup->Finish();
  }
  std::set<std::string> names;
  for (TomlReader& r : root.TableArray("service", /*required=*/true)) {
    std::string platform;
    if (check_platform) platform = r.String("platform").value_or("");
    DaemonConfig c = ReadDaemonConfig(r);
    if (!platform.empty()) {
      if (std::string why = check_platform(platform, c); !why.empty()) r.Fail("platform", why);
    }
    if (!r.Has("name")) {
      r.Fail("name", r.where() + " needs a name, e.g. name = \"kvd\"");
    } else if (!c.name.empty() && !names.insert(c.name).second) {
      r.Fail("name", "a service named '" + c.name + "' is already defined; names must be unique");
    }
    if (!r.Has("command")) {
      r.Fail("command", r.where() + " needs a command, e.g. command = [\"/usr/bin/kvd\"]");
    }
    out.services.push_back(std::move(c));
    out.platforms.push_back(platform == "native" ? "" : platform);
  }
  root.Finish();
  if (!diags->empty()) return diags->ToError();
  diags->PrintWarnings();
  return out;
}

}  // namespace

Result<ServicesFile> LoadServicesFile(const std::string& path,
                                      const PlatformCheck& check_platform) {
  return ReadServicesFile(ParseTomlFile(path), path, check_platform);
}

Result<ServicesFile> ParseServicesFile(std::string_view text, const std::string& path,
                                       const PlatformCheck& check_platform) {
  return ReadServicesFile(ParseTomlString(text, path), path, check_platform);
}

}  // namespace duende::framework
