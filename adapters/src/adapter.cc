#include "duende/adapters/adapter.h"

#include "duende/adapters/microvm_adapter.h"
#include "duende/adapters/native_adapter.h"
#include "duende/adapters/oci_adapter.h"
#include "duende/adapters/systemd_adapter.h"
#include "duende/adapters/wasi_adapter.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::MessageError;
using framework::Result;

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

Result<void> Adapter::PowerLoss() {
  return MessageError(std::string("platform ") + PlatformName(platform()) +
                          " has no power to cut (use platform = \"microvm\")",
                      std::errc::operation_not_supported);
}

}  // namespace duende::adapters
