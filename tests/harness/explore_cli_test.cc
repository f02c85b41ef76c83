// `duende explore`, `duende validate` and `duende run` on exploration scenarios, from the
// command line: exit codes, the files a failure leaves (a runnable minimal plan and every
// report), messages for bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "support/cli.h"

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
shrink_replays = 1

[[explore.fault]]
kind = "kill"
signal = ["SIGKILL"]
)";
    return path;
  }

  // A target whose property breaks on every other run, whatever the plan: it counts its runs
  // in a file of the test's directory, and on odd ones exits 1 when it is asked to stop. No
  // plan can reproduce more often, so the explorer must say the minimal plan is flaky.
  std::string EveryOtherRun() {
    std::string path = dir_ + "/flaky.toml";
    std::ofstream(path) << R"([scenario]
name = "flaky"
duration = "800ms"

[[target]]
name = "sh"
command = ["sh", "-c", """
if [ ! -e {run_dir}/started ]; then touch {run_dir}/started; n=$(cat )" +
                               dir_ + R"(/count 2>/dev/null || echo 0); echo $((n + 1)) > )" +
                               dir_ + R"(/count; fi
code=$(( $(cat )" + dir_ + R"(/count) % 2 ))
trap "exit $code" TERM
while :; do sleep 0.02; done"""]

[[check]]
kind = "exit_codes"
allowed = [0]

[explore]
max_faults = 1
window = ["300ms", "600ms"]  # after the shell has set its trap
step = "100ms"
shrink_replays = 1
final_replays = 4

[[explore.fault]]
kind = "kill"
signal = ["SIGTERM"]
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
  EXPECT_NE(r.out.find("reproduced:         minimal plan reproduces in 1 of 1 replays"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("reproduce: duende explore " + file + " --reproduce '"), std::string::npos)
      << r.out;
  for (const char* f :
       {"minimal.toml", "events.jsonl", "junit.xml", "report.html", "report.md", "report.json"}) {
    EXPECT_TRUE(fs::exists(dir_ + "/out/" + f)) << f << "\n" << r.out;
  }
  // The header of the plan says how often it reproduced, with the seed.
  std::ifstream in(dir_ + "/out/minimal.toml");
  std::string header((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(header.find("(from " + file + "), seed 3.\n"), std::string::npos) << header;
  EXPECT_NE(header.find("\n# Minimal plan reproduces in 1 of 1 replays.\n"), std::string::npos)
      << header;
  // The reports say it too, and replay the minimal plan (not the explore file).
  std::ifstream json_in(dir_ + "/out/report.json");
  std::string json((std::istreambuf_iterator<char>(json_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(json.find("minimal plan reproduces in 1 of 1 replays"), std::string::npos) << json;
  EXPECT_NE(json.find("duende run out/minimal.toml --seed "), std::string::npos) << json;
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

TEST_F(ExploreCliTest, AMinimalPlanThatFailsOnlySometimesIsCalledFlakyWithItsRate) {
  std::string file = EveryOtherRun();
  auto r = Duende("explore " + file + " --seed 3 --runs 5 --out out -q");
  EXPECT_EQ(r.code, 1) << r.out;  // a bug was found all the same
  // Every other run fails (a very loaded machine might add a failure: a SIGTERM that comes
  // before the shell's trap), so fewer than 4 of 4, and said so everywhere.
  const std::regex console(
      "reproduced: +FLAKY: minimal plan reproduces in only [0-3] of 4 replays \\(4 needed");
  EXPECT_TRUE(std::regex_search(r.out, console)) << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("warning: the minimal plan is flaky: it failed in [0-3] of 4 replays")))
      << r.out;
  std::ifstream in(dir_ + "/out/minimal.toml");
  std::string header((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(std::regex_search(
      header, std::regex("\n# FLAKY: minimal plan reproduces in only [0-3] of 4 replays")))
      << header;
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
  EXPECT_NE(budget.out.find(
                "--budget must be a duration such as \"5s\", \"250ms\" or \"2m\", not \"5x\""),
            std::string::npos)
      << budget.out;
  auto old = Duende("explore " + kExplore + "/kvd.toml --replays 2");
  EXPECT_EQ(old.code, 2);
  EXPECT_NE(old.out.find("--replays is gone"), std::string::npos) << old.out;
  EXPECT_NE(old.out.find("use --shrink-replays N"), std::string::npos) << old.out;
  auto rate = Duende("explore " + kExplore + "/kvd.toml --min-fail-rate 0");
  EXPECT_EQ(rate.code, 2) << rate.out;
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
