// End-to-end: the shipped platform scenarios (kvd under systemd and under runc, SIGKILLed under
// write load) PASS through `duende run`, and the same checks FAIL on the same platform when the
// daemon loses acknowledged writes (kvd --durable false) or the restart bound is too tight: the
// platform's own restarts are what is measured. Nothing is left behind: no unit, no container,
// no bundle, no private user manager.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "duende/adapters/systemd_unit.h"
#include "duende/framework/command.h"
#include "duende/framework/proc.h"
#include "duende/framework/process.h"
#include "duende/model/event_log.h"
#include "support/cli.h"
#include "support/line_client.h"
#include "support/platform_skip.h"

namespace duende::harness {
namespace {

using model::Event;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kPlatforms = std::string(DUENDE_SOURCE_DIR) + "/scenarios/platforms";

struct RunResult {
  int exit_code = -1;
  std::string output;
  std::vector<Event> events;
};

// `duende run ARGS` with its event log read back.
RunResult RunDuende(const std::string& args) {
  static int n = 0;
  const std::string events = ::testing::TempDir() + "/platform-events-" + std::to_string(getpid()) +
                             "-" + std::to_string(++n) + ".jsonl";
  auto cli = duende::testing::RunCli("DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) +
                                     "/fixtures " + kDuende + " run --quiet " + args +
                                     " --events " + events);
  RunResult r{cli.code, std::move(cli.out), {}};
  if (auto ev = model::ReadEventLog(events); ev.ok()) r.events = std::move(ev).value();
  std::remove(events.c_str());
  return r;
}

std::string Verdict(const RunResult& r, const std::string& check) {
  for (const auto& e : r.events) {
    if (e.type == "check.result" && e.target == check) {
      return e.data.value("verdict", std::string("?"));
    }
  }
  return "(missing)";
}

// The detail of the target.tracking event that names the platform.
std::string PlatformDetail(const RunResult& r) {
  for (const auto& e : r.events) {
    if (e.type == "target.tracking" && e.data.value("mode", std::string()) == "platform") {
      return e.data.value("detail", std::string());
    }
  }
  return "";
}

// The word after `key` in `text` up to one of ",)".
std::string After(const std::string& text, const std::string& key) {
  size_t at = text.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return text.substr(at, text.find_first_of(",)", at) - at);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0;
}

int Spawns(const RunResult& r) {
  int n = 0;
  for (const auto& e : r.events) n += e.type == "target.spawned" ? 1 : 0;
  return n;
}

class PlatformTargetsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = duende::testing::PlatformSkipReason(GetParam()); !why.empty())
      GTEST_SKIP() << why;
  }
  std::string Scenario() const { return kPlatforms + "/kill-under-load-" + GetParam() + ".toml"; }
};

TEST_P(PlatformTargetsTest, ShippedScenarioPassesAndLeavesNothing) {
  auto r = RunDuende(Scenario());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Verdict(r, "no_lost_writes"), "PASS") << r.output;
  EXPECT_EQ(Verdict(r, "restart_within"), "PASS") << r.output;
  EXPECT_EQ(Verdict(r, "no_orphans"), "PASS") << r.output;
  // Started by the platform, restarted by it: one spawn and two restarts.
  const std::string detail = PlatformDetail(r);
  ASSERT_NE(detail.find("platform " + GetParam()), std::string::npos) << r.output;
  EXPECT_GE(Spawns(r), 3) << r.output;
  if (GetParam() == "systemd") {
    // The private user manager's runtime directory is gone, and the manager with it.
    const std::string runtime = After(detail, ", ");
    ASSERT_EQ(runtime.rfind("/", 0), 0u) << detail;
    EXPECT_FALSE(Exists(runtime)) << runtime;
    const std::string pid = After(detail, "manager pid ");
    ASSERT_FALSE(pid.empty()) << detail;
    EXPECT_FALSE(Exists("/proc/" + pid)) << "manager " << pid << " still runs";
  } else {
    const std::string bundle = After(detail, "(bundle ");
    const std::string id = After(detail, "container ");
    ASSERT_FALSE(bundle.empty()) << detail;
    ASSERT_FALSE(id.empty()) << detail;
    EXPECT_FALSE(Exists(bundle)) << bundle;
    auto list = framework::RunCommand({"runc", "list", "-q"});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->out.find(id), std::string::npos) << list->out;
  }
}

TEST_P(PlatformTargetsTest, LostWritesAndATooTightBoundFailOnThePlatform) {
  // kvd acknowledging from a buffer: the platform's restart after SIGKILL loses those writes.
  auto lossy = RunDuende(Scenario() +
                         " --set 'target.kvd.command=[\"duende-fixture-kvd\", \"--port\", "
                         "\"{port.kvd}\", \"--data-dir\", \"{run_dir}/kvd\", \"--durable\", "
                         "\"false\"]'");
  EXPECT_EQ(lossy.exit_code, 1) << lossy.output;
  EXPECT_EQ(Verdict(lossy, "no_lost_writes"), "FAIL") << lossy.output;
  // No platform restarts kvd within 1 ms of a SIGKILL.
  auto tight = RunDuende(Scenario() + " --set check.restart_within.within=1ms");
  EXPECT_EQ(tight.exit_code, 1) << tight.output;
  EXPECT_EQ(Verdict(tight, "restart_within"), "FAIL") << tight.output;
  EXPECT_EQ(Verdict(tight, "no_lost_writes"), "PASS") << tight.output;
}

// Faults act on the daemon inside the platform: libfiu through the unit's environment on
// systemd and through the container's environment on oci, its shims and FIFOs bound into the
// container (every write(2) of kvd fails with ENOSPC: kvd answers ERR); SIGSTOP of the daemon
// under the container's tini on oci (pausing tini instead would leave kvd answering: no fault
// would take effect); libfaketime's clock step inside the container.
TEST_P(PlatformTargetsTest, FaultsActOnTheDaemonInsideThePlatform) {
  std::vector<std::string> scenarios = {"enospc-wal"};
  if (GetParam() == "oci") scenarios.insert(scenarios.end(), {"sigstop-pause", "clock-step"});
  for (const std::string& scenario : scenarios) {
    SCOPED_TRACE(scenario);
    auto r = RunDuende(std::string(DUENDE_SOURCE_DIR) + "/scenarios/" + scenario +
                       ".toml --set 'target.kvd.platform=\"" + GetParam() + "\"'");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(Verdict(r, "faults-took-effect"), "PASS") << r.output;
    EXPECT_NE(PlatformDetail(r).find("platform " + GetParam()), std::string::npos) << r.output;
    if (scenario == "clock-step") continue;  // kvd keeps answering on time: no failures
    // The load saw the fault: write errors (ENOSPC answered as ERR) or timeouts (kvd frozen).
    int64_t failed = 0;
    for (const auto& e : r.events) {
      if (e.type == "load.summary") {
        failed += e.data.value("errors", int64_t{0}) + e.data.value("timeouts", int64_t{0});
      }
    }
    EXPECT_GT(failed, 0) << r.output;
  }
}

// oom and cpu quota act on the daemon inside the platform: it is moved into a group of duende's
// with the limit, the kernel OOM-kills it (seen in that group's own counters) and the platform
// restarts it; under the quota it is throttled.
TEST_P(PlatformTargetsTest, OomCpuQuotaAndPidsActOnThePlatformsCgroup) {
  auto r = RunDuende(std::string(DUENDE_SOURCE_DIR) + "/scenarios/oom-kill.toml --set " +
                     "'target.leaky.platform=\"" + GetParam() + "\"'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Verdict(r, "faults-took-effect"), "PASS") << r.output;
  EXPECT_EQ(Verdict(r, "restart_within"), "PASS") << r.output;
  std::string evidence;
  for (const auto& e : r.events) {
    if (e.type == "fault.healed") evidence += e.data.dump();
  }
  EXPECT_NE(evidence.find("kernel OOM kill in "), std::string::npos) << evidence;
  // A CPU quota of 5% on kvd under load: replies slow down while it holds.
  auto q = RunDuende(std::string(DUENDE_SOURCE_DIR) + "/scenarios/" + "cpu-quota.toml --set " +
                     "'target.kvd.platform=\"" + GetParam() + "\"'");
  EXPECT_EQ(q.exit_code, 0) << q.output;
  EXPECT_EQ(Verdict(q, "faults-took-effect"), "PASS") << q.output;
  // A pids limit at the daemon's task count: its next fork is refused by the kernel, it exits
  // and the platform restarts it.
  auto p = RunDuende(std::string(DUENDE_SOURCE_DIR) + "/scenarios/pids-limit.toml --set " +
                     "'target.forker.platform=\"" + GetParam() + "\"'");
  EXPECT_EQ(p.exit_code, 0) << p.output;
  EXPECT_EQ(Verdict(p, "faults-took-effect"), "PASS") << p.output;
  std::string pids_evidence;
  for (const auto& e : p.events) {
    if (e.type == "fault.healed") pids_evidence += e.data.dump();
  }
  EXPECT_NE(pids_evidence.find("refused by pids.max"), std::string::npos) << pids_evidence;
}

// backoff_policy measures the platform's own restarts: on oci duende's supervisor restarts runc
// with the configured capped exponential backoff (PASS); systemd before 254 restarts at a
// constant RestartSec= (no RestartSteps=), so the delays do not grow and the check says so.
TEST_P(PlatformTargetsTest, BackoffPolicyMeasuresThePlatformsRestarts) {
  // Multiplier 4: the second delay (160 ms, 80 ms at the least with equal jitter) already
  // tells a growing backoff from a constant 40 ms, however few restarts a loaded machine sees.
  auto r = RunDuende(std::string(DUENDE_SOURCE_DIR) + "/scenarios/crash-loop-backoff.toml --set " +
                     "'target.crasher.platform=\"" + GetParam() + "\"' --set " +
                     "target.crasher.restart.backoff.multiplier=4.0");
  EXPECT_NE(PlatformDetail(r).find("platform " + GetParam()), std::string::npos) << r.output;
  if (GetParam() == "systemd" && adapters::LocalSystemdVersion() < 254) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(Verdict(r, "backoff_policy"), "FAIL") << r.output;
    EXPECT_NE(r.output.find("(outside the policy)"), std::string::npos) << r.output;
  } else {
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(Verdict(r, "backoff_policy"), "PASS") << r.output;
    EXPECT_EQ(Verdict(r, "gives_up"), "PASS") << r.output;
  }
}

// `duende supervise` with `platform = P` and the service table `service` (its command and
// readiness): the platform runs the service and restarts it after a SIGKILL; `duende ctl`
// shows it; SIGTERM removes it with nothing left.
void ExpectSupervisedAndRestarted(const std::string& platform, const std::string& dir,
                                  const std::string& service) {
  std::ofstream(dir + "/s.toml") << "[supervisor]\ncontrol_socket = \"" << dir
                                 << "/ctl.sock\"\n[[service]]\nname = \"kvd\"\nplatform = \""
                                 << platform << "\"\nworking_dir = \"" << dir << "\"\n"
                                 << service << "[service.restart]\npolicy = \"always\"\n";
  framework::SpawnOptions so;
  so.argv = {kDuende, "supervise", "--quiet", dir + "/s.toml"};
  auto sup = framework::Spawn(so);
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  // The service as `duende ctl status --json` shows it (null when not there yet).
  auto status = [&] { return duende::testing::FirstServiceStatus(kDuende, dir + "/ctl.sock"); };
  // A microVM boots in seconds under TCG: up to 40 s for each state.
  auto wait_for = [&](const std::function<bool(const nlohmann::json&)>& pred) {
    for (int i = 0; i < 1600; ++i) {
      auto s = status();
      if (!s.is_null() && pred(s)) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return nlohmann::json();
  };
  auto first = wait_for([](const auto& s) { return s["state"] == "running" && s["pid"] > 0; });
  ASSERT_FALSE(first.is_null()) << "the service did not run";
  EXPECT_EQ(first["platform"], platform);
  const pid_t pid1 = first["pid"].get<pid_t>();
  ASSERT_EQ(::kill(pid1, SIGKILL), 0);
  auto second = wait_for([&](const auto& s) {
    return s["restarts"].template get<int>() >= 1 && s["pid"] > 0 && s["pid"] != pid1 &&
           s["state"] == "running";
  });
  ASSERT_FALSE(second.is_null()) << "the platform did not restart it";
  const pid_t pid2 = second["pid"].get<pid_t>();
  ASSERT_EQ(::kill(sup->pid, SIGTERM), 0);
  auto exit = framework::WaitExit(sup->pidfd.get());
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success()) << exit->ToString();
  EXPECT_FALSE(Exists("/proc/" + std::to_string(pid2))) << "the service outlived supervise";
  if (platform == "oci") {
    auto list = framework::RunCommand({"runc", "list", "-q"});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->out.find("duende-kvd\n"), std::string::npos) << list->out;
  }
}

TEST_P(PlatformTargetsTest, SuperviseRunsAServiceOnThePlatform) {
  char tmpl[] = "/tmp/duende-platform-supervise-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string kvd = std::string(DUENDE_BINARY_DIR) + "/fixtures/duende-fixture-kvd";
  ExpectSupervisedAndRestarted(GetParam(), dir,
                               "command = [\"" + kvd + "\", \"--port\", \"0\", \"--data-dir\", \"" +
                                   dir + "\"]\n[service.health.readiness]\nkind = \"notify\"\n");
  std::filesystem::remove_all(dir);
}

// A run killed with SIGKILL cannot remove what it gave the platform: systemd's private manager
// gets SIGTERM from the kernel (parent death signal) and stops its units; runc dies with the run
// but its container does not, and the next heal (`duende doctor`, or any run) deletes it.
TEST_P(PlatformTargetsTest, AKilledRunLeavesNothingAfterTheNextHeal) {
  framework::SpawnOptions so;
  so.argv = {kDuende, "run", "--quiet", Scenario()};
  so.env_overrides = {"DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures"};
  so.stdout_fd = so.stderr_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  auto run = framework::Spawn(so);
  ::close(so.stdout_fd);
  ASSERT_TRUE(run.ok()) << run.error().Message();
  // Its daemon: a kvd whose ancestors include the run (systemd's are the manager's children).
  const std::string prefix = "duende-" + std::to_string(run->pid) + "-";
  auto daemon = [&]() -> pid_t {
    if (GetParam() == "oci") {
      // The container's process, from runc's own state of the run's container (any other
      // duende-fixture on the machine is not this run's).
      auto list = framework::RunCommand({"runc", "list", "-q"});
      if (!list.ok()) return 0;
      std::istringstream ids(list->out);
      for (std::string id; std::getline(ids, id);) {
        if (id.rfind(prefix, 0) != 0) continue;
        auto state = framework::RunCommand({"runc", "state", id});
        if (!state.ok()) continue;
        auto j = nlohmann::json::parse(state->out, nullptr, false);
        if (!j.is_discarded() && j.contains("pid") && j["pid"].is_number_integer() &&
            j["pid"].get<int>() > 0) {
          return static_cast<pid_t>(j["pid"].get<int>());
        }
      }
      return 0;
    }
    for (const auto& p : framework::ListProcesses()) {
      if (p.comm.rfind("duende-fixture", 0) != 0) continue;
      for (pid_t up = p.ppid; up > 1;) {
        if (up == run->pid) return p.pid;
        auto info = framework::ReadProcessInfo(up);
        up = info.ok() ? info->ppid : 0;
      }
    }
    return 0;
  };
  pid_t kvd = 0;
  for (int i = 0; i < 200 && kvd == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    kvd = daemon();
  }
  ASSERT_GT(kvd, 0) << "the run's daemon did not start";
  ASSERT_EQ(::kill(run->pid, SIGKILL), 0);
  (void)framework::WaitExit(run->pidfd.get());
  auto heal = duende::testing::RunCli(kDuende + " doctor");
  EXPECT_EQ(heal.code, 0) << heal.out;
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    auto info = framework::ReadProcessInfo(kvd);
    gone = !info.ok() || info->state == 'Z';
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gone) << "kvd " << kvd << " outlived the killed run and the heal\n" << heal.out;
  if (GetParam() == "oci") {
    auto list = framework::RunCommand({"runc", "list", "-q"});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->out.find(prefix), std::string::npos) << list->out << heal.out;
  }
}

// A services file naming a platform without an adapter here is bad input: exit 2 with the
// position of the key, before anything starts.
TEST(PlatformSuperviseTest, APlatformWithoutAnAdapterIsRefusedAtItsKey) {
  char tmpl[] = "/tmp/duende-platform-bad-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string file = std::string(tmpl) + "/s.toml";
  std::ofstream(file) << "[[service]]\nname = \"a\"\nplatform = \"docker\"\n"
                         "command = [\"/bin/true\"]\n";
  auto o = duende::testing::RunCli(kDuende + " supervise --quiet " + file);
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_NE(o.out.find(file + ":3:12: platform \"docker\" is render-only"), std::string::npos)
      << o.out;
  std::filesystem::remove_all(tmpl);
}

// A wasi service needs a loopback address for the bridge: without one it is bad input at the
// platform key (exit 2), not an environment failure once supervise is up.
TEST(PlatformSuperviseTest, AWasiServiceWithoutAnAddressIsRefusedAtItsKey) {
  char tmpl[] = "/tmp/duende-platform-bad-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string file = std::string(tmpl) + "/s.toml";
  std::ofstream(file) << "[[service]]\nname = \"a\"\nplatform = \"wasi\"\n"
                         "command = [\"/bin/true\"]\n";
  auto o = duende::testing::RunCli(kDuende + " supervise --quiet " + file);
  EXPECT_EQ(o.code, 2) << o.out;
  EXPECT_NE(o.out.find(file + ":3:12: the wasi platform bridges a TCP address"), std::string::npos)
      << o.out;
  std::filesystem::remove_all(tmpl);
}

// The platforms with a runtime of their own: kvd.wasm under node:wasi behind duende's bridge,
// and kvd in a qemu microVM (a fresh boot per restart, the data disk kept). SIGKILL under write
// load loses no acknowledged write, the platform's restart is measured, nothing is left.
std::string RuntimeSkipReason(const std::string& platform) {
  if (::geteuid() != 0) return platform + " targets need root here";
  if (platform == "wasi") {
    if (!framework::FindExecutable("node").ok()) return "node is not installed (nodejs)";
    if (!Exists(std::string(DUENDE_KVD_WASM))) return "kvd.wasm was not built (wasm toolchain)";
  }
  if (platform == "microvm") {
    if (!framework::FindExecutable("qemu-system-x86_64").ok()) {
      return "qemu is not installed (qemu-system-x86)";
    }
    bool kernel = false;
    for (const auto& e : std::filesystem::directory_iterator("/boot")) {
      kernel = kernel || e.path().filename().string().rfind("vmlinuz-", 0) == 0;
    }
    if (!kernel) return "no kernel in /boot (linux-image-amd64)";
  }
  return "";
}

class RuntimePlatformTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = RuntimeSkipReason(GetParam()); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_P(RuntimePlatformTest, ShippedScenarioPassesAndLeavesNothing) {
  auto r = RunDuende(kPlatforms + "/kill-under-load-" + GetParam() + ".toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Verdict(r, "no_lost_writes"), "PASS") << r.output;
  EXPECT_EQ(Verdict(r, "restart_within"), "PASS") << r.output;
  EXPECT_EQ(Verdict(r, "faults-took-effect"), "PASS") << r.output;
  EXPECT_NE(PlatformDetail(r).find("platform " + GetParam()), std::string::npos) << r.output;
  // Started by the platform's adapter and restarted after every kill.
  EXPECT_GE(Spawns(r), 2) << r.output;
  // Nothing of the runtime survives the run: no node, no qemu started for it.
  const std::string runtime = GetParam() == "wasi" ? "node" : "qemu-system-x86_64";
  for (const auto& e : r.events) {
    if (e.type != "target.spawned") continue;
    const int64_t pid = e.data.value("pid", int64_t{0});
    if (pid <= 0) continue;
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    std::getline(comm, name);
    EXPECT_NE(name, runtime.substr(0, 15)) << "pid " << pid << " still runs";
  }
}

// `duende supervise` runs kvd.wasm under node (behind the bridge on the readiness probe's
// address) and kvd in its microVM, and restarts either after its host process is SIGKILLed.
TEST_P(RuntimePlatformTest, SuperviseRunsAServiceOnThePlatform) {
  char tmpl[] = "/tmp/duende-runtime-supervise-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const int port = duende::testing::FreePort();
  ASSERT_GT(port, 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  const std::string readiness = "[service.health.readiness]\nkind = \"tcp\"\naddress = \"" +
                                address + "\"\ngrace_period = \"60s\"\n";
  if (GetParam() == "wasi") {
    ExpectSupervisedAndRestarted("wasi", dir,
                                 "command = [\"" + std::string(DUENDE_KVD_WASM) +
                                     "\", \"--data-dir\", \"" + dir + "\"]\n" + readiness);
  } else {
    const std::string kvd = std::string(DUENDE_BINARY_DIR) + "/fixtures/duende-fixture-kvd";
    ExpectSupervisedAndRestarted("microvm", dir,
                                 "command = [\"" + kvd + "\", \"--port\", \"" +
                                     std::to_string(port) + "\", \"--data-dir\", \"/data/kvd\"]\n" +
                                     readiness);
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Runtimes, RuntimePlatformTest, ::testing::Values("wasi", "microvm"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// Power loss, which only a platform with power can give: kvd --sync none acknowledges writes
// that are only in the guest's page cache, and the power cut takes them (FAIL); kvd with fsync
// keeps every one (PASS). A process kill could not tell these two apart.
TEST(PowerLossTest, PlantedKvdLosesAcknowledgedWritesAndTheHealthyOneKeepsThem) {
  if (std::string why = RuntimeSkipReason("microvm"); !why.empty()) GTEST_SKIP() << why;
  const std::string dir = std::string(DUENDE_SOURCE_DIR) + "/scenarios/self-test/";
  auto planted = RunDuende(dir + "power-loss-planted.toml");
  EXPECT_EQ(planted.exit_code, 1) << planted.output;
  EXPECT_EQ(Verdict(planted, "no_lost_writes"), "FAIL") << planted.output;
  EXPECT_EQ(Verdict(planted, "faults-took-effect"), "PASS") << planted.output;
  auto healthy = RunDuende(dir + "power-loss-healthy.toml");
  EXPECT_EQ(healthy.exit_code, 0) << healthy.output;
  EXPECT_EQ(Verdict(healthy, "no_lost_writes"), "PASS") << healthy.output;
}

INSTANTIATE_TEST_SUITE_P(Platforms, PlatformTargetsTest, ::testing::Values("systemd", "oci"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace duende::harness
