// Real systemd: a private user manager (platform.md recipe), a daemon started through the
// adapter, SIGKILLed, restarted by systemd (NRestarts grows), then everything torn down.
#include "duende/adapters/systemd_adapter.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "duende/framework/clock.h"
#include "test_util.h"

namespace duende::adapters {
namespace {

using framework::DaemonConfig;
using framework::EventType;

using testing::Alive;
using testing::Events;
using testing::Eventually;

class SystemdAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "a private systemd user manager needs root here";
    struct stat st {};
    if (::stat("/lib/systemd/systemd", &st) != 0) GTEST_SKIP() << "systemd is not installed";
    auto m = SystemdUserManager::Start();
    ASSERT_TRUE(m.ok()) << m.error().Message();
    manager_ = std::move(*m);
    manager_->Configure(&options_);
    options_.render.systemd.version = 0;
  }
  void TearDown() override {
    if (!manager_) return;
    std::string dir = manager_->runtime_dir();
    pid_t pid = manager_->pid();
    manager_.reset();
    // Nothing survives the manager: no process, no runtime directory.
    EXPECT_TRUE(Eventually([&] { return !Alive(pid); }, std::chrono::seconds(2)));
    struct stat st {};
    EXPECT_NE(::stat(dir.c_str(), &st), 0) << dir << " left behind";
  }

  DaemonConfig SleepConfig(const std::string& name) {
    DaemonConfig c;
    c.name = name;
    c.command = {"/bin/sleep", "1000"};
    c.restart.policy = framework::RestartConfig::Policy::kAlways;
    c.restart.backoff.initial = std::chrono::milliseconds(100);
    c.restart.start_limit_burst = 20;
    c.shutdown_timeout = std::chrono::seconds(2);
    return c;
  }

  AdapterOptions options_;
  std::unique_ptr<SystemdUserManager> manager_;
};

TEST_F(SystemdAdapterTest, SystemdRestartsAKilledDaemonAndCountsIt) {
  auto adapter = SystemdAdapter::Create(SleepConfig("duende-sleeper"), options_);
  ASSERT_TRUE(adapter.ok()) << adapter.error().Message();
  Events events;
  (*adapter)->Subscribe(events.Callback());
  ASSERT_TRUE((*adapter)->Start().ok());
  ASSERT_TRUE(events.WaitFor(EventType::kSpawned, 1, std::chrono::seconds(10))) << events.Dump();

  auto st = (*adapter)->Status();
  ASSERT_TRUE(st.ok()) << st.error().Message();
  const pid_t first = st->pid;
  ASSERT_TRUE(Alive(first));
  EXPECT_EQ(st->restarts, 0u);

  // A real SIGKILL from outside, as a fault injector sends it.
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(events.WaitFor(EventType::kSpawned, 2, std::chrono::seconds(10))) << events.Dump();
  EXPECT_TRUE(Eventually([&] { return !Alive(first); }, std::chrono::seconds(2)));
  st = (*adapter)->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->pid, first);
  EXPECT_TRUE(Alive(st->pid));
  EXPECT_EQ(st->restarts, 1u);
  ASSERT_TRUE(st->last_exit.has_value() || events.CountOf(EventType::kExited) >= 1);

  // The death was reported with its signal, like the native supervisor reports it.
  EXPECT_TRUE(events.SawDeathBy(SIGKILL)) << events.Dump();

  // Through the adapter's own Kill (systemctl kill): NRestarts grows again.
  const pid_t second = st->pid;
  ASSERT_TRUE((*adapter)->Kill(SIGKILL).ok());
  ASSERT_TRUE(events.WaitFor(EventType::kSpawned, 3, std::chrono::seconds(10))) << events.Dump();
  st = (*adapter)->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_NE(st->pid, second);
  EXPECT_EQ(st->restarts, 2u);

  // Stop: down by request, no restart; then the unit is removed.
  const pid_t last = st->pid;
  ASSERT_TRUE((*adapter)->Stop().ok());
  EXPECT_TRUE(Eventually([&] { return !Alive(last); }, std::chrono::seconds(3)));
  ASSERT_TRUE(events.WaitFor(EventType::kStopped, 1, std::chrono::seconds(5))) << events.Dump();
  std::string unit = (*adapter)->unit_path();
  ASSERT_TRUE((*adapter)->Remove().ok());
  struct stat sb {};
  EXPECT_NE(::stat(unit.c_str(), &sb), 0);
  EXPECT_TRUE(manager_->ProcessesInNamespace().empty());
}

TEST_F(SystemdAdapterTest, StartLimitMakesSystemdGiveUp) {
  DaemonConfig c = SleepConfig("duende-crasher");
  c.command = {"/bin/sh", "-c", "exit 3"};
  c.restart.policy = framework::RestartConfig::Policy::kOnFailure;
  c.restart.start_limit_burst = 3;
  c.restart.start_limit_interval = std::chrono::seconds(30);
  auto adapter = SystemdAdapter::Create(c, options_);
  ASSERT_TRUE(adapter.ok());
  Events events;
  (*adapter)->Subscribe(events.Callback());
  ASSERT_TRUE((*adapter)->Start().ok());
  ASSERT_TRUE(events.WaitFor(EventType::kGaveUp, 1, std::chrono::seconds(15))) << events.Dump();
  auto st = (*adapter)->Status();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, framework::ServiceState::kFailed);
  EXPECT_EQ(st->reason, "start-limit-hit");
  ASSERT_TRUE(st->last_exit.has_value());
  EXPECT_EQ(st->last_exit->code, 3);
  EXPECT_TRUE((*adapter)->Remove().ok());
}

}  // namespace
}  // namespace duende::adapters
