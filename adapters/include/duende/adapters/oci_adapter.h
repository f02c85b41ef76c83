// OciAdapter: runs a daemon in an OCI container with runc. runc has no restart policy, so the
// native Supervisor supervises `runc run` (foreground: runc forwards signals to the container
// and exits with its status) and applies the config's restart policy, backoff and start
// limits; tini is the container's PID 1 (signal forwarding, reaping).
#pragma once

#include <memory>
#include <string>

#include "duende/adapters/adapter.h"
#include "duende/adapters/native_adapter.h"

namespace duende::adapters {

class OciAdapter final : public Adapter {
 public:
  /// Writes the bundle. Errors: as RenderOciConfig() and WriteOciBundle(); ENOENT when runc
  /// is not installed.
  static framework::Result<std::unique_ptr<OciAdapter>> Create(
      const framework::DaemonConfig& config, const AdapterOptions& options);
  ~OciAdapter() override;

  Platform platform() const override { return Platform::kOci; }
  const framework::DaemonConfig& config() const override { return config_; }
  framework::Result<void> Start() override;
  framework::Result<void> Stop() override;
  /// `runc kill ID SIGNAL`: to the container's init, which forwards it to the daemon (SIGKILL
  /// ends the whole container).
  framework::Result<void> Kill(int signal) override;
  /// The supervisor's view, with pid = the daemon's main process as the host sees it: the
  /// container init's child when there is an init (tini), else the init `runc state` reports.
  framework::Result<framework::ServiceStatus> Status() override;
  void Subscribe(EventCallback callback) override;
  /// Stops, `runc delete --force`, and removes the bundle directory if the adapter made it.
  framework::Result<void> Remove() override;

  const std::string& bundle_dir() const { return bundle_dir_; }
  const std::string& container_id() const { return id_; }
  /// The pid of the container's init from `runc state`, or -1.
  pid_t ContainerPid();
  /// The daemon's pid on the host (see Status()), or -1.
  pid_t DaemonPid();

 private:
  OciAdapter(framework::DaemonConfig config, AdapterOptions options, std::string bundle_dir,
             bool own_dir, std::string id);

  framework::DaemonConfig config_;
  AdapterOptions options_;
  std::string bundle_dir_;
  bool own_dir_;
  std::string id_;
  std::unique_ptr<NativeAdapter> inner_;
  bool removed_ = false;
};

}  // namespace duende::adapters
