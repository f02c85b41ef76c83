// Rendering a DaemonConfig into a platform's own artefact (a systemd unit, an OCI
// config.json, a docker/podman command line, a compose service, a launchd plist), and
// reading an artefact back. One config, translated; nothing the platform does itself is
// re-implemented (docs/adapters.md has the table of what maps to what).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "duende/adapters/platform.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters {

struct SystemdRenderOptions {
  /// The systemd version the unit is written for (RestartSteps=/RestartMaxDelaySec= need 254).
  /// 0: the version of the local systemd (`systemctl --version`), or 252 when there is none.
  int version = 0;
};

struct OciRenderOptions {
  /// The bundle's root filesystem, relative to the bundle directory (or absolute).
  std::string rootfs = "rootfs";
  /// Host directories bind-mounted read-only at the same path (the daemon's programs and
  /// libraries come from the host, so no image is needed).
  std::vector<std::string> host_binds = {"/usr", "/etc"};
  /// Host directories bind-mounted read-write at the same path (where duende's fault
  /// controls live: libfiu's FIFOs, libfaketime's clock file).
  std::vector<std::string> writable_binds;
  /// An init run as the container's PID 1 in front of the command ("" = none): it forwards
  /// signals and reaps orphans. Default tini (Debian package `tini`).
  std::string init = "/usr/bin/tini";
  /// Share the host's network namespace (the harness reaches the daemon on loopback).
  bool host_network = true;
};

struct ContainerRenderOptions {
  std::string image = "debian:12";
  bool host_network = true;
  /// --init / init: true (the engine's own tini as PID 1).
  bool init = true;
};

struct LaunchdRenderOptions {
  /// Label = prefix + name.
  std::string label_prefix = "org.duende.";
  /// launchctl domain target: "system" for a LaunchDaemon, "gui/501" for a user agent.
  std::string domain = "system";
  /// Where the plist is installed (for the bootstrap command line).
  std::string plist_dir = "/Library/LaunchDaemons";
};

struct WasiRenderOptions {
  /// The Node.js program that runs the module (Node 20 or newer: node:wasi, WASI preview 1).
  std::string node = "node";
  /// The TCP address duende bridges to the module's stdin/stdout, "127.0.0.1:PORT" ("" = the
  /// address of the config's tcp/http readiness or liveness probe).
  std::string address;
  /// Directories preopened for the module, "GUEST=HOST" (none given: the config's
  /// working_dir, preopened at its own path).
  std::vector<std::string> dirs;
  /// The directory holding the runner script and the FIFOs (the adapter's private one; a
  /// placeholder when only rendering).
  std::string run_dir = "$RUN_DIR";
};

struct MicrovmRenderOptions {
  std::string qemu = "qemu-system-x86_64";
  /// The guest kernel ("" = the newest readable /boot/vmlinuz-*, Debian's linux-image-amd64).
  std::string kernel;
  /// Its modules ("" = /lib/modules/RELEASE, RELEASE from the kernel's file name
  /// vmlinuz-RELEASE).
  std::string modules_dir;
  /// "tcg" (default: boots everywhere) or "kvm" (only where a test proved it boots).
  std::string accel = "tcg";
  uint32_t memory_mib = 256;
  uint32_t cpus = 1;
  /// The daemon's TCP port: host 127.0.0.1:port is forwarded to the guest's 127.0.0.1:port.
  /// 0 = the port of the readiness (else liveness) tcp/http probe address; none = no network.
  uint16_t port = 0;
  /// Where the data disk is mounted in the guest ("" = no data disk).
  std::string data_mount = "/data";
  uint64_t disk_mib = 64;
  /// qemu's cache mode of the data disk ("" = "none" (O_DIRECT) where the host file system
  /// supports it, else "writethrough"; never "unsafe"; docs/adapters.md says why).
  std::string cache;
  /// The VM's private directory (initramfs, disk, sockets, console log) is made under this
  /// directory ("" = $TMPDIR or /tmp).
  std::string state_dir;
};

struct RenderOptions {
  SystemdRenderOptions systemd;
  MicrovmRenderOptions microvm;
  OciRenderOptions oci;
  ContainerRenderOptions container;
  LaunchdRenderOptions launchd;
  WasiRenderOptions wasi;
};

/// What a platform's artefact says about a config.
struct Translation {
  /// The config as the platform sees it: settings it has no equivalent for are reset to their
  /// defaults and lossy ones rounded exactly as rendered (durations to the platform's unit).
  framework::DaemonConfig config;
  /// One line per non-default setting that was dropped: "restart.backoff.jitter: systemd has no
  /// restart jitter".
  std::vector<std::string> dropped;
};

/// Checks what every renderer needs: a valid name and a non-empty command.
/// Errors: invalid_argument naming the missing setting.
framework::Result<void> CheckRenderable(const framework::DaemonConfig& config);

/// The platform's artefact for `config` (native: the config itself as TOML).
/// Errors: invalid_argument when the config lacks a name/command or names a user or group the
/// platform needs as a number and that does not exist here (OCI).
framework::Result<std::string> Render(Platform platform, const framework::DaemonConfig& config,
                                      const RenderOptions& options = {});

/// What `platform` keeps of `config` (see Translation).
framework::Result<Translation> Translate(Platform platform, const framework::DaemonConfig& config,
                                         const RenderOptions& options = {});

/// Reads an artefact produced by Render() back into the settings it expresses, so that
/// ParseArtefact(p, Render(p, c)) == Translate(p, c).config. Compose (YAML) and wasi (a
/// command line that loses the config's restart and health settings) have no parser;
/// native parses TOML. Errors: invalid_argument with the line that could not be read.
framework::Result<framework::DaemonConfig> ParseArtefact(Platform platform, std::string_view text,
                                                         const RenderOptions& options = {});

}  // namespace duende::adapters
