#include "duende/adapters/adapter.h"

#include <sstream>

#include "duende/adapters/microvm_adapter.h"
#include "duende/adapters/native_adapter.h"
#include "duende/adapters/oci_adapter.h"
#include "duende/adapters/systemd_adapter.h"
#include "duende/adapters/wasi_adapter.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::MessageError;
using framework::Result;

Result<void> Adapter::PowerLoss() {
  return MessageError(std::string("platform ") + PlatformName(platform()) +
                          " has no power to cut (use platform = \"microvm\")",
                      std::errc::operation_not_supported);
}

AdapterTraits TraitsOf(Platform platform) {
  switch (platform) {
    case Platform::kNative:
      return {
          .runs = true, .host_pid = true, .preload = true, .cgroup = true, .daemon_health = true};
    case Platform::kSystemd:
      // The unit's Environment= carries LD_PRELOAD; the user manager's processes share the
      // host's pid namespace and file system (only /run/systemd is private). oom and cpu
      // quota move MainPID into a group of duende's for the window. A daemon liveness probe
      // becomes WatchdogSec= (the framework withholds WATCHDOG=1 while it is unhealthy).
      return {
          .runs = true, .host_pid = true, .preload = true, .cgroup = true, .daemon_health = true};
    case Platform::kOci:
      // The shims are bound into the container with the run directory (their FIFOs and clock
      // file), and the FIFOs are found by the daemon's pid in its namespace. oom and cpu
      // quota move the daemon into a group of duende's (runc makes the container's group anew
      // at each restart, so its own counters cannot show an OOM kill). runc passes the health
      // channel through (--preserve-fds).
      return {
          .runs = true, .host_pid = true, .preload = true, .cgroup = true, .daemon_health = true};
    case Platform::kMicrovm:
      // Status().pid is qemu; Kill() reaches the daemon in the guest through the control
      // channel. No shims, cgroups or host pid inside the guest; power to cut.
      return {.runs = true, .power_loss = true, .signals = true};
    case Platform::kWasi:
      // Status().pid is the runtime (node): signals end or stop the module. No LD_PRELOAD
      // shim reaches the module's WASI calls, and no cgroup of duende's.
      return {.runs = true, .host_pid = true};
    default:
      return {};
  }
}

namespace {

// The platforms whose adapters run daemons here, "native, systemd, oci".
std::string PlatformsThatRunHere() {
  std::istringstream names(PlatformNames());
  std::string name;
  std::string out;
  while (std::getline(names, name, '|')) {
    auto p = ParsePlatform(name);
    if (p && TraitsOf(*p).runs) out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

}  // namespace

std::string CannotRun(std::string_view platform) {
  const std::string name(platform);
  auto p = ParsePlatform(name);
  if (!p) {
    return "unknown platform \"" + name + "\"; use one of " + PlatformsThatRunHere();
  }
  if (!TraitsOf(*p).runs) {
    return "platform \"" + name +
           "\" is render-only here (`duende adapter render`); daemons run on " +
           PlatformsThatRunHere();
  }
  return "";
}

std::string CannotRunService(const std::string& platform, const DaemonConfig& config) {
  if (std::string why = CannotRun(platform); !why.empty()) return why;
  if (std::string why = DaemonProbeProblem(platform, config); !why.empty()) return why;
  if (ParsePlatform(platform) == Platform::kWasi) return WasiAddressProblem(config, {});
  return "";
}

std::string DaemonProbeProblem(std::string_view platform, const DaemonConfig& config) {
  using Kind = framework::ProbeConfig::Kind;
  auto p = ParsePlatform(std::string(platform));
  if (!p || TraitsOf(*p).daemon_health) return "";
  const char* which = config.health.liveness.kind == Kind::kDaemon    ? "liveness"
                      : config.health.readiness.kind == Kind::kDaemon ? "readiness"
                                                                      : nullptr;
  if (which == nullptr) return "";
  return std::string("a kind = \"daemon\" ") + which +
         " probe cannot reach the daemon on platform " + std::string(platform) +
         (*p == Platform::kMicrovm
              ? " (its health channel, a socket passed as fd 3, cannot cross into the guest)"
          : *p == Platform::kWasi
              ? " (a WebAssembly module is no framework daemon and gets no health channel)"
              : "") +
         "; use a tcp or http probe there, or run it on native, systemd or oci";
}

Result<std::unique_ptr<Adapter>> MakeAdapter(Platform platform, const DaemonConfig& config,
                                             const AdapterOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  switch (platform) {
    case Platform::kNative: {
      auto a = NativeAdapter::Create(config, config);
      if (!a.ok()) return a.error();
      return std::unique_ptr<Adapter>(std::move(*a));
    }
    case Platform::kSystemd: {
      auto a = SystemdAdapter::Create(config, options);
      if (!a.ok()) return a.error();
      return std::unique_ptr<Adapter>(std::move(*a));
    }
    case Platform::kOci: {
      auto a = OciAdapter::Create(config, options);
      if (!a.ok()) return a.error();
      return std::unique_ptr<Adapter>(std::move(*a));
    }
    case Platform::kMicrovm: {
      auto a = MicrovmAdapter::Create(config, options);
      if (!a.ok()) return a.error();
      return std::unique_ptr<Adapter>(std::move(*a));
    }
    case Platform::kWasi: {
      auto a = WasiAdapter::Create(config, options);
      if (!a.ok()) return a.error();
      return std::unique_ptr<Adapter>(std::move(*a));
    }
    default:
      break;
  }
  return MessageError(std::string("platform '") + PlatformName(platform) +
                      "' is render-only here (use `duende adapter render`); adapters run on "
                      "native, systemd, oci, microvm and wasi");
}

}  // namespace duende::adapters
