#include "duende/adapters/platform.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "duende/framework/read_limits.h"

namespace duende::adapters {
namespace {

constexpr std::pair<Platform, const char*> kNames[] = {
    {Platform::kNative, "native"},   {Platform::kSystemd, "systemd"},
    {Platform::kOci, "oci"},         {Platform::kDocker, "docker"},
    {Platform::kPodman, "podman"},   {Platform::kCompose, "compose"},
    {Platform::kLaunchd, "launchd"}, {Platform::kMicrovm, "microvm"},
    {Platform::kWasi, "wasi"}};

std::string Join(const std::string& root, const char* path) {
  if (root.empty() || root == "/") return path;
  return (root.back() == '/' ? root.substr(0, root.size() - 1) : root) + path;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// PID 1's environment holds container=docker/podman/lxc/systemd-nspawn in most runtimes
// (systemd's own detect-virt reads the same variable).
std::string Pid1ContainerVariable(const std::string& root) {
  auto read =
      framework::ReadFileLimited(Join(root, "/proc/1/environ"), framework::kMaxSmallFileBytes);
  const std::string env = read.ok() ? *read : "";
  size_t pos = 0;
  while (pos < env.size()) {
    size_t end = env.find('\0', pos);
    if (end == std::string::npos) end = env.size();
    std::string_view entry(env.data() + pos, end - pos);
    if (entry.substr(0, 10) == "container=") return std::string(entry.substr(10));
    pos = end + 1;
  }
  return "";
}

}  // namespace

const char* PlatformName(Platform platform) {
  for (const auto& [p, name] : kNames) {
    if (p == platform) return name;
  }
  return "?";
}

std::optional<Platform> ParsePlatform(std::string_view name) {
  for (const auto& [p, n] : kNames) {
    if (name == n) return p;
  }
  return std::nullopt;
}

std::string PlatformNames() {
  std::string out;
  for (const auto& [p, name] : kNames) {
    if (!out.empty()) out += '|';
    out += name;
  }
  return out;
}

Detection DetectPlatform(const DetectOptions& options) {
  Detection d;
  std::string choice = options.override_platform;
  std::string source = "override";
  if (choice.empty() && options.use_environment) {
    if (const char* env = std::getenv("DUENDE_PLATFORM"); env != nullptr && *env != '\0') {
      choice = env;
      source = "DUENDE_PLATFORM";
    }
  }
  std::string invalid;
  if (!choice.empty()) {
    if (auto p = ParsePlatform(choice)) {
      d.platform = *p;
      d.reason = source + " chose " + choice;
      return d;
    }
    invalid = source + " \"" + choice + "\" is not one of " + PlatformNames() + "; ";
  }
#ifdef __APPLE__
  d.platform = Platform::kLaunchd;
  d.reason = invalid + "macOS: launchd";
  return d;
#else
  for (const char* marker : {"/.dockerenv", "/run/.containerenv"}) {
    if (Exists(Join(options.root, marker))) {
      d.in_container = true;
      d.platform = Platform::kNative;
      d.reason = invalid + "container marker " + marker + ": the native supervisor runs inside";
      return d;
    }
  }
  if (std::string c = Pid1ContainerVariable(options.root); !c.empty()) {
    d.in_container = true;
    d.platform = Platform::kNative;
    d.reason = invalid + "PID 1 has container=" + c + ": the native supervisor runs inside";
    return d;
  }
  if (IsDir(Join(options.root, "/run/systemd/system"))) {
    d.platform = Platform::kSystemd;
    d.reason = invalid + "systemd is PID 1 (/run/systemd/system exists)";
    return d;
  }
  d.platform = Platform::kNative;
  d.reason = invalid + "no service manager found: native supervisor";
  return d;
#endif
}

}  // namespace duende::adapters
