// `duende mutate` as a user runs it: exit codes 0/1/2/3, gates.toml, reports on disk.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"
#include "duende/mutate/test_runner.h"
#include "support/files.h"

namespace duende::mutate {
namespace {

namespace fs = std::filesystem;
using duende::testing::ReadFile;

struct Cli {
  int code = -1;
  std::string out;
};

Cli Duende(std::vector<std::string> args, const fs::path& cwd) {
  args.insert(args.begin(), {DUENDE_CLI, "mutate"});
  Cli r;
  auto st = RunCaptured(args, cwd.string(), &r.out);
  EXPECT_TRUE(st.ok());
  if (st.ok()) r.code = st->signaled ? 128 + st->signal : st->code;
  return r;
}

class MutateCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(framework::MakePrivateTempDir("duende-test-mutate-cli").value());
    fs::copy(fs::path(DUENDE_SOURCE_DIR) / "tests/mutate/sample", *root_ / "src",
             fs::copy_options::recursive);
    std::string out;
    auto st =
        RunCaptured({"cmake", "-S", (*root_ / "src").string(), "-B", (*root_ / "build").string(),
                     "-G", "Ninja", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"},
                    root_->string(), &out);
    ASSERT_TRUE(st.ok() && st->success()) << out;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  static fs::path* root_;
};

fs::path* MutateCliTest::root_ = nullptr;

TEST_F(MutateCliTest, GateFromGatesTomlFailsBelowMinScore) {
  std::ofstream(*root_ / "gates.toml") << R"([mutate]
compile_db = "build/compile_commands.json"
jobs = 2
timeout_margin = "1s"
min_score = 70
json_report = "out.json"
junit_report = "out.xml"
html_report = "out.html"
)";
  Cli r = Duende({"--config", "../gates.toml", "-q"}, *root_ / "src");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("src/calc.cc:26:3: warning: survived: 'Note()' -> '' [VoidCall]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("mutate: gate FAILED: mutation score 65.2% < 70.0%"), std::string::npos)
      << r.out;
  auto doc = nlohmann::json::parse(ReadFile((*root_ / "out.json").string()));
  EXPECT_EQ(doc["files"]["src/calc.cc"]["mutants"].size(), 26u);
  const std::string junit = ReadFile((*root_ / "out.xml").string());
  EXPECT_NE(junit.find("<testcase name=\"gate\" classname=\"duende-mutate\" time=\"0.000\">\n"
                       "      <failure message=\"measured mutation score 65.2% &lt; 70.0%"),
            std::string::npos)
      << junit;
  EXPECT_NE(ReadFile((*root_ / "out.html").string()).find("gate failed"), std::string::npos);

  // The same run passes a lower bar.
  r = Duende({"--config", "../gates.toml", "-q", "--min-score", "65"}, *root_ / "src");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST_F(MutateCliTest, BadInputExitsTwo) {
  Cli r = Duende({}, *root_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("duende: error: no compilation database given"), std::string::npos) << r.out;
  r = Duende({"-p", "build", "--shard", "4/4"}, *root_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("expected K/N with 0 <= K < N"), std::string::npos) << r.out;
  r = Duende({"-p", "build", "--operators", "relational,bogus"}, *root_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown mutation operator 'bogus'"), std::string::npos) << r.out;
  std::ofstream(*root_ / "bad.toml") << "[mutate]\ncompile_db = \"build\"\njobz = 2\n";
  r = Duende({"--config", "bad.toml"}, *root_);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("bad.toml:3:1: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("'jobs'"), std::string::npos) << r.out;
}

// SIGTERM in the middle of a run: the test it was running is killed with it (nothing is left
// running), and the exit code is 130.
TEST_F(MutateCliTest, ATerminatedRunStopsItsTestsAndExits130) {
  const fs::path pidfile = *root_ / "test.pid";
  fs::remove(pidfile);
  std::ofstream(*root_ / "hang.sh") << "echo $$ > " << pidfile.string() << "\nexec sleep 60\n";
  framework::SpawnOptions o;
  o.argv = {DUENDE_CLI,
            "mutate",
            "-p",
            "build",
            "-q",
            "--test-command",
            "sh " + (*root_ / "hang.sh").string()};
  o.working_dir = root_->string();
  auto child = framework::Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  // Wait for the baseline's test to run (the copy is built first).
  const int64_t give_up = framework::MonotonicNs() + 120'000'000'000;
  while (!fs::exists(pidfile) && framework::MonotonicNs() < give_up) usleep(20'000);
  ASSERT_TRUE(fs::exists(pidfile)) << "the test never started";
  usleep(100'000);
  pid_t test_pid = 0;
  std::ifstream(pidfile) >> test_pid;
  ASSERT_GT(test_pid, 0);
  const int64_t t0 = framework::MonotonicNs();
  ASSERT_TRUE(framework::SignalPidfd(child->pidfd.get(), SIGTERM).ok());
  auto st = framework::WaitExit(child->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->code, 130) << st->ToString();
  EXPECT_LT(framework::MonotonicNs() - t0, 10'000'000'000) << "not stopped promptly";
  EXPECT_NE(::kill(test_pid, 0), 0) << "the test outlived duende mutate";
}

TEST_F(MutateCliTest, FailingBaselineExitsThree) {
  Cli r = Duende({"-p", "build", "-q", "--test-command", "false"}, *root_);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("the baseline fails: test 'false'"), std::string::npos) << r.out;
}

TEST_F(MutateCliTest, ListShowsEveryMutant) {
  Cli r = Duende({"-p", "../build", "--list", "-q"}, *root_ / "src");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("src/calc.cc:21:48: note: mutant 9: '>=' -> '>' [EqualityOperator]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(ignored: equivalent: a > b picks the same value)"), std::string::npos);
}

// An ignore with a column takes only the mutant that starts there, not its neighbours on the
// line; a location without a line number is a usage error.
TEST_F(MutateCliTest, AnIgnoreWithAColumnTakesOnlyThatMutant) {
  Cli r = Duende({"-p", "../build", "--list", "-q", "--ignore", "src/calc.cc:21:48=equal here"},
                 *root_ / "src");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("src/calc.cc:21:48: note: mutant 9: '>=' -> '>' [EqualityOperator] "
                       "(ignored: equal here)"),
            std::string::npos)
      << r.out;
  const size_t at = r.out.find("src/calc.cc:21:59: note:");
  ASSERT_NE(at, std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(at, r.out.find('\n', at) - at).find("ignored"), std::string::npos)
      << r.out;
  for (const char* bad : {"src/calc.cc=x", "src/calc.cc:0=x", "src/calc.cc:12:x=y", ":12=x"}) {
    Cli b = Duende({"-p", "../build", "--list", "-q", "--ignore", bad}, *root_ / "src");
    EXPECT_EQ(b.code, 2) << bad << "\n" << b.out;
    EXPECT_NE(b.out.find("expected FILE:LINE=REASON or FILE:LINE:COL=REASON"), std::string::npos)
        << b.out;
  }
}

}  // namespace
}  // namespace duende::mutate
