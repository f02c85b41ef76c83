// Why a test of a platform (systemd, oci) cannot run on this machine, and the status of a
// `duende supervise` service as `duende ctl` shows it: shared by the platform tests.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "duende/framework/command.h"
#include "support/cli.h"

namespace duende::testing {

/// "" when `platform` can run here, else why not (for GTEST_SKIP). platform.md: root, systemd
/// and runc (with tini) are present on the project's machine, so these never skip there.
inline std::string PlatformSkipReason(const std::string& platform) {
  struct stat st {};
  auto exists = [&](const char* path) { return ::stat(path, &st) == 0; };
  if (::geteuid() != 0) return platform + " needs root here";
  if (platform == "systemd" && !exists("/lib/systemd/systemd")) return "systemd is not installed";
  if (platform == "oci" && !framework::FindExecutable("runc").ok()) return "runc is not installed";
  if (platform == "oci" && !exists("/usr/bin/tini")) return "tini is not installed (ci/deps.sh)";
  return "";
}

/// The first service of `duende ctl --socket SOCKET status --json`; null when there is none
/// yet (or no supervisor answers).
inline nlohmann::json FirstServiceStatus(const std::string& duende, const std::string& socket) {
  auto o = RunCli(duende + " ctl --socket " + socket + " status --json");
  auto j = nlohmann::json::parse(o.out, nullptr, false);
  if (o.code != 0 || j.is_discarded() || !j.contains("services") || j["services"].empty()) {
    return nullptr;
  }
  return j["services"][0];
}

}  // namespace duende::testing
