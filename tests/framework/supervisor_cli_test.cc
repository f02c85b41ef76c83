// `duende supervise` and `duende ctl` end to end: real processes, a real control socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "support/cli.h"

namespace duende::framework {
namespace {

using duende::testing::RunArgv;
using Output = duende::testing::CommandOutput;

class SuperviseCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/duende-supervise-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (sup_.pidfd) {
      ::kill(sup_.pid, SIGKILL);
      (void)WaitExit(sup_.pidfd.get());
    }
    for (const char* f : {"services.toml", "bad.toml", "ctl.sock", "logs/a.log", "logs/b.log"}) {
      ::unlink((dir_ + "/" + f).c_str());
    }
    ::rmdir((dir_ + "/logs").c_str());
    ::rmdir(dir_.c_str());
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  Output Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {DUENDE_PATH, "ctl", "--socket", dir_ + "/ctl.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunArgv(argv);
  }
  nlohmann::json StatusJson() {
    Output o = Ctl({"status", "--json"});
    EXPECT_EQ(o.code, 0) << o.err;
    return nlohmann::json::parse(o.out, nullptr, false);
  }
  // Waits until `pred(status json)` holds (the supervisor runs in another process).
  bool WaitStatus(const std::function<bool(const nlohmann::json&)>& pred) {
    for (int i = 0; i < 200; ++i) {
      if (::access((dir_ + "/ctl.sock").c_str(), F_OK) == 0) {
        auto j = StatusJson();
        if (!j.is_discarded() && pred(j)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  std::string dir_;
  Child sup_;
};

TEST_F(SuperviseCliTest, BadServicesFileExitsTwoWithPositions) {
  Write("bad.toml",
        "[supervisor]\ncontrol_sockt = \"x\"\n\n[[service]]\nname = \"a\"\n"
        "command = [\"true\"]\n[service.restart]\npolicy = \"sometimes\"\n");
  Output o = RunArgv({DUENDE_PATH, "supervise", dir_ + "/bad.toml"});
  EXPECT_EQ(o.code, 2);
  const std::string f = dir_ + "/bad.toml";
  EXPECT_NE(o.err.find(f + ":2:1: unknown key 'control_sockt' in [supervisor]; did you mean "
                           "'control_socket'?"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find(f + ":8:10: 'policy'"), std::string::npos) << o.err;
  EXPECT_EQ(RunArgv({DUENDE_PATH, "supervise", dir_ + "/missing.toml"}).code, 2);
}

TEST_F(SuperviseCliTest, CtlControlsARunningSupervisorAndSigtermStopsAll) {
  Write("services.toml", std::string("[supervisor]\ncontrol_socket = \"ctl.sock\"\n") +
                             "log_dir = \"logs\"\n\n[[service]]\nname = \"a\"\ncommand = [\"" +
                             STAMP_PATH + "\", \"--print\", \"hello\"]\n\n[[service]]\n" +
                             "name = \"b\"\ncommand = [\"" + STAMP_PATH + "\", \"--notify\"]\n" +
                             "[service.health.readiness]\nkind = \"notify\"\n");
  SpawnOptions o;
  o.argv = {DUENDE_PATH, "supervise", "--quiet", dir_ + "/services.toml"};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  sup_ = std::move(*child);
  auto all_running = [](const nlohmann::json& j) {
    for (const auto& s : j["services"]) {
      if (s["state"] != "running") return false;
    }
    return j["services"].size() == 2;
  };
  ASSERT_TRUE(WaitStatus(all_running));
  auto j = StatusJson();
  const int pid_a = j["services"][0]["pid"];
  const int pid_b = j["services"][1]["pid"];
  EXPECT_EQ(::getpgid(pid_a), pid_a);  // own process group

  Output table = Ctl({"status"});
  EXPECT_EQ(table.code, 0);
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("running"), std::string::npos);

  Output stop = Ctl({"stop", "a"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  ASSERT_TRUE(
      WaitStatus([](const nlohmann::json& s) { return s["services"][0]["state"] == "stopped"; }));
  EXPECT_EQ(::kill(pid_a, 0), -1);
  EXPECT_EQ(Ctl({"start", "a"}).code, 0);
  ASSERT_TRUE(WaitStatus(all_running));
  EXPECT_EQ(Ctl({"restart", "b"}).code, 0);
  ASSERT_TRUE(WaitStatus(
      [&](const nlohmann::json& s) { return all_running(s) && s["services"][1]["pid"] != pid_b; }));
  Output unknown = Ctl({"stop", "nosuch"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err, "duende: error: no service named 'nosuch'\n");

  // The child's output went to its log file.
  std::ifstream log(dir_ + "/logs/a.log");
  std::string first;
  std::getline(log, first);
  EXPECT_EQ(first, "hello");

  auto last = StatusJson();
  ASSERT_EQ(::kill(sup_.pid, SIGTERM), 0);
  auto st = WaitExit(sup_.pidfd.get());
  sup_.pidfd.Reset();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->signaled);
  EXPECT_EQ(st->code, 0);
  for (const auto& s : last["services"]) EXPECT_EQ(::kill(s["pid"].get<int>(), 0), -1);
  EXPECT_NE(::access((dir_ + "/ctl.sock").c_str(), F_OK), 0);  // socket removed
  EXPECT_EQ(Ctl({"status"}).code, 3);                          // nobody listening
}

}  // namespace
}  // namespace duende::framework
