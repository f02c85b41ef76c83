// DaemonContext in-process: waking the daemon for a stop or a reload, applying a reload, and
// what it tells the service manager and the log.
#include "duende/framework/daemon_context.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "duende/framework/daemon.h"
#include "duende/framework/notify.h"
#include "notify_manager.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;

// NOTIFY_SOCKET's other end, and a Notifier that sends to it.
struct Manager : testing_util::NotifyManager {
  Notifier MakeNotifier() const {
    ::setenv("NOTIFY_SOCKET", address.c_str(), 1);
    auto n = Notifier::FromEnvironment();
    EXPECT_TRUE(n.ok()) << n.error().Message();
    return n.ok() ? std::move(n.value()) : Notifier();
  }
};

class ReloadingDaemon : public Daemon {
 public:
  std::string Name() const override { return "ctx"; }
  Result<void> Init(const DaemonConfig&) override { return {}; }
  ExitReason Run(DaemonContext&) override { return ExitReason::Stopped(); }
  Result<void> Reload(const DaemonConfig& config) override {
    ++reloads;
    if (reject) return MessageError("tag is bad");
    tag = config.app["tag"].value_or(std::string());
    return {};
  }
  std::atomic<int> reloads{0};
  bool reject = false;
  std::string tag;
};

DaemonConfig Tagged(const std::string& tag) {
  DaemonConfig c;
  c.app.insert("tag", tag);
  return c;
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TEST(DaemonContextTest, StopWakesTheWaiterAndTheWakeFd) {
  ReloadingDaemon d;
  auto ctx = DaemonContext::Create(d, {}, nullptr);
  ASSERT_TRUE(ctx.ok()) << ctx.error().Message();
  EXPECT_FALSE((*ctx)->WaitForShutdown(10ms));
  EXPECT_FALSE(Readable((*ctx)->wake_fd()));
  auto waiter = std::async(std::launch::async, [&] { return (*ctx)->WaitForShutdown(60s); });
  std::this_thread::sleep_for(50ms);
  (*ctx)->RequestShutdown();
  ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready) << "the stop did not wake it";
  EXPECT_TRUE(waiter.get());
  EXPECT_TRUE(Readable((*ctx)->wake_fd()));
  (*ctx)->ConsumeWake();
  EXPECT_FALSE(Readable((*ctx)->wake_fd()));
}

TEST(DaemonContextTest, ReloadIsAppliedWhileWaitingAndOnlyOnce) {
  ReloadingDaemon d;
  Manager m;
  Notifier n = m.MakeNotifier();
  auto ctx = DaemonContext::Create(d, Tagged("one"), &n);
  ASSERT_TRUE(ctx.ok());
  auto waiter = std::async(std::launch::async, [&] { return (*ctx)->WaitForShutdown(60s); });
  std::this_thread::sleep_for(50ms);
  (*ctx)->OfferReload(Tagged("two"));
  EXPECT_EQ(m.Next().rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u);
  EXPECT_EQ(m.Next(), "READY=1\nSTATUS=reloaded") << "not applied while waiting";
  EXPECT_EQ(d.tag, "two");
  EXPECT_FALSE((*ctx)->ReloadRequested());
  (*ctx)->RequestShutdown();
  ASSERT_EQ(waiter.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
  EXPECT_EQ(d.reloads.load(), 1);
  EXPECT_EQ((*ctx)->config().app["tag"].value_or(std::string()), "two");
  // Nothing is pending any more: a wait runs to its timeout and applies nothing.
  auto again = DaemonContext::Create(d, {}, nullptr);
  ASSERT_TRUE(again.ok());
  (*again)->OfferReload(Tagged("three"));
  auto short_wait =
      std::async(std::launch::async, [&] { return (*again)->WaitForShutdown(100ms); });
  ASSERT_EQ(short_wait.wait_for(10s), std::future_status::ready) << "the wait never ended";
  EXPECT_FALSE(short_wait.get());
  EXPECT_EQ(d.reloads.load(), 2);
}

TEST(DaemonContextTest, RejectedReloadKeepsTheConfigAndSaysSo) {
  ReloadingDaemon d;
  d.reject = true;
  Manager m;
  Notifier n = m.MakeNotifier();
  auto ctx = DaemonContext::Create(d, Tagged("one"), &n);
  ASSERT_TRUE(ctx.ok());
  (*ctx)->OfferReload(Tagged("two"));
  EXPECT_EQ(m.Next().rfind("RELOADING=1", 0), 0u);
  EXPECT_TRUE(Readable((*ctx)->wake_fd())) << "a daemon asleep in poll() was not woken";
  ::testing::internal::CaptureStderr();
  auto r = (*ctx)->ApplyReload();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(m.Next(), "READY=1\nSTATUS=reload rejected; running with the previous config");
  EXPECT_NE(err.find("reload rejected: tag is bad; keeping the current config"), std::string::npos)
      << err;
  EXPECT_EQ((*ctx)->config().app["tag"].value_or(std::string()), "one");
}

TEST(DaemonContextTest, GoodReloadLogsNoErrorAndABadLogFileIsReported) {
  ReloadingDaemon d;
  auto ctx = DaemonContext::Create(d, {}, nullptr);
  ASSERT_TRUE(ctx.ok());
  (*ctx)->OfferReload(Tagged("two"));
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE((*ctx)->ApplyReload().ok());
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("error"), std::string::npos) << err;
  EXPECT_NE(err.find("reloaded config"), std::string::npos) << err;

  DaemonConfig bad_log = Tagged("three");
  bad_log.log.file = "/nonexistent-duende-dir/ctx.log";
  (*ctx)->OfferReload(bad_log);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE((*ctx)->ApplyReload().ok());
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("; logging stays where it was"), std::string::npos) << err;
}

TEST(DaemonContextTest, ReadyIsLoggedOnceAndEveryMessageReachesTheManager) {
  ReloadingDaemon d;
  Manager m;
  Notifier n = m.MakeNotifier();
  auto ctx = DaemonContext::Create(d, {}, &n);
  ASSERT_TRUE(ctx.ok());
  ::testing::internal::CaptureStderr();
  (*ctx)->NotifyReady("serving");
  (*ctx)->NotifyReady("still serving");
  (*ctx)->NotifyStatus("busy");
  (*ctx)->WatchdogPing();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.Next(), "READY=1\nSTATUS=serving");
  EXPECT_EQ(m.Next(), "READY=1\nSTATUS=still serving");
  EXPECT_EQ(m.Next(), "STATUS=busy");
  EXPECT_EQ(m.Next(), "WATCHDOG=1");
  EXPECT_NE(err.find("ready: serving"), std::string::npos) << err;
  EXPECT_EQ(err.find("ready: still serving"), std::string::npos) << err;
  EXPECT_EQ(err.find("warn"), std::string::npos) << err;
}

TEST(DaemonContextTest, AGoneManagerIsAWarningAndNoManagerIsQuiet) {
  ReloadingDaemon d;
  Notifier n;
  {
    Manager m;
    n = m.MakeNotifier();
  }  // the manager's socket is gone: every send fails with ECONNREFUSED
  auto ctx = DaemonContext::Create(d, {}, &n);
  ASSERT_TRUE(ctx.ok());
  ::testing::internal::CaptureStderr();
  (*ctx)->NotifyReady("serving");
  (*ctx)->NotifyStatus("busy");
  (*ctx)->WatchdogPing();
  std::string err = ::testing::internal::GetCapturedStderr();
  size_t warnings = 0;
  for (size_t at = err.find(" warn: "); at != std::string::npos; at = err.find(" warn: ", at + 1)) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 3u) << err;

  auto quiet = DaemonContext::Create(d, {}, nullptr);
  ASSERT_TRUE(quiet.ok());
  ::testing::internal::CaptureStderr();
  (*quiet)->NotifyStatus("busy");
  (*quiet)->WatchdogPing();
  err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "");
}

}  // namespace
}  // namespace duende::framework
