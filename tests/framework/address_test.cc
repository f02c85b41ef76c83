#include "duende/framework/address.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "duende/framework/io.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {
namespace {

TEST(AddressTest, SplitsAtTheLastColon) {
  auto v4 = SplitHostPort("127.0.0.1:8080");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8080);
  auto v6 = SplitHostPort("[::1]:80");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "[::1]");
  EXPECT_EQ(v6->port, 80);
  EXPECT_EQ(SplitHostPort("localhost:65535")->port, 65535);
}

TEST(AddressTest, RejectsWhatIsNotHostColonPort) {
  for (const char* bad : {"", "nocolon", ":80", "host:", "host:0", "host:65536", "host:80x",
                          "host:+80", "host:-1", "host: 80", "host:99999999999"}) {
    EXPECT_FALSE(SplitHostPort(bad).has_value()) << bad;
  }
}

TEST(AddressTest, Ipv4SocketAddressTakesDottedQuadsAndLocalhost) {
  auto a = Ipv4SocketAddress("localhost:9000");
  ASSERT_TRUE(a.ok()) << a.error().Message();
  EXPECT_EQ(ntohs(a->sin_port), 9000);
  EXPECT_EQ(ntohl(a->sin_addr.s_addr), 0x7f000001u);
  auto b = Ipv4SocketAddress("10.1.2.3:1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(ntohl(b->sin_addr.s_addr), 0x0a010203u);
  auto bad = Ipv4SocketAddress("example.com:80");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().Message(), "'example.com:80' is not IPV4:PORT (e.g. 127.0.0.1:8080)");
  EXPECT_FALSE(Ipv4SocketAddress("127.0.0.1:0").ok());
}

TEST(IoTest, WriteAllWritesMoreThanAPipeTakesAtOnce) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  ASSERT_GT(::fcntl(w.get(), F_SETPIPE_SZ, 4096), 0);
  const std::string text(200000, 'x');
  std::string got;
  std::thread reader([&] {
    char buf[1000];
    ssize_t n;
    while ((n = ::read(r.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  EXPECT_TRUE(WriteAll(w.get(), text).ok());
  w.Reset();
  reader.join();
  EXPECT_EQ(got, text);
}

TEST(IoTest, WriteAllReportsTheErrno) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  r.Reset();
  signal(SIGPIPE, SIG_IGN);
  auto res = WriteAll(w.get(), "x");
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().code.value(), EPIPE);
}

}  // namespace
}  // namespace duende::framework
