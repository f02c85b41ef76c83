// Probes against real sockets and commands on a real EventLoop.
#include "duende/framework/probe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/health_channel.h"

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

// Answers one HTTP request with `parts` as they are, sent `gap` apart, then either
// closes or (keep_open) waits until the probe closes its end.
void ServeRaw(int lfd, std::vector<std::string> parts, bool keep_open = false,
              milliseconds gap = milliseconds(0)) {
  int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  char buf[1024];
  std::string req;
  while (req.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(c, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(gap);
    ::send(c, parts[i].data(), parts[i].size(), MSG_NOSIGNAL);
  }
  if (keep_open) {
    timeval tv{30, 0};  // a bound, should the probe never close
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (::recv(c, buf, sizeof buf, 0) > 0) {
    }
  }
  ::close(c);
}

// Answers one HTTP request with `status_line`.
void ServeOnce(int lfd, const std::string& status_line) {
  ServeRaw(lfd, {status_line + "\r\nContent-Length: 0\r\n\r\n"});
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

// A probe command that started a helper: the helper dies with the probe's group, and in a
// child subreaper (a Supervisor's process) it is reaped too, not left a zombie of ours. Both
// ways a probe ends: the command exits, and the timeout kills it.
TEST(ProbeTest, AProbesHelperIsNotLeftAZombieOfASubreaper) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) ::_exit(10);
    ProbeConfig c;
    c.kind = ProbeConfig::Kind::kCommand;
    c.command = {"sh", "-c", "sleep 30 & exit 0"};
    if (!RunOne(c).healthy) ::_exit(11);
    c.command = {"sh", "-c", "sleep 30 & sleep 30"};
    c.timeout = milliseconds(200);
    if (RunOne(c).healthy) ::_exit(12);
    // No child of ours is left, not even a zombie.
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0) {
      ::_exit(info.si_pid == 0 ? 13 : 14);  // 13: a live child, 14: a zombie
    }
    ::_exit(errno == ECHILD ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "13: a live helper, 14: a zombie helper, 1x: a probe result";
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

ProbeResult HttpAgainst(std::vector<std::string> parts, bool keep_open = false,
                        milliseconds gap = milliseconds(0)) {
  Listener l;
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kHttp;
  c.address = l.address();
  c.timeout = std::chrono::seconds(5);
  std::thread server([&] { ServeRaw(l.fd.get(), parts, keep_open, gap); });
  ProbeResult r = RunOne(c);
  server.join();
  return r;
}

TEST(ProbeTest, HttpHealthyMeans200Through299) {
  for (const auto& [line, healthy] : std::vector<std::pair<std::string, bool>>{
           {"HTTP/1.1 199 Odd", false},
           {"HTTP/1.1 200 OK", true},
           {"HTTP/1.1 299 Odd", true},
           {"HTTP/1.1 300 Multiple Choices", false},
       }) {
    ProbeResult r = HttpAgainst({line + "\r\n\r\n"});
    EXPECT_EQ(r.healthy, healthy) << line << ": " << r.detail;
    EXPECT_EQ(r.detail, "HTTP " + line.substr(9, 3));
  }
}

TEST(ProbeTest, HttpStatusLineIsReadStrictly) {
  // No reason phrase: still a status line.
  ProbeResult bare = HttpAgainst({"HTTP/1.0 200\r\n\r\n"});
  EXPECT_TRUE(bare.healthy) << bare.detail;
  EXPECT_EQ(bare.detail, "HTTP 200");
  // Not HTTP, a cut-off code, no line at all before the end: no status.
  for (const std::string& reply : {std::string("FTP/1.1 200 OK\r\n\r\n"),
                                   std::string("HTTP/1.1 2\r\n"), std::string("garbage")}) {
    ProbeResult r = HttpAgainst({reply});
    EXPECT_FALSE(r.healthy) << reply;
    EXPECT_EQ(r.detail, "no HTTP status line") << reply;
  }
}

// The status line is all the probe needs: it neither stops at the first piece of it nor waits
// for more once it has it, and a server that never sends a line is read only so far.
TEST(ProbeTest, HttpReadsTheStatusLineAcrossPiecesAndNoFurther) {
  ProbeResult split = HttpAgainst({"HTTP/1.1 2", "00 OK\r\n\r\n"}, false, milliseconds(200));
  EXPECT_TRUE(split.healthy) << split.detail;
  EXPECT_EQ(split.detail, "HTTP 200");
  ProbeResult open = HttpAgainst({"HTTP/1.1 200 OK\r\n"}, /*keep_open=*/true);
  EXPECT_TRUE(open.healthy) << open.detail;
  EXPECT_EQ(open.detail, "HTTP 200");
  ProbeResult endless = HttpAgainst({std::string(4096, 'x')}, /*keep_open=*/true);
  EXPECT_FALSE(endless.healthy);
  EXPECT_EQ(endless.detail, "no HTTP status line");
}

// A timeout of 0 means the default (1 s), and a timeout longer than that is waited out.
TEST(ProbeTest, TheTimeoutIsTheConfiguredOneOrTheDefault) {
  Listener l;  // accepts (backlog) but never answers
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kHttp;
  c.address = l.address();
  c.timeout = milliseconds(0);
  std::optional<ProbeResult> zero;
  auto zero_run = ProbeRun::Start(loop->get(), c, [&](const ProbeResult& r) { zero = r; });
  ASSERT_TRUE(zero_run.ok());
  c.timeout = std::chrono::seconds(30);
  std::optional<ProbeResult> longer;
  auto long_run = ProbeRun::Start(loop->get(), c, [&](const ProbeResult& r) { longer = r; });
  ASSERT_TRUE(long_run.ok());
  const int64_t t0 = MonotonicNs();
  while (MonotonicNs() - t0 < 300'000'000) ASSERT_TRUE((*loop)->RunOnce(50).ok());
  EXPECT_FALSE(zero.has_value()) << zero->detail;  // the default of 1 s has not passed
  while (MonotonicNs() - t0 < 1'500'000'000) ASSERT_TRUE((*loop)->RunOnce(50).ok());
  EXPECT_FALSE(longer.has_value()) << longer->detail;
}

size_t OpenFds() {
  size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

// Once `done` has run, the probe holds nothing: its command is killed and reaped (pid() is
// -1), its pidfd and socket are closed -- even while the ProbeRun object still exists.
TEST(ProbeTest, AFinishedProbeHoldsNoProcessOrDescriptor) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  for (const auto& argv : std::vector<std::vector<std::string>>{{"sleep", "10"}, {"true"}}) {
    ProbeConfig c;
    c.kind = ProbeConfig::Kind::kCommand;
    c.command = argv;
    c.timeout = milliseconds(100);
    // A first run opens whatever is opened once per process (a tool's trace file, say).
    (void)RunOne(c);
    const size_t fds_before = OpenFds();
    std::optional<ProbeResult> result;
    ProbeRun* raw = nullptr;
    pid_t pid_in_done = 0;
    auto run = ProbeRun::Start(loop->get(), c, [&](const ProbeResult& r) {
      result = r;
      pid_in_done = raw->pid();
    });
    ASSERT_TRUE(run.ok());
    raw = run->get();
    const pid_t pid = raw->pid();
    ASSERT_GT(pid, 0);
    const int64_t give_up = MonotonicNs() + 10'000'000'000;
    while (!result && MonotonicNs() < give_up) ASSERT_TRUE((*loop)->RunOnce(100).ok());
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(pid_in_done, -1) << argv[0];
    EXPECT_EQ(raw->pid(), -1);
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1) << argv[0] << " still exists";
    EXPECT_EQ(errno, ESRCH);
    EXPECT_EQ(OpenFds(), fds_before) << argv[0];
  }
  // A finished tcp probe has closed its connection: the server reads the end of it.
  Listener l;
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kTcp;
  c.address = l.address();
  std::optional<ProbeResult> result;
  auto run = ProbeRun::Start(loop->get(), c, [&](const ProbeResult& r) { result = r; });
  ASSERT_TRUE(run.ok());
  const int64_t give_up = MonotonicNs() + 10'000'000'000;
  while (!result && MonotonicNs() < give_up) ASSERT_TRUE((*loop)->RunOnce(100).ok());
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->healthy) << result->detail;
  UniqueFd conn(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  timeval tv{10, 0};
  ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b = 0;
  EXPECT_EQ(::recv(conn.get(), &b, 1, 0), 0) << "the probe's socket is still open";
}

// `done` never runs after the ProbeRun is destroyed, whatever was pending: the timeout, or a
// result already decided inside Start().
TEST(ProbeTest, DestroyingAProbeCancelsItsResult) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  Listener l;  // never answers
  ProbeConfig http;
  http.kind = ProbeConfig::Kind::kHttp;
  http.address = l.address();
  http.timeout = milliseconds(50);
  std::atomic<int> calls{0};
  auto count = [&](const ProbeResult&) { ++calls; };
  auto pending = ProbeRun::Start(loop->get(), http, count);
  ASSERT_TRUE(pending.ok());
  auto channel = CreateHealthChannel();
  ASSERT_TRUE(channel.ok());
  channel->second.Reset();  // the daemon's end is gone: the request fails inside Start()
  ProbeConfig daemon;
  daemon.kind = ProbeConfig::Kind::kDaemon;
  auto decided = ProbeRun::Start(loop->get(), daemon, count, channel->first.get());
  ASSERT_TRUE(decided.ok());
  pending->reset();
  decided->reset();
  const int64_t t0 = MonotonicNs();
  while (MonotonicNs() - t0 < 300'000'000) ASSERT_TRUE((*loop)->RunOnce(50).ok());
  EXPECT_EQ(calls.load(), 0);
}

// A daemon probe: one request on the health channel, the reply with its sequence number.
struct DaemonProbe {
  std::unique_ptr<EventLoop> loop;
  UniqueFd supervisor_end;
  UniqueFd daemon_end;
  std::unique_ptr<ProbeRun> run;
  std::optional<ProbeResult> result;
  uint64_t seq = 0;

  DaemonProbe() {
    auto l = EventLoop::Create();
    EXPECT_TRUE(l.ok());
    loop = std::move(*l);
    auto channel = CreateHealthChannel();
    EXPECT_TRUE(channel.ok());
    supervisor_end = std::move(channel->first);
    daemon_end = std::move(channel->second);
  }
  // Starts the probe and reads its request (it is sent inside Start()).
  void Start() {
    result.reset();
    ProbeConfig c;
    c.kind = ProbeConfig::Kind::kDaemon;
    c.timeout = std::chrono::seconds(5);
    auto r = ProbeRun::Start(
        loop.get(), c, [this](const ProbeResult& res) { result = res; }, supervisor_end.get());
    ASSERT_TRUE(r.ok()) << r.error().Message();
    run = std::move(*r);
    char buf[kHealthRequestMax];
    ssize_t n = ::recv(daemon_end.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    const std::string request(buf, static_cast<size_t>(n));
    ASSERT_EQ(request.rfind("health ", 0), 0u) << request;
    seq = std::stoull(request.substr(7));
  }
  void Reply(const std::string& reply) {
    ASSERT_EQ(::send(daemon_end.get(), reply.data(), reply.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(reply.size()));
  }
  ProbeResult Wait() {
    const int64_t give_up = MonotonicNs() + 10'000'000'000;
    while (!result && MonotonicNs() < give_up) EXPECT_TRUE(loop->RunOnce(100).ok());
    run.reset();
    return result.value_or(ProbeResult{false, "no result"});
  }
};

TEST(ProbeTest, DaemonProbeTakesTheStateOfTheReplyToItsOwnRequest) {
  DaemonProbe p;
  for (const auto& [state, healthy] : std::vector<std::pair<std::string, bool>>{
           {"healthy", true}, {"degraded", true}, {"unhealthy", false}}) {
    ASSERT_NO_FATAL_FAILURE(p.Start());
    // A late reply to an earlier request comes first: it is skipped, not taken for this one.
    p.Reply(std::to_string(p.seq - 1) + " unhealthy stale");
    p.Reply(std::to_string(p.seq) + " " + state + " db: " + state);
    ProbeResult r = p.Wait();  // the same channel serves the next probe
    EXPECT_EQ(r.healthy, healthy) << state;
    EXPECT_EQ(r.detail, "daemon health: db: " + state);
  }
}

TEST(ProbeTest, DaemonProbeRepliesUpToTheLimitAndNoLonger) {
  DaemonProbe p;
  ASSERT_NO_FATAL_FAILURE(p.Start());
  std::string head = std::to_string(p.seq) + " healthy ";
  const std::string text(kHealthReplyMax - head.size(), 't');
  p.Reply(head + text);  // exactly kHealthReplyMax bytes
  ProbeResult full = p.Wait();
  EXPECT_TRUE(full.healthy) << full.detail;
  EXPECT_EQ(full.detail, "daemon health: " + text);
  ASSERT_NO_FATAL_FAILURE(p.Start());
  head = std::to_string(p.seq) + " healthy ";
  p.Reply(head + std::string(kHealthReplyMax + 1 - head.size(), 't'));
  ProbeResult over = p.Wait();
  EXPECT_FALSE(over.healthy);
  EXPECT_NE(over.detail.find("over the limit"), std::string::npos) << over.detail;
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.Reply("nonsense");
  ProbeResult bad = p.Wait();
  EXPECT_FALSE(bad.healthy);
  EXPECT_NE(bad.detail.find("malformed health reply"), std::string::npos) << bad.detail;
}

TEST(ProbeTest, DaemonProbeNamesAClosedChannelAndAMissingOne) {
  DaemonProbe p;
  ASSERT_NO_FATAL_FAILURE(p.Start());
  p.daemon_end.Reset();  // the daemon read the request, then closed its end
  ProbeResult r = p.Wait();
  EXPECT_FALSE(r.healthy);
  EXPECT_EQ(r.detail.rfind("the program closed its health channel (fd 3, DUENDE_HEALTH_FD); "
                           "kind = \"daemon\" needs a program built on duende::framework",
                           0),
            0u)
      << r.detail;
  ProbeConfig c;
  c.kind = ProbeConfig::Kind::kDaemon;
  auto none = ProbeRun::Start(
      p.loop.get(), c, [](const ProbeResult&) {}, -1);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().Message().find("without a health channel"), std::string::npos);
}

}  // namespace
}  // namespace duende::framework
