// The clock fault against a process that prints its clocks: CLOCK_REALTIME jumps by the
// offset (CLOCK_MONOTONIC does not), comes back at heal; took_effect only once the target has
// read the new time; libfaketime's shared memory does not outlive a SIGKILLed target.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "support/fault_child.h"
#include "support/fault_make.h"

namespace duende::faults {
namespace {

using testing::Joined;
using testing::MakeFault;

class ClockFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FaketimeAvailable()) GTEST_SKIP() << "libfaketime is not installed (ci/deps.sh)";
    char tmpl[] = "/tmp/duende-clock-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    clock_file_ = dir_ + "/clock";
  }
  void TearDown() override {
    if (child_) {
      pid_t pid = child_->child.pid;
      child_.reset();  // SIGKILL, reaped
      RemoveFaketimeShm(pid);
    }
    std::filesystem::remove_all(dir_);
  }

  void Start(std::vector<std::string> argv) {
    framework::SpawnOptions o;
    o.argv = std::move(argv);
    ASSERT_TRUE(PrepareFaketimeSpawn(o, clock_file_, nullptr).ok());
    auto c = testing::StartChild(o);
    ASSERT_TRUE(c.ok()) << c.error().Message();
    child_ = std::move(*c);
  }
  TargetRef Target() const {
    TargetRef t{"printer", child_->child.pid, -1, "", "", 0};
    t.clock_file = clock_file_;
    return t;
  }
  // The realtime - monotonic - wall difference the target reports, in seconds (0 = true time).
  long long Skew() {
    std::string line = child_->WaitLine("realtime=");
    long long real = 0, mono = 0;
    EXPECT_EQ(std::sscanf(line.c_str(), "realtime=%lld monotonic=%lld", &real, &mono), 2) << line;
    return real - static_cast<long long>(std::time(nullptr));
  }
  // Reads lines until the skew is near `want` (libfaketime re-reads its file once a second).
  bool SkewBecomes(long long want, int max_lines = 60) {
    for (int i = 0; i < max_lines; ++i) {
      if (std::llabs(Skew() - want) <= 2) return true;
    }
    return false;
  }

  std::string dir_, clock_file_;
  std::unique_ptr<testing::TestChild> child_;
};

TEST_F(ClockFaultTest, WallClockStepsBackAndReturnsAtHeal) {
  Start({CLOCK_PRINTER_PATH});
  ASSERT_TRUE(SkewBecomes(0));
  FaultEnv env;
  auto f = MakeFault("clock", "offset = \"-1h\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  EXPECT_TRUE(SkewBecomes(-3600)) << "the target's CLOCK_REALTIME did not move back an hour";
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << Joined(rec);
  EXPECT_NE(Joined(rec).find("the target re-read its clock file"), std::string::npos)
      << Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_TRUE(SkewBecomes(0)) << "the clock did not come back after heal";
}

TEST_F(ClockFaultTest, MonotonicClockIsNotMoved) {
  Start({CLOCK_PRINTER_PATH});
  std::string before = child_->WaitLine("realtime=");
  long long mono0 = 0, real0 = 0;
  ASSERT_EQ(std::sscanf(before.c_str(), "realtime=%lld monotonic=%lld", &real0, &mono0), 2);
  FaultEnv env;
  auto f = MakeFault("clock", "offset = \"+2d\"", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  ASSERT_TRUE(SkewBecomes(2 * 86400));
  std::string after = child_->WaitLine("realtime=");
  long long mono1 = 0, real1 = 0;
  ASSERT_EQ(std::sscanf(after.c_str(), "realtime=%lld monotonic=%lld", &real1, &mono1), 2);
  EXPECT_LE(mono1 - mono0, 10) << "CLOCK_MONOTONIC jumped with the wall clock";
  ASSERT_TRUE((*f)->Heal().ok());
}

TEST_F(ClockFaultTest, ATargetThatNeverReadsTheClockIsReportedAsNoEffect) {
  Start({"sleep", "30"});  // nanosleep only: never asks for the time
  // libfaketime reads the file once as the process starts: let that happen before the fault.
  ::usleep(300 * 1000);
  FaultEnv env;
  auto f = MakeFault("clock", "offset = \"+1h\"", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  ::usleep(1300 * 1000);
  ASSERT_TRUE((*f)->Heal().ok());
  auto rec = (*f)->Record();
  EXPECT_FALSE(rec.took_effect) << Joined(rec);
  EXPECT_NE(Joined(rec).find("never read its clock"), std::string::npos) << Joined(rec);
}

TEST_F(ClockFaultTest, NotStartedUnderLibfaketimeIsAClearError) {
  framework::SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok());
  child_ = std::move(*c);
  FaultEnv env;
  auto f = MakeFault("clock", "offset = \"+1h\"", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject({"sleep", child_->child.pid, -1, "", "", 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("not started under libfaketime"), std::string::npos);
}

TEST_F(ClockFaultTest, SharedMemoryOfAKilledTargetIsRemoved) {
  Start({CLOCK_PRINTER_PATH});
  child_->WaitLine("realtime=");
  pid_t pid = child_->child.pid;
  std::string shm = "/dev/shm/faketime_shm_" + std::to_string(pid);
  ASSERT_TRUE(std::filesystem::exists(shm)) << "libfaketime keeps no shared memory here?";
  EXPECT_EQ(RemoveFaketimeShm(pid), 0);  // still running: untouched
  ::kill(pid, SIGKILL);
  child_->Wait();
  EXPECT_TRUE(std::filesystem::exists(shm));  // libfaketime could not clean up
  EXPECT_EQ(RemoveFaketimeShm(pid), 2);
  EXPECT_FALSE(std::filesystem::exists(shm));
  child_.reset();
}

TEST(ClockFaultParamsTest, BadOffsetAndMissingParametersNameTheFix) {
  FaultEnv env;
  auto bad = MakeFault("clock", "offset = \"1 hour\"", env);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("test.toml:1:10: 'offset' must be a signed amount"),
            std::string::npos)
      << bad.error().Message();
  auto none = MakeFault("clock", "", env);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().Message().find("needs 'offset'"), std::string::npos);
  auto slow = MakeFault("clock", "speed = 0.001", env);
  ASSERT_FALSE(slow.ok());
}

}  // namespace
}  // namespace duende::faults
