// [service.sandbox] through the supervisor and `duende supervise`: a sandboxed service's
// refusals land in its log, and a bad table stops the CLI with exit 2 and positions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "duende/framework/config.h"
#include "duende/framework/supervisor.h"
#include "support/cli.h"
#include "support/temp_dir.h"

namespace duende::framework {
namespace {

TEST(SandboxSuperviseTest, SupervisedServiceRunsConfinedAsConfigured) {
  testing::TempDir dir("sandbox-supervise");
  // Writable for nobody (the service's user) but for the read-only mount: EROFS, not EACCES.
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
  ASSERT_EQ(::mkdir((dir / "ro").c_str(), 0777), 0);
  ASSERT_EQ(::chmod((dir / "ro").c_str(), 0777), 0);
  ASSERT_EQ(::mkdir((dir / "logs").c_str(), 0700), 0);
  // Read through the daemon-config reader, as `duende supervise` reads each [[service]].
  auto c = ParseDaemonConfig(
      "name = \"probe\"\ncommand = [\"" SANDBOX_PROBE_PATH "\", \"write\", \"" + dir.path() +
          "/ro/f\", \"connect\", \"198.18.0.1:9\", "
          "\"syscall\", \"uname\", \"raise\", \"21\"]\n"
          "[restart]\npolicy = \"never\"\n"
          "[sandbox]\nno_new_privileges = true\n"
          "capabilities = []\nread_only_paths = [\"" +
          dir.path() + "/ro\"]\nnetwork = \"none\"\nuser = \"nobody\"\n" +
          "[sandbox.seccomp]\ndeny = [\"uname\"]\nerrno = \"EACCES\"\n",
      "services.toml");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  SupervisorOptions o;
  o.log_dir = dir / "logs";
  auto sup = Supervisor::Create(o);
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  std::promise<ServiceEvent> exited;
  bool once = false;
  (*sup)->Subscribe([&](const ServiceEvent& e) {
    if ((e.type == EventType::kExited || e.type == EventType::kSpawnFailed) && !once) {
      once = true;
      exited.set_value(e);
    }
  });
  std::thread loop([&] { EXPECT_TRUE((*sup)->Run().ok()); });
  ASSERT_TRUE((*sup)->Add(*c, true).ok());
  auto fut = exited.get_future();
  ASSERT_EQ(fut.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  ServiceEvent e = fut.get();
  (*sup)->Shutdown();
  loop.join();
  EXPECT_EQ(e.type, EventType::kExited) << e.detail;
  std::ifstream log(dir / "logs/probe.log");
  std::stringstream text;
  text << log.rdbuf();
  const std::string out = text.str();
  EXPECT_NE(out.find("write " + dir.path() + "/ro/f: EROFS"), std::string::npos) << out;
  EXPECT_NE(out.find("connect 198.18.0.1:9: ENETUNREACH"), std::string::npos) << out;
  EXPECT_NE(out.find("syscall uname: EACCES"), std::string::npos) << out;
  EXPECT_NE(out.find("raise 21: EPERM"), std::string::npos) << out;
}

TEST(SandboxSuperviseTest, BadSandboxTableExitsTwoWithPositions) {
  testing::TempDir dir("sandbox-cli");
  const std::string file = dir.Write("bad.toml",
                                     "[[service]]\nname = \"a\"\ncommand = [\"true\"]\n"
                                     "[service.sandbox]\n"
                                     "capabilities = [\"CAP_NET_ADMN\"]\n"
                                     "read_only_paths = [\"/ussr\"]\n"
                                     "user = \"nobdy\"\n"
                                     "[service.sandbox.seccomp]\n"
                                     "deny = [\"ptrase\"]\n");
  auto r = testing::RunCli(std::string(DUENDE_PATH) + " supervise " + file);
  EXPECT_EQ(r.code, 2) << r.out;
  for (const std::string& want :
       {file + ":5:17: unknown capability 'CAP_NET_ADMN' in 'capabilities' of [sandbox]; did "
               "you mean 'CAP_NET_ADMIN'?",
        file + ":6:20: read-only path \"/ussr\" in [sandbox] does not exist",
        std::string("did you mean '/usr'?"),
        file + ":7:8: user 'nobdy' in [sandbox] does not exist on this host; did you mean "
               "'nobody'?",
        file + ":9:9: unknown system call 'ptrase' in 'deny' of [sandbox.seccomp]; did you "
               "mean 'ptrace'?"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  }
}

}  // namespace
}  // namespace duende::framework
