// Golden files for every artefact, offline checks by the platforms' own tools
// (systemd-analyze verify, xmllint against the plist DTD, a YAML parser for compose), and the
// round-trip property: any valid config renders to an artefact that parses back to the
// settings the platform expresses.
#include "duende/adapters/render.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "duende/adapters/container_cli.h"
#include "duende/adapters/launchd_plist.h"
#include "duende/adapters/oci_spec.h"
#include "duende/adapters/systemd_unit.h"
#include "duende/framework/command.h"
#include "duende/framework/config.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace duende::adapters {
namespace {

using duende::testing::ReadFile;
using framework::CommandOptions;
using framework::DaemonConfig;
using framework::RunCommand;

const std::string kGolden = std::string(DUENDE_SOURCE_DIR) + "/tests/adapters/golden/";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

DaemonConfig LoadGoldenConfig(const std::string& name) {
  auto c = framework::ParseDaemonConfig(ReadFile(kGolden + name + ".toml"), name + ".toml");
  EXPECT_TRUE(c.ok()) << c.error().Message();
  return c.ok() ? *c : DaemonConfig{};
}

// Compares with the golden file; DUENDE_UPDATE_GOLDEN=1 rewrites it instead.
void ExpectGolden(const std::string& file, const std::string& actual) {
  const std::string path = kGolden + file;
  if (const char* u = std::getenv("DUENDE_UPDATE_GOLDEN"); u != nullptr && *u == '1') {
    WriteFile(path, actual);
    return;
  }
  EXPECT_EQ(ReadFile(path), actual)
      << "golden file " << path << " differs (DUENDE_UPDATE_GOLDEN=1 rewrites it)";
}

RenderOptions Pinned(int systemd_version = 252) {
  RenderOptions o;
  o.systemd.version = systemd_version;
  return o;
}

// Files go into a private directory of this process (removed at exit): ctest runs the tests
// of this file as parallel processes, and units share names (kvd.service).
std::string TempFile(const std::string& name, const std::string& text) {
  static const duende::testing::TempDir dir("render");
  std::string path = dir.path() + "/" + name;
  WriteFile(path, text);
  return path;
}

std::string Catalog() {
  return TempFile("plist-catalog.xml",
                  "<?xml version=\"1.0\"?>\n"
                  "<catalog xmlns=\"urn:oasis:names:tc:entity:xmlns:xml:catalog\">\n"
                  "  <public publicId=\"-//Apple//DTD PLIST 1.0//EN\" uri=\"file://" +
                      kGolden + "PropertyList-1.0.dtd\"/>\n</catalog>\n");
}

const char* kConfigs[] = {"minimal", "full", "tricky", "sandboxed"};

TEST(RenderTest, GoldenArtefactsForEveryPlatform) {
  struct Artefact {
    Platform platform;
    int systemd_version;
    const char* suffix;
  };
  const Artefact kArtefacts[] = {
      {Platform::kSystemd, 252, ".service"},  {Platform::kSystemd, 254, ".v254.service"},
      {Platform::kOci, 252, ".config.json"},  {Platform::kDocker, 252, ".docker.sh"},
      {Platform::kPodman, 252, ".podman.sh"}, {Platform::kCompose, 252, ".compose.yaml"},
      {Platform::kLaunchd, 252, ".plist"},    {Platform::kWasi, 252, ".wasi.sh"}};
  for (const char* name : kConfigs) {
    DaemonConfig c = LoadGoldenConfig(name);
    for (const Artefact& a : kArtefacts) {
      auto text = Render(a.platform, c, Pinned(a.systemd_version));
      ASSERT_TRUE(text.ok()) << name << a.suffix << ": " << text.error().Message();
      ExpectGolden(std::string(name) + a.suffix, *text);
    }
    ExpectGolden(std::string(name) + ".launchctl.sh", RenderLaunchctlCommands(c));
  }
}

TEST(RenderTest, SystemdAnalyzeVerifyIsCleanOnEveryUnit) {
  if (LocalSystemdVersion() == 0) GTEST_SKIP() << "systemd-analyze is not installed";
  for (const char* name : kConfigs) {
    DaemonConfig c = LoadGoldenConfig(name);
    auto unit = RenderSystemdUnit(c);  // for the local version
    ASSERT_TRUE(unit.ok());
    std::string path = TempFile(SystemdUnitName(c), *unit);
    auto r = RunCommand({"systemd-analyze", "verify", path});
    ASSERT_TRUE(r.ok()) << r.error().Message();
    EXPECT_TRUE(r->status.success()) << r->err;
    // verify exits 0 even with warnings: stderr must be empty.
    EXPECT_EQ(r->err, "") << *unit;
    ::unlink(path.c_str());
  }
}

TEST(RenderTest, SystemdAnalyzeRejectsRestartStepsOn252) {
  // The reason RestartSteps= is rendered only for 254+: 252 warns about it.
  if (LocalSystemdVersion() != 252) GTEST_SKIP() << "needs systemd 252 (Debian 12)";
  DaemonConfig c = LoadGoldenConfig("full");
  c.user.clear();
  c.group.clear();
  auto unit = RenderSystemdUnit(c, {254});
  ASSERT_TRUE(unit.ok());
  ASSERT_NE(unit->find("RestartSteps="), std::string::npos);
  std::string path = TempFile(SystemdUnitName(c), *unit);
  auto r = RunCommand({"systemd-analyze", "verify", path});
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->err.find("Unknown key 'RestartSteps'"), std::string::npos) << r->err;
  ::unlink(path.c_str());
}

TEST(RenderTest, PlistIsValidAgainstTheDtdWithTheKeysLaunchdExpects) {
  for (const char* name : kConfigs) {
    DaemonConfig c = LoadGoldenConfig(name);
    auto plist = RenderLaunchdPlist(c);
    ASSERT_TRUE(plist.ok());
    std::string path = TempFile(std::string(name) + ".plist", *plist);
    // The DOCTYPE's public id resolves to the local copy of Apple's DTD through a catalog.
    CommandOptions catalog;
    catalog.env_overrides = {"XML_CATALOG_FILES=" + Catalog()};
    auto valid = RunCommand({"xmllint", "--noout", "--nonet", "--valid", path}, catalog);
    ASSERT_TRUE(valid.ok()) << valid.error().Message();
    EXPECT_TRUE(valid->status.success()) << valid->err;
    EXPECT_EQ(valid->err, "");
    // Each key with the type launchd reads it as.
    const std::pair<const char*, const char*> kTypes[] = {{"Label", "string"},
                                                          {"ProgramArguments", "array"},
                                                          {"RunAtLoad", "true"},
                                                          {"ThrottleInterval", "integer"},
                                                          {"ExitTimeOut", "integer"}};
    for (const auto& [key, type] : kTypes) {
      auto x = RunCommand(
          {"xmllint", "--xpath",
           std::string("name(/plist/dict/key[text()='") + key + "']/following-sibling::*[1])",
           path});
      ASSERT_TRUE(x.ok());
      EXPECT_EQ(x->out, std::string(type) + "\n") << name << " " << key;
    }
    ::unlink(path.c_str());
  }
  DaemonConfig full = LoadGoldenConfig("full");
  std::string path = TempFile("full.plist", *RenderLaunchdPlist(full));
  auto memlock =
      RunCommand({"xmllint", "--xpath",
                  "string(/plist/dict/key[text()='HardResourceLimits']/following-sibling::dict[1]/"
                  "key[text()='MemoryLock']/following-sibling::integer[1])",
                  path});
  ASSERT_TRUE(memlock.ok());
  EXPECT_EQ(memlock->out, "9223372036854775807\n");
  auto keepalive =
      RunCommand({"xmllint", "--xpath",
                  "name(/plist/dict/key[text()='KeepAlive']/following-sibling::*[1])", path});
  EXPECT_EQ(keepalive->out, "true\n");
  ::unlink(path.c_str());
}

TEST(RenderTest, ComposeParsesAsYamlWithTheSameCommandAndEnvironment) {
  auto py = RunCommand({"/usr/bin/python3", "-c", "import yaml"});
  if (!py.ok() || !py->status.success())
    GTEST_SKIP() << "python3-yaml is not installed (ci/deps.sh installs it)";
  for (const char* name : kConfigs) {
    DaemonConfig c = LoadGoldenConfig(name);
    auto yaml = RenderComposeService(c);
    ASSERT_TRUE(yaml.ok());
    std::string path = TempFile(std::string(name) + ".compose.yaml", *yaml);
    // Print the command and environment as compose will see them ($$ -> $).
    auto r = RunCommand({"/usr/bin/python3", "-c",
                         "import sys, yaml, json\n"
                         "d = yaml.safe_load(open(sys.argv[1]))\n"
                         "s = list(d['services'].values())[0]\n"
                         "u = lambda v: v.replace('$$', '$')\n"
                         "print(json.dumps([[u(a) for a in s['command']],"
                         " {k: u(v) for k, v in s.get('environment', {}).items()}]))\n",
                         path});
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(r->status.success()) << r->err;
    nlohmann::json env = nlohmann::json::object();
    for (const auto& [k, v] : c.env) env[k] = v;
    if (c.resources.lock_memory) env["DUENDE_MLOCK"] = "1";
    if (c.resources.lock_memory_required) env["DUENDE_MLOCK_REQUIRED"] = "1";
    nlohmann::json expect = nlohmann::json::array({c.command, env});
    EXPECT_EQ(nlohmann::json::parse(r->out), expect) << *yaml;
    ::unlink(path.c_str());
  }
}

TEST(RenderTest, BadConfigIsRefusedWithTheMissingSetting) {
  DaemonConfig c;
  c.name = "x";
  auto r = Render(Platform::kSystemd, c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("'command' is missing"), std::string::npos);
  c.command = {"/bin/true"};
  c.user = "no-such-user-here";
  auto oci = Render(Platform::kOci, c);
  ASSERT_FALSE(oci.ok());
  EXPECT_NE(oci.error().Message().find("does not exist on this host"), std::string::npos);
}

TEST(RenderTest, TranslateListsWhatAPlatformDrops) {
  DaemonConfig c = LoadGoldenConfig("full");
  auto t = Translate(Platform::kSystemd, c, Pinned());
  ASSERT_TRUE(t.ok());
  std::string all;
  for (const auto& d : t->dropped) all += d + "\n";
  EXPECT_NE(all.find("health.liveness"), std::string::npos) << all;
  EXPECT_NE(all.find("log.file"), std::string::npos) << all;
  EXPECT_EQ(all.find("resources.memory_max"), std::string::npos) << all;
}

// ---- the round-trip property ------------------------------------------------------------

rc::Gen<std::string> Printable(int min_len, int max_len) {
  return rc::gen::mapcat(rc::gen::inRange(min_len, max_len + 1), [](int n) {
    return rc::gen::container<std::string>(static_cast<size_t>(n),
                                           rc::gen::inRange<char>(0x20, 0x7f));
  });
}

rc::Gen<std::string> Word(const char* alphabet, int min_len, int max_len) {
  std::string a(alphabet);
  return rc::gen::mapcat(rc::gen::inRange(min_len, max_len + 1), [a](int n) {
    return rc::gen::container<std::string>(static_cast<size_t>(n), rc::gen::elementOf(a));
  });
}

rc::Gen<framework::nanoseconds> Duration(int64_t max_ms) {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::inRange<int64_t>(1, max_ms),
                   [](int64_t ms) { return framework::nanoseconds(ms * 1'000'000); }),
      rc::gen::map(rc::gen::inRange<int64_t>(1, max_ms * 1'000'000),
                   [](int64_t ns) { return framework::nanoseconds(ns); }));
}

template <typename T>
rc::Gen<std::optional<T>> Maybe(rc::Gen<T> g) {
  return rc::gen::oneOf(rc::gen::just(std::optional<T>()),
                        rc::gen::map(g, [](T v) { return std::optional<T>(v); }));
}

// A valid config (as ReadDaemonConfig would accept) with nasty strings in every free-text spot.
rc::Gen<DaemonConfig> ValidConfig() {
  return rc::gen::exec([] {
    using framework::RestartConfig;
    DaemonConfig c;
    c.name = *Word("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", 1, 20);
    RC_PRE(c.name[0] != '.' && c.name[0] != '-');
    c.description = *Printable(0, 30);
    RC_PRE(c.description.empty() || (c.description.front() != ' ' && c.description.back() != ' ' &&
                                     c.description.back() != '\\'));
    c.command = {"/usr/bin/" + *Word("abcdefghijklmnopqrstuvwxyz", 1, 8)};
    for (const auto& a : *rc::gen::container<std::vector<std::string>>(Printable(0, 12))) {
      c.command.push_back(a);
    }
    auto names =
        *rc::gen::unique<std::vector<std::string>>(Word("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", 1, 8));
    for (const auto& n : names) {
      if (n.rfind("DUENDE_", 0) == 0 || n == "PATH") continue;
      c.env.emplace_back(n, *Printable(0, 16));
    }
    if (*rc::gen::arbitrary<bool>()) c.working_dir = "/" + *Word("abcdefgh/", 1, 12);
    if (*rc::gen::arbitrary<bool>()) {
      c.user = *rc::gen::element<std::string>("root", "daemon", "1000", "65534");
      if (*rc::gen::arbitrary<bool>())
        c.group = *rc::gen::element<std::string>("daemon", "0", "100");
    }
    c.shutdown_timeout = *Duration(60'000);
    c.stop_signal = *rc::gen::element(SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2);
    auto& r = c.resources;
    r.memory_max = *Maybe(rc::gen::inRange<uint64_t>(1u << 20, 1ull << 36));
    r.cpu_quota =
        *Maybe(rc::gen::map(rc::gen::inRange(1, 400000), [](int v) { return v / 1000.0 + 0.01; }));
    r.pids_max = *Maybe(rc::gen::inRange<uint64_t>(1, 4194304));
    r.open_files = *Maybe(rc::gen::inRange<uint64_t>(1, 1u << 30));
    r.address_space = *Maybe(rc::gen::inRange<uint64_t>(1u << 20, 1ull << 40));
    r.processes = *Maybe(rc::gen::inRange<uint64_t>(1, 4194304));
    r.core_size = *Maybe(rc::gen::inRange<uint64_t>(0, 1ull << 32));
    r.lock_memory = *rc::gen::arbitrary<bool>();
    r.lock_memory_required = r.lock_memory && *rc::gen::arbitrary<bool>();
    auto& rs = c.restart;
    rs.policy = *rc::gen::element(RestartConfig::Policy::kNever, RestartConfig::Policy::kOnFailure,
                                  RestartConfig::Policy::kAlways);
    rs.prevent_exit_codes = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 256));
    rs.start_limit_burst = *rc::gen::inRange<uint32_t>(1, 10000);
    rs.start_limit_interval = *Duration(600'000);
    rs.backoff.initial = *Duration(10'000);
    rs.backoff.max = rs.backoff.initial + *Duration(100'000);
    rs.backoff.multiplier = *rc::gen::element(1.0, 1.5, 2.0, 3.0, 10.0);
    rs.backoff.jitter = *rc::gen::element(framework::BackoffConfig::Jitter::kNone,
                                          framework::BackoffConfig::Jitter::kFull);
    if (*rc::gen::arbitrary<bool>()) {
      c.health.readiness.kind = framework::ProbeConfig::Kind::kNotify;
      c.health.readiness.grace_period = *Duration(60'000);
    }
    if (*rc::gen::arbitrary<bool>()) {
      auto& l = c.health.liveness;
      l.kind = framework::ProbeConfig::Kind::kCommand;
      l.command = {"/usr/bin/check", *Printable(0, 10)};
      l.interval = *Duration(10'000);
      l.timeout = *Duration(10'000);
      l.failure_threshold = *rc::gen::inRange<uint32_t>(1, 1000);
      l.grace_period = *Duration(60'000);
    }
    if (*rc::gen::arbitrary<bool>()) c.health.watchdog = *Duration(60'000);
    if (*rc::gen::arbitrary<bool>()) c.log.file = "/var/log/" + *Word("abcdef.", 1, 8);
    return c;
  });
}

void CheckRoundTrip(Platform p, const RenderOptions& options) {
  const DaemonConfig c = *ValidConfig();
  auto text = Render(p, c, options);
  RC_ASSERT(text.ok());
  auto back = ParseArtefact(p, *text, options);
  if (!back.ok()) RC_FAIL(back.error().Message() + "\n" + *text);
  auto expect = Translate(p, c, options);
  RC_ASSERT(expect.ok());
  DaemonConfig got = *back;
  got.source_file = expect->config.source_file;
  got.app = expect->config.app;
  if (!(got == expect->config)) {
    RC_FAIL("artefact:\n" + *text + "\nparsed back:\n" + framework::FormatDaemonConfig(got) +
            "\nexpected:\n" + framework::FormatDaemonConfig(expect->config));
  }
}

RC_GTEST_PROP(RenderTest, SystemdUnit252ParsesBackToTheSameSettings, ()) {
  CheckRoundTrip(Platform::kSystemd, Pinned(252));
}
RC_GTEST_PROP(RenderTest, SystemdUnit254ParsesBackToTheSameSettings, ()) {
  CheckRoundTrip(Platform::kSystemd, Pinned(254));
}
RC_GTEST_PROP(RenderTest, OciConfigParsesBackToTheSameSettings, ()) {
  CheckRoundTrip(Platform::kOci, Pinned());
}
RC_GTEST_PROP(RenderTest, DockerRunParsesBackToTheSameSettings, ()) {
  CheckRoundTrip(Platform::kDocker, Pinned());
}
RC_GTEST_PROP(RenderTest, PodmanRunParsesBackToTheSameSettings, ()) {
  CheckRoundTrip(Platform::kPodman, Pinned());
}
RC_GTEST_PROP(RenderTest, LaunchdPlistParsesBackToTheSameSettings, ()) {
  CheckRoundTrip(Platform::kLaunchd, Pinned());
}

}  // namespace
}  // namespace duende::adapters
