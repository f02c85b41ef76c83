// The state of one `duende run` (class Run) shared by the files that carry out its parts:
// runner.cc (the phases in order, variables), run_targets.cc (starting targets and translating
// the supervisor's events), run_timeline.cc (faults, load and steady-state probes on the
// timeline), run_sampling.cc (/proc samples of the targets), run_teardown.cc (the stop,
// leftovers, logs, the run directory). Private to the harness.
#pragma once

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

#include "duende/adapters/adapter.h"
#include "duende/adapters/systemd_adapter.h"
#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/faults/node_network.h"
#include "duende/faults/proxy.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/address.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/pid_file.h"
#include "duende/framework/proc.h"
#include "duende/framework/process.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/supervisor.h"
#include "duende/framework/temp_dir.h"
#include "duende/harness/checks.h"
#include "duende/harness/event_recorder.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/load.h"
#include "duende/harness/runner.h"
#include "duende/harness/target_tracking.h"
#include "duende/model/event_log.h"
#include "duende/model/events.h"
#include "probes.h"
#include "run_support.h"
#include "syscall_tracer.h"
#include "variables.h"

namespace duende::harness::internal {

namespace fs = std::filesystem;
using framework::MonotonicNs;
using model::Verdict;
namespace events = model::events;
using nlohmann::json;

inline constexpr int64_t kMs = 1000000;
inline constexpr int64_t kSampleEveryNs = 100 * kMs;
inline constexpr int64_t kProbeEveryNs = 25 * kMs;
inline constexpr size_t kMaxLogLines = 2000;
// Output lines of a target shown when it exits unexpectedly or never gets ready.
inline constexpr size_t kOutputTailLines = 10;
// An exit this soon after a fault was injected into the target is the fault's doing.
inline constexpr int64_t kFaultExplainsExitNs = 3000 * kMs;

/// A free loopback port (bound, read, closed: the target binds it right after); 0 on failure.
uint16_t FreePort();
/// The port of "host:port"; 0 when there is none.
uint16_t PortOf(const std::string& address);
/// A TOML value as JSON (for the fault parameters in fault.injected).
json TomlToJson(const toml::node& n);

struct TargetState {
  const TargetSpec* spec = nullptr;
  TargetSpec expanded;
  pid_t pid = -1;
  pid_t pgid = -1;
  bool ready = false;
  bool gave_up = false;
  std::string spawn_error;  // a spawn failure that will not heal: the run stops with it
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
  // A target on another platform (platform != "native"): started, restarted and stopped by
  // the platform through its adapter; its events arrive through Adapter::Subscribe.
  std::unique_ptr<adapters::Adapter> adapter;
  uint64_t platform_journal = 0;  // undo entry of what the platform runs (an OCI container)
};

struct FaultInstance {
  const FaultSpec* spec = nullptr;
  int64_t inject_at = 0;  // offset from t0
  int64_t heal_at = 0;
  std::unique_ptr<faults::Fault> fault;
  bool injected = false;
  bool failed = false;
  bool healed = false;
  // [fault.select] (run_select.cc): once the probe chose, `spec` points to `selected_spec`, a
  // copy of the scenario's naming the chosen target; `selection` goes into fault.injected;
  // with pick = "all" the other chosen targets' instances are `more`, healed with this one.
  bool selection_done = false;
  std::shared_ptr<FaultSpec> selected_spec;
  json selection;
  std::vector<FaultInstance> more;
};

/// A fault's parameters for fault.injected: its table without the keys every fault shares.
json FaultParams(const FaultSpec& f);

class Run {
 public:
  Run(const Scenario& s, const RunOptions& o) : s_(s), o_(o) {}

  RunOutcome Go();

 private:
  // --- helpers
  std::string Expand(const std::string& text);
  // {load.NAME}: a field of the load summary ("" before the load ended), or
  // {load.summary}, all of it as JSON; nullopt for an unknown name.
  std::optional<std::string> LoadVariable(std::string_view name) const;
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
  // Faults (run_select.cc): the injector of `f` as its target needs it (a platform's kill goes
  // through the adapter); a selecting fault's probe rounds and its injection into the targets
  // chosen, or a record that it did not take effect when no candidate passed within the bound.
  framework::Result<std::unique_ptr<faults::Fault>> MakeFault(const FaultSpec& f);
  void InjectSelected(FaultInstance& f, int64_t scheduled_ns);
  ProbeSpec CandidateProbe(const ProbeSpec& probe, const std::string& target);
  void StopEverything();
  void RecordLeftovers();
  void RecordLogs();
  bool RenderFiles();
  bool UnexpectedExit(const std::string& target, int64_t ts_ns);
  void RecordOutputTail(const std::string& target, const std::string& reason, pid_t pid);
  void KeepOrRemoveRunDir(Verdict verdict);
  void OnServiceEvent(const framework::ServiceEvent& ev);
  // Nodes of a cluster scenario (run_nodes.cc).
  bool CreateNodes();
  void RemoveNodes();
  std::optional<std::string> NodeVariable(std::string_view name) const;
  /// Prefixes `command` so that it runs in the target's node's namespace (no node: unchanged).
  bool EnterNode(const std::string& target, std::vector<std::string>* command);
  /// Points the load at the nodes when [load] spreads over them.
  void SpreadLoad(LoadConfig& c);
  // Platform targets (run_platforms.cc).
  bool StartOnPlatform(const std::string& name, TargetState& st, framework::DaemonConfig c);
  void RemovePlatformTargets();
  pid_t PlatformMainPid(const std::string& name);
  // The `power-loss` fault: Adapter::PowerLoss() of the target's adapter.
  framework::Result<std::unique_ptr<faults::Fault>> PowerLossFault(const std::string& target);
  /// A kill or pause sent through the target's adapter (platforms whose host pid is not the
  /// daemon's: SignalsThroughAdapter).
  framework::Result<std::unique_ptr<faults::Fault>> AdapterSignalFault(const FaultSpec& f);
  bool SignalsThroughAdapter(const FaultSpec& f) const;
  adapters::Adapter* TargetAdapter(const std::string& target);
  // Target tracking (target_tracking.h): cgroups, ports, listeners, leftovers.
  void JournalTargetCgroup(TargetState& st, const std::string& cgroup_name);
  bool CheckPortsFree(const std::string& name, const TargetState& st);
  void RecordTracking(const std::string& name);
  void CheckOwnListener(const ProbeSpec& probe, internal::ProbeOutcome* outcome);
  std::vector<pid_t> OurProcesses(const std::string& except);
  void SamplerLoop();
  void RecoveryLoop();
  // Syscall traces (run_trace.cc).
  bool StartTracing();
  void TraceProcess(const std::string& target, pid_t pid);
  bool WaitTraceAttached();
  void FinishTracing();

  const Scenario& s_;
  const RunOptions& o_;
  EventRecorder rec_;
  uint64_t seed_ = 0;
  std::string run_dir_;
  uint64_t run_dir_journal_ = 0;
  std::string events_path_;
  nlohmann::json load_summary_;  // the load.summary data once the load ended, for {load.*}  //
                                 // where the event log goes (RunOptions' or the run dir's)
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
  // The private systemd user manager of systemd targets (started with the first of them).
  std::unique_ptr<adapters::SystemdUserManager> systemd_;
  std::vector<uint64_t> systemd_journal_;
  json platform_leftovers_ = json::array();  // processes a platform still ran after removal
  std::thread sup_thread_;
  std::unique_ptr<SyscallTracer> tracer_;  // with a target that has trace = true
  std::set<pid_t> traced_pids_;            // guarded by mu_: strace attached to these
  std::string trace_error_;                // guarded by mu_: a refused trace (ends the run)
  std::unique_ptr<faults::UndoJournal> journal_;
  faults::FaultEnv env_;
  std::unique_ptr<faults::NodeNetwork> nodes_;  // [[node]]s (declared before the faults)
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

}  // namespace duende::harness::internal
