// kind = "daemon" probes on platforms other than native: a framework daemon's HealthCheck()
// drives its restart under systemd (as WatchdogSec=: the framework withholds WATCHDOG=1 while
// unhealthy) and under runc (the health channel passed into the container as fd 3 with
// --preserve-fds). Real processes: `duende supervise` runs duende-fixture-healthflip on the
// platform; healthy it stays up with the same pid, unhealthy (a flag file) it is restarted,
// healed it stays up again; `duende run` does the same with it as a scenario target. Platforms that
// cannot carry the channel (microvm, wasi) refuse such a probe as bad input with file:line:col, for
// scenarios and services files alike.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "duende/adapters/systemd_unit.h"
#include "duende/framework/command.h"
#include "duende/framework/process.h"
#include "duende/model/event_log.h"
#include "support/cli.h"
#include "support/platform_skip.h"
#include "support/temp_dir.h"

namespace duende::harness {
namespace {

using std::chrono::milliseconds;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kHealthFlip =
    std::string(DUENDE_BINARY_DIR) + "/fixtures/duende-fixture-healthflip";

// The daemon liveness probe of the tests: three failures 300 ms apart (systemd: WatchdogSec=900ms).
constexpr const char* kLiveness =
    "[service.health.liveness]\nkind = \"daemon\"\ninterval = \"300ms\"\ntimeout = \"500ms\"\n"
    "failure_threshold = 3\n";

class PlatformDaemonHealthTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (std::string why = duende::testing::PlatformSkipReason(GetParam()); !why.empty())
      GTEST_SKIP() << why;
  }
};

TEST_P(PlatformDaemonHealthTest, UnhealthyDaemonIsRestartedAndAHealthyOneIsNot) {
  const std::string platform = GetParam();
  duende::testing::TempDir tmp("platform-daemon-health");
  const std::string dir = tmp.path();
  std::ofstream(dir + "/flip.toml") << "[app]\nunhealthy_file = \"" << dir << "/sick\"\n";
  std::ofstream(dir + "/s.toml") << "[supervisor]\ncontrol_socket = \"" << dir
                                 << "/ctl.sock\"\n[[service]]\nname = \"flip\"\nplatform = \""
                                 << platform << "\"\nworking_dir = \"" << dir << "\"\ncommand = [\""
                                 << kHealthFlip << "\", \"--config\", \"" << dir
                                 << "/flip.toml\"]\n[service.restart]\npolicy = "
                                 << "\"always\"\nstart_limit_burst = 50\n"
                                 << kLiveness;
  framework::SpawnOptions so;
  so.argv = {kDuende, "supervise", dir + "/s.toml"};
  so.stdout_fd = so.stderr_fd =
      ::open((dir + "/supervise.log").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(so.stdout_fd, 0);
  auto sup = framework::Spawn(so);
  ::close(so.stdout_fd);
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  // A failed assertion returns early: supervise is stopped all the same (it stops the unit or
  // the container, and systemd's private manager with it).
  struct StopOnReturn {
    framework::Child* child;
    bool stopped = false;
    ~StopOnReturn() {
      if (stopped) return;
      ::kill(child->pid, SIGTERM);
      (void)framework::WaitExit(child->pidfd.get());
    }
  } stop_on_return{&*sup};
  auto log = [&] {
    std::ifstream in(dir + "/supervise.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto status = [&] { return duende::testing::FirstServiceStatus(kDuende, dir + "/ctl.sock"); };
  auto wait_for = [&](const std::function<bool(const nlohmann::json&)>& pred) {
    for (int i = 0; i < 800; ++i) {  // 20 s
      auto s = status();
      if (!s.is_null() && pred(s)) return s;
      std::this_thread::sleep_for(milliseconds(25));
    }
    return nlohmann::json();
  };
  auto running = [](const nlohmann::json& s) { return s["state"] == "running" && s["pid"] > 0; };

  // Healthy: a dozen probe periods answered without a restart (on oci that needs the channel
  // to reach the daemon in its container; on systemd the daemon's WATCHDOG=1 to arrive).
  auto first = wait_for(running);
  ASSERT_FALSE(first.is_null()) << "the service did not run\n" << log();
  std::this_thread::sleep_for(milliseconds(3000));
  auto still = status();
  ASSERT_FALSE(still.is_null()) << log();
  EXPECT_EQ(still["pid"], first["pid"]) << log();
  EXPECT_EQ(still["restarts"], first["restarts"]) << log();

  // Unhealthy: restarted by the platform under the probe's policy.
  std::ofstream(dir + "/sick") << "disk on fire\n";
  const int restarts = first["restarts"].get<int>();
  auto again = wait_for([&](const nlohmann::json& s) {
    return s["restarts"].get<int>() > restarts && s["pid"] != first["pid"];
  });
  ASSERT_FALSE(again.is_null()) << "not restarted while unhealthy\n" << log();
  EXPECT_NE(::kill(first["pid"].get<pid_t>(), 0), 0) << "the unhealthy daemon still runs";

  // Healed: up again, and it stays up.
  ::unlink((dir + "/sick").c_str());
  std::this_thread::sleep_for(milliseconds(1500));  // a restart already under way completes
  auto healed = wait_for(running);
  ASSERT_FALSE(healed.is_null()) << log();
  std::this_thread::sleep_for(milliseconds(3000));
  auto later = status();
  ASSERT_FALSE(later.is_null()) << log();
  EXPECT_EQ(later["pid"], healed["pid"]) << log();
  EXPECT_EQ(later["restarts"], healed["restarts"]) << log();

  stop_on_return.stopped = true;
  ASSERT_EQ(::kill(sup->pid, SIGTERM), 0);
  auto exit = framework::WaitExit(sup->pidfd.get());
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n" << log();
  EXPECT_NE(::kill(later["pid"].get<pid_t>(), 0), 0) << "the service outlived supervise";
  // How the verdict travelled: the supervisor's probe read the daemon's report through the
  // container (oci); systemd's watchdog killed the daemon that stopped pinging it.
  const std::string text = log();
  if (platform == "oci") {
    EXPECT_NE(text.find("liveness probe failed 3 times in a row: daemon health: unhealthy "
                        "(flag: unhealthy: disk on fire)"),
              std::string::npos)
        << text;
  } else {
    EXPECT_NE(text.find("killed by signal 6 (SIGABRT)"), std::string::npos) << text;
  }
}

// The same through `duende run`: a scenario target on the platform with a daemon liveness
// probe runs 3 s with one spawn while healthy, and is restarted again and again when it is
// unhealthy from the start (ready by notify, then failing its liveness).
TEST_P(PlatformDaemonHealthTest, ScenarioTargetIsRestartedOnlyWhileUnhealthy) {
  duende::testing::TempDir tmp("platform-daemon-health");
  const std::string dir = tmp.path();
  std::ofstream(dir + "/flip.toml") << "[app]\nunhealthy_file = \"" << dir << "/sick\"\n";
  std::ofstream(dir + "/s.toml") << "[scenario]\nname = \"flip\"\nduration = \"3s\"\n"
                                 << "[[target]]\nname = \"flip\"\nplatform = \"" << GetParam()
                                 << "\"\nworking_dir = \"" << dir << "\"\ncommand = [\""
                                 << kHealthFlip << "\", \"--config\", \"" << dir
                                 << "/flip.toml\"]\n[target.readiness]\nkind = \"notify\"\n"
                                 << "[target.liveness]\nkind = \"daemon\"\ninterval = "
                                 << "\"200ms\"\nfailure_threshold = 3\n";
  // target.spawned events of `duende run`, and the run's exit code.
  auto run = [&](const std::string& name, int* spawns) {
    const std::string events = dir + "/" + name + ".jsonl";
    auto o =
        duende::testing::RunCli(kDuende + " run --quiet " + dir + "/s.toml --events " + events);
    auto ev = model::ReadEventLog(events);
    *spawns = 0;
    for (const auto& e : ev.ok() ? *ev : std::vector<model::Event>{}) {
      *spawns += e.type == "target.spawned" ? 1 : 0;
    }
    return o;
  };
  int spawns = 0;
  auto healthy = run("healthy", &spawns);
  EXPECT_EQ(healthy.code, 0) << healthy.out;
  EXPECT_EQ(spawns, 1) << healthy.out;
  std::ofstream(dir + "/sick") << "disk on fire\n";
  auto sick = run("sick", &spawns);
  EXPECT_EQ(sick.code, 0) << sick.out;  // no check fails: the restarts are what is measured
  EXPECT_GE(spawns, 2) << sick.out;
}

INSTANTIATE_TEST_SUITE_P(Platforms, PlatformDaemonHealthTest, ::testing::Values("systemd", "oci"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// The unit systemd gets: WatchdogSec= of failure_threshold x interval, Type=notify for a
// readiness probe of the daemon; a shorter watchdog of the config's own wins.
TEST(DaemonProbeOnSystemdTest, LivenessBecomesTheWatchdogAndReadinessNotify) {
  framework::DaemonConfig c;
  c.name = "flip";
  c.command = {"/usr/bin/flip"};
  c.health.liveness.kind = framework::ProbeConfig::Kind::kDaemon;
  c.health.liveness.interval = milliseconds(300);
  c.health.liveness.failure_threshold = 3;
  c.health.readiness.kind = framework::ProbeConfig::Kind::kDaemon;
  auto unit = adapters::RenderSystemdUnit(c);
  ASSERT_TRUE(unit.ok()) << unit.error().Message();
  EXPECT_NE(unit->find("\nWatchdogSec=900ms\n"), std::string::npos) << *unit;
  EXPECT_NE(unit->find("\nType=notify\n"), std::string::npos) << *unit;
  c.health.watchdog = milliseconds(400);
  unit = adapters::RenderSystemdUnit(c);
  ASSERT_TRUE(unit.ok());
  EXPECT_NE(unit->find("\nWatchdogSec=400ms\n"), std::string::npos) << *unit;
  // Without a daemon probe nothing changes.
  c.health.liveness.kind = framework::ProbeConfig::Kind::kTcp;
  c.health.liveness.address = "127.0.0.1:1";
  c.health.watchdog = milliseconds(0);
  unit = adapters::RenderSystemdUnit(c);
  ASSERT_TRUE(unit.ok());
  EXPECT_EQ(unit->find("WatchdogSec="), std::string::npos) << *unit;
}

// microvm and wasi cannot carry the health channel: a daemon probe there is bad input (exit 2)
// at the probe's kind (scenarios) or the service's platform key (services files).
TEST(DaemonProbeRefusedTest, MicrovmAndWasiRefuseADaemonProbeWithItsPosition) {
  duende::testing::TempDir tmp("daemon-probe-refused");
  const std::string dir = tmp.path();
  for (const std::string platform : {"microvm", "wasi"}) {
    SCOPED_TRACE(platform);
    const std::string scenario = dir + "/" + platform + ".toml";
    std::ofstream(scenario) << "[scenario]\nname = \"p\"\nduration = \"2s\"\n"
                               "[[target]]\nname = \"flip\"\nplatform = \""
                            << platform
                            << "\"\ncommand = [\"duende-fixture-kvd\", \"--port\", "
                               "\"{port.flip}\"]\naddress = \"127.0.0.1:{port.flip}\"\n"
                               "[target.liveness]\nkind = \"daemon\"\n";
    auto v = duende::testing::RunCli(kDuende + " validate " + scenario);
    EXPECT_EQ(v.code, 2) << v.out;
    EXPECT_NE(v.out.find(scenario +
                         ":10:8: target flip: a kind = \"daemon\" liveness probe "
                         "cannot reach the daemon on platform " +
                         platform),
              std::string::npos)
        << v.out;
    EXPECT_NE(v.out.find("use a tcp or http probe there, or run it on native, systemd or oci"),
              std::string::npos)
        << v.out;

    const std::string services = dir + "/" + platform + "-services.toml";
    std::ofstream(services) << "[[service]]\nname = \"a\"\nplatform = \"" << platform
                            << "\"\ncommand = [\"/bin/true\"]\n[service.health.readiness]\n"
                               "kind = \"daemon\"\n";
    auto s = duende::testing::RunCli(kDuende + " supervise --quiet " + services);
    EXPECT_EQ(s.code, 2) << s.out;
    EXPECT_NE(s.out.find(services +
                         ":3:12: a kind = \"daemon\" readiness probe cannot reach the "
                         "daemon on platform " +
                         platform),
              std::string::npos)
        << s.out;
  }
}

}  // namespace
}  // namespace duende::harness
