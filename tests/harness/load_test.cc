#include "duende/harness/load.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/trace_context.h"
#include "duende/harness/load_protocol.h"

namespace duende::harness {
namespace {

using namespace std::chrono_literals;

// A loopback server with one thread per connection. The handler gets the bytes received so
// far and returns how many it used and what to answer (nullopt: no answer, e.g. a stall).
class TestServer {
 public:
  struct Answer {
    size_t used = 0;  // 0: need more bytes
    std::optional<std::string> reply;
    bool close = false;
  };
  using Handler = std::function<Answer(std::string_view)>;

  explicit TestServer(Handler handler, uint16_t port = 0) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 512) != 0)
      ADD_FAILURE() << "bind/listen: " << strerror(errno);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~TestServer() { Stop(); }

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  uint64_t requests() const { return requests_.load(); }

  /// Closes the listener and every connection, and joins every thread.
  void Stop() {
    if (stopped_.exchange(true)) return;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : threads_) t.join();
  }

 private:
  void Accept() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      bool closing = false;
      for (;;) {
        Answer a = handler_(in);
        if (a.used == 0) break;
        in.erase(0, a.used);
        ++requests_;
        if (a.reply) send(fd, a.reply->data(), a.reply->size(), MSG_NOSIGNAL);
        if (a.close) {
          closing = true;
          break;
        }
      }
      if (closing) break;
    }
    // Closed here, not in Stop(): the fd stays ours until this thread ends.
    std::lock_guard<std::mutex> lock(mu_);
    fds_.erase(std::find(fds_.begin(), fds_.end(), fd));
    close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
};

// Line framing: hands each complete line (without "\n") to `respond`.
TestServer::Handler LineHandler(std::function<std::optional<std::string>(std::string_view)> f) {
  return [f](std::string_view in) {
    TestServer::Answer a;
    const size_t nl = in.find('\n');
    if (nl == std::string_view::npos) return a;
    a.used = nl + 1;
    a.reply = f(in.substr(0, nl));
    return a;
  };
}

// A key-value store speaking kvd's protocol: SET k v -> OK, GET k -> VALUE v | NOT_FOUND.
struct KvStore {
  std::mutex mu;
  std::map<std::string, std::string> data;

  TestServer::Handler Handler() {
    return LineHandler([this](std::string_view line) -> std::optional<std::string> {
      std::lock_guard<std::mutex> lock(mu);
      if (line.substr(0, 4) == "SET ") {
        const size_t sp = line.find(' ', 4);
        data[std::string(line.substr(4, sp - 4))] = std::string(line.substr(sp + 1));
        return "OK\n";
      }
      if (line.substr(0, 4) == "GET ") {
        auto it = data.find(std::string(line.substr(4)));
        return it == data.end() ? std::string("NOT_FOUND\n") : "VALUE " + it->second + "\n";
      }
      return "ERR unknown command\n";
    });
  }
};

// HTTP/1.1: answers every request (headers, plus a Content-Length body) with `status`.
TestServer::Handler HttpHandler(std::function<int()> status) {
  return [status](std::string_view in) {
    TestServer::Answer a;
    const size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) return a;
    size_t body = 0;
    const size_t cl = in.substr(0, end).find("Content-Length: ");
    if (cl != std::string_view::npos) body = std::stoul(std::string(in.substr(cl + 16, 10)));
    if (in.size() < end + 4 + body) return a;
    a.used = end + 4 + body;
    const int code = status();
    a.reply = "HTTP/1.1 " + std::to_string(code) + (code == 200 ? " OK" : " Error") +
              "\r\nContent-Length: 2\r\n\r\nok";
    return a;
  };
}

LoadConfig LineConfig(const std::string& address) {
  LoadConfig c;
  c.protocol = "tcp-line";
  c.address = address;
  c.request = "PING {seq}";
  c.expect = "PONG [0-9]+";
  c.connections = 2;
  c.duration = 500ms;
  c.timeout = 300ms;
  return c;
}

std::optional<std::string> Pong(std::string_view line) {
  return "PONG " + std::string(line.substr(5)) + "\n";
}

struct LoadRun {
  LoadSummary summary;
  std::vector<LoadSecond> seconds;
  std::map<std::string, uint64_t> acked;
  std::vector<LoadOp> ops;  // the history, in the order the batches came
  size_t batches = 0;
};

LoadRun RunLoad(const LoadConfig& config) {
  auto gen = LoadGenerator::Create(config);
  EXPECT_TRUE(gen.ok()) << gen.error().Message();
  LoadRun run;
  if (!gen.ok()) return run;
  std::mutex mu;
  (*gen)->Start(
      [&](const LoadSecond& s) {
        std::lock_guard<std::mutex> lock(mu);
        run.seconds.push_back(s);
      },
      [&](std::vector<LoadOp>&& ops) {
        std::lock_guard<std::mutex> lock(mu);
        ++run.batches;
        run.ops.insert(run.ops.end(), ops.begin(), ops.end());
      });
  (*gen)->Wait();
  run.summary = (*gen)->Summary();
  run.acked = (*gen)->LastAckedPerKey();
  return run;
}

std::string Describe(const LoadSummary& s) {
  std::string out = "sent " + std::to_string(s.sent) + " ok " + std::to_string(s.ok) + " errors " +
                    std::to_string(s.errors) + " timeouts " + std::to_string(s.timeouts) +
                    " abandoned " + std::to_string(s.abandoned) + " connects " +
                    std::to_string(s.connects) + " drops " + std::to_string(s.drops) + "; errors:";
  for (const auto& e : s.error_examples) out += " [" + e + "]";
  return out;
}

void ExpectAccounted(const LoadSummary& s) {
  EXPECT_EQ(s.sent, s.ok + s.errors + s.timeouts + s.abandoned)
      << "ok " << s.ok << " errors " << s.errors << " timeouts " << s.timeouts << " abandoned "
      << s.abandoned;
}

TEST(LoadProtocolTest, TemplatesExpandEveryPlaceholder) {
  RequestTemplate t("SET {key} {seq} n={n} {other}");
  EXPECT_EQ(t.Expand({42, 7}), "SET k7 42 n=7 {other}");
  EXPECT_FALSE(t.constant());
  EXPECT_TRUE(RequestTemplate("PING").constant());
}

TEST(LoadProtocolTest, TemplatesMatchReadBackReplies) {
  RequestTemplate t("VALUE {key} {seq}");
  uint64_t seq = 0;
  EXPECT_TRUE(t.Match("VALUE k7 1234", 7, &seq));
  EXPECT_EQ(seq, 1234u);
  EXPECT_FALSE(t.Match("VALUE k8 1234", 7, &seq));
  EXPECT_FALSE(t.Match("VALUE k7 12x", 7, &seq));
  EXPECT_FALSE(t.Match("NOT_FOUND", 7, &seq));
  EXPECT_TRUE(t.has_seq());
  EXPECT_FALSE(RequestTemplate("GET {key}").has_seq());
}

TEST(LoadProtocolTest, RedisRequestsAreRespArrays) {
  RequestBuilder b;
  b.protocol = LoadProtocol::kRedis;
  b.body = RequestTemplate("SET {key} {seq}");
  std::string out;
  b.Build({12, 3}, &out);
  EXPECT_EQ(out, "*3\r\n$3\r\nSET\r\n$2\r\nk3\r\n$2\r\n12\r\n");
}

TEST(LoadProtocolTest, ParsesRedisReplies) {
  Reply r;
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "+OK\r\n", &r), 5);
  EXPECT_EQ(r.text, "OK");
  EXPECT_TRUE(r.protocol_ok);
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "$3\r\n12", &r), 0);
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "$2\r\n12\r\nxx", &r), 8);
  EXPECT_EQ(r.text, "12");
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "$-1\r\n", &r), 5);
  EXPECT_EQ(r.text, "(nil)");
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "-ERR wrong\r\n", &r), 12);
  EXPECT_FALSE(r.protocol_ok);
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "*2\r\n:1\r\n$1\r\na\r\n", &r), 15);
  EXPECT_EQ(r.text, "1 a");
  EXPECT_EQ(ParseReply(LoadProtocol::kRedis, "?\r\n", &r), -1);
}

TEST(LoadProtocolTest, ParsesHttpLengthAndChunkedBodies) {
  Reply r;
  const std::string plain = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  EXPECT_EQ(ParseReply(LoadProtocol::kHttp, plain.substr(0, plain.size() - 1), &r), 0);
  EXPECT_EQ(ParseReply(LoadProtocol::kHttp, plain, &r), static_cast<int64_t>(plain.size()));
  EXPECT_EQ(r.text, "hello");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.protocol_ok);
  const std::string chunked =
      "HTTP/1.1 503 Busy\r\ntransfer-encoding: chunked\r\nConnection: close\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  EXPECT_EQ(ParseReply(LoadProtocol::kHttp, chunked, &r), static_cast<int64_t>(chunked.size()));
  EXPECT_EQ(r.text, "abcde");
  EXPECT_FALSE(r.protocol_ok);
  EXPECT_TRUE(r.close);
  EXPECT_EQ(ParseReply(LoadProtocol::kHttp, "garbage\r\n\r\n", &r), -1);
}

TEST(LoadProtocolTest, ReplyMatcherMatchesWholeReply) {
  auto m = ReplyMatcher::Create("OK");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->Matches("OK"));
  EXPECT_FALSE(m->Matches("NOT OK"));
  auto re = ReplyMatcher::Create("VALUE [0-9]+");
  ASSERT_TRUE(re.ok());
  EXPECT_TRUE(re->Matches("VALUE 12"));
  EXPECT_FALSE(re->Matches("VALUE x"));
  EXPECT_FALSE(ReplyMatcher::Create("(unclosed").ok());
}

TEST(LoadGeneratorTest, RejectsBadConfigNamingTheField) {
  LoadConfig c = LineConfig("127.0.0.1:1");
  c.protocol = "smtp";
  auto r = LoadGenerator::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("load.protocol"), std::string::npos);
  c = LineConfig("10.0.0.1:80");
  r = LoadGenerator::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("loopback"), std::string::npos);
  // The testing range is for the nodes duende created, not for any address in it.
  c = LineConfig("198.18.0.10:80");
  r = LoadGenerator::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("nor one of this scenario's [[node]]s"), std::string::npos)
      << r.error().Message();
  c.node_addresses = {"198.18.0.11"};
  EXPECT_FALSE(LoadGenerator::Create(c).ok());
  c.node_addresses = {"198.18.0.10"};
  EXPECT_TRUE(LoadGenerator::Create(c).ok());
  c = LineConfig("127.0.0.1:1");
  c.write_template = "SET {key} {seq}";
  c.keys = 1;
  r = LoadGenerator::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("load.keys"), std::string::npos);
  c = LineConfig("127.0.0.1:1");
  c.expect = "[";
  EXPECT_FALSE(LoadGenerator::Create(c).ok());
  c = LineConfig("127.0.0.1:1");
  c.mode = "sideways";
  EXPECT_FALSE(LoadGenerator::Create(c).ok());
}

TEST(LoadGeneratorTest, OpenLoopSendsOnScheduleAndCountsEveryReply) {
  TestServer server(LineHandler(Pong));
  LoadConfig c = LineConfig(server.address());
  c.rate = 2000;
  c.duration = 1s;
  c.timeout = 2s;  // a loaded CI machine must not turn replies into timeouts
  LoadRun run = RunLoad(c);
  const LoadSummary& s = run.summary;
  // The schedule issues exactly rate * duration requests; all are answered.
  EXPECT_EQ(s.sent, 2000u);
  EXPECT_EQ(s.ok, 2000u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(server.requests(), 2000u);
  EXPECT_NEAR(s.achieved_rate, 2000, 40);
  EXPECT_EQ(s.target_rate, 2000);
  EXPECT_EQ(s.histogram->Count(), 2000u);
  EXPECT_GT(s.p50_us, 0);
  EXPECT_LE(s.p50_us, s.p99_us);
  EXPECT_LE(s.p99_us, s.max_us);
  ExpectAccounted(s);
  // The per-second series adds up to the totals.
  uint64_t sent = 0, ok = 0;
  for (const LoadSecond& sec : run.seconds) sent += sec.sent, ok += sec.ok;
  EXPECT_EQ(sent, s.sent);
  EXPECT_EQ(ok, s.ok);
  ASSERT_FALSE(run.seconds.empty());
  EXPECT_EQ(run.seconds[0].second, 0);
}

TEST(LoadGeneratorTest, WrongRepliesAreErrors) {
  std::atomic<int> n{0};
  TestServer server(LineHandler([&](std::string_view line) -> std::optional<std::string> {
    if (++n % 4 == 0) return "ERR busy\n";
    return Pong(line);
  }));
  LoadConfig c = LineConfig(server.address());
  c.mode = "closed";
  c.duration = 300ms;
  LoadRun run = RunLoad(c);
  const LoadSummary& s = run.summary;
  EXPECT_GT(s.ok, 100u);
  EXPECT_EQ(s.errors, server.requests() / 4);
  EXPECT_EQ(s.ok + s.errors, server.requests());
  ASSERT_FALSE(s.error_examples.empty());
  EXPECT_EQ(s.error_examples[0], "unexpected reply 'ERR busy'");
  ExpectAccounted(s);
}

// A port with nothing listening: bind, read the port, close.
std::string RefusingAddress() {
  TestServer probe(LineHandler(Pong));
  return probe.address();
}

// The history holds every request exactly once, with the counts' outcome and the reply.
void ExpectHistoryMatches(const LoadRun& run, uint32_t connections) {
  const LoadSummary& s = run.summary;
  size_t ok = 0, errors = 0, timeouts = 0, abandoned = 0;
  std::set<uint64_t> seqs;
  for (const LoadOp& op : run.ops) {
    EXPECT_LE(op.invoke_ns, op.complete_ns);
    EXPECT_LE(op.client, connections);
    if (op.seq != 0) {
      EXPECT_TRUE(seqs.insert(op.seq).second) << "seq " << op.seq << " twice";
    }
    switch (op.outcome) {
      case OpOutcome::kOk:
        ++ok;
        EXPECT_TRUE(op.text.empty());
        break;
      case OpOutcome::kTimeout:
        ++timeouts;
        break;
      case OpOutcome::kAbandoned:
        ++abandoned;
        break;
      default:
        ++errors;
        EXPECT_FALSE(op.text.empty());
    }
  }
  EXPECT_EQ(run.ops.size(), s.sent);
  EXPECT_EQ(ok, s.ok);
  EXPECT_EQ(errors, s.errors);
  EXPECT_EQ(timeouts, s.timeouts);
  EXPECT_EQ(abandoned, s.abandoned);
}

TEST(LoadHistoryTest, EveryRequestIsRecordedOnceWithItsReply) {
  std::atomic<int> n{0};
  TestServer server(LineHandler([&](std::string_view line) -> std::optional<std::string> {
    if (++n % 4 == 0) return "ERR busy\n";
    return Pong(line);
  }));
  LoadConfig c = LineConfig(server.address());
  c.rate = 400;
  c.duration = 700ms;
  const int64_t before = framework::MonotonicNs();
  LoadRun run = RunLoad(c);
  ExpectHistoryMatches(run, c.connections);
  EXPECT_EQ(run.ops.size(), 280u);
  EXPECT_GE(run.batches, 3u) << "batches come about every 200 ms";
  size_t busy = 0;
  for (const LoadOp& op : run.ops) {
    EXPECT_GE(op.invoke_ns, before);
    if (op.outcome == OpOutcome::kWrongReply) {
      EXPECT_EQ(op.text, "ERR busy");
      ++busy;
    }
  }
  EXPECT_EQ(busy, server.requests() / 4);
}

TEST(LoadHistoryTest, RefusedAndStalledRequestsAreRecorded) {
  LoadConfig c = LineConfig(RefusingAddress());
  c.rate = 200;
  c.duration = 300ms;
  LoadRun refused = RunLoad(c);
  ExpectHistoryMatches(refused, c.connections);
  ASSERT_EQ(refused.ops.size(), 60u);
  for (const LoadOp& op : refused.ops) {
    EXPECT_EQ(op.outcome, OpOutcome::kNotSent);
    EXPECT_EQ(op.seq, 0u);
    EXPECT_NE(op.text.find("Connection refused"), std::string::npos) << op.text;
  }

  TestServer stalled(LineHandler([](std::string_view) { return std::nullopt; }));
  LoadConfig s = LineConfig(stalled.address());
  s.rate = 50;
  s.duration = 200ms;
  s.timeout = 100ms;
  LoadRun run = RunLoad(s);
  ExpectHistoryMatches(run, s.connections);
  ASSERT_FALSE(run.ops.empty());
  for (const LoadOp& op : run.ops) {
    EXPECT_EQ(op.outcome, OpOutcome::kTimeout);
    EXPECT_TRUE(Indeterminate(op.outcome));
    EXPECT_GE(op.complete_ns - op.invoke_ns, 100'000'000);
  }
}

TEST(LoadGeneratorTest, StalledServerCountsTimeoutsWithTheirLatency) {
  TestServer server(LineHandler([](std::string_view) { return std::nullopt; }));
  LoadConfig c = LineConfig(server.address());
  c.rate = 100;
  c.duration = 500ms;
  c.timeout = 200ms;
  LoadRun run = RunLoad(c);
  const LoadSummary& s = run.summary;
  EXPECT_EQ(s.sent, 50u);
  EXPECT_EQ(s.ok, 0u);
  EXPECT_EQ(s.timeouts, 50u) << Describe(s);
  // Timeouts stay in the histogram: every latency is at least the timeout.
  EXPECT_EQ(s.histogram->Count(), 50u);
  EXPECT_GE(s.p50_us, 200'000);
  EXPECT_LT(s.max_us, 1'000'000);
  ExpectAccounted(s);
}

TEST(LoadGeneratorTest, OpenLoopMeasuresFromIntendedTimeWhenTheServerIsSlow) {
  // One connection, a server taking 20 ms per reply, 200 req/s wanted: requests queue
  // behind each other, and their latency must include the queueing (no coordinated
  // omission), far above the 20 ms service time.
  TestServer server(LineHandler([](std::string_view line) {
    std::this_thread::sleep_for(20ms);
    return Pong(line);
  }));
  LoadConfig c = LineConfig(server.address());
  c.connections = 1;
  c.threads = 1;
  c.rate = 200;
  c.duration = 500ms;
  c.timeout = 2s;
  LoadRun run = RunLoad(c);
  const LoadSummary& s = run.summary;
  EXPECT_EQ(s.sent + 0, s.ok + s.timeouts + s.errors);
  EXPECT_GT(s.p99_us, 200'000) << "queueing delay missing from the latency";
  EXPECT_LT(s.achieved_rate, 100);
}

TEST(LoadGeneratorTest, RefusedConnectionsAreErrors) {
  LoadConfig c = LineConfig(RefusingAddress());
  c.rate = 200;
  c.duration = 300ms;
  LoadRun run = RunLoad(c);
  EXPECT_EQ(run.summary.ok, 0u);
  EXPECT_EQ(run.summary.errors, run.summary.sent);
  EXPECT_EQ(run.summary.sent, 60u);
  ASSERT_FALSE(run.summary.error_examples.empty());
  EXPECT_NE(run.summary.error_examples[0].find("Connection refused"), std::string::npos);
}

TEST(LoadGeneratorTest, ReconnectsAfterTheTargetRestarts) {
  auto server = std::make_unique<TestServer>(LineHandler(Pong));
  const uint16_t port = server->port();
  LoadConfig c = LineConfig(server->address());
  c.mode = "closed";
  c.duration = 1500ms;
  auto gen = LoadGenerator::Create(c);
  ASSERT_TRUE(gen.ok());
  std::mutex mu;
  std::vector<LoadSecond> seconds;
  (*gen)->Start([&](const LoadSecond& s) {
    std::lock_guard<std::mutex> lock(mu);
    seconds.push_back(s);
  });
  std::this_thread::sleep_for(400ms);
  server->Stop();  // the "crash": every connection drops, connects are refused
  server.reset();
  std::this_thread::sleep_for(300ms);
  server = std::make_unique<TestServer>(LineHandler(Pong), port);
  const uint64_t before = server->requests();
  (*gen)->Wait();
  const LoadSummary s = (*gen)->Summary();
  EXPECT_GT(server->requests(), before + 100) << "no load after the restart";
  EXPECT_GT(s.errors, 0u);
  EXPECT_GT(s.connects, 2u);
  EXPECT_GT(s.drops, 0u);
  ExpectAccounted(s);
  ASSERT_GE(seconds.size(), 2u);
  EXPECT_GT(seconds.back().ok, 0u);
}

TEST(LoadGeneratorTest, StopIsPromptAndAccountsInFlightRequests) {
  TestServer server(LineHandler([](std::string_view) { return std::nullopt; }));
  LoadConfig c = LineConfig(server.address());
  c.duration = 60s;
  c.timeout = 30s;
  auto gen = LoadGenerator::Create(c);
  ASSERT_TRUE(gen.ok());
  (*gen)->Start(nullptr);
  std::this_thread::sleep_for(200ms);
  const int64_t t0 = framework::MonotonicNs();
  (*gen)->Stop();
  const int64_t took = framework::MonotonicNs() - t0;
  EXPECT_LT(took, 500'000'000) << "Stop() took " << took << " ns";
  const LoadSummary s = (*gen)->Summary();
  EXPECT_GT(s.abandoned, 0u);
  EXPECT_EQ(s.ok, 0u);
  ExpectAccounted(s);
  EXPECT_LT(s.elapsed_s, 1.0);
}

TEST(LoadGeneratorTest, HttpKeepAliveCountsNon2xxAsErrors) {
  std::atomic<int> n{0};
  TestServer server(HttpHandler([&] { return ++n % 10 == 0 ? 500 : 200; }));
  LoadConfig c;
  c.protocol = "http";
  c.address = server.address();
  c.mode = "closed";
  c.connections = 4;
  c.duration = 300ms;
  c.http_path = "/item/{n}";
  c.expect = "ok";
  LoadRun run = RunLoad(c);
  const LoadSummary& s = run.summary;
  EXPECT_GT(s.ok, 100u);
  EXPECT_EQ(s.ok + s.errors, server.requests());
  EXPECT_EQ(s.errors, server.requests() / 10);
  EXPECT_EQ(s.connects, 4u) << "keep-alive connections were not reused";
  ExpectAccounted(s);
}

// traceparent = true: every request carries a valid W3C traceparent header (seen by the
// loopback server), and the summary names the failed requests by the trace ids they carried.
TEST(LoadGeneratorTest, HttpSendsTraceparentAndNamesFailedRequestsByTraceId) {
  std::mutex mu;
  std::map<std::string, int> status_of;  // trace id -> the status the server answered
  int without = 0;
  std::atomic<int> n{0};
  TestServer server([&](std::string_view in) {
    TestServer::Answer a;
    const size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) return a;
    a.used = end + 4;
    const int code = ++n % 7 == 0 ? 500 : 200;
    auto tc = framework::TraceparentOfRequest(in.substr(0, end + 4));
    {
      std::lock_guard lock(mu);
      if (tc) {
        status_of[tc->trace_id] = code;
      } else {
        ++without;
      }
    }
    a.reply = "HTTP/1.1 " + std::to_string(code) + " X\r\nContent-Length: 2\r\n\r\nok";
    return a;
  });
  LoadConfig c;
  c.protocol = "http";
  c.address = server.address();
  c.mode = "closed";
  c.connections = 2;
  c.duration = 300ms;
  c.expect = "ok";
  c.traceparent = true;
  c.seed = 42;
  LoadRun run = RunLoad(c);
  std::lock_guard lock(mu);
  EXPECT_EQ(without, 0);
  EXPECT_GT(status_of.size(), 20u);
  EXPECT_EQ(status_of.size(), server.requests()) << "trace ids repeat across requests";
  ASSERT_FALSE(run.summary.failed_traces.empty());
  for (const auto& t : run.summary.failed_traces) {
    ASSERT_EQ(status_of.count(t.trace_id), 1u) << t.trace_id;
    EXPECT_EQ(status_of[t.trace_id], 500);
    EXPECT_EQ(t.outcome, "error");
  }
  ASSERT_EQ(run.summary.slowest_traces.size(), kMaxTracedRequests);
  for (size_t i = 1; i < run.summary.slowest_traces.size(); ++i) {
    EXPECT_GE(run.summary.slowest_traces[i - 1].latency_us,
              run.summary.slowest_traces[i].latency_us);
    EXPECT_EQ(status_of.count(run.summary.slowest_traces[i].trace_id), 1u);
  }
}

TEST(LoadGeneratorTest, HttpPostSendsTheBody) {
  std::mutex mu;
  std::string seen;
  TestServer server([&](std::string_view in) {
    auto a = HttpHandler([] { return 200; })(in);
    if (a.used) {
      std::lock_guard<std::mutex> lock(mu);
      seen.assign(in.substr(0, a.used));
    }
    return a;
  });
  LoadConfig c;
  c.protocol = "http";
  c.address = server.address();
  c.mode = "closed";
  c.connections = 1;
  c.duration = 100ms;
  c.http_method = "POST";
  c.request = "value={seq}";
  LoadRun run = RunLoad(c);
  EXPECT_GT(run.summary.ok, 0u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.rfind("POST / HTTP/1.1\r\n", 0), 0u) << seen;
  EXPECT_NE(seen.find("\r\n\r\nvalue="), std::string::npos) << seen;
}

LoadConfig KvConfig(const std::string& address) {
  LoadConfig c = LineConfig(address);
  c.write_template = "SET {key} {seq}";
  c.expect = "OK";
  c.read_template = "GET {key}";
  c.read_expect = "VALUE {seq}";
  c.keys = 20;
  c.connections = 4;
  c.mode = "closed";
  c.duration = 300ms;
  return c;
}

TEST(LoadReadBackTest, AllAcknowledgedWritesReadBack) {
  KvStore store;
  TestServer server(store.Handler());
  const LoadConfig c = KvConfig(server.address());
  LoadRun run = RunLoad(c);
  ASSERT_GT(run.summary.ok, 100u);
  ASSERT_EQ(run.acked.size(), 20u);
  auto rb = ReadBack(c, run.acked);
  ASSERT_TRUE(rb.ok()) << rb.error().Message();
  EXPECT_EQ(rb->keys, 20u);
  EXPECT_EQ(rb->acked_writes, 20u);
  EXPECT_EQ(rb->lost, 0u);
  // The map holds the last acknowledged seq, exactly what the store has.
  std::lock_guard<std::mutex> lock(store.mu);
  for (const auto& [key, seq] : run.acked) EXPECT_EQ(store.data[key], std::to_string(seq));
}

TEST(LoadReadBackTest, DetectsAPlantedLostWrite) {
  KvStore store;
  TestServer server(store.Handler());
  const LoadConfig c = KvConfig(server.address());
  LoadRun run = RunLoad(c);
  ASSERT_EQ(run.acked.size(), 20u);
  {
    std::lock_guard<std::mutex> lock(store.mu);
    // k3 goes back to an older value, k5 disappears: two lost writes. k7 holds a newer
    // (unacknowledged) value: not a loss.
    store.data["k3"] = std::to_string(run.acked["k3"] - 1);
    store.data.erase("k5");
    store.data["k7"] = std::to_string(run.acked["k7"] + 100);
  }
  auto rb = ReadBack(c, run.acked);
  ASSERT_TRUE(rb.ok()) << rb.error().Message();
  EXPECT_EQ(rb->lost, 2u);
  ASSERT_EQ(rb->lost_examples.size(), 2u);
  EXPECT_EQ(std::get<0>(rb->lost_examples[0]), "k3");
  EXPECT_EQ(std::get<1>(rb->lost_examples[0]), run.acked["k3"]);
  EXPECT_EQ(std::get<2>(rb->lost_examples[0]), "VALUE " + std::to_string(run.acked["k3"] - 1));
  EXPECT_EQ(std::get<0>(rb->lost_examples[1]), "k5");
  EXPECT_EQ(std::get<2>(rb->lost_examples[1]), "NOT_FOUND");
}

TEST(LoadReadBackTest, UniqueKeysWriteEveryKeyOnceAndReadEachBack) {
  KvStore store;
  TestServer server(store.Handler());
  LoadConfig c = KvConfig(server.address());
  c.keys = 0;  // unique keys
  LoadRun run = RunLoad(c);
  ASSERT_GT(run.summary.ok, 100u);
  ExpectHistoryMatches(run, c.connections);
  // One key per acknowledged write, named by its seq, never rewritten.
  EXPECT_EQ(run.acked.size(), run.summary.ok);
  for (const LoadOp& op : run.ops) {
    if (op.outcome == OpOutcome::kOk) {
      EXPECT_EQ(op.key, op.seq);
    }
  }
  {
    std::lock_guard<std::mutex> lock(store.mu);
    EXPECT_EQ(store.data.size(), server.requests());
    for (const auto& [key, seq] : run.acked) EXPECT_EQ(key, "k" + std::to_string(seq));
    // The store loses the first acknowledged write: no later write can hide that.
    store.data.erase(run.acked.begin()->first);
  }
  auto rb = ReadBack(c, run.acked);
  ASSERT_TRUE(rb.ok()) << rb.error().Message();
  EXPECT_EQ(rb->acked_writes, run.summary.ok);
  EXPECT_EQ(rb->lost, 1u);
  ASSERT_EQ(rb->reads.size(), run.acked.size());
  size_t not_found = 0;
  for (const LoadOp& read : rb->reads) {
    if (read.found == 0) {
      ++not_found;
      EXPECT_EQ(read.text, "NOT_FOUND");
    } else {
      EXPECT_EQ(read.found, read.key);
    }
  }
  EXPECT_EQ(not_found, 1u);
}

TEST(LoadReadBackTest, ManyKeysAreReadInParallelWithinTheBudget) {
  KvStore store;
  TestServer server(store.Handler());
  LoadConfig c = KvConfig(server.address());
  std::map<std::string, uint64_t> acked;
  {
    std::lock_guard<std::mutex> lock(store.mu);
    for (uint64_t k = 1; k <= 9000; ++k) {
      acked["k" + std::to_string(k)] = k;
      store.data["k" + std::to_string(k)] = std::to_string(k);
    }
    store.data.erase("k4321");
  }
  auto rb = ReadBack(c, acked);
  ASSERT_TRUE(rb.ok()) << rb.error().Message();
  EXPECT_EQ(rb->keys, 9000u);
  EXPECT_EQ(rb->lost, 1u);
  std::set<uint32_t> clients;
  for (const LoadOp& read : rb->reads) clients.insert(read.client);
  EXPECT_EQ(clients.size(), 4u) << "one connection per 2000 keys";
}

TEST(LoadReadBackTest, HttpWritesAndReadsBack) {
  // POST /kv/<key> stores the body; GET /kv/<key> answers it (404 when absent).
  std::mutex mu;
  std::map<std::string, std::string> data;
  TestServer server([&](std::string_view in) {
    TestServer::Answer a;
    const size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) return a;
    size_t body = 0;
    const size_t cl = in.substr(0, end).find("Content-Length: ");
    if (cl != std::string_view::npos) body = std::stoul(std::string(in.substr(cl + 16, 10)));
    if (in.size() < end + 4 + body) return a;
    a.used = end + 4 + body;
    const std::string_view line = in.substr(0, in.find("\r\n"));
    const size_t p = line.find("/kv/");
    const std::string key(line.substr(p + 4, line.find(' ', p) - p - 4));
    std::lock_guard<std::mutex> lock(mu);
    std::string reply_body = "stored";
    int code = 200;
    if (line.rfind("POST", 0) == 0) {
      data[key] = std::string(in.substr(end + 4, body));
    } else if (data.count(key)) {
      reply_body = data[key];
    } else {
      code = 404;
      reply_body = "none";
    }
    a.reply = "HTTP/1.1 " + std::to_string(code) +
              " X\r\nContent-Length: " + std::to_string(reply_body.size()) + "\r\n\r\n" +
              reply_body;
    return a;
  });
  LoadConfig c;
  c.protocol = "http";
  c.address = server.address();
  c.mode = "closed";
  c.connections = 2;
  c.keys = 8;
  c.duration = 200ms;
  c.http_method = "POST";
  c.http_path = "/kv/{key}";
  c.write_template = "{seq}";
  c.expect = "stored";
  c.read_template = "/kv/{key}";
  c.read_expect = "{seq}";
  LoadRun run = RunLoad(c);
  ASSERT_EQ(run.acked.size(), 8u);
  auto rb = ReadBack(c, run.acked);
  ASSERT_TRUE(rb.ok()) << rb.error().Message();
  EXPECT_EQ(rb->lost, 0u);
  {
    std::lock_guard<std::mutex> lock(mu);
    data.erase("k2");
  }
  rb = ReadBack(c, run.acked);
  ASSERT_TRUE(rb.ok()) << rb.error().Message();
  EXPECT_EQ(rb->lost, 1u);
}

TEST(LoadReadBackTest, UnreachableTargetIsAnErrorNotAVerdict) {
  uint16_t port;
  {
    TestServer probe(LineHandler(Pong));
    port = probe.port();
  }
  LoadConfig c = KvConfig("127.0.0.1:" + std::to_string(port));
  c.timeout = 100ms;
  auto rb = ReadBack(c, {{"k1", 5}});
  ASSERT_FALSE(rb.ok());
  EXPECT_NE(rb.error().Message().find("read-back of k1"), std::string::npos);
}

// Spread over nodes: each connection talks to the node `spread` picks, and each op of the
// history names it.
TEST(LoadHistoryTest, SpreadOverNodesRecordsEachRequestsNode) {
  TestServer a(LineHandler(Pong)), b(LineHandler(Pong));
  for (const char* spread : {"pinned", "round-robin", "random"}) {
    LoadConfig c = LineConfig(a.address());
    c.mode = "closed";
    c.connections = 4;
    c.duration = 300ms;
    c.nodes = {{"a", a.address()}, {"b", b.address()}};
    c.spread = spread;
    const size_t before_a = a.requests(), before_b = b.requests();
    LoadRun run = RunLoad(c);
    std::map<std::string, size_t> per_node;
    size_t unnamed = 0;
    for (const LoadOp& op : run.ops) {
      if (op.outcome != OpOutcome::kOk) continue;
      if (op.node != "a" && op.node != "b") ++unnamed;
      ++per_node[op.node];
      if (std::string(spread) == "pinned") {
        EXPECT_EQ(op.node, op.client % 2 == 0 ? "a" : "b") << "connection i to node i mod 2";
      }
    }
    // Each server answered the ops that name it (plus at most one in flight per connection
    // when the load stopped).
    for (auto [node, got] :
         {std::pair{"a", a.requests() - before_a}, std::pair{"b", b.requests() - before_b}}) {
      EXPECT_LE(per_node[node], got) << spread;
      EXPECT_LE(got, per_node[node] + c.connections) << spread;
    }
    if (std::string(spread) != "random") {
      EXPECT_GT(per_node["a"], 0u) << spread;
      EXPECT_GT(per_node["b"], 0u) << spread;
    }
    EXPECT_EQ(unnamed, 0u) << spread << ": every ok op names its node";
  }
}

}  // namespace
}  // namespace duende::harness
