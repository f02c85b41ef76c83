#include "duende/framework/notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "notify_manager.h"

namespace duende::framework {
namespace {

using Manager = testing_util::NotifyManager;

TEST(NotifierTest, SendsToAnAbstractSocketAndHalvesTheWatchdog) {
  Manager m;
  ::setenv("NOTIFY_SOCKET", m.address.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok()) << n.error().Message();
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr) << "children would inherit it";
  EXPECT_TRUE(n->enabled());
  EXPECT_EQ(n->watchdog_interval(), std::chrono::milliseconds(1500));
  ASSERT_TRUE(n->Ready("serving").ok());
  EXPECT_EQ(m.Next(), "READY=1\nSTATUS=serving");
  ASSERT_TRUE(n->Watchdog().ok());
  EXPECT_EQ(m.Next(), "WATCHDOG=1");
  ASSERT_TRUE(n->Stopping().ok());
  EXPECT_EQ(m.Next(), "STOPPING=1");
}

TEST(NotifierTest, WatchdogForAnotherPidIsIgnoredAndNoSocketIsANoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  ::setenv("WATCHDOG_USEC", "3000000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->enabled());
  EXPECT_EQ(n->watchdog_interval().count(), 0);
  EXPECT_TRUE(n->Ready().ok());
}

TEST(NotifierTest, RelativeAddressIsRefused) {
  ::setenv("NOTIFY_SOCKET", "relative.sock", 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code.value(), EINVAL);
}

}  // namespace
}  // namespace duende::framework
