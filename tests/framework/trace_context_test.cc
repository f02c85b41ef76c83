// W3C traceparent parsing (trace_context.h) against the spec's rules, and the httpd fixture
// that logs the traceparent of each request it serves.
#include "duende/framework/trace_context.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <string>

#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesTheSpecExample) {
  auto tc = ParseTraceparent(kValid);
  ASSERT_TRUE(tc);
  EXPECT_EQ(tc->version, 0);
  EXPECT_EQ(tc->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tc->parent_id, "00f067aa0ba902b7");
  EXPECT_TRUE(tc->sampled());
  EXPECT_EQ(FormatTraceparent(*tc), kValid);
  auto unsampled = ParseTraceparent(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\t");
  ASSERT_TRUE(unsampled);  // optional whitespace around a header value
  EXPECT_FALSE(unsampled->sampled());
}

TEST(TraceparentTest, RefusesWhatTheSpecRefuses) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version ff
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",  // 00 has no more
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",     // separators
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",     // not hex
           "0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // short version
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",    // later: '-' needed
       }) {
    EXPECT_FALSE(ParseTraceparent(bad)) << bad;
  }
  // A later version may append fields after a '-'.
  auto later = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->version, 0xcc);
}

TEST(TraceparentTest, FindsTheHeaderInARequestHead) {
  bool present = false;
  auto tc = TraceparentOfRequest(
      std::string("GET / HTTP/1.1\r\nHost: x\r\nTraceParent: ") + kValid + "\r\n\r\n", &present);
  ASSERT_TRUE(tc);
  EXPECT_TRUE(present);
  EXPECT_EQ(TraceLogFields(*tc),
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 parent_id=00f067aa0ba902b7 sampled=1");
  EXPECT_FALSE(TraceparentOfRequest("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &present));
  EXPECT_FALSE(present);
  // Repeated: invalid. In the body: not a header.
  EXPECT_FALSE(TraceparentOfRequest(std::string("GET / HTTP/1.1\r\ntraceparent: ") + kValid +
                                    "\r\ntraceparent: " + kValid + "\r\n\r\n"));
  EXPECT_FALSE(TraceparentOfRequest(std::string("POST / HTTP/1.1\r\n\r\ntraceparent: ") + kValid));
}

TEST(TraceparentTest, GeneratedContextsAreValidDistinctAndReproducible) {
  std::set<std::string> ids;
  for (uint64_t n = 0; n < 1000; ++n) {
    auto tc = TraceContextFor(7, n);
    auto back = ParseTraceparent(FormatTraceparent(tc));
    ASSERT_TRUE(back) << FormatTraceparent(tc);
    EXPECT_EQ(back->trace_id, tc.trace_id);
    EXPECT_TRUE(back->sampled());
    ids.insert(tc.trace_id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(TraceContextFor(7, 5).trace_id, TraceContextFor(7, 5).trace_id);
  EXPECT_NE(TraceContextFor(7, 5).trace_id, TraceContextFor(8, 5).trace_id);
}

TEST(TraceparentTest, EachFieldIsCheckedOnItsOwn) {
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736", parent = "00f067aa0ba902b7";
  // One wrong separator is enough.
  EXPECT_FALSE(ParseTraceparent("00_" + trace + "-" + parent + "-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + trace + "_" + parent + "-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + trace + "-" + parent + "_01"));
  // So is one field that is not lowercase hex.
  EXPECT_FALSE(ParseTraceparent("00-" + trace + "-00f067aa0ba902bg-01"));
  EXPECT_FALSE(ParseTraceparent("00-" + trace + "-" + parent + "-0g"));
  EXPECT_FALSE(ParseTraceparent("0g-" + trace + "-" + parent + "-01"));
}

TEST(TraceparentTest, HexBytesOfVersionAndFlags) {
  const std::string ids = "-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-";
  auto nines = ParseTraceparent("09" + ids + "99");
  ASSERT_TRUE(nines);
  EXPECT_EQ(nines->version, 0x09);
  EXPECT_EQ(nines->flags, 0x99);
  EXPECT_TRUE(nines->sampled());
  auto letters = ParseTraceparent("a0" + ids + "fe");
  ASSERT_TRUE(letters);
  EXPECT_EQ(letters->version, 0xa0);
  EXPECT_EQ(letters->flags, 0xfe);
  EXPECT_FALSE(letters->sampled());
  // A later version of exactly 55 characters has no extra fields, and needs none.
  auto later = ParseTraceparent("cc" + ids + "01");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->version, 0xcc);
}

TEST(TraceparentTest, OnlyTheTraceparentHeaderCountsWhateverItsCase) {
  bool present = false;
  auto upper = TraceparentOfRequest(
      std::string("GET / HTTP/1.1\r\nTRACEPARENT: ") + kValid + "\r\n\r\n", &present);
  ASSERT_TRUE(upper);
  EXPECT_TRUE(present);
  // Another header of the same length is not it.
  EXPECT_FALSE(TraceparentOfRequest(
      std::string("GET / HTTP/1.1\r\nx-traceid-1: ") + kValid + "\r\n\r\n", &present));
  EXPECT_FALSE(present);
  // A head that is only a request line.
  EXPECT_FALSE(TraceparentOfRequest("GET / HTTP/1.1", &present));
  EXPECT_FALSE(present);
}

TEST(TraceparentTest, GeneratedParentIdsDifferToo) {
  std::set<std::string> parents;
  for (uint64_t n = 0; n < 100; ++n) parents.insert(TraceContextFor(7, n).parent_id);
  EXPECT_EQ(parents.size(), 100u);
}

// The httpd fixture with --log-traceparent logs the parsed ids of a request it serves.
TEST(TraceparentTest, HttpdFixtureLogsTheIncomingTraceparent) {
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  UniqueFd r(out[0]), w(out[1]);
  SpawnOptions so;
  so.argv = {HTTPD_PATH, "--threads", "1", "--log-traceparent"};
  so.stdout_fd = w.get();
  auto child = Spawn(so);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  w.Reset();
  std::string text;
  auto read_until = [&](const std::string& want) {
    char buf[512];
    for (int i = 0; i < 100 && text.find(want) == std::string::npos; ++i) {
      pollfd p{r.get(), POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = read(r.get(), buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    return text.find(want) != std::string::npos;
  };
  ASSERT_TRUE(read_until("\n")) << text;
  const int port = std::stoi(text.substr(text.rfind(':') + 1));
  UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const std::string req = std::string("GET / HTTP/1.1\r\nHost: x\r\ntraceparent: ") + kValid +
                          "\r\n\r\nGET / HTTP/1.1\r\ntraceparent: 00-zz\r\n\r\n";
  ASSERT_EQ(write(c.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  EXPECT_TRUE(read_until("request traceparent invalid")) << text;
  EXPECT_NE(text.find("request traceparent trace_id=4bf92f3577b34da6a3ce929d0e0e4736 "
                      "parent_id=00f067aa0ba902b7 sampled=1"),
            std::string::npos)
      << text;
  (void)SignalPidfd(child->pidfd.get(), SIGTERM);
  auto st = WaitExit(child->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->success());
}

}  // namespace
}  // namespace duende::framework
