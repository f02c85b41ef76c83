#include "duende/framework/notify_socket.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "duende/framework/notify.h"

namespace duende::framework {
namespace {

TEST(NotifySocketTest, ParsesTheSdNotifyAssignments) {
  NotifyMessage m = ParseNotifyMessage("READY=1\nSTATUS=serving 3 clients\nMAINPID=42\nX=y\n");
  EXPECT_TRUE(m.ready);
  EXPECT_FALSE(m.watchdog);
  EXPECT_EQ(m.status, "serving 3 clients");
  EXPECT_EQ(m.main_pid, 42);
  NotifyMessage w = ParseNotifyMessage("WATCHDOG=1");
  EXPECT_TRUE(w.watchdog);
  EXPECT_FALSE(w.ready);
  NotifyMessage s = ParseNotifyMessage("STOPPING=1\nERRNO=abc");
  EXPECT_TRUE(s.stopping);
  EXPECT_FALSE(s.errno_value.has_value());
}

TEST(NotifySocketTest, DatagramsSentWithNotifyArriveInOrder) {
  auto sock = NotifySocket::Create("test");
  ASSERT_TRUE(sock.ok()) << sock.error().Message();
  EXPECT_EQ(sock->address().rfind("@duende/", 0), 0u);
  // The daemon's side (Notifier, as the framework's Run() uses it) talks to it.
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", sock->address().c_str(), 1), 0);
  auto notifier = Notifier::FromEnvironment(/*unset=*/true);
  ASSERT_TRUE(notifier.ok()) << notifier.error().Message();
  ASSERT_TRUE(notifier->Status("starting").ok());
  ASSERT_TRUE(notifier->Ready().ok());
  auto msgs = sock->Drain();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[0].status, "starting");
  EXPECT_TRUE(msgs[1].ready);
  EXPECT_TRUE(sock->Drain().empty());
}

TEST(NotifySocketTest, NotifyToAGoneSupervisorFails) {
  std::string address;
  {
    auto sock = NotifySocket::Create("gone");
    ASSERT_TRUE(sock.ok());
    address = sock->address();
  }
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", address.c_str(), 1), 0);
  auto notifier = Notifier::FromEnvironment(/*unset=*/true);
  ASSERT_TRUE(notifier.ok());
  auto r = notifier->Ready();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code.value(), ECONNREFUSED);
}

}  // namespace
}  // namespace duende::framework
