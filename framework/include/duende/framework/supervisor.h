// Supervisor: runs any number of child processes and keeps them running.
//
// Each service is a DaemonConfig (command, env, limits, [restart], [health]). The decisions
// (restart or not, after which delay, when to give up, when to SIGKILL) are made by the pure
// RestartPolicy; this class is the I/O around it: one epoll loop with a pidfd per child, one
// timerfd for every deadline, an eventfd for commands from other threads, and (optionally) a
// signalfd. Nothing polls: an idle supervisor sleeps in epoll_wait with zero wake-ups.
//
// Threads: Run() may run on its own thread while any other thread calls Add/Start/Stop/
// Restart/Status/Subscribe/Shutdown; those are queued to the loop and wait for their result.
// Before Run() (or after it returned) they run directly on the caller's thread. Subscriber
// callbacks run on the thread that runs the loop and must not block.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/event_loop.h"
#include "duende/framework/process.h"
#include "duende/framework/restart_policy.h"
#include "duende/framework/result.h"

namespace duende::framework {

/// One state change of one service.
struct ServiceEvent {
  uint64_t seq = 0;   ///< 1, 2, ... per Supervisor
  int64_t ts_ns = 0;  ///< CLOCK_MONOTONIC when it happened (kSpawned: when the spawn began)
  std::string service;
  EventType type = EventType::kSpawned;
  ServiceState state = ServiceState::kStopped;  ///< the state after the event
  pid_t pid = -1;                  ///< the child concerned (spawned, exited, stopping, killed, ...)
  pid_t pgid = -1;                 ///< its process group (the target of stop signals)
  std::optional<ExitStatus> exit;  ///< kExited
  std::chrono::nanoseconds delay{0};  ///< kRestartScheduled; kGaveUp: retry after (0: never)
  std::string detail;                 ///< reason, STATUS= text, spawn error, ...
  /// kExited: processes of the service still running when its main process exited 0 and no
  /// pid_file names a new main one (it daemonized); they are killed, `detail` says what to set.
  std::vector<pid_t> left_running;

  /// "kvd: exited (pid 4242): killed by signal 9 (SIGKILL) [backoff]"
  std::string ToString() const;
};

/// A snapshot of one service.
struct ServiceStatus {
  std::string name;
  ServiceState state = ServiceState::kStopped;
  pid_t pid = -1;   ///< current child, -1 when none
  pid_t pgid = -1;  ///< its process group, -1 when none
  bool ready = false;
  uint64_t restarts = 0;  ///< restarts made by the policy since Add()
  uint32_t attempt = 0;   ///< restarts in a row (the backoff attempt)
  uint64_t spawns = 0;    ///< children started since Add()
  std::optional<ExitStatus> last_exit;
  std::string reason;                    ///< why failed/exited, or the last health failure
  std::string status_text;               ///< last STATUS= from the child
  int64_t since_ns = 0;                  ///< when the current state began
  std::optional<int64_t> next_start_ns;  ///< scheduled restart / retry
  /// How its processes are tracked: "cgroup v1 /sys/fs/cgroup/pids/duende-1-kvd", or
  /// "process group" (with the reason when a cgroup was asked for and could not be made).
  std::string tracking;
  bool tracked_by_cgroup = false;
  /// sd_notify datagrams dropped since Add(): sent by a process outside the service (not its
  /// main process, process group or cgroup), sent while it had no process, or too long.
  uint64_t notify_dropped = 0;
};

struct SupervisorOptions {
  /// Directory for per-service logs "<name>.log" (child stdout+stderr through a pipe, with
  /// size rotation). "": children inherit the supervisor's stdout/stderr.
  std::string log_dir;
  uint64_t log_max_bytes = 10u << 20;
  uint32_t log_keep = 5;
  /// Become the child subreaper (PR_SET_CHILD_SUBREAPER), so that orphaned grandchildren are
  /// reparented to us and reaped instead of escaping to init.
  bool subreaper = true;
  /// Read SIGTERM/SIGINT (-> Shutdown) and SIGCHLD (-> reap every orphan) from a signalfd.
  /// The caller must have blocked these signals in every thread (a dedicated process such as
  /// `duende supervise` does it first thing in main()).
  bool handle_signals = false;
  /// Seed of the jitter generators (0: random). The seed of each service is logged.
  uint64_t seed = 0;
  /// Give every service a cgroup of its own (also without [resources] limits), so that every
  /// process it starts, also one that calls setsid() or daemonizes, is tracked: stop signals
  /// reach each member, members left when the main process ends are killed before a restart,
  /// Members() lists them. Where no group can be made (no cgroup mounted, no permission) the
  /// service falls back to its process group; ServiceStatus::tracking says so and why.
  bool cgroup_per_service = false;
  /// The services' groups are named cgroup_prefix + service name ("": "duende-<our pid>-").
  std::string cgroup_prefix;
  /// tcp/http readiness and liveness probes pass only when the listener they reached is held
  /// by one of the service's processes (socket inodes of /proc/net/tcp{,6} against
  /// /proc/PID/fd); another program on the port fails the probe with its name and pid.
  bool probes_need_own_listener = false;
};

class Supervisor {
 public:
  using EventCallback = std::function<void(const ServiceEvent&)>;
  using SubscriptionId = uint64_t;

  /// Errors: the loop's descriptors could not be created (EMFILE), or signalfd/prctl failed.
  static Result<std::unique_ptr<Supervisor>> Create(SupervisorOptions options = {});

  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;
  /// Any child still running is killed (SIGKILL to its group) and reaped.
  ~Supervisor();

  /// Adds a service (stopped; `start` starts it at once). Errors (invalid_argument): empty or
  /// duplicate name, empty command, a liveness probe of kind notify; the errno of creating
  /// its log file or notify socket.
  Result<void> Add(const DaemonConfig& config, bool start = false);
  /// Errors for the four below: invalid_argument "no service named X"; Start during shutdown.
  Result<void> Start(const std::string& name);
  /// Stop signal + SIGCONT to the group, SIGKILL after shutdown_timeout. A double stop is a
  /// no-op. Returns once the stop is under way (subscribe for `stopped`).
  Result<void> Stop(const std::string& name);
  /// A running (or starting) service is stopped as Stop() does and started again once it has
  /// exited; a stopping one is started again after its exit; any other is started at once,
  /// with its restart history (backoff, start limit) reset. Refused during shutdown.
  Result<void> Restart(const std::string& name);
  /// A snapshot of one service (state, pid, restarts, last exit, why). Errors:
  /// invalid_argument "no service named X".
  Result<ServiceStatus> Status(const std::string& name);
  /// Every service, in the order added.
  std::vector<ServiceStatus> StatusAll();
  /// Start() for every service added so far, in the order added; does nothing once shutdown
  /// has begun. Spawn failures are not returned: they arrive as events and in Status().
  void StartAll();

  /// Every process of the service now: its cgroup's members (cgroup tracking), else the
  /// members of its main process's group plus the main process. Empty when it has none.
  /// Errors: invalid_argument "no service named X".
  Result<std::vector<pid_t>> Members(const std::string& name);

  /// `callback` sees every later event.
  SubscriptionId Subscribe(EventCallback callback);
  void Unsubscribe(SubscriptionId id);

  /// Stops every service; Run() returns once none has a child left. Thread-safe; idempotent.
  void Shutdown();
  /// Runs the loop until Shutdown() has completed. Errors: epoll_wait failed.
  Result<void> Run();

  /// The loop (for adding a control socket on the loop thread). Use only from callbacks that
  /// run on the loop, or before Run().
  EventLoop& loop() { return *loop_; }
  /// Runs `fn` on the loop thread (or inline when the loop is not running) and waits.
  void Call(const std::function<void()>& fn);

  /// Wake-ups of the loop so far; orphans reaped so far.
  uint64_t wakeups() const { return loop_->wakeups(); }
  uint64_t orphans_reaped() const { return orphans_reaped_.load(); }

 private:
  struct Service;
  explicit Supervisor(SupervisorOptions options, std::unique_ptr<EventLoop> loop);

  Service* Find(const std::string& name);
  Result<void> AddLocked(const DaemonConfig& config, bool start);
  Result<void> Command(const std::string& name, bool refused_in_shutdown,
                       void (RestartPolicy::*input)(int64_t, PolicyStep*));
  void Apply(Service& s, PolicyStep& step, pid_t ended_pid = -1);
  void DoSpawn(Service& s, PolicyStep* out);
  void SignalGroup(Service& s, int signal);
  void OnChildExit(Service& s);
  std::vector<pid_t> MembersOf(const Service& s) const;
  std::vector<pid_t> KillCgroupMembers(Service& s);
  void ReapKilled(pid_t pid);
  void ReapPending(std::chrono::milliseconds budget);
  bool LeftRunning(const Service& s, pid_t launcher) const;
  std::set<pid_t> StrayLeaders(const Service& s, pid_t launcher) const;
  void ReapStrays(const std::set<pid_t>& leaders);
  void TryAdopt(Service& s);
  void AbandonAdoption(Service& s, std::string why);
  Result<pid_t> CheckAdoptable(Service& s, pid_t launcher);
  std::string ForeignListener(const Service& s, const ProbeConfig& probe) const;
  bool IsServiceProcess(const Service& s, pid_t pid) const;
  void OnNotify(Service& s);
  void OnLogReadable(Service& s);
  void RearmTimer(Service& s);
  void UpdateProbes(Service& s);
  void ScheduleProbe(Service& s, int64_t at_ns);
  void RunProbe(Service& s);
  void SweepGroup(pid_t pgid, int round);
  void SweepAll();
  void ReapLingering();
  void OnSignal();
  void Emit(Service& s, ServiceEvent ev, std::optional<ServiceState> state = std::nullopt);
  void MaybeFinishShutdown();
  bool AnyChild() const;
  bool OnLoopThread() const;
  ServiceStatus StatusOf(const Service& s) const;

  SupervisorOptions options_;
  std::unique_ptr<EventLoop> loop_;
  UniqueFd signal_fd_;
  std::vector<std::unique_ptr<Service>> services_;
  std::unordered_map<std::string, Service*> by_name_;
  std::unordered_map<pid_t, Service*> by_pid_;
  std::map<SubscriptionId, EventCallback> subscribers_;
  SubscriptionId next_subscription_ = 1;
  uint64_t seq_ = 0;
  std::atomic<uint64_t> orphans_reaped_{0};
  std::set<pid_t> lingering_;  // groups whose leader ended but members remain
  // Killed members not reaped yet: their parent was still alive (they become ours when it
  // ends) or they were slow to die. Reaped at later exits and, bounded, when Run() ends.
  std::set<pid_t> pending_reap_;
  std::optional<rlimit> child_nofile_;  // RLIMIT_NOFILE before Create() raised ours
  bool shutting_down_ = false;

  // Who runs the loop: commands from other threads are posted while it runs.
  mutable std::recursive_mutex run_mu_;
  bool running_ = false;
  std::thread::id loop_thread_;
};

/// A services file (`duende supervise services.toml`): a [supervisor] table and one
/// [[service]] table per service (each a DaemonConfig, read by ReadDaemonConfig).
struct ServicesFile {
  SupervisorOptions options;
  /// Control socket path ("" = DefaultControlSocket()). Relative paths here and in log_dir
  /// are taken relative to the file's directory.
  std::string control_socket;
  /// A group whose members may also use the control socket (`control_group`, a name or a
  /// number); without it only the supervisor's own uid and root may. The peer's credentials
  /// (SO_PEERCRED, SO_PEERGROUPS) are checked on every connection.
  std::optional<gid_t> control_group;
  /// How long a control connection may take to send its request line and read the reply
  /// (`control_timeout`, default 5s); a silent client is closed after it.
  std::chrono::nanoseconds control_timeout = std::chrono::seconds(5);
  /// Start every service at once (default true).
  bool autostart = true;
  /// `metrics`: where `duende supervise` serves /metrics (docs/metrics.md); off when "".
  MetricsConfig metrics;
  std::vector<DaemonConfig> services;
  /// Each service's `platform` (same order as `services`): "" when not given (the
  /// supervisor's own), else the name as written ("systemd", "oci", ...), checked by the
  /// caller's `check_platform`.
  std::vector<std::string> platforms;
};

/// Why a service's `platform = NAME` cannot run it, given the service's config ("" = it can:
/// the platform exists here and has what it needs of the config); the message is reported at
/// the key as file:line:col. The framework knows no platforms: the program that runs them does.
using PlatformCheck =
    std::function<std::string(const std::string& platform, const DaemonConfig& config)>;

/// Reads and validates a services file. Errors: the file's errno when it cannot be read;
/// invalid_argument with every problem as "file:line:col: message" lines (unknown keys with
/// did-you-mean, a service without name or command, duplicate names, ...).
/// With `check_platform`, a service may name a `platform`; without it the key is refused.
Result<ServicesFile> LoadServicesFile(const std::string& path,
                                      const PlatformCheck& check_platform = {});

/// The same from text; `path` names the file in messages and is the base of relative paths.
Result<ServicesFile> ParseServicesFile(std::string_view text, const std::string& path,
                                       const PlatformCheck& check_platform = {});

/// The control socket's default path, always in a private (0700) directory:
/// $XDG_RUNTIME_DIR/duende-supervise.sock when XDG_RUNTIME_DIR is set, else
/// /run/duende/supervise.sock for root, else ${TMPDIR:-/tmp}/duende-<uid>/supervise.sock.
std::string DefaultControlSocket();

}  // namespace duende::framework
