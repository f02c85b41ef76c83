// NativeAdapter: the framework's own Supervisor behind the Adapter interface (one service, the
// supervisor's loop on its own thread).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "duende/adapters/adapter.h"
#include "duende/framework/supervisor.h"

namespace duende::adapters {

class NativeAdapter final : public Adapter {
 public:
  /// `service_config` is what the supervisor runs; `config` what the adapter reports (the OCI
  /// adapter supervises `runc run` for the daemon's config). Errors: Supervisor::Create/Add's.
  static framework::Result<std::unique_ptr<NativeAdapter>> Create(
      const framework::DaemonConfig& config, const framework::DaemonConfig& service_config,
      framework::SupervisorOptions options = {});
  ~NativeAdapter() override;

  Platform platform() const override { return Platform::kNative; }
  const framework::DaemonConfig& config() const override { return config_; }
  framework::Result<void> Start() override;
  /// Stops and waits for the `stopped` (or an end) state, bounded by shutdown_timeout + 5 s.
  framework::Result<void> Stop() override;
  /// Signals the service's main process by pid (the supervisor then applies its policy).
  framework::Result<void> Kill(int signal) override;
  framework::Result<framework::ServiceStatus> Status() override;
  void Subscribe(EventCallback callback) override;
  framework::Result<void> Remove() override;

  framework::Supervisor& supervisor() { return *supervisor_; }

 private:
  NativeAdapter(framework::DaemonConfig config, std::unique_ptr<framework::Supervisor> s);

  framework::DaemonConfig config_;
  std::unique_ptr<framework::Supervisor> supervisor_;
  std::thread loop_;
  bool removed_ = false;
};

}  // namespace duende::adapters
