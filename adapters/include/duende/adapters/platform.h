// Platform: where a daemon runs (native supervisor, systemd, an OCI runtime, launchd) and
// which artefact an adapter renders; DetectPlatform() picks one for this machine.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duende::adapters {

/// A platform an adapter runs on, or an artefact it renders. kDocker, kPodman and kCompose are
/// render-only (command lines for users with a container engine). kMicrovm: the daemon in a
/// qemu microVM of its own (microvm_adapter.h). kWasi runs a wasm32-wasi module under Node's
/// WASI (wasi_adapter.h).
enum class Platform {
  kNative,
  kSystemd,
  kOci,
  kDocker,
  kPodman,
  kCompose,
  kLaunchd,
  kMicrovm,
  kWasi
};

/// "native", "systemd", "oci", "docker", "podman", "compose", "launchd", "microvm", "wasi".
const char* PlatformName(Platform platform);
/// The inverse of PlatformName(); nullopt for anything else.
std::optional<Platform> ParsePlatform(std::string_view name);
/// "native|systemd|oci|docker|podman|compose|launchd|microvm|wasi" for usage messages.
std::string PlatformNames();

/// What DetectPlatform() found and why.
struct Detection {
  Platform platform = Platform::kNative;
  std::string reason;         ///< "systemd is PID 1 (/run/systemd/system exists)", ...
  bool in_container = false;  ///< a container marker was found
};

struct DetectOptions {
  /// An explicit choice wins over every marker ("" = detect). The CLI passes --platform.
  std::string override_platform;
  /// Read the DUENDE_PLATFORM environment variable as an override when override_platform
  /// is empty.
  bool use_environment = true;
  /// Root directory the markers are looked up under ("/" normally; a fake root in tests).
  std::string root = "/";
};

/// Picks the platform: an override; else macOS -> launchd; else a container marker
/// (/.dockerenv, /run/.containerenv, "container=" in PID 1's environment) -> native (inside a
/// container the native supervisor is the right one); else systemd as PID 1 (the directory
/// /run/systemd/system, as sd_booted() checks) -> systemd; else native. An invalid override
/// is reported in `reason` and falls back to detection; callers validating user input should
/// use ParsePlatform() first.
Detection DetectPlatform(const DetectOptions& options = {});

/// Whether this machine can run daemons on a platform that adapters run (not render-only).
struct Runnable {
  Platform platform = Platform::kNative;
  bool ok = false;
  /// ok: what it will use ("qemu /usr/bin/qemu-system-x86_64, kernel ..., TCG"); else why
  /// not, naming the Debian package to install.
  std::string reason;
};

/// native, systemd, oci and microvm, checked on this machine (no process is started).
std::vector<Runnable> RunnablePlatforms();

}  // namespace duende::adapters
