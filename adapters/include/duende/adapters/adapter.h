// Adapter: runs one daemon on one platform (the native supervisor, systemd, an OCI runtime)
// behind one interface, and reports what happens to it as the native supervisor does
// (framework::ServiceEvent: spawned, exited, restart_scheduled, gave_up, stopped...).
//
// An adapter translates; it does not duplicate: where the platform restarts by itself
// (systemd Restart=) the adapter configures that and observes it. Only where the platform has
// no restart policy (runc) does the adapter supervise, through the native Supervisor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "duende/adapters/platform.h"
#include "duende/adapters/render.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"
#include "duende/framework/supervisor.h"

namespace duende::adapters {

class Adapter {
 public:
  using EventCallback = std::function<void(const framework::ServiceEvent&)>;

  virtual ~Adapter() = default;

  virtual Platform platform() const = 0;
  virtual const framework::DaemonConfig& config() const = 0;

  /// Installs what the platform needs (unit file, bundle) and starts the daemon; returns once
  /// the platform has accepted the start. Errors: the platform tool's failure (io_error with
  /// its message), ENOENT when the tool is missing.
  virtual framework::Result<void> Start() = 0;

  /// Stops the daemon (stop signal, SIGKILL after shutdown_timeout; no restart) and waits
  /// until it is down. Idempotent.
  virtual framework::Result<void> Stop() = 0;

  /// Sends `signal` to the daemon's main process; the restart policy then applies as for any
  /// other death. Errors: ESRCH when it is not running.
  virtual framework::Result<void> Kill(int signal) = 0;

  /// Cuts the platform's power at once (a VM killed without shutdown: what the guest wrote
  /// but never synced is lost). Errors: operation_not_supported on platforms without power.
  virtual framework::Result<void> PowerLoss();

  /// The daemon's state as the platform reports it (pid = its main process; restarts = the
  /// platform's restart count, e.g. systemd's NRestarts).
  virtual framework::Result<framework::ServiceStatus> Status() = 0;

  /// `callback` sees every later event; it runs on the adapter's watcher thread and must not
  /// block. Subscribe before Start() to see the first spawn.
  virtual void Subscribe(EventCallback callback) = 0;

  /// Stops the daemon if needed and removes what Start() installed. Idempotent; also done by
  /// the destructor.
  virtual framework::Result<void> Remove() = 0;
};

/// What a platform's adapter can take as a scenario target or a supervised service, known
/// without starting anything (`duende validate` checks scenarios against it).
struct AdapterTraits {
  /// MakeAdapter() builds an adapter that runs the daemon (not render-only).
  bool runs = false;
  /// The daemon's main process is a host pid (Status().pid): signal faults (kill, crash,
  /// pause) reach it.
  bool host_pid = false;
  /// LD_PRELOAD from the config's environment reaches the daemon with host paths (libfiu and
  /// libfaketime, syscall/disk/clock faults).
  bool preload = false;
  /// The daemon's processes sit in a cgroup the host can limit (oom, cpu quota, pids).
  bool cgroup = false;
  /// PowerLoss() cuts power.
  bool power_loss = false;
  /// Kill() reaches the daemon although Status().pid is not its process (microvm: qemu):
  /// kill and pause faults go through the adapter.
  bool signals = false;
  /// A framework daemon's HealthCheck() drives kind = "daemon" probes (its health channel
  /// reaches it, or the platform's watchdog carries its verdict).
  bool daemon_health = false;
};

/// The traits of `platform`'s adapter (all false for render-only platforms).
AdapterTraits TraitsOf(Platform platform);

/// Why a daemon cannot run on the platform named `platform` here ("" = it can): an unknown
/// name, a render-only platform, or one whose adapter this build does not have. The message
/// names the platforms that run ("native, systemd, oci").
std::string CannotRun(std::string_view platform);

/// CannotRun(), then what the platform needs of this daemon's config before it can start it
/// (wasi: a loopback address to bridge, from a tcp/http probe). For services files, whose
/// reader reports it at the `platform` key.
std::string CannotRunService(const std::string& platform, const framework::DaemonConfig& config);

/// Why `config`'s kind = "daemon" readiness or liveness probe cannot work on `platform` ("" =
/// it can, or the config has none): the platform cannot carry the daemon's health channel.
std::string DaemonProbeProblem(std::string_view platform, const framework::DaemonConfig& config);

struct AdapterOptions {
  RenderOptions render;

  // systemd
  /// Talk to the user manager (systemctl --user) instead of the system one.
  bool systemd_user = true;
  /// Where the unit file is installed; "" = $XDG_RUNTIME_DIR/systemd/user (user) or
  /// /run/systemd/system (system): runtime directories, gone at reboot.
  std::string systemd_unit_dir;
  /// Prepended to every systemctl call, e.g. {"nsenter", "-t", "PID", "-m"} to reach a manager
  /// in another mount namespace (see SystemdUserManager).
  std::vector<std::string> systemd_command_prefix;
  /// Added to the environment of every systemctl call (XDG_RUNTIME_DIR=... for --user).
  std::vector<std::string> systemd_env;
  /// The watcher asks `systemctl show` this often while nothing happens; a death of the main
  /// process wakes it at once (pidfd).
  std::chrono::milliseconds systemd_poll = std::chrono::milliseconds(200);

  // OCI (runc)
  /// Bundle directory; "" = a fresh directory under /run/duende/oci (or $TMPDIR).
  std::string oci_bundle_dir;
  /// Container id; "" = "duende-" + name.
  std::string oci_container_id;
  std::string runc = "runc";

  // microvm (the VM itself: render.microvm)
  /// Journal the VM's private directory (UndoJournal in the default journal directory), so
  /// that `duende doctor` removes it after a harness killed by SIGKILL.
  bool microvm_journal = true;
  /// Where the daemon's output goes, as NAME.log ("" = the platform's default): the OCI
  /// adapter's supervisor of `runc run` writes the container's output there; systemd appends
  /// to it (StandardOutput=append:, added to the installed unit only).
  std::string log_dir;
};

/// An adapter for `platform` (native, systemd, oci, microvm or wasi; the others are
/// render-only).
/// Errors: invalid_argument for a render-only platform or a config that cannot be rendered.
framework::Result<std::unique_ptr<Adapter>> MakeAdapter(Platform platform,
                                                        const framework::DaemonConfig& config,
                                                        const AdapterOptions& options = {});

}  // namespace duende::adapters
