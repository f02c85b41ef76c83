#include "duende/framework/notify_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

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
  EXPECT_EQ(msgs[0].message.status, "starting");
  EXPECT_TRUE(msgs[1].message.ready);
  // The kernel names the sender (SO_PASSCRED): the supervisor judges by this, not by content.
  EXPECT_EQ(msgs[0].sender_pid, ::getpid());
  EXPECT_EQ(msgs[0].sender_uid, ::getuid());
  EXPECT_FALSE(msgs[0].truncated);
  EXPECT_TRUE(sock->Drain().empty());
}

// A datagram longer than the buffer is flagged (the supervisor drops it), and descriptors
// passed along with a message are closed, not kept open in the supervisor.
TEST(NotifySocketTest, LongDatagramsAreFlaggedAndPassedDescriptorsClosed) {
  auto sock = NotifySocket::Create("long");
  ASSERT_TRUE(sock.ok()) << sock.error().Message();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, sock->address().data(), sock->address().size());
  addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sock->address().size());
  int out = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(out, 0);
  std::string big = "READY=1\nSTATUS=" + std::string(NotifySocket::kMaxDatagram, 'x');
  ASSERT_EQ(::sendto(out, big.data(), big.size(), 0, reinterpret_cast<sockaddr*>(&addr), len),
            static_cast<ssize_t>(big.size()));
  // READY=1 with a descriptor attached.
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  char text[] = "READY=1";
  iovec iov{text, sizeof text - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_name = &addr;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &pipe_fds[1], sizeof(int));
  ASSERT_EQ(::sendmsg(out, &msg, 0), static_cast<ssize_t>(iov.iov_len));
  ::close(pipe_fds[1]);
  ::close(out);
  auto msgs = sock->Drain();
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_TRUE(msgs[0].truncated);
  EXPECT_FALSE(msgs[1].truncated);
  EXPECT_TRUE(msgs[1].message.ready);
  // Every write end is closed (ours above, the received copy in Drain): the read end sees EOF.
  char b;
  EXPECT_EQ(::read(pipe_fds[0], &b, 1), 0);
  ::close(pipe_fds[0]);
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
