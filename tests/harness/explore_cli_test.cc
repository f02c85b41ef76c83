// `duende explore`, `duende validate` and `duende run` on exploration scenarios, from the
// command line: exit codes, the files a failure leaves (a runnable minimal plan and every
// report), messages for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../reporters/cli_run.h"

namespace duende::harness {
namespace {

namespace fs = std::filesystem;
using duende::testing::RunCli;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kEnv = "DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures ";
const std::string kExplore = std::string(DUENDE_SOURCE_DIR) + "/scenarios/explore";

class ExploreCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/duende-explorecli-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  duende::testing::CliResult Duende(const std::string& args) {
    return RunCli("cd " + dir_ + " && " + kEnv + kDuende + " " + args);
  }
  // An exploration scenario whose property every plan breaks, deterministically: kvd must
  // never exit, and the only fault kind is kill -9. The explorer must fail and shrink to one.
  std::string AlwaysFailing() {
    std::string path = dir_ + "/strict.toml";
    std::ofstream(path) << R"([scenario]
name = "strict"
duration = "800ms"

[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"
[target.readiness]
kind = "notify"

[[check]]
kind = "exit_codes"
allowed = [0]

[explore]
max_faults = 3
window = ["100ms", "500ms"]
step = "100ms"
replays = 0

[[explore.fault]]
kind = "kill"
signal = ["SIGKILL"]
)";
    return path;
  }

  std::string dir_;
};

TEST_F(ExploreCliTest, AFailureLeavesARunnableMinimalPlanAndEveryReport) {
  std::string file = AlwaysFailing();
  auto r = Duende("explore " + file +
                  " --seed 3 --runs 5 --shrink-budget 20s --final-replays 1 "
                  "--out out -q");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("FAILED after 1 plans"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reproduced:         1 of 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reproduce: duende explore " + file + " --reproduce '"), std::string::npos)
      << r.out;
  for (const char* f :
       {"minimal.toml", "events.jsonl", "junit.xml", "report.html", "report.md", "report.json"}) {
    EXPECT_TRUE(fs::exists(dir_ + "/out/" + f)) << f << "\n" << r.out;
  }
  // Shrunk to one kill; the plan is a plain scenario that validates and fails again.
  auto v = Duende("validate out/minimal.toml");
  EXPECT_EQ(v.code, 0) << v.out;
  EXPECT_NE(v.out.find("1 fault(s)"), std::string::npos) << v.out;
  auto again = Duende("run out/minimal.toml -q --events out/again.jsonl");
  EXPECT_EQ(again.code, 1) << again.out;
  EXPECT_NE(again.out.find("kvd killed by signal 9 (SIGKILL) (SIGKILL not allowed)"),
            std::string::npos)
      << again.out;
}

TEST_F(ExploreCliTest, NoFailureIsExitZeroAndWritesNothing) {
  auto r = Duende("explore " + kExplore + "/kvd.toml --seed 7 --runs 2 --out out");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("no failure: "), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(dir_ + "/out"));
}

TEST_F(ExploreCliTest, BadInputIsExitTwoWithTheFix) {
  auto budget = Duende("explore " + kExplore + "/kvd.toml --budget 5x");
  EXPECT_EQ(budget.code, 2);
  EXPECT_NE(budget.out.find("--budget 5x: give a duration such as 90s"), std::string::npos)
      << budget.out;
  std::string plain = std::string(DUENDE_SOURCE_DIR) + "/scenarios/kill-under-load.toml";
  auto no_table = Duende("explore " + plain);
  EXPECT_EQ(no_table.code, 2);
  EXPECT_NE(no_table.out.find("no [explore] table: add one"), std::string::npos) << no_table.out;
  std::string bad = dir_ + "/bad.toml";
  std::ofstream(bad) << "[scenario]\nname = \"b\"\nduration = \"1s\"\n[[target]]\nname = \"t\"\n"
                        "command = [\"sleep\", \"9\"]\n[explore]\nmax_faults = 2\n"
                        "[[explore.fault]]\nkind = \"kil\"\n";
  for (const char* verb : {"explore", "validate"}) {
    auto r = Duende(std::string(verb) + " " + bad);
    EXPECT_EQ(r.code, 2) << verb << "\n" << r.out;
    EXPECT_NE(r.out.find("bad.toml:10:8:"), std::string::npos) << verb << "\n" << r.out;
    EXPECT_NE(r.out.find("'kill'"), std::string::npos) << verb << "\n" << r.out;
  }
}

TEST_F(ExploreCliTest, ValidateChecksBothKindsAndRunPointsToExplore) {
  auto v = Duende("validate " + kExplore + "/kvd.toml " + kExplore + "/fragile-kv.toml");
  EXPECT_EQ(v.code, 0) << v.out;
  EXPECT_NE(v.out.find("ok: exploration scenario 'kvd-explore'"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("ok: exploration scenario 'fragile-kv'"), std::string::npos) << v.out;
  auto run = Duende("run " + kExplore + "/kvd.toml");
  EXPECT_EQ(run.code, 2) << run.out;
  EXPECT_NE(run.out.find("kvd.toml:"), std::string::npos) << run.out;  // file:line:col
  EXPECT_NE(run.out.find(":1: an [explore] table makes this an exploration scenario: run it "
                         "with 'duende explore FILE'"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("unknown key"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace duende::harness
