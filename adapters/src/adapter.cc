#include "duende/adapters/adapter.h"

#include "duende/adapters/native_adapter.h"
#include "duende/adapters/oci_adapter.h"
#include "duende/adapters/systemd_adapter.h"

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
      return {.runs = true, .host_pid = true, .preload = true, .cgroup = true};
    case Platform::kSystemd:
      // The unit's Environment= carries LD_PRELOAD; the user manager's processes share the
      // host's pid namespace and file system (only /run/systemd is private).
      return {.runs = true, .host_pid = true, .preload = true, .cgroup = false};
    case Platform::kOci:
      // A pid namespace (the daemon's pid inside is not the host's, so libfiu's control FIFOs
      // named after it are not found) and a private /tmp: no preload shims.
      return {.runs = true, .host_pid = true, .preload = false, .cgroup = false};
    default:
      return {};
  }
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
    default:
      break;
  }
  return MessageError(std::string("platform '") + PlatformName(platform) +
                      "' is render-only here (use `duende adapter render`); adapters run on "
                      "native, systemd and oci");
}

}  // namespace duende::adapters
