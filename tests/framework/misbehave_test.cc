// duende-fixture-misbehave does what each mode promises (other tests rely on it).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "daemon_test_util.h"
#include "support/sanitizer_skip.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;
using testing_util::Proc;
using testing_util::TempDir;

Proc Misbehave(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), MISBEHAVE_PATH);
  return Proc::Start(args, dir / "stderr");
}

TEST(MisbehaveTest, CrashAtStartExitsWithTheGivenCodeBeforeReady) {
  TempDir dir;
  Proc p = Misbehave(dir, {"--mode", "crash-at-start", "--exit-code", "7"});
  auto s = p.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 7);
  EXPECT_FALSE(p.WaitLine("ready", 100ms));
}

TEST(MisbehaveTest, CrashAfterBecomesReadyThenDies) {
  TempDir dir;
  Proc p = Misbehave(dir, {"--mode", "crash-after=200ms", "--crash-signal", "SIGSEGV"});
  ASSERT_TRUE(p.WaitLine("ready pid="));
  int64_t ready = MonotonicNs();
  auto s = p.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->signaled);
  EXPECT_EQ(s->signal, SIGSEGV);
  EXPECT_GE(MonotonicNs() - ready, 150'000'000);
}

TEST(MisbehaveTest, SlowReadyListensOnlyAfterTheDelay) {
  TempDir dir;
  int64_t start = MonotonicNs();
  Proc p = Misbehave(dir, {"--mode", "slow-ready=300ms", "--port", "0"});
  int port = p.WaitListening();
  ASSERT_NE(port, 0);
  EXPECT_GE(MonotonicNs() - start, 300'000'000);
  testing_util::KvClient c(port);
  EXPECT_TRUE(c.connected());
  p.Kill(SIGTERM);
  auto s = p.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 0);
}

TEST(MisbehaveTest, IgnoreSigtermSurvivesSigterm) {
  TempDir dir;
  Proc p = Misbehave(dir, {"--mode", "ignore-sigterm"});
  ASSERT_TRUE(p.WaitLine("ready"));
  p.Kill(SIGTERM);
  EXPECT_FALSE(p.Wait(300ms)) << "it died of SIGTERM";
  p.Kill(SIGKILL);
  auto s = p.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->signal, SIGKILL);
}

uint64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

TEST(MisbehaveTest, LeakGrowsResidentMemoryUpToTheCap) {
#if defined(__SANITIZE_THREAD__)
  DUENDE_SKIP_UNDER_SANITIZER("RSS includes TSan's shadow memory (95 MB for a 32 MiB cap)");
#endif
  TempDir dir;
  Proc p = Misbehave(dir, {"--mode", "leak=40MiB", "--leak-cap", "16MiB"});
  ASSERT_TRUE(p.WaitLine("ready"));
  std::this_thread::sleep_for(800ms);  // 40MiB/s would be 32MiB by now; the cap is 16MiB
  uint64_t at_cap = RssBytes(p.pid());
  std::this_thread::sleep_for(300ms);
  uint64_t later = RssBytes(p.pid());
  EXPECT_GE(at_cap, 16u << 20);
  EXPECT_LT(at_cap, 32u << 20) << "the leak did not stop at --leak-cap";
  EXPECT_LT(later - at_cap, 1u << 20) << "still growing past the cap";
}

}  // namespace
}  // namespace duende::framework
