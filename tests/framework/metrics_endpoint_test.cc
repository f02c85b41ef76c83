// The /metrics endpoint of the framework: listen addresses, the text it serves (checked with
// promtool), its errors, and a framework daemon (kvd) serving its own metrics.
#include "duende/framework/metrics_endpoint.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>

#include "daemon_test_util.h"
#include "duende/framework/config.h"
#include "duende/framework/daemon.h"
#include "duende/framework/proc.h"
#include "duende/framework/supervisor.h"
#include "support/http_get.h"
#include "support/line_client.h"
#include "support/wait.h"

namespace duende::framework {
namespace {

using duende::testing::FreePort;
using duende::testing::HttpGet;
using duende::testing::PromtoolProblems;
using duende::testing::SampleValue;
using testing_util::KvClient;
using testing_util::Proc;
using testing_util::TempDir;

TEST(MetricsListenTest, AcceptsLoopbackForms) {
  for (const char* ok : {"127.0.0.1:9464", "localhost:0", "0.0.0.0:65535"}) {
    EXPECT_EQ(MetricsListenProblem(ok), "") << ok;
  }
}

TEST(MetricsListenTest, V6IsAcceptedOnlyWhereTheServerCanServeIt) {
  if (MetricsServerSupportsIpv6()) {
    EXPECT_EQ(MetricsListenProblem("[::1]:9464"), "");
    return;
  }
  // Refused when the file is read, with the fix, instead of exit 3 at start.
  EXPECT_EQ(MetricsListenProblem("[::1]:9464"),
            "'[::1]:9464' is IPv6, which this build's HTTP server (civetweb without USE_IPV6) "
            "cannot serve; listen on IPV4:PORT such as \"127.0.0.1:9464\"");
  auto c = ParseDaemonConfig("[metrics]\nlisten = \"[::1]:0\"\n", "d.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().context.find("d.toml:2:10: 'listen': '[::1]:0' is IPv6"), std::string::npos)
      << c.error().context;
  auto ep = MetricsEndpoint::Start({"[::1]:0", ""}, [] { return MetricFamilies{}; });
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().code, std::errc::invalid_argument);
}

TEST(MetricsListenTest, RefusesWithTheFix) {
  EXPECT_NE(MetricsListenProblem("9464").find("IPV4:PORT"), std::string::npos);
  EXPECT_NE(MetricsListenProblem("127.0.0.1:70000").find("out of range"), std::string::npos);
  EXPECT_NE(MetricsListenProblem("127.0.0.1:http").find("not a number"), std::string::npos);
  EXPECT_NE(MetricsListenProblem("example.com:9464").find("not resolved"), std::string::npos);
  EXPECT_NE(MetricsListenProblem("::1:9464").find("brackets"), std::string::npos);
  EXPECT_NE(MetricsListenProblem("[zz]:1").find("not an IPv6 address"), std::string::npos);
}

TEST(MetricsConfigTest, BadListenIsFileLineCol) {
  auto c = ParseDaemonConfig("name = \"d\"\n[metrics]\nlisten = \"127.0.0.1:99999\"\n", "d.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().context.find("d.toml:3:10: 'listen': port 99999 is out of range"),
            std::string::npos)
      << c.error().context;
  auto typo = ParseDaemonConfig("[metrics]\nlisen = \"127.0.0.1:1\"\n", "d.toml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().context.find("did you mean 'listen'"), std::string::npos)
      << typo.error().context;
}

TEST(MetricsConfigTest, ListenRoundTripsAndKeepsItsOrigin) {
  auto c = ParseDaemonConfig("name = \"d\"\n[metrics]\nlisten = \"127.0.0.1:9464\"\n", "d.toml");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->metrics.listen, "127.0.0.1:9464");
  EXPECT_EQ(c->metrics.origin, "d.toml:3:10");
  auto again = ParseDaemonConfig(FormatDaemonConfig(*c), "again.toml");
  ASSERT_TRUE(again.ok()) << again.error().Message();
  again->source_file = c->source_file;
  EXPECT_EQ(*again, *c);
}

TEST(MetricsConfigTest, SupervisorMetricsKey) {
  auto bad = ParseServicesFile(
      "[supervisor]\nmetrics = \"localhost\"\n[[service]]\nname = \"a\"\ncommand = "
      "[\"/bin/true\"]\n",
      "s.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().context.find("s.toml:2:11: 'metrics': 'localhost' is not a listen address"),
            std::string::npos)
      << bad.error().context;
  auto good = ParseServicesFile(
      "[supervisor]\nmetrics = \"127.0.0.1:9465\"\n[[service]]\nname = \"a\"\ncommand = "
      "[\"/bin/true\"]\n",
      "s.toml");
  ASSERT_TRUE(good.ok()) << good.error().Message();
  EXPECT_EQ(good->metrics.listen, "127.0.0.1:9465");
}

MetricFamilies SampleFamilies() {
  MetricFamilies out;
  AppendProcessMetrics(*ReadProcessUsage(0), &out);
  MetricsRecorder rec;
  for (int i = 0; i < 10; ++i) rec.AddRequest();
  rec.AddError();
  rec.RecordLatency(std::chrono::microseconds(3));  // bucket le=4us
  rec.RecordLatency(std::chrono::milliseconds(1));  // le=1.024ms
  rec.RecordLatency(std::chrono::seconds(100));     // past the last finite bound
  // A value name with every character the text format must escape.
  rec.Set("quote\"back\\slash\nnewline", 7);
  HealthReport health;
  health.Add({"wal", HealthState::kDegraded, "95% full", {}});
  AppendDaemonMetrics(rec.Snapshot(), health, 4096, &out);
  return out;
}

TEST(MetricsEndpointTest, ServesPromtoolCleanTextAtPortZero) {
  auto ep = MetricsEndpoint::Start({"127.0.0.1:0", ""}, SampleFamilies);
  ASSERT_TRUE(ep.ok()) << ep.error().Message();
  ASSERT_NE((*ep)->port(), 0);
  EXPECT_EQ((*ep)->url(), "http://127.0.0.1:" + std::to_string((*ep)->port()) + "/metrics");
  auto r = HttpGet((*ep)->port(), "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(PromtoolProblems(r.body), "") << r.body;
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_requests_total"), 10);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_errors_total"), 1);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_request_duration_seconds_bucket{le=\"4e-06\"}"), 1)
      << r.body;
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_request_duration_seconds_bucket{le=\"+Inf\"}"), 3);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_request_duration_seconds_count"), 3);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_value{name=\"quote\\\"back\\\\slash\\nnewline\"}"),
            7)
      << r.body;
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_health{state=\"degraded\"}"), 1);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_health{state=\"healthy\"}"), 0);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_locked_memory_bytes"), 4096);
  EXPECT_GT(SampleValue(r.body, "process_resident_memory_bytes"), 1e5);
  EXPECT_GT(SampleValue(r.body, "process_open_fds"), 2);
  EXPECT_NEAR(SampleValue(r.body, "process_start_time_seconds"),
              static_cast<double>(::time(nullptr)), 3600);
  EXPECT_EQ(HttpGet((*ep)->port(), "/other").status, 404);
}

TEST(MetricsEndpointTest, PortInUseIsAddrInUseWithOriginAndHolder) {
  duende::testing::HeldPort held;
  const int port = held.port;
  ASSERT_NE(port, 0);
  auto ep =
      MetricsEndpoint::Start({"127.0.0.1:" + std::to_string(port), "d.toml:3:10"}, SampleFamilies);
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().code, std::errc::address_in_use);
  const std::string m = ep.error().Message();
  EXPECT_EQ(m.rfind("d.toml:3:10: metrics: unable to listen on 127.0.0.1:", 0), 0u) << m;
  EXPECT_NE(m.find("the port is in use by 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << m;
  EXPECT_NE(m.find("pid " + std::to_string(::getpid())), std::string::npos) << m;
}

TEST(MetricsEndpointTest, AddressNotOfThisMachine) {
  // 192.0.2.1 (TEST-NET-1) is on no interface here.
  auto ep = MetricsEndpoint::Start({"192.0.2.1:9464", ""}, SampleFamilies);
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().code, std::errc::address_not_available);
  EXPECT_NE(ep.error().Message().find("not an address of this machine"), std::string::npos);
}

TEST(MetricsEndpointTest, StopsListeningWhenDestroyed) {
  int port = 0;
  {
    auto ep = MetricsEndpoint::Start({"127.0.0.1:0", ""}, SampleFamilies);
    ASSERT_TRUE(ep.ok()) << ep.error().Message();
    port = (*ep)->port();
    ASSERT_EQ(HttpGet(port, "/metrics").status, 200);
  }
  EXPECT_FALSE(duende::testing::CanConnect(port));
}

TEST(MetricsEndpointTest, ListeningSocketIsCloseOnExec) {
  auto ep = MetricsEndpoint::Start({"127.0.0.1:0", ""}, SampleFamilies);
  ASSERT_TRUE(ep.ok()) << ep.error().Message();
  // A child exec'd now must not hold the listener: ask /proc of a child shell.
  auto r = duende::testing::RunCli("ls -l /proc/self/fd | grep -c socket || true");
  EXPECT_EQ(std::atoi(r.out.c_str()), 0) << r.out;
}

TEST(MetricsEndpointTest, HealthChecksAreOneSeriesPerCheckAndState) {
  HealthReport health;
  health.Add({"wal", HealthState::kDegraded, "95% full", {}});
  health.Add({"wal", HealthState::kHealthy, "a second check of that name", {}});
  health.Add({"net", HealthState::kHealthy, "", {}});
  MetricFamilies out;
  AppendDaemonMetrics(MetricsRecorder().Snapshot(), health, 0, &out);
  const std::string text = SerializeMetrics(out);
  EXPECT_EQ(PromtoolProblems(text), "") << text;
  EXPECT_EQ(SampleValue(text, "duende_daemon_health_check{check=\"wal\",state=\"degraded\"}"), 1)
      << text;
  EXPECT_EQ(SampleValue(text, "duende_daemon_health_check{check=\"wal\",state=\"healthy\"}"), 0);
  EXPECT_EQ(SampleValue(text, "duende_daemon_health_check{check=\"net\",state=\"healthy\"}"), 1);
  EXPECT_EQ(SampleValue(text, "duende_daemon_health_check{check=\"net\",state=\"unhealthy\"}"), 0);
  // The first check of a name wins; its twin adds no second series.
  size_t series = 0;
  for (size_t at = text.find("check=\"wal\",state=\"healthy\""); at != std::string::npos;
       at = text.find("check=\"wal\",state=\"healthy\"", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, 1u) << text;

  MetricFamilies none;
  AppendDaemonMetrics(MetricsRecorder().Snapshot(), HealthReport{}, 0, &none);
  const std::string plain = SerializeMetrics(none);
  EXPECT_EQ(plain.find("duende_daemon_health_check"), std::string::npos) << plain;
  EXPECT_EQ(SampleValue(plain, "duende_daemon_health{state=\"healthy\"}"), 1);
}

class IdleDaemon : public Daemon {
 public:
  std::string Name() const override { return "idle"; }
  Result<void> Init(const DaemonConfig&) override { return {}; }
  ExitReason Run(DaemonContext&) override { return ExitReason::Stopped(); }
};

TEST(MetricsEndpointTest, DaemonMetricsIncludeTheProcessOnes) {
  IdleDaemon daemon;
  auto ep = StartDaemonMetrics(daemon, {"127.0.0.1:0", ""});
  ASSERT_TRUE(ep.ok()) << ep.error().Message();
  auto r = HttpGet((*ep)->port(), "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(SampleValue(r.body, "process_open_fds"), 2) << r.body;
  EXPECT_GT(SampleValue(r.body, "process_resident_memory_bytes"), 1e5);
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_health{state=\"healthy\"}"), 1);
}

TEST(MetricsEndpointTest, V6ListenBindsV6Only) {
  // A v4 listener on the same port number does not stand in the way of [::1]: the bind
  // check must use an IPv6 socket on ::1, not a v4 or wildcard one.
  duende::testing::HeldPort held;
  ASSERT_NE(held.port, 0);
  UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (!probe || ::bind(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  probe.Reset();
  if (!MetricsServerSupportsIpv6()) GTEST_SKIP() << "civetweb here is built without IPv6";
  const std::string listen = "[::1]:" + std::to_string(held.port);
  auto ep = MetricsEndpoint::Start({listen, ""}, SampleFamilies);
  ASSERT_TRUE(ep.ok()) << ep.error().Message();
  EXPECT_EQ((*ep)->url(), "http://" + listen + "/metrics");
}

TEST(MetricsEndpointTest, CivetwebStartFailureIsReportedInItsOwnWords) {
  // Port 0 skips the own bind check: the server itself fails on an address not of this machine,
  // and says why through its log, which is captured rather than printed.
  ::testing::internal::CaptureStderr();
  auto ep = MetricsEndpoint::Start({"192.0.2.1:0", "d.toml:3:10"}, SampleFamilies);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().code, std::errc::io_error);
  const std::string prefix = "d.toml:3:10: metrics: unable to serve on 192.0.2.1:0: ";
  const std::string m = ep.error().Message();
  ASSERT_EQ(m.rfind(prefix, 0), 0u) << m;
  const std::string why = m.substr(prefix.size());
  EXPECT_NE(why.find("192.0.2.1"), std::string::npos) << why;
  EXPECT_NE(why.front(), ';') << why;
  EXPECT_EQ(err, "");
}

TEST(MetricsEndpointTest, DestroyingTheEndpointIsPrompt) {
  // civetweb notices a stop only when its poll() times out (2 s) unless it is woken: the
  // destructor wakes it by connecting, for every form of listen address.
  std::vector<std::string> listens = {"127.0.0.1:0", "0.0.0.0:0"};
  UniqueFd probe(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (MetricsServerSupportsIpv6() && probe &&
      ::bind(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    listens.push_back("[::1]:0");
  }
  for (const std::string& listen : listens) {
    auto ep = MetricsEndpoint::Start({listen, ""}, SampleFamilies);
    ASSERT_TRUE(ep.ok()) << listen << ": " << ep.error().Message();
    const int64_t start = MonotonicNs();
    ep->reset();
    const auto took = std::chrono::nanoseconds(MonotonicNs() - start);
    EXPECT_LT(took, std::chrono::milliseconds(1500)) << listen;
  }
}

// kvd (a framework daemon) with [metrics]: its requests, health and locked memory.
TEST(DaemonMetricsTest, KvdServesItsMetricsAndLockedMemory) {
  TempDir dir("kvd-metrics");
  const int mport = FreePort();
  const std::string conf =
      dir.Write("kvd.toml",
                "name = \"kvd\"\n[resources]\nlock_memory = true\n[metrics]\nlisten = "
                "\"127.0.0.1:" +
                    std::to_string(mport) + "\"\n");
  Proc kvd = Proc::Start({KVD_PATH, "--config", conf, "--port", "0", "--data-dir", dir.path()},
                         dir / "stderr");
  const int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  KvClient c(port);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.Call("SET k" + std::to_string(i) + " v"), "OK");
  auto r = HttpGet(mport, "/metrics");
  ASSERT_EQ(r.status, 200) << kvd.Stderr();
  EXPECT_EQ(PromtoolProblems(r.body), "") << r.body;
  EXPECT_GE(SampleValue(r.body, "duende_daemon_requests_total"), 5) << r.body;
  EXPECT_GE(SampleValue(r.body, "duende_daemon_request_duration_seconds_count"), 5) << r.body;
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_value{name=\"keys\"}"), 5) << r.body;
  EXPECT_EQ(SampleValue(r.body, "duende_daemon_health{state=\"healthy\"}"), 1) << r.body;
  // Root may lock; the figure is the kernel's VmLck of kvd, so it is its resident size.
  const double locked = SampleValue(r.body, "duende_daemon_locked_memory_bytes");
  const auto vmlck = StatusKb(kvd.pid(), "VmLck");
  ASSERT_TRUE(vmlck.ok());
  if (*vmlck == 0) GTEST_SKIP() << "mlockall not permitted here: " << kvd.Stderr();
  EXPECT_GT(locked, 1e6);
  EXPECT_NEAR(locked, static_cast<double>(*vmlck) * 1024, 0.2 * locked);
}

TEST(DaemonMetricsTest, PortInUseExits3WithTheKeysPlaceAndLeavesNothing) {
  TempDir dir("kvd-metrics-busy");
  duende::testing::HeldPort held;
  const int mport = held.port;
  ASSERT_NE(mport, 0);
  const std::string conf = dir.Write(
      "kvd.toml",
      "name = \"kvd\"\n[metrics]\nlisten = \"127.0.0.1:" + std::to_string(mport) + "\"\n");
  Proc kvd = Proc::Start({KVD_PATH, "--config", conf, "--port", "0", "--data-dir", dir.path()},
                         dir / "stderr");
  auto st = kvd.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->code, 3) << kvd.Stderr();
  EXPECT_NE(
      kvd.Stderr().find(conf + ":3:10: metrics: unable to listen on 127.0.0.1:" +
                        std::to_string(mport) + ": Address already in use (the port is in use by"),
      std::string::npos)
      << kvd.Stderr();
}

TEST(DaemonMetricsTest, BadListenInTheFileExits2) {
  TempDir dir("kvd-metrics-bad");
  const std::string conf =
      dir.Write("kvd.toml", "name = \"kvd\"\n[metrics]\nlisten = \"127.0.0.1\"\n");
  Proc kvd = Proc::Start({KVD_PATH, "--config", conf, "--port", "0", "--data-dir", dir.path()},
                         dir / "stderr");
  auto st = kvd.Wait(std::chrono::seconds(20));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->code, 2) << kvd.Stderr();
  EXPECT_NE(kvd.Stderr().find(conf + ":3:10: 'listen': '127.0.0.1' is not a listen address"),
            std::string::npos)
      << kvd.Stderr();
}

}  // namespace
}  // namespace duende::framework
