// `duende fault` from the command line: exit codes (0 took effect, 1 no effect, 2 bad input,
// 3 could not inject), messages that name the parameter and the fix, and `fault exec` + `fault
// inject syscall` end to end against kvd, with the shim's firing evidence in the output.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "support/cli.h"
#include "support/fault_child.h"

namespace duende::faults {
namespace {

using duende::testing::RunCli;

const std::string kDuende = DUENDE_PATH;

duende::testing::CliResult Fault(const std::string& args) {
  return RunCli(kDuende + " fault " + args);
}

// A process to aim at that is ours: `sleep`, killed and reaped on destruction.
struct Sleeper {
  std::unique_ptr<testing::TestChild> child;
  Sleeper() {
    framework::SpawnOptions o;
    o.argv = {"sleep", "30"};
    auto c = testing::StartChild(o);
    EXPECT_TRUE(c.ok());
    if (c.ok()) child = std::move(*c);
  }
  std::string Pid() const { return std::to_string(child->child.pid); }
};

TEST(FaultCliTest, ListShowsEveryKindWithItsParameters) {
  auto r = Fault("list");
  EXPECT_EQ(r.code, 0) << r.out;
  r.out = "\n" + r.out;
  for (const char* kind : {"kill", "pause", "crash", "oom", "memory", "cpu", "pids", "fds",
                           "syscall", "disk", "network", "clock"}) {
    EXPECT_NE(r.out.find(std::string("\n") + kind + " "), std::string::npos) << kind;
  }
  EXPECT_NE(r.out.find("nth"), std::string::npos) << r.out;
}

TEST(FaultCliTest, BadInputExitsTwoAndNamesTheFix) {
  Sleeper s;
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"inject kil --pid " + s.Pid(), "did you mean 'kill'"},
      {"inject syscall --pid " + s.Pid() + " --param point=posix/io/rw/writ",
       "--param:1:9: unknown libfiu point \"posix/io/rw/writ\"; did you mean "
       "\"posix/io/rw/write\""},
      {"inject syscall --pid " + s.Pid() + " --param point=posix/io/rw/write --param errno=EWHAT",
       "--param:2:9: unknown errno \"EWHAT\""},
      {"inject syscall --pid " + s.Pid() +
           " --param point=posix/io/rw/write --param nth=2 "
           "--param onetime=true",
       "cannot be combined"},
      {"inject kill --pid " + s.Pid() + " --for -5s",
       "--for is \"-5s\"; it must be a duration between 0s and 365 days"},
      {"inject kill --pid " + s.Pid() + " --for 9999999999s",
       "--for is \"9999999999s\"; it must be a duration between 0s and 365 days"},
      {"inject kill --pid " + s.Pid() + " --param wait=9999999999",
       "--param:1:8: 'wait' in the fault's parameters is 9999999999 (seconds); it must be a "
       "duration between 0s and 365 days"},
      {"inject kill --pid " + s.Pid() + " --param wait=inf",
       "--param:1:8: 'wait' in the fault's parameters is inf (seconds)"},
      {"inject kill --pid " + s.Pid() + " --param signal", "must be KEY=VALUE"},
      {"inject kill --pid 999999999", "no process with pid"},
      {"inject kill", "--pid is required"},
      {"injct kill", "unknown subcommand 'injct'; did you mean 'inject'?"},
  };
  for (const auto& c : cases) {
    auto r = Fault(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.args << "\n" << r.out;
  }
  // Nothing was done to the target.
  EXPECT_EQ(::kill(s.child->child.pid, 0), 0);
}

TEST(FaultCliTest, KillTookEffectExitsZeroAndTheProcessIsGone) {
  Sleeper s;
  auto r = Fault("inject kill --pid " + s.Pid() + " --param signal=SIGKILL");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("took effect"), std::string::npos) << r.out;
  auto st = s.child->Wait();
  EXPECT_TRUE(st.signaled && st.signal == SIGKILL) << st.ToString();
}

TEST(FaultCliTest, SyscallIntoATargetNotUnderLibfiuExitsThree) {
  Sleeper s;
  auto r = Fault("inject syscall --pid " + s.Pid() + " --param point=posix/io/rw/write");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("not started under libfiu"), std::string::npos) << r.out;
}

// `duende fault exec -- kvd` in the background, `duende fault inject syscall` against it.
class FaultExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed (fiu-utils)";
    char tmpl[] = "/tmp/duende-faultcli-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    framework::SpawnOptions o;
    if (!FaketimeAvailable()) GTEST_SKIP() << "libfaketime not installed (ci/deps.sh)";
    o.argv = {kDuende,  "fault",  "exec", "--clock",    "--",
              KVD_PATH, "--port", "0",    "--data-dir", dir_};
    o.env_overrides = {"TMPDIR=" + dir_};
    o.stderr_fd = -1;
    auto c = testing::StartChild(o);
    ASSERT_TRUE(c.ok()) << c.error().Message();
    exec_ = std::move(*c);
    port_ = testing::PortOf(exec_->WaitLine("listening on"));
    ASSERT_NE(port_, 0);
    // kvd is the only child of `duende fault exec`.
    std::ifstream children("/proc/" + std::to_string(exec_->child.pid) + "/task/" +
                           std::to_string(exec_->child.pid) + "/children");
    children >> kvd_pid_;
    ASSERT_GT(kvd_pid_, 0);
    ASSERT_TRUE(client_.Connect(port_));
  }
  void TearDown() override {
    // A clean stop, as a user's Ctrl-C: `fault exec` forwards it and removes what kvd leaves.
    if (exec_ && !exec_->reaped && ::kill(exec_->child.pid, SIGTERM) == 0) exec_->Wait();
    exec_.reset();  // (or kills the process group of `fault exec`, kvd included)
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<testing::TestChild> exec_;
  uint16_t port_ = 0;
  pid_t kvd_pid_ = -1;
  testing::LineClient client_;
};

TEST_F(FaultExecTest, InjectedSyscallFaultFiresAndTheOutputSaysWhichCall) {
  std::string pid = std::to_string(kvd_pid_);
  std::vector<std::string> replies;
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the fault is on by then
    for (int i = 0; i < 4; ++i)
      replies.push_back(client_.Request("SET k" + std::to_string(i) + " v"));
  });
  auto r = Fault("inject syscall --pid " + pid +
                 " --param point=posix/io/sync/fsync --param errno=EIO --param nth=2 --for 1s");
  writer.join();
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("fault syscall: took effect"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("posix/io/sync/fsync: 1 of 4 call(s) failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("call 2 of posix/io/sync/fsync failed with EIO"), std::string::npos)
      << r.out;
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0], "OK");
  EXPECT_NE(replies[1].find("Input/output error"), std::string::npos) << replies[1];
  EXPECT_EQ(replies[2], "OK");

  // A point kvd never calls: exit 1, and the output says it was never called.
  auto miss =
      Fault("inject syscall --pid " + pid + " --param point=posix/io/dir/opendir --for 200ms");
  EXPECT_EQ(miss.code, 1) << miss.out;
  EXPECT_NE(miss.out.find("NO EFFECT"), std::string::npos) << miss.out;
  EXPECT_NE(miss.out.find("NEVER CALLED"), std::string::npos) << miss.out;

  // SIGTERM to `duende fault exec` reaches kvd, which shuts down cleanly (exit 0), and the
  // FIFOs, the firing log, the clock file and libfaketime's memory are gone.
  ASSERT_EQ(::kill(exec_->child.pid, SIGTERM), 0);
  auto st = exec_->Wait();
  EXPECT_TRUE(st.success()) << st.ToString();
  EXPECT_NE(::kill(kvd_pid_, 0), 0);
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().filename().string().rfind("duende-exec-", 0), std::string::npos)
        << "left behind: " << e.path();
  }
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/faketime_shm_" + std::to_string(kvd_pid_)));
}

// kvd's TIME answer, minus the real time, in seconds.
long long Skew(testing::LineClient& c) {
  std::string reply = c.Request("TIME");
  long long secs = 0;
  if (std::sscanf(reply.c_str(), "TIME %lld", &secs) != 1) return 1LL << 40;
  return secs - static_cast<long long>(std::time(nullptr));
}

TEST_F(FaultExecTest, ClockFaultStepsTheTargetsWallClockAndHealsIt) {
  ASSERT_LE(std::llabs(Skew(client_)), 2);
  std::string pid = std::to_string(kvd_pid_);
  long long worst = 0;
  std::thread reader([&] {
    for (int i = 0; i < 40; ++i) {  // 4 s of TIME requests
      long long s = Skew(client_);
      if (s < worst) worst = s;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto r = Fault("inject clock --pid " + pid + " --param offset=-1h --for 2500ms");
  reader.join();
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("fault clock: took effect"), std::string::npos) << r.out;
  // The clock file came from duende's own record of the process it started.
  EXPECT_EQ(r.out.find("was not started by duende"), std::string::npos) << r.out;
  EXPECT_LE(std::llabs(worst + 3600), 2) << "kvd's TIME never showed the hour back: " << worst;
  // Healed: within libfaketime's re-read (at most 2 s) kvd tells the real time again.
  bool back = false;
  for (int i = 0; i < 30 && !back; ++i) {
    back = std::llabs(Skew(client_)) <= 2;
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(back);
}

}  // namespace
}  // namespace duende::faults
