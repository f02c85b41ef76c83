// The native Supervisor behind the Adapter interface: same calls, same events as the others.
#include "duende/adapters/native_adapter.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include "duende/framework/clock.h"

namespace duende::adapters {
namespace {

using framework::EventType;

TEST(NativeAdapterTest, KilledDaemonIsRestartedAndStopped) {
  framework::DaemonConfig c;
  c.name = "native-sleeper";
  c.command = {"/bin/sleep", "1000"};
  c.restart.policy = framework::RestartConfig::Policy::kAlways;
  c.restart.backoff.initial = std::chrono::milliseconds(20);
  c.restart.backoff.jitter = framework::BackoffConfig::Jitter::kNone;
  auto made = MakeAdapter(Platform::kNative, c);
  ASSERT_TRUE(made.ok()) << made.error().Message();
  Adapter& a = **made;
  EXPECT_EQ(a.platform(), Platform::kNative);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<framework::ServiceEvent> events;
  a.Subscribe([&](const framework::ServiceEvent& ev) {
    std::lock_guard<std::mutex> lock(mu);
    events.push_back(ev);
    cv.notify_all();
  });
  auto count = [&](EventType t) {
    size_t n = 0;
    for (const auto& e : events) n += e.type == t ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(a.Start().ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5),
                            [&] { return count(EventType::kSpawned) >= 1; }));
  }
  auto st = a.Status();
  ASSERT_TRUE(st.ok());
  pid_t first = st->pid;
  ASSERT_GT(first, 0);
  ASSERT_TRUE(a.Kill(SIGKILL).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5),
                            [&] { return count(EventType::kSpawned) >= 2; }));
  }
  st = a.Status();
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->pid, first);
  EXPECT_EQ(st->restarts, 1u);
  pid_t second = st->pid;
  ASSERT_TRUE(a.Stop().ok());
  EXPECT_NE(::kill(second, 0), 0);
  ASSERT_TRUE(a.Remove().ok());
}

TEST(NativeAdapterTest, RenderOnlyPlatformsHaveNoAdapter) {
  framework::DaemonConfig c;
  c.name = "x";
  c.command = {"/bin/true"};
  auto a = MakeAdapter(Platform::kLaunchd, c);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().Message().find("render-only"), std::string::npos);
}

}  // namespace
}  // namespace duende::adapters
