// /metrics of `duende supervise` and `duende run --metrics`, end to end: real processes, the
// text checked with promtool, the errors of a port in use or a bad address, and a real
// Prometheus server scraping the supervisor while a service is killed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"
#include "support/background.h"
#include "support/cli.h"
#include "support/files.h"
#include "support/http_get.h"
#include "support/line_client.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace duende {
namespace {

using namespace std::chrono_literals;
using testing::Background;
using testing::Eventually;
using testing::FreePort;
using testing::HeldPort;
using testing::HttpGet;
using testing::PromtoolProblems;
using testing::ReadFile;
using testing::SampleValue;
using testing::TempDir;

std::string ServicesFile(const std::string& metrics, const std::string& stamp_args = "") {
  return "[supervisor]\nmetrics = \"" + metrics +
         "\"\n[[service]]\nname = \"a\"\ncommand = [\"" STAMP_PATH "\"" + stamp_args +
         "]\n[service.restart.backoff]\ninitial = \"50ms\"\njitter = \"none\"\n";
}

double Scrape(int port, const std::string& series, std::string* body = nullptr) {
  auto r = HttpGet(port, "/metrics");
  if (body != nullptr) *body = r.body;
  return r.status == 200 ? SampleValue(r.body, series) : std::nan("");
}

// The main pid of service `a`, from `duende ctl status --json`.
pid_t ServicePid(const std::string& socket) {
  auto r = testing::RunArgv({DUENDE_PATH, "ctl", "--socket", socket, "status", "--json"});
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.contains("services") || j["services"].empty()) return -1;
  return j["services"][0].value("pid", -1);
}

TEST(SuperviseMetricsTest, ServesServicesAndCountsARestart) {
  TempDir dir("sup-metrics");
  const std::string file = dir.Write("services.toml", ServicesFile("127.0.0.1:0"));
  Background sup({DUENDE_PATH, "supervise", "--socket", dir / "ctl.sock", file}, dir / "err");
  const int port = sup.WaitMetricsPort();
  ASSERT_NE(port, 0) << sup.Stderr();
  ASSERT_TRUE(
      Eventually([&] { return Scrape(port, "duende_service_up{service=\"a\"}") == 1; }, 20s))
      << sup.Stderr();
  std::string body;
  Scrape(port, "", &body);
  EXPECT_EQ(PromtoolProblems(body), "") << body;
  EXPECT_EQ(SampleValue(body, "duende_service_state{service=\"a\",state=\"running\"}"), 1) << body;
  EXPECT_EQ(SampleValue(body, "duende_service_state{service=\"a\",state=\"failed\"}"), 0);
  EXPECT_EQ(SampleValue(body, "duende_service_restarts_total{service=\"a\"}"), 0);
  EXPECT_EQ(SampleValue(body, "duende_service_processes{service=\"a\"}"), 1);
  EXPECT_GT(SampleValue(body, "duende_service_resident_memory_bytes{service=\"a\"}"), 1e5);
  EXPECT_GE(SampleValue(body, "duende_service_open_fds{service=\"a\"}"), 1);
  EXPECT_GT(SampleValue(body, "process_resident_memory_bytes"), 1e5);

  const pid_t pid = ServicePid(dir / "ctl.sock");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(Eventually(
      [&] {
        return Scrape(port, "duende_service_restarts_total{service=\"a\"}") == 1 &&
               Scrape(port, "duende_service_up{service=\"a\"}") == 1;
      },
      20s))
      << sup.Stderr();
  Scrape(port, "", &body);
  EXPECT_EQ(SampleValue(body, "duende_service_last_exit_signal{service=\"a\"}"), 9) << body;
  EXPECT_EQ(SampleValue(body, "duende_service_last_exit_code{service=\"a\"}"), -1);
  EXPECT_EQ(SampleValue(body, "duende_service_spawns_total{service=\"a\"}"), 2);
  EXPECT_EQ(PromtoolProblems(body), "") << body;
}

TEST(SuperviseMetricsTest, BackoffDelayAndStartLimitHits) {
  TempDir dir("sup-metrics-limit");
  // Exits 1 at once: restarts after 1s each until the start limit (3 starts in 10s) is hit.
  const std::string file = dir.Write(
      "services.toml",
      "[supervisor]\nmetrics = \"127.0.0.1:0\"\n[[service]]\nname = \"a\"\ncommand = [\"" STAMP_PATH
      "\", \"--exit\", \"1\"]\n[service.restart]\nstart_limit_burst = 3\n"
      "[service.restart.backoff]\ninitial = \"1s\"\nmultiplier = 1.0\njitter = \"none\"\n");
  Background sup({DUENDE_PATH, "supervise", "--socket", dir / "ctl.sock", file}, dir / "err");
  const int port = sup.WaitMetricsPort();
  ASSERT_NE(port, 0) << sup.Stderr();
  EXPECT_TRUE(Eventually(
      [&] { return Scrape(port, "duende_service_backoff_delay_seconds{service=\"a\"}") == 1; },
      20s))
      << sup.Stderr();
  ASSERT_TRUE(Eventually(
      [&] { return Scrape(port, "duende_service_start_limit_hits_total{service=\"a\"}") == 1; },
      30s))
      << sup.Stderr();
  std::string body;
  Scrape(port, "", &body);
  EXPECT_EQ(SampleValue(body, "duende_service_state{service=\"a\",state=\"failed\"}"), 1) << body;
  EXPECT_EQ(SampleValue(body, "duende_service_backoff_delay_seconds{service=\"a\"}"), 0);
  EXPECT_EQ(SampleValue(body, "duende_service_last_exit_code{service=\"a\"}"), 1);
  EXPECT_EQ(SampleValue(body, "duende_service_up{service=\"a\"}"), 0);
  EXPECT_EQ(PromtoolProblems(body), "") << body;
}

TEST(SuperviseMetricsTest, PortInUseExits3AndStartsNothing) {
  TempDir dir("sup-metrics-busy");
  HeldPort held;
  ASSERT_NE(held.port, 0);
  const std::string stamp = dir / "started";
  const std::string file = dir.Write(
      "services.toml",
      ServicesFile("127.0.0.1:" + std::to_string(held.port), ", \"--fifo\", \"" + stamp + "\""));
  auto r = testing::RunArgv({DUENDE_PATH, "supervise", "--socket", dir / "ctl.sock", file});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find(file + ":2:11: metrics: unable to listen on 127.0.0.1:" +
                       std::to_string(held.port) + ": Address already in use"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("pick another port"), std::string::npos) << r.err;
  EXPECT_NE(::access(stamp.c_str(), F_OK), 0) << "the service was started";
  EXPECT_NE(::access((dir / "ctl.sock").c_str(), F_OK), 0) << "the control socket was left";
}

TEST(SuperviseMetricsTest, BadAddressExits2AtItsPlace) {
  TempDir dir("sup-metrics-bad");
  const std::string file = dir.Write("services.toml", ServicesFile("127.0.0.1:port"));
  auto r = testing::RunArgv({DUENDE_PATH, "supervise", "--socket", dir / "ctl.sock", file});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(file + ":2:11: 'metrics': port 'port' is not a number"), std::string::npos)
      << r.err;
}

TEST(RunMetricsTest, ServesLoadFaultsAndRestartsWhileRunning) {
  TempDir dir("run-metrics");
  Background run({DUENDE_PATH, "run", "-q", DUENDE_SOURCE_DIR "/scenarios/kill-under-load.toml",
                  "--metrics", "127.0.0.1:0"},
                 dir / "err");
  const int port = run.WaitMetricsPort();
  ASSERT_NE(port, 0) << run.Stderr();
  std::string body;
  // The scenario kills kvd at 1.2 s and 2.2 s under 300 writes/s for 4 s.
  ASSERT_TRUE(Eventually(
      [&] {
        return Scrape(port, "duende_run_target_restarts_total{target=\"kvd\"}", &body) >= 1 &&
               SampleValue(body, "duende_run_requests_total{outcome=\"ok\"}") > 100;
      },
      30s))
      << body << run.Stderr();
  EXPECT_EQ(PromtoolProblems(body), "") << body;
  EXPECT_EQ(SampleValue(body, "duende_run_scenario_info{scenario=\"kill-under-load\"}"), 1) << body;
  EXPECT_GE(SampleValue(body, "duende_run_faults_injected_total"), 1);
  EXPECT_GT(SampleValue(body, "duende_run_request_duration_seconds_count"), 100);
  auto st = run.Wait(60s);
  ASSERT_TRUE(st.has_value()) << run.Stderr();
  EXPECT_FALSE(testing::CanConnect(port)) << "the endpoint outlived the run";
}

TEST(RunMetricsTest, BadAddressExits2PortInUseExits3) {
  auto bad =
      testing::RunArgv({DUENDE_PATH, "run", DUENDE_SOURCE_DIR "/scenarios/kill-under-load.toml",
                        "--metrics", "9464"});
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--metrics: '9464' is not a listen address"), std::string::npos)
      << bad.err;
  HeldPort held;
  ASSERT_NE(held.port, 0);
  auto busy =
      testing::RunArgv({DUENDE_PATH, "run", DUENDE_SOURCE_DIR "/scenarios/kill-under-load.toml",
                        "--metrics", "127.0.0.1:" + std::to_string(held.port)});
  EXPECT_EQ(busy.code, 3) << busy.err;
  EXPECT_NE(busy.err.find("metrics: unable to listen on 127.0.0.1:" + std::to_string(held.port)),
            std::string::npos)
      << busy.err;
  // Nothing ran: no target was started, so no scenario header was printed.
  EXPECT_EQ(busy.out.find("kill-under-load"), std::string::npos) << busy.out;
}

// A query through Prometheus's HTTP API: the first sample's value, NaN when there is none.
double PromQuery(int port, const std::string& promql) {
  std::string q;
  for (unsigned char ch : promql) {
    char buf[4];
    if (std::isalnum(ch) != 0 || ch == '_') {
      q += static_cast<char>(ch);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", ch);
      q += buf;
    }
  }
  auto r = HttpGet(port, "/api/v1/query?query=" + q, 5s);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success") return std::nan("");
  const auto& result = j["data"]["result"];
  if (!result.is_array() || result.empty()) return std::nan("");
  return std::strtod(result[0]["value"][1].get<std::string>().c_str(), nullptr);
}

TEST(PrometheusScrapeTest, SeesTheRestartCounterGrowAfterASigkill) {
  TempDir dir("prometheus");
  const std::string file = dir.Write("services.toml", ServicesFile("127.0.0.1:0"));
  Background sup({DUENDE_PATH, "supervise", "--socket", dir / "ctl.sock", file}, dir / "sup.err");
  const int mport = sup.WaitMetricsPort();
  ASSERT_NE(mport, 0) << sup.Stderr();
  // Prometheus cannot listen on port 0: take a free port (bound and released just now).
  const int pport = FreePort();
  ASSERT_NE(pport, 0);
  const std::string config =
      dir.Write("prometheus.yml",
                "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
                "scrape_configs:\n  - job_name: duende\n    static_configs:\n"
                "      - targets: ['127.0.0.1:" +
                    std::to_string(mport) + "']\n");
  ::mkdir((dir / "tsdb").c_str(), 0700);
  Background prom(
      {"/usr/bin/prometheus", "--config.file=" + config, "--storage.tsdb.path=" + (dir / "tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(pport), "--log.level=warn"},
      dir / "prom.err");
  const std::string series = "duende_service_restarts_total{service=\"a\"}";
  ASSERT_TRUE(Eventually([&] { return PromQuery(pport, series) == 0; }, 30s))
      << prom.Stderr() << sup.Stderr();
  EXPECT_EQ(PromQuery(pport, "up{job=\"duende\"}"), 1);
  const pid_t pid = ServicePid(dir / "ctl.sock");
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(Eventually([&] { return PromQuery(pport, series) == 1; }, 30s)) << prom.Stderr();
  EXPECT_TRUE(
      Eventually([&] { return PromQuery(pport, "increase(" + series + "[1m])") > 0; }, 10s));
  ::kill(prom.pid(), SIGTERM);
  EXPECT_TRUE(prom.Wait(20s).has_value()) << prom.Stderr();
}

}  // namespace
}  // namespace duende
