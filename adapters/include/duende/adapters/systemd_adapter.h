// SystemdAdapter: runs a daemon as a systemd service (a unit installed in a runtime unit
// directory) and observes systemd restarting it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "duende/adapters/adapter.h"
#include "duende/framework/unique_fd.h"

namespace duende::adapters {

/// The properties the adapter reads from `systemctl show`.
struct SystemdUnitState {
  std::string active_state;  ///< active, activating, deactivating, inactive, failed
  std::string sub_state;     ///< running, auto-restart, dead, ...
  std::string result;        ///< success, exit-code, signal, start-limit-hit, ...
  pid_t main_pid = 0;
  uint64_t n_restarts = 0;
  int exec_main_code = 0;          ///< CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3); 0 = none
  int exec_main_status = 0;        ///< exit code or signal
  uint64_t exec_main_exit_us = 0;  ///< ExecMainExitTimestampMonotonic
  uint64_t restart_us = 0;         ///< RestartUSec

  /// The ServiceState the native supervisor would be in.
  framework::ServiceState State(bool stop_requested) const;
};

/// Parses `systemctl show -p ...` output (KEY=VALUE lines).
SystemdUnitState ParseSystemctlShow(const std::string& text);

class SystemdAdapter final : public Adapter {
 public:
  /// Errors: as RenderSystemdUnit(); invalid_argument when no unit directory can be found.
  static framework::Result<std::unique_ptr<SystemdAdapter>> Create(
      const framework::DaemonConfig& config, const AdapterOptions& options);
  ~SystemdAdapter() override;

  Platform platform() const override { return Platform::kSystemd; }
  const framework::DaemonConfig& config() const override { return config_; }
  framework::Result<void> Start() override;
  framework::Result<void> Stop() override;
  framework::Result<void> Kill(int signal) override;
  framework::Result<framework::ServiceStatus> Status() override;
  void Subscribe(EventCallback callback) override;
  framework::Result<void> Remove() override;

  /// The installed unit file's path.
  const std::string& unit_path() const { return unit_path_; }
  /// `systemctl show` of the unit, now.
  framework::Result<SystemdUnitState> Show();
  /// systemctl (with the configured prefix, --user and environment) + args.
  framework::Result<std::string> Systemctl(const std::vector<std::string>& args);

 private:
  SystemdAdapter(framework::DaemonConfig config, AdapterOptions options, std::string unit_text,
                 std::string unit_path);
  void Watch();
  void Observe(const SystemdUnitState& cur);
  void Emit(framework::ServiceEvent ev);
  void StopWatcher();

  framework::DaemonConfig config_;
  AdapterOptions options_;
  std::string unit_name_;
  std::string unit_text_;
  std::string unit_path_;
  bool installed_ = false;

  std::mutex mu_;  // guards subscribers_, prev_, seq_, exits_
  std::vector<EventCallback> subscribers_;
  SystemdUnitState prev_;
  uint64_t seq_ = 0;
  uint64_t exits_ = 0;  // exits reported since Start()
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> quit_{false};
  framework::UniqueFd wake_;  // eventfd: wakes the watcher
  std::thread watcher_;
};

/// A private systemd user manager for tests and scenarios on machines where systemd is not
/// PID 1: `unshare -m` a mount namespace, tmpfs on /run/systemd (so that systemctl believes
/// systemd is running), then /lib/systemd/systemd --user with its own XDG_RUNTIME_DIR.
/// Everything it started dies with it; the namespace and its mounts vanish with the last
/// process in it.
class SystemdUserManager {
 public:
  /// Starts the manager and waits (up to 10 s) until it answers. Errors: ENOENT when
  /// /lib/systemd/systemd or unshare is missing; EPERM without CAP_SYS_ADMIN; ETIMEDOUT when
  /// it does not come up (its output is in the message).
  static framework::Result<std::unique_ptr<SystemdUserManager>> Start();
  /// Stops the manager (SIGTERM, SIGKILL after 5 s), kills any process left in its mount
  /// namespace and removes the runtime directory.
  ~SystemdUserManager();

  pid_t pid() const { return pid_; }
  const std::string& runtime_dir() const { return runtime_dir_; }
  /// Points an adapter at this manager (command prefix, XDG_RUNTIME_DIR, unit directory).
  void Configure(AdapterOptions* options) const;
  /// Processes (other than the manager) still in the manager's mount namespace.
  std::vector<pid_t> ProcessesInNamespace() const;

 private:
  SystemdUserManager() = default;
  pid_t pid_ = -1;
  framework::UniqueFd pidfd_;
  std::string runtime_dir_;
  std::string mnt_ns_;  // readlink of /proc/PID/ns/mnt
};

}  // namespace duende::adapters
