// `duende adapter`: render a daemon config as a platform's artefact, or show which platform
// this machine would use. See docs/adapters.md.
#include <iostream>
#include <string>

#include "cli_util.h"
#include "duende/adapters/launchd_plist.h"
#include "duende/adapters/platform.h"
#include "duende/adapters/render.h"
#include "duende/adapters/wasi_adapter.h"
#include "duende/framework/config.h"
#include "duende/framework/exit_code.h"
#include "verbs.h"

namespace duende::cli {

int AdapterMain(int argc, char** argv) {
  CLI::App app("Render a daemon config for a platform, or detect this machine's platform.",
               "adapter");
  app.require_subcommand(1);

  CLI::App* render = app.add_subcommand(
      "render", "print the platform's artefact for CONFIG (unit file, config.json, ...)");
  std::string platform_name;
  std::string config_path;
  int systemd_version = 0;
  std::string image = "debian:12";
  bool commands = false;
  bool quiet = false;
  render->add_option("--platform,-p", platform_name, adapters::PlatformNames())->required();
  render->add_option("--systemd-version", systemd_version,
                     "systemd version the unit targets (default: the local one, else 252)");
  render->add_option("--image", image, "container image for docker/podman/compose");
  render->add_flag("--launchctl", commands,
                   "launchd: print the launchctl command lines instead of the plist");
  std::string wasi_address;
  std::vector<std::string> wasi_dirs;
  std::string node = "node";
  render->add_option("--address", wasi_address,
                     "wasi: the TCP address bridged to the module (default: its tcp probe's)");
  render->add_option("--dir", wasi_dirs, "wasi: preopen a directory, GUEST=HOST (repeatable)");
  render->add_option("--node", node, "wasi: the Node.js program (20 or newer)");
  AddQuietFlag(*render, &quiet, "the warnings about settings the platform cannot express");
  render->add_option("CONFIG", config_path, "daemon config file (TOML)")->required();

  CLI::App* detect = app.add_subcommand(
      "detect", "print the platform this machine would use, and which platforms it can run");
  std::string override_platform;
  detect->add_option("--platform,-p", override_platform, "explicit choice (wins)");

  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  if (detect->parsed()) {
    adapters::DetectOptions o;
    o.override_platform = override_platform;
    adapters::Detection d = adapters::DetectPlatform(o);
    std::cout << adapters::PlatformName(d.platform) << "\t" << d.reason << '\n';
    std::cout << "runs here:\n";
    for (const auto& r : adapters::RunnablePlatforms()) {
      std::cout << "  " << adapters::PlatformName(r.platform) << '\t' << (r.ok ? "yes: " : "no: ")
                << r.reason << '\n';
    }
    return framework::kExitOk;
  }

  auto platform = adapters::ParsePlatform(platform_name);
  if (!platform) {
    PrintError("--platform \"" + platform_name + "\" is not one of " + adapters::PlatformNames());
    return framework::kExitUsage;
  }
  auto config = framework::LoadDaemonConfig(config_path);
  if (!config.ok()) {
    PrintLoadError(config.error());
    return framework::kExitUsage;
  }
  adapters::RenderOptions options;
  options.systemd.version = systemd_version;
  options.container.image = image;
  options.wasi.address = wasi_address;
  options.wasi.dirs = wasi_dirs;
  options.wasi.node = node;
  if (*platform == adapters::Platform::kWasi) {
    // The invocation is only useful where it can run: say what is missing (exit 3).
    if (auto r = adapters::CheckWasiRuntime(node); !r.ok()) {
      PrintError(r.error().context);
      return framework::kExitEnvironment;
    }
  }
  std::string text;
  if (*platform == adapters::Platform::kLaunchd && commands) {
    if (auto ok = adapters::CheckRenderable(*config); !ok.ok()) {
      PrintError(ok.error().context);
      return framework::kExitUsage;
    }
    text = adapters::RenderLaunchctlCommands(*config, options.launchd);
  } else {
    auto r = adapters::Render(*platform, *config, options);
    if (!r.ok()) {
      PrintError(r.error().context.empty() ? r.error().Message() : r.error().context);
      // A missing program or kernel (qemu, linux-image) is the machine's, not the input's.
      return r.error().code == std::errc::no_such_file_or_directory ? framework::kExitEnvironment
                                                                    : framework::kExitUsage;
    }
    text = std::move(*r);
  }
  std::cout << text;
  if (!quiet) {
    if (auto t = adapters::Translate(*platform, *config, options); t.ok()) {
      for (const std::string& d : t->dropped) PrintWarning(d);
    }
  }
  return framework::kExitOk;
}

}  // namespace duende::cli
