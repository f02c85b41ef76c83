// The tables a daemon config, a `duende supervise` [[service]] and a scenario [[target]] share
// ([restart], [restart.backoff], the readiness/liveness probes, [resources]) are read by one
// reader: each table below is fed to all three and must be accepted or rejected alike, and an
// accepted one must give the same values.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/supervisor.h"
#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

using framework::DaemonConfig;

// Where a shared table sits in each kind of file.
enum class Table { kRestart, kBackoff, kReadiness, kLiveness, kResources };

struct Case {
  const char* what;
  Table table;
  const char* body;
  bool valid;
};

const Case kCases[] = {
    {"every restart key", Table::kRestart,
     "policy = \"on-failure\"\nprevent_exit_codes = [3, 78]\nstart_limit_burst = 7\n"
     "start_limit_interval = \"20s\"\nstart_limit_retry_after = \"1m\"\n"
     "[X.backoff]\ninitial = \"30ms\"\nmultiplier = 1.5\nmax = \"2s\"\njitter = \"equal\"\n"
     "reset_after = \"5s\"\nimmediate_first_restart = true\n",
     true},
    {"the largest start_limit_burst", Table::kRestart,
     "policy = \"always\"\nprevent_exit_codes = []\nstart_limit_burst = 10000\n"
     "start_limit_interval = \"10s\"\nstart_limit_retry_after = \"0s\"\n"
     "[X.backoff]\ninitial = \"10ms\"\nmultiplier = 2.0\nmax = \"1s\"\njitter = \"none\"\n"
     "reset_after = \"10s\"\nimmediate_first_restart = false\n",
     true},
    {"start_limit_burst over the cap", Table::kRestart, "start_limit_burst = 10001\n", false},
    {"start_limit_burst 0", Table::kRestart, "start_limit_burst = 0\n", false},
    {"start_limit_interval 0", Table::kRestart, "start_limit_interval = \"0s\"\n", false},
    {"an exit code out of range", Table::kRestart, "prevent_exit_codes = [256]\n", false},
    {"an unknown policy", Table::kRestart, "policy = \"sometimes\"\n", false},
    {"a misspelt restart key", Table::kRestart, "start_limit_brust = 3\n", false},
    {"backoff max below initial", Table::kBackoff, "initial = \"2s\"\nmax = \"1s\"\n", false},
    {"backoff multiplier below 1", Table::kBackoff, "multiplier = 0.5\n", false},
    {"an http readiness probe", Table::kReadiness,
     "kind = \"http\"\naddress = \"127.0.0.1:8080\"\npath = \"/healthz\"\ninterval = \"20ms\"\n"
     "timeout = \"500ms\"\nfailure_threshold = 4\ngrace_period = \"5s\"\n",
     true},
    {"the deprecated http_path", Table::kReadiness,
     "kind = \"http\"\naddress = \"127.0.0.1:8080\"\nhttp_path = \"/ready\"\n", true},
    {"path and http_path both", Table::kReadiness,
     "kind = \"http\"\naddress = \"127.0.0.1:8080\"\npath = \"/a\"\nhttp_path = \"/b\"\n", false},
    {"a path without '/'", Table::kReadiness,
     "kind = \"http\"\naddress = \"127.0.0.1:8080\"\npath = \"healthz\"\n", false},
    {"a path on a tcp probe", Table::kReadiness,
     "kind = \"tcp\"\naddress = \"127.0.0.1:8080\"\npath = \"/\"\n", false},
    {"a tcp probe without address", Table::kReadiness, "kind = \"tcp\"\n", false},
    {"a port out of range", Table::kReadiness, "kind = \"tcp\"\naddress = \"127.0.0.1:70000\"\n",
     false},
    {"a probe interval of 0", Table::kReadiness, "kind = \"notify\"\ninterval = \"0s\"\n", false},
    {"a command liveness probe", Table::kLiveness,
     "kind = \"command\"\ncommand = [\"/bin/true\", \"-x\"]\nfailure_threshold = 2\n", true},
    {"a notify liveness probe", Table::kLiveness, "kind = \"notify\"\n", false},
    {"every resource key", Table::kResources,
     "memory_max = \"64MiB\"\ncpu_quota = 0.5\npids_max = 100\nopen_files = 2\n"
     "address_space = \"1GiB\"\nprocesses = 50\ncore_size = 0\nlock_memory = true\n"
     "lock_memory_required = true\nlock_on_fault = true\n",
     true},
    {"memory_max below 1MiB", Table::kResources, "memory_max = \"512KiB\"\n", false},
    {"lock_on_fault without lock_memory", Table::kResources, "lock_on_fault = true\n", false},
    {"lock_memory_required without lock_memory", Table::kResources, "lock_memory_required = true\n",
     false},
    {"pids_max 0", Table::kResources, "pids_max = 0\n", false},
};

// The table's header in a file whose daemon sits at `prefix` ("" for a daemon config,
// "service." and "target." for the others).
std::string Header(Table t, const std::string& prefix) {
  switch (t) {
    case Table::kRestart:
      return prefix + "restart";
    case Table::kBackoff:
      return prefix + "restart.backoff";
    case Table::kReadiness:
      return prefix + (prefix == "target." ? "readiness" : "health.readiness");
    case Table::kLiveness:
      return prefix + (prefix == "target." ? "liveness" : "health.liveness");
    case Table::kResources:
      return prefix + "resources";
  }
  return "";
}

// The body with its sub-table headers ("[X.backoff]") placed under the table.
std::string Body(const Case& c, const std::string& header) {
  std::string body = c.body;
  for (size_t at = body.find("[X."); at != std::string::npos; at = body.find("[X.")) {
    body.replace(at, 2, "[" + header);
  }
  return "[" + header + "]\n" + body;
}

// A file in a private temporary directory, removed with it.
class TempDir {
 public:
  TempDir() {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-config-tables-XXXXXX";
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
};

std::optional<DaemonConfig> AsDaemonConfig(const Case& c) {
  auto r = framework::ParseDaemonConfig(
      "name = \"d\"\ncommand = [\"/bin/true\"]\n" + Body(c, Header(c.table, "")), "daemon.toml");
  if (!r.ok()) return std::nullopt;
  return r.value();
}

std::optional<DaemonConfig> AsService(const Case& c, const TempDir& dir) {
  auto r = framework::LoadServicesFile(
      dir.Write("services.toml", "[[service]]\nname = \"d\"\ncommand = [\"/bin/true\"]\n" +
                                     Body(c, Header(c.table, "service."))));
  if (!r.ok()) return std::nullopt;
  return r->services.at(0);
}

std::optional<DaemonConfig> AsScenarioTarget(const Case& c) {
  auto r = ParseScenario(
      "[scenario]\nname = \"s\"\n[[target]]\nname = \"d\"\n"
      "command = [\"/bin/true\"]\n" +
          Body(c, Header(c.table, "target.")),
      "scenario.toml");
  if (!r.ok()) return std::nullopt;
  return r->targets.at(0).daemon;
}

void ExpectSameTable(Table t, const DaemonConfig& a, const DaemonConfig& b, const char* what) {
  switch (t) {
    case Table::kRestart:
    case Table::kBackoff:
      EXPECT_EQ(a.restart, b.restart) << what;
      break;
    case Table::kReadiness:
      EXPECT_EQ(a.health.readiness, b.health.readiness) << what;
      break;
    case Table::kLiveness:
      EXPECT_EQ(a.health.liveness, b.health.liveness) << what;
      break;
    case Table::kResources:
      EXPECT_EQ(a.resources, b.resources) << what;
      break;
  }
}

TEST(ConfigTablesTest, EachTableIsAcceptedOrRejectedAlikeByEveryReader) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  for (const Case& c : kCases) {
    auto daemon = AsDaemonConfig(c);
    auto service = AsService(c, dir);
    auto target = AsScenarioTarget(c);
    EXPECT_EQ(daemon.has_value(), c.valid) << "daemon config: " << c.what;
    EXPECT_EQ(service.has_value(), c.valid) << "supervise service: " << c.what;
    EXPECT_EQ(target.has_value(), c.valid) << "scenario target: " << c.what;
    if (daemon && service) ExpectSameTable(c.table, *daemon, *service, c.what);
    if (daemon && target) ExpectSameTable(c.table, *daemon, *target, c.what);
  }
}

TEST(ConfigTablesTest, AcceptedValuesAreTheOnesWritten) {
  auto http = AsScenarioTarget(kCases[10]);
  ASSERT_TRUE(http.has_value());
  EXPECT_EQ(http->health.readiness.kind, framework::ProbeConfig::Kind::kHttp);
  EXPECT_EQ(http->health.readiness.http_path, "/healthz");
  EXPECT_EQ(http->health.readiness.failure_threshold, 4u);
  auto old = AsDaemonConfig(kCases[11]);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->health.readiness.http_path, "/ready");
  auto res = AsService(kCases[20], TempDir());
  ASSERT_TRUE(res.has_value());
  EXPECT_TRUE(res->resources.lock_on_fault);
  EXPECT_EQ(res->resources.memory_max, 64u << 20);
  EXPECT_EQ(res->resources.processes, 50u);
}

TEST(ConfigTablesTest, DeprecatedHttpPathWarnsWithItsPosition) {
  testing::internal::CaptureStderr();
  auto r = framework::ParseDaemonConfig(
      "name = \"warned\"\n[health.readiness]\nkind = \"http\"\naddress = \"127.0.0.1:80\"\n"
      "http_path = \"/x\"\n",
      "warned.toml");
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_NE(err.find("warned.toml:5:13: warning: 'http_path' in [health].readiness is deprecated"),
            std::string::npos)
      << err;
}

TEST(ConfigTablesTest, ScenarioProbeAddressMayUseRunVariablesAndTheTargetsAddress) {
  auto r = ParseScenario(
      "[scenario]\nname = \"s\"\n[[target]]\nname = \"d\"\ncommand = [\"/bin/true\"]\n"
      "address = \"127.0.0.1:{port.d}\"\n[target.readiness]\nkind = \"tcp\"\n"
      "[target.liveness]\nkind = \"http\"\naddress = \"127.0.0.1:{port.d}\"\npath = \"/l\"\n",
      "vars.toml");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->targets[0].daemon.health.readiness.address, "");  // the runner fills it in
  EXPECT_EQ(r->targets[0].daemon.health.liveness.address, "127.0.0.1:{port.d}");
  // A daemon config has no run variables: the same address is rejected there.
  EXPECT_FALSE(framework::ParseDaemonConfig(
                   "[health.liveness]\nkind = \"tcp\"\naddress = \"127.0.0.1:{port.d}\"\n", "d")
                   .ok());
}

// The shared probe reader and the scenario's target reader both know that a tcp probe needs an
// address; the reader that knows both places it may come from says so, once.
TEST(ConfigTablesTest, ScenarioProbeWithoutAnyAddressIsReportedOnce) {
  auto r = ParseScenario(
      "[scenario]\nname = \"s\"\n[[target]]\nname = \"d\"\ncommand = [\"/bin/true\"]\n"
      "[target.readiness]\nkind = \"tcp\"\n",
      "noaddr.toml");
  ASSERT_FALSE(r.ok());
  const std::string msg = r.error().Message();
  size_t count = 0;
  for (size_t at = msg.find("'address'"); at != std::string::npos;
       at = msg.find("'address'", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << msg;
  EXPECT_NE(msg.find("noaddr.toml:6:1: missing 'address' in [[target]] #1.readiness (add address = "
                     "\"127.0.0.1:PORT\" here or to the target)"),
            std::string::npos)
      << msg;
  // A daemon config has no owner to take the address from: its reader still requires it.
  auto d = framework::ParseDaemonConfig("[health.readiness]\nkind = \"tcp\"\n", "d.toml");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().Message().find("d.toml:1:1: missing required key 'address'"),
            std::string::npos)
      << d.error().Message();
}

}  // namespace
}  // namespace duende::harness
