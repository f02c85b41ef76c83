// Probes against real sockets and commands on a real EventLoop.
#include "duende/framework/probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "duende/framework/clock.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;

// A listening socket on an ephemeral loopback port.
struct Listener {
  UniqueFd fd;
  uint16_t port = 0;
  Listener() {
    fd.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(fd.get(), 16), 0);
    socklen_t len = sizeof sa;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

ProbeResult RunOne(const ProbeConfig& config) {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok());
  std::optional<ProbeResult> result;
  auto run = ProbeRun::Start(loop->get(), config, [&](const ProbeResult& r) { result = r; });
  if (!run.ok()) return ProbeResult{false, run.error().Message()};
  const int64_t give_up = MonotonicNs() + 10'000'000'000;
  while (!result && MonotonicNs() < give_up) EXPECT_TRUE((*loop)->RunOnce(100).ok());
  return result.value_or(ProbeResult{false, "no result"});
}

TEST(ProbeTest, TcpConnectsToAListenerAndIsRefusedWithout) {
  Listener l;
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kTcp;
  c.address = l.address();
  ProbeResult ok = RunOne(c);
  EXPECT_TRUE(ok.healthy) << ok.detail;
  l.fd.Reset();
  ProbeResult refused = RunOne(c);
  EXPECT_FALSE(refused.healthy);
  EXPECT_EQ(refused.detail, "connect: Connection refused");
}

// Answers one HTTP request with `status_line`.
void ServeOnce(int lfd, std::string status_line) {
  int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  char buf[1024];
  std::string req;
  while (req.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(c, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  std::string resp = status_line + "\r\nContent-Length: 0\r\n\r\n";
  ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
  ::close(c);
}

TEST(ProbeTest, HttpIsHealthyOn2xxOnly) {
  Listener l;
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kHttp;
  c.address = l.address();
  c.http_path = "/healthz";
  std::thread ok([&] { ServeOnce(l.fd.get(), "HTTP/1.1 204 No Content"); });
  ProbeResult r = RunOne(c);
  ok.join();
  EXPECT_TRUE(r.healthy) << r.detail;
  EXPECT_EQ(r.detail, "HTTP 204");
  std::thread bad([&] { ServeOnce(l.fd.get(), "HTTP/1.1 503 Service Unavailable"); });
  r = RunOne(c);
  bad.join();
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail, "HTTP 503");
}

TEST(ProbeTest, TimesOutWhenNobodyAnswers) {
  Listener l;  // accepts (backlog) but never answers the HTTP request
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kHttp;
  c.address = l.address();
  c.timeout = milliseconds(100);
  const int64_t t0 = MonotonicNs();
  ProbeResult r = RunOne(c);
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail, "timed out after 100.0ms");
  EXPECT_GE(MonotonicNs() - t0, 100'000'000);
}

TEST(ProbeTest, CommandExitCodeDecidesAndATimeoutKillsIt) {
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kCommand;
  c.command = {"sh", "-c", "exit 0"};
  EXPECT_TRUE(RunOne(c).healthy);
  c.command = {"sh", "-c", "exit 4"};
  ProbeResult r = RunOne(c);
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail, "exited with code 4");
  c.command = {"sleep", "10"};
  c.timeout = milliseconds(100);
  const int64_t t0 = MonotonicNs();
  r = RunOne(c);
  EXPECT_FALSE(r.healthy);
  EXPECT_LT(MonotonicNs() - t0, 5'000'000'000);  // killed, not waited for
}

TEST(ProbeTest, BadAddressesAreRejected) {
  EXPECT_FALSE(ParseHostPort("nocolon").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:99999").ok());
  EXPECT_FALSE(ParseHostPort("example.com:80").ok());
  auto hp = ParseHostPort("localhost:8080");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->first, "127.0.0.1");
  EXPECT_EQ(hp->second, 8080);
}

}  // namespace
}  // namespace duende::framework
