// [sandbox] on the platforms: the systemd unit and the OCI config.json carry every key and
// parse back to it, the platforms without an equivalent warn key by key, and systemd's own
// exposure score improves.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "duende/adapters/oci_spec.h"
#include "duende/adapters/render.h"
#include "duende/adapters/systemd_unit.h"
#include "duende/framework/command.h"
#include "duende/framework/config.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace duende::adapters {
namespace {

using framework::DaemonConfig;
using framework::SandboxConfig;

DaemonConfig Sandboxed() {
  auto c = framework::LoadDaemonConfig(std::string(DUENDE_SOURCE_DIR) +
                                       "/tests/adapters/golden/sandboxed.toml");
  EXPECT_TRUE(c.ok()) << c.error().Message();
  return c.ok() ? *c : DaemonConfig{};
}

TEST(SandboxRenderTest, SystemdUnitCarriesEveryKeyAndParsesBack) {
  DaemonConfig c = Sandboxed();
  auto unit = RenderSystemdUnit(c, {252});
  ASSERT_TRUE(unit.ok()) << unit.error().Message();
  for (const char* line :
       {"User=daemon\n", "Group=daemon\n", "NoNewPrivileges=yes\n",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "SystemCallFilter=~ptrace mount kexec_load\n",
        "SystemCallErrorNumber=EPERM\n", "ReadOnlyPaths=/usr /etc\n", "PrivateTmp=yes\n",
        "PrivateNetwork=yes\n"}) {
    EXPECT_NE(unit->find(line), std::string::npos) << line << *unit;
  }
  auto back = ParseSystemdUnit(*unit);
  ASSERT_TRUE(back.ok()) << back.error().Message();
  SandboxConfig want = c.sandbox;
  want.user.clear();  // User=/Group= carry the account once
  want.group.clear();
  EXPECT_EQ(back->sandbox, want);
  EXPECT_EQ(back->user, "daemon");

  // kill: no SystemCallErrorNumber=, systemd's default action is SIGSYS.
  c.sandbox.seccomp.action = framework::SeccompConfig::Action::kKill;
  c.sandbox.read_only_paths = {"/"};
  c.sandbox.capabilities = std::vector<std::string>{};
  unit = RenderSystemdUnit(c, {252});
  ASSERT_TRUE(unit.ok());
  EXPECT_EQ(unit->find("SystemCallErrorNumber="), std::string::npos) << *unit;
  EXPECT_NE(unit->find("ProtectSystem=strict\n"), std::string::npos) << *unit;
  EXPECT_NE(unit->find("CapabilityBoundingSet=\n"), std::string::npos) << *unit;
  back = ParseSystemdUnit(*unit);
  ASSERT_TRUE(back.ok()) << back.error().Message();
  EXPECT_EQ(back->sandbox.seccomp.action, framework::SeccompConfig::Action::kKill);
  EXPECT_EQ(back->sandbox.read_only_paths, std::vector<std::string>{"/"});
  EXPECT_EQ(back->sandbox.capabilities, std::vector<std::string>{});
}

TEST(SandboxRenderTest, OciConfigCarriesEveryKeyAndParsesBack) {
  DaemonConfig c = Sandboxed();
  auto text = RenderOciConfig(c, {});
  ASSERT_TRUE(text.ok()) << text.error().Message();
  auto spec = nlohmann::json::parse(*text);
  const auto kept = std::vector<std::string>{"CAP_NET_BIND_SERVICE"};
  for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
    EXPECT_EQ(spec["process"]["capabilities"][set].get<std::vector<std::string>>(), kept) << set;
  }
  EXPECT_EQ(spec["process"]["noNewPrivileges"], true);
  EXPECT_EQ(spec["process"]["user"]["uid"], 1);
  const auto& sc = spec["linux"]["seccomp"];
  EXPECT_EQ(sc["defaultAction"], "SCMP_ACT_ALLOW");
  EXPECT_EQ(sc["syscalls"][0]["names"].get<std::vector<std::string>>(),
            (std::vector<std::string>{"ptrace", "mount", "kexec_load"}));
  EXPECT_EQ(sc["syscalls"][0]["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc["syscalls"][0]["errnoRet"], EPERM);
  auto ro = spec["linux"]["readonlyPaths"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(ro.begin(), ro.end(), "/usr"), ro.end());
  EXPECT_NE(std::find(ro.begin(), ro.end(), "/etc"), ro.end());
  bool netns = false;
  for (const auto& ns : spec["linux"]["namespaces"]) netns = netns || ns["type"] == "network";
  EXPECT_TRUE(netns);

  auto back = ParseOciConfig(*text, {});
  ASSERT_TRUE(back.ok()) << back.error().Message();
  auto t = Translate(Platform::kOci, c);
  ASSERT_TRUE(t.ok());
  SandboxConfig want = t->config.sandbox;
  want.user.clear();
  want.group.clear();
  EXPECT_EQ(back->sandbox, want);
  // An allow-list with kill: the default action refuses.
  c.sandbox.seccomp.mode = framework::SeccompConfig::Mode::kAllow;
  c.sandbox.seccomp.action = framework::SeccompConfig::Action::kKill;
  spec = nlohmann::json::parse(*RenderOciConfig(c, {}));
  EXPECT_EQ(spec["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_KILL_PROCESS");
  EXPECT_EQ(spec["linux"]["seccomp"]["syscalls"][1]["names"][0], "execve");
}

TEST(SandboxRenderTest, KeysAPlatformCannotExpressAreWarnedAbout) {
  DaemonConfig c = Sandboxed();
  // (wasi keeps the table: the native supervisor starts the runtime, confined as configured.)
  for (Platform p : {Platform::kLaunchd, Platform::kMicrovm, Platform::kDocker}) {
    auto t = Translate(p, c);
    ASSERT_TRUE(t.ok()) << PlatformName(p);
    std::string all;
    for (const auto& d : t->dropped) all += d + "\n";
    for (const char* key :
         {"sandbox.no_new_privileges = true", "sandbox.capabilities = ", "sandbox.network = 'none'",
          "sandbox.private_tmp = true", "sandbox.read_only_paths = ", "sandbox.seccomp.deny = "}) {
      EXPECT_NE(all.find(key), std::string::npos) << PlatformName(p) << ": " << key << "\n" << all;
    }
    EXPECT_NE(all.find(std::string("not expressed for ") + PlatformName(p)), std::string::npos)
        << all;
  }
  for (Platform p : {Platform::kSystemd, Platform::kWasi}) {
    auto kept = Translate(p, c);
    ASSERT_TRUE(kept.ok());
    for (const auto& d : kept->dropped) EXPECT_EQ(d.find("sandbox"), std::string::npos) << d;
  }
}

// `systemd-analyze security` rates a unit's exposure from 0 (locked down) to 10; the
// sandboxed unit must rate better than the same service without [sandbox]. The numbers are
// printed for docs/supervise.md.
double ExposureOf(const std::string& unit_text, const std::string& name) {
  testing::TempDir dir("sandbox-security");
  const std::string path = dir.Write(name, unit_text);
  auto r = framework::RunCommand({"systemd-analyze", "security", "--offline=true", path});
  if (!r.ok()) return -1;
  std::smatch m;
  const std::string all = r->out + r->err;
  if (!std::regex_search(all, m, std::regex(R"(Overall exposure level for \S+: ([0-9.]+))"))) {
    ADD_FAILURE() << all;
    return -1;
  }
  return std::stod(m[1]);
}

TEST(SandboxRenderTest, SystemdAnalyzeSecurityRatesTheSandboxedUnitLower) {
  if (LocalSystemdVersion() == 0) GTEST_SKIP() << "systemd-analyze is not installed";
  DaemonConfig c = Sandboxed();
  auto confined = RenderSystemdUnit(c);
  DaemonConfig plain = c;
  plain.sandbox = SandboxConfig{};
  plain.user.clear();
  plain.group.clear();
  auto open = RenderSystemdUnit(plain);
  ASSERT_TRUE(confined.ok() && open.ok());
  const double with = ExposureOf(*confined, SystemdUnitName(c));
  const double without = ExposureOf(*open, SystemdUnitName(c));
  std::printf("systemd-analyze security: %.1f with [sandbox], %.1f without\n", with, without);
  ASSERT_GE(with, 0);
  EXPECT_LT(with, without);
}

}  // namespace
}  // namespace duende::adapters
