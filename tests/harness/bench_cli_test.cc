// `duende bench restart` on the reference daemon kvd: the output has every row the docs name,
// and N kills give N measurements under the supervisor and N under the bare parent.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/cli.h"
#include "support/line_client.h"
#include "support/temp_dir.h"

namespace {

using duende::testing::RunArgv;

// kvd under the supervisor: notify readiness, restarted always after a 5 ms backoff (no
// jitter, no growth), no start limit that a quick series of kills could hit.
std::string WriteKvdConfig(const std::string& dir) {
  const std::string path = dir + "/kvd.toml";
  std::ofstream(path) << "name = \"kvd\"\n"
                      << "command = [\"" << KVD_PATH << "\", \"--port\", \""
                      << duende::testing::FreePort() << "\", \"--data-dir\", \"" << dir
                      << "/data\"]\n"
                      << "[restart]\npolicy = \"always\"\nstart_limit_burst = 10000\n"
                      << "[restart.backoff]\ninitial = \"5ms\"\nmultiplier = 1.0\nmax = \"5ms\"\n"
                      << "jitter = \"none\"\n"
                      << "[health.readiness]\nkind = \"notify\"\n";
  return path;
}

TEST(BenchCliTest, RestartJsonHasOneMeasurementPerKill) {
  duende::testing::TempDir dir("bench");
  ASSERT_FALSE(dir.path().empty());
  const std::string config = WriteKvdConfig(dir.path());
  auto r = RunArgv({DUENDE_PATH, "bench", "restart", config, "--kills", "6", "--json"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["daemon"], "kvd");
  EXPECT_EQ(j["platform"], "native");
  EXPECT_EQ(j["kills"], 6);
  for (const char* row : {"kill_to_exit", "kill_to_spawn", "kill_to_ready", "restart_overhead"}) {
    SCOPED_TRACE(row);
    EXPECT_EQ(j[row]["count"], 6);
    const double median = j[row]["median"], p99 = j[row]["p99"], max = j[row]["max"];
    EXPECT_GT(median, 0.0);
    EXPECT_LE(median, p99);
    EXPECT_LE(p99, max);
  }
  // Each restart: exit seen, then spawned after the 5 ms backoff, then ready.
  EXPECT_LE(j["kill_to_exit"]["median"].get<double>(), j["kill_to_spawn"]["median"].get<double>());
  EXPECT_LE(j["kill_to_spawn"]["median"].get<double>(), j["kill_to_ready"]["median"].get<double>());
  EXPECT_GE(j["kill_to_spawn"]["median"].get<double>(), 5.0);
  EXPECT_EQ(j["bare"]["kills"], 6);
  EXPECT_EQ(j["bare"]["kill_to_spawn"]["count"], 6);
  EXPECT_EQ(j["bare"]["kill_to_exit"]["count"], 6);
  EXPECT_GT(j["ratio_to_bare"].get<double>(), 0.0);
  EXPECT_EQ(j["backoff"]["delay"]["count"], 6);
  EXPECT_DOUBLE_EQ(j["backoff"]["delay"]["median"].get<double>(), 5.0);
  EXPECT_EQ(j["backoff"]["timer_error"]["count"], 6);
}

TEST(BenchCliTest, RestartTablePrintsTheRatioAndTheTimer) {
  duende::testing::TempDir dir("bench");
  ASSERT_FALSE(dir.path().empty());
  const std::string config = WriteKvdConfig(dir.path());
  auto r = RunArgv({DUENDE_PATH, "bench", "restart", config, "--kills", "3"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* line :
       {"restart of kvd on native: 3 SIGKILLs", "exit seen", "new child spawned", "new child ready",
        "bare posix_spawn+pidfd parent", "ratio to the bare parent",
        "backoff timer error (spawn start - scheduled time), 3 restarts"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << " in:\n" << r.out;
  }
  // kvd's own log lines went to its log file, not into the report.
  EXPECT_EQ(r.out.find("info:"), std::string::npos) << r.out;
}

TEST(BenchCliTest, BadInputIsRefusedWithExitCode2) {
  duende::testing::TempDir dir("bench");
  ASSERT_FALSE(dir.path().empty());
  const std::string config = WriteKvdConfig(dir.path());
  auto r = RunArgv({DUENDE_PATH, "bench", "restart", config, "--platform", "vmware"});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("vmware"), std::string::npos) << r.err;
  const std::string bad = dir.path() + "/bad.toml";
  std::ofstream(bad)
      << "name = \"kvd\"\ncommand = [\"/bin/true\"]\n[restart]\npolicy = \"sometimes\"\n";
  r = RunArgv({DUENDE_PATH, "bench", "restart", bad});
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("bad.toml:4:10"), std::string::npos) << r.err;
}

}  // namespace
