#include "duende/framework/pid_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
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

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(PidFileTest, ReadPidIsZeroForMissingOrEmptyFiles) {
  TempDir dir;
  EXPECT_EQ(PidFile::ReadPid(dir / "missing.pid"), 0);
  Write(dir / "empty.pid", "");
  EXPECT_EQ(PidFile::ReadPid(dir / "empty.pid"), 0);
  Write(dir / "some.pid", "4242\n");
  EXPECT_EQ(PidFile::ReadPid(dir / "some.pid"), 4242);
}

TEST(PidFileTest, ReadCheckedTakesOnlyAPidSurroundedByWhitespace) {
  TempDir dir;
  const std::string path = dir / "d.pid";
  struct Case {
    std::string text;
    pid_t pid;  // 0: refused
  };
  for (const Case& c :
       {Case{" \t123 \n", 123}, Case{"2\n", 2}, Case{"4194304", 4194304}, Case{"1\n", 0},
        Case{"0", 0}, Case{"4194305", 0}, Case{"12a", 0}, Case{"00000042", 0}, Case{"-5", 0}}) {
    Write(path, c.text);
    auto r = PidFile::ReadChecked(path);
    if (c.pid != 0) {
      ASSERT_TRUE(r.ok()) << "'" << c.text << "': " << r.error().Message();
      EXPECT_EQ(*r, c.pid) << "'" << c.text << "'";
    } else {
      ASSERT_FALSE(r.ok()) << "'" << c.text << "' gave " << *r;
      EXPECT_EQ(r.error().code.value(), EINVAL) << "'" << c.text << "'";
    }
  }
  Write(path, "");
  auto empty = PidFile::ReadChecked(path);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code.value(), ENOENT);
  EXPECT_NE(empty.error().Message().find("is empty (not written yet)"), std::string::npos)
      << empty.error().Message();
}

TEST(PidFileTest, ANameReplacedByTheOperatorIsNotRemoved) {
  TempDir dir;
  const std::string path = dir / "d.pid";
  {
    auto pid = PidFile::Acquire(path);
    ASSERT_TRUE(pid.ok()) << pid.error().Message();
    Write(dir / "other", "theirs\n");
    ASSERT_EQ(::rename((dir / "other").c_str(), path.c_str()), 0);
  }
  EXPECT_EQ(ReadFile(path), "theirs\n") << "the release removed a file that was not ours";
}

TEST(PidFileTest, MoveAssignmentReleasesTheOldFileAndKeepsTheNew) {
  TempDir dir;
  const std::string one = dir / "one.pid", two = dir / "two.pid";
  {
    auto a = PidFile::Acquire(one);
    auto b = PidFile::Acquire(two);
    ASSERT_TRUE(a.ok() && b.ok());
    PidFile& alias = *a;
    *a = std::move(alias);  // assignment to itself keeps the file
    EXPECT_TRUE(std::filesystem::exists(one));
    EXPECT_EQ(a->path(), one);
    *a = std::move(*b);
    EXPECT_FALSE(std::filesystem::exists(one)) << "the file a held before was not released";
    EXPECT_TRUE(std::filesystem::exists(two));
    EXPECT_EQ(a->path(), two);
  }
  EXPECT_FALSE(std::filesystem::exists(two));
}

}  // namespace
}  // namespace duende::framework
