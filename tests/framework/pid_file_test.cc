#include "duende/framework/pid_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon_test_util.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;
using testing_util::Proc;
using testing_util::ReadFile;
using testing_util::TempDir;

TEST(PidFileTest, HoldsOurPidAndIsRemovedOnRelease) {
  TempDir dir;
  std::string path = dir / "d.pid";
  {
    auto pid = PidFile::Acquire(path);
    ASSERT_TRUE(pid.ok()) << pid.error().Message();
    EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
    EXPECT_EQ(pid->stale_pid(), 0);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  // No temporary file is left either.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(PidFileTest, SecondAcquireRefusesWhileTheFirstHoldsIt) {
  TempDir dir;
  std::string path = dir / "d.pid";
  auto first = PidFile::Acquire(path);
  ASSERT_TRUE(first.ok());
  auto second = PidFile::Acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code.value(), EEXIST);
  EXPECT_EQ(second.error().context, "already running as pid " + std::to_string(::getpid()) +
                                        " (pid file " + path + " is locked)");
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n") << "the loser touched the file";
}

TEST(PidFileTest, StaleFileOfADeadProcessIsTakenOver) {
  TempDir dir;
  std::string path = dir / "d.pid";
  // A real pid that no longer runs: a child we started and reaped.
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  std::ofstream(path) << dead << "\n";
  auto pid = PidFile::Acquire(path);
  ASSERT_TRUE(pid.ok()) << pid.error().Message();
  EXPECT_EQ(pid->stale_pid(), dead);
  EXPECT_EQ(ReadFile(path), std::to_string(::getpid()) + "\n");
}

TEST(PidFileTest, ManyProcessesRacingExactlyOneWins) {
  TempDir dir;
  std::string path = dir / "d.pid";
  for (int round = 0; round < 5; ++round) {
    constexpr int kRacers = 6;
    std::vector<Proc> racers;
    for (int i = 0; i < kRacers; ++i) {
      racers.push_back(Proc::Fork(
          [path] {
            auto pid = PidFile::Acquire(path);
            if (!pid.ok()) return 3;
            std::this_thread::sleep_for(300ms);  // hold it while the others try
            return 0;
          },
          dir / ("err" + std::to_string(i))));
    }
    int winners = 0;
    for (auto& r : racers) {
      auto s = r.Wait(10s);
      ASSERT_TRUE(s);
      if (s->code == 0) ++winners;
    }
    EXPECT_EQ(winners, 1) << "round " << round;
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace
}  // namespace duende::framework
