#include "duende/adapters/render.h"

#include <algorithm>
#include <sstream>

#include "duende/adapters/container_cli.h"
#include "duende/adapters/launchd_plist.h"
#include "duende/adapters/microvm_image.h"
#include "duende/adapters/oci_spec.h"
#include "duende/adapters/systemd_unit.h"
#include "duende/adapters/wasi_adapter.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::MessageError;
using framework::Result;

namespace {

std::string NodeText(const toml::node& n) {
  std::ostringstream out;
  if (const auto* t = n.as_table()) {
    out << toml::toml_formatter(*t);
  } else if (const auto* a = n.as_array()) {
    out << toml::toml_formatter(*a);
  } else {
    n.visit([&](const auto& v) { out << toml::toml_formatter(v); });
  }
  return out.str();
}

// Lists the keys whose values differ between the config and its translation. `d` is a
// default config's table: a translation equal to the default was left out, one that differs
// from both was rounded.
void Diff(const toml::table& a, const toml::table& b, const toml::table* d,
          const std::string& prefix, const char* platform, std::vector<std::string>* out) {
  for (const auto& [key, node] : a) {
    std::string path =
        prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    const toml::node* other = b.get(key.str());
    const toml::node* def = d != nullptr ? d->get(key.str()) : nullptr;
    if (const auto* t = node.as_table(); t != nullptr && other != nullptr && other->is_table()) {
      Diff(*t, *other->as_table(), def != nullptr ? def->as_table() : nullptr, path, platform, out);
      continue;
    }
    if (other == nullptr || (def != nullptr && NodeText(*other) == NodeText(*def) &&
                             NodeText(node) != NodeText(*other))) {
      out->push_back(path + " = " + NodeText(node) + ": not expressed for " + platform);
    } else if (NodeText(node) != NodeText(*other)) {
      out->push_back(path + " = " + NodeText(node) + ": " + platform + " gets " + NodeText(*other));
    }
  }
}

std::vector<std::string> Dropped(const DaemonConfig& original, const DaemonConfig& translated,
                                 Platform platform) {
  std::vector<std::string> out;
  try {
    auto a = toml::parse(framework::FormatDaemonConfig(original));
    auto b = toml::parse(framework::FormatDaemonConfig(translated));
    a.erase("app");  // the daemon's own settings travel in its config file, not the artefact
    DaemonConfig defaults;
    defaults.name = original.name;
    defaults.command = original.command;
    auto d = toml::parse(framework::FormatDaemonConfig(defaults));
    // A platform without a sandbox drops the whole table: warn key by key, as for the others.
    if (const auto* sandbox = a.get_as<toml::table>("sandbox"); sandbox && !b.contains("sandbox")) {
      toml::table empty;
      if (sandbox->contains("seccomp")) empty.insert("seccomp", toml::table{});
      b.insert("sandbox", empty);
    }
    Diff(a, b, &d, "", PlatformName(platform), &out);
  } catch (const toml::parse_error& e) {
    out.push_back(std::string("(could not compare the settings: ") + e.what() + ")");
  }
  return out;
}

}  // namespace

Result<void> CheckRenderable(const DaemonConfig& config) {
  std::string where = config.source_file.empty() ? "config" : config.source_file;
  if (config.name.empty()) {
    return MessageError(where + ": 'name' is missing; every platform needs the daemon's name");
  }
  if (config.command.empty() || config.command[0].empty()) {
    return MessageError(where +
                        ": 'command' is missing; a platform needs the program to start, such "
                        "as command = [\"/usr/bin/kvd\", \"--port\", \"7000\"]");
  }
  return {};
}

Result<std::string> Render(Platform platform, const DaemonConfig& config,
                           const RenderOptions& options) {
  switch (platform) {
    case Platform::kNative:
      DUENDE_TRY(CheckRenderable(config));
      return framework::FormatDaemonConfig(config);
    case Platform::kSystemd:
      return RenderSystemdUnit(config, options.systemd);
    case Platform::kOci:
      return RenderOciConfig(config, options.oci);
    case Platform::kDocker:
      return RenderContainerRun(Engine::kDocker, config, options.container);
    case Platform::kPodman:
      return RenderContainerRun(Engine::kPodman, config, options.container);
    case Platform::kCompose:
      return RenderComposeService(config, options.container);
    case Platform::kLaunchd:
      return RenderLaunchdPlist(config, options.launchd);
    case Platform::kWasi:
      return RenderWasiInvocation(config, options.wasi);
    case Platform::kMicrovm:
      return RenderMicrovm(config, options.microvm);
  }
  return MessageError("unknown platform");
}

Result<Translation> Translate(Platform platform, const DaemonConfig& config,
                              const RenderOptions& options) {
  Translation t;
  switch (platform) {
    case Platform::kNative:
      t.config = config;
      break;
    case Platform::kSystemd:
      t = TranslateForSystemd(config, options.systemd);
      break;
    case Platform::kOci: {
      auto r = TranslateForOci(config, options.oci);
      if (!r.ok()) return r.error();
      t = std::move(*r);
      break;
    }
    case Platform::kDocker:
    case Platform::kCompose:
      t = TranslateForContainer(Engine::kDocker, config);
      break;
    case Platform::kPodman:
      t = TranslateForContainer(Engine::kPodman, config);
      break;
    case Platform::kLaunchd:
      t = TranslateForLaunchd(config);
      break;
    case Platform::kWasi:
      t = TranslateForWasi(config);
      break;
    case Platform::kMicrovm:
      // The daemon runs as configured inside the guest; cgroup limits, user and group are not
      // applied there (the VM's own memory is the limit).
      t.config = config;
      t.config.resources = framework::ResourceConfig{};
      t.config.user.clear();
      t.config.group.clear();
      t.config.sandbox = framework::SandboxConfig{};
      t.config.pid_file.clear();
      t.config.health.liveness = framework::ProbeConfig{};
      break;
  }
  if (platform != Platform::kNative) {
    t.config.source_file = config.source_file;
    t.config.app = config.app;
  }
  t.dropped = Dropped(config, t.config, platform);
  return t;
}

Result<DaemonConfig> ParseArtefact(Platform platform, std::string_view text,
                                   const RenderOptions& options) {
  switch (platform) {
    case Platform::kNative:
      return framework::ParseDaemonConfig(text, "native");
    case Platform::kSystemd:
      return ParseSystemdUnit(text);
    case Platform::kOci:
      return ParseOciConfig(text, options.oci);
    case Platform::kDocker:
    case Platform::kPodman:
      return ParseContainerRun(text, options.container);
    case Platform::kLaunchd:
      return ParseLaunchdPlist(text);
    case Platform::kCompose:
    case Platform::kWasi:
    case Platform::kMicrovm:
      break;
  }
  return MessageError(std::string("no parser for ") + PlatformName(platform) + " artefacts",
                      std::errc::function_not_supported);
}

}  // namespace duende::adapters
