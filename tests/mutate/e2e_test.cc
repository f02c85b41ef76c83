// End to end: duende mutate on tests/mutate/sample, a small CMake project whose tests are
// weak on purpose. The known weak spots must survive, everything else must be detected, and
// the score must come out exactly.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>

#include "duende/framework/temp_dir.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/report.h"
#include "duende/mutate/test_runner.h"
#include "support/files.h"

namespace duende::mutate {
namespace {

namespace fs = std::filesystem;
using duende::testing::ReadFile;

// Copies the sample to a temporary dir and configures it (as a user would have done), so
// that the test also proves the tool leaves that tree untouched.
class SampleProject : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(framework::MakePrivateTempDir("duende-test-mutate-e2e").value());
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

  MutateOptions Options() const {
    MutateOptions o;
    o.compile_db = (*root_ / "build/compile_commands.json").string();
    o.jobs = 2;
    o.timeout_margin = std::chrono::seconds(1);
    return o;
  }

  static fs::path* root_;
};

fs::path* SampleProject::root_ = nullptr;

std::string Key(const Mutant& m) {
  return std::to_string(m.start.line) + ":" + std::to_string(m.start.column) + " '" + m.original +
         "' -> '" + m.replacement + "'";
}

std::map<std::string, std::set<std::string>> ByStatus(const MutateRun& run) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& m : run.mutants) out[std::string(StatusName(m.status))].insert(Key(m));
  return out;
}

TEST_F(SampleProject, WeakSpotsSurviveAndTheRestIsKilled) {
  std::string before = ReadFile((*root_ / "src/src/calc.cc").string());
  auto run = RunMutate(Options());
  ASSERT_TRUE(run.ok()) << run.error().Message();
  std::cout << SurvivorLines(*run, "") << SummaryLine(*run) << "\n";
  auto by = ByStatus(*run);
  // Exactly the places marked WEAK in sample/src/calc.cc.
  EXPECT_EQ(by["Survived"], (std::set<std::string>{
                                "12:13 '{ g_events = g_events + 1; }' -> '{}'",
                                "12:35 '+' -> '-'",
                                "21:48 '>=' -> '>'",
                                "21:59 '<=' -> '<'",
                                "26:3 'Note()' -> ''",
                                "33:12 '>=' -> '>'",
                            }));
  EXPECT_EQ(by["NoCoverage"], (std::set<std::string>{"41:29 '*' -> '/'", "41:27 'v * 2' -> '0'"}));
  // One-digit input loops forever under `v < 10`; it was re-run alone before it counted.
  EXPECT_EQ(by["Timeout"], (std::set<std::string>{"33:12 '>=' -> '<'"}));
  EXPECT_EQ(by["Ignored"], (std::set<std::string>{"17:10 'a >= b ? a : b' -> '0'",
                                                  "17:12 '>=' -> '<'", "17:12 '>=' -> '>'"}));
  EXPECT_EQ(by["Killed"].size(), 14u);
  EXPECT_EQ(by.count("CompileError") + by.count("Pending"), 0u);
  EXPECT_EQ(run->mutants.size(), 26u);
  // (14 killed + 1 timeout) / (14 + 1 + 6 survived + 2 no coverage)
  EXPECT_DOUBLE_EQ(run->Score(), 100.0 * 15 / 23);
  for (const auto& m : run->mutants) {
    if (m.status == Status::kKilled) {
      EXPECT_FALSE(m.detail.empty()) << Key(m) << ": the killing test is named";
      EXPECT_LE(m.tests_run, m.covering_tests.size()) << Key(m) << ": stops at the first failure";
    }
    if (m.status == Status::kTimeout) {
      // Re-run alone from the test that timed out, not from the first covering test.
      EXPECT_LE(m.tests_run, m.covering_tests.size() + 1) << Key(m);
    }
    if (m.status == Status::kSurvived) {
      EXPECT_EQ(m.tests_run, m.covering_tests.size()) << Key(m);
      EXPECT_LT(m.covering_tests.size(), run->test_names.size())
          << Key(m) << ": only covering tests";
    }
  }
  EXPECT_EQ(ReadFile((*root_ / "src/src/calc.cc").string()), before)
      << "the user's tree was modified";

  // The gate.
  MutateGate gate;
  gate.min_score = 65.0;
  EXPECT_TRUE(EvaluateGate(*run, gate).pass);
  gate.min_score = 66.0;
  GateResult low = EvaluateGate(*run, gate);
  EXPECT_FALSE(low.pass);
  EXPECT_EQ(low.message, "mutation score 65.2% < 66.0%");
  gate.min_score.reset();
  gate.max_survivors = 7;
  EXPECT_FALSE(EvaluateGate(*run, gate).pass);

  // Stryker JSON: the schema's required fields, statuses as the schema spells them.
  auto doc = nlohmann::json::parse(StrykerJson(*run));
  EXPECT_EQ(doc["schemaVersion"], "1");
  EXPECT_TRUE(doc["thresholds"].contains("high"));
  const auto& file = doc["files"]["src/calc.cc"];
  EXPECT_EQ(file["language"], "cpp");
  EXPECT_EQ(file["source"], before);
  ASSERT_EQ(file["mutants"].size(), 26u);
  std::map<std::string, int> statuses;
  for (const auto& m : file["mutants"]) {
    ++statuses[m["status"].get<std::string>()];
    EXPECT_TRUE(m["id"].is_string());
    EXPECT_GE(m["location"]["start"]["line"].get<int>(), 1);
    EXPECT_GE(m["location"]["end"]["column"].get<int>(), 1);
  }
  EXPECT_EQ(statuses["Killed"], 14);
  EXPECT_EQ(statuses["Survived"], 6);

  std::string html = HtmlReport(*run, low);
  EXPECT_NE(html.find("gate failed"), std::string::npos);
  EXPECT_NE(html.find("<span class=\"add\">+   ;  // WEAK: removing this call survives</span>"),
            std::string::npos)
      << html;
  EXPECT_EQ(html.find("<script"), std::string::npos);
  std::string junit = JunitReport(*run, low);
  EXPECT_NE(junit.find("tests=\"24\" failures=\"9\""), std::string::npos) << junit;
}

TEST_F(SampleProject, WithOneJobATimeoutIsNotRunAgain) {
  // One job runs every test alone already: a re-run would only double the cost of a hang.
  MutateOptions o = Options();
  o.jobs = 1;
  o.files = {"src/calc.cc"};
  auto run = RunMutate(o);
  ASSERT_TRUE(run.ok()) << run.error().Message();
  auto by = ByStatus(*run);
  EXPECT_EQ(by["Timeout"], (std::set<std::string>{"33:12 '>=' -> '<'"}));
  for (const auto& m : run->mutants) {
    if (m.status != Status::kTimeout) continue;
    // Every test before the one that hung ran once, and the hung one once.
    EXPECT_LE(m.tests_run, m.covering_tests.size()) << Key(m);
    EXPECT_EQ(m.detail.empty(), false) << Key(m) << ": the test that hung is named";
  }
}

TEST_F(SampleProject, RebuildModeAgreesWithSchemata) {
  // A shard keeps this short: rebuild mode compiles once per mutant.
  MutateOptions o = Options();
  o.shard_index = 1;
  o.shard_count = 5;
  auto schemata = RunMutate(o);
  ASSERT_TRUE(schemata.ok()) << schemata.error().Message();
  o.mode = MutateOptions::Mode::kRebuild;
  auto rebuild = RunMutate(o);
  ASSERT_TRUE(rebuild.ok()) << rebuild.error().Message();
  ASSERT_EQ(schemata->mutants.size(), rebuild->mutants.size());
  for (size_t i = 0; i < schemata->mutants.size(); ++i) {
    const Mutant& a = schemata->mutants[i];
    const Mutant& b = rebuild->mutants[i];
    EXPECT_EQ(a.id % 5, 2u);
    // Without coverage, rebuild mode runs every test: "no coverage" shows up as survived.
    Status expected = a.status == Status::kNoCoverage ? Status::kSurvived : a.status;
    EXPECT_EQ(StatusName(b.status), StatusName(expected)) << Key(a);
  }
  EXPECT_GT(rebuild->builds, schemata->builds);
}

TEST_F(SampleProject, FailingBaselineIsAnEnvironmentError) {
  MutateOptions o = Options();
  o.test_command = {"false"};
  auto run = RunMutate(o);
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.error().code, std::errc::invalid_argument);
  EXPECT_NE(run.error().context.find("the baseline fails"), std::string::npos)
      << run.error().Message();
}

TEST_F(SampleProject, BadInputIsReportedClearly) {
  MutateOptions o = Options();
  o.files = {"src/nope*.cc"};
  auto run = RunMutate(o);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.error().code, std::errc::invalid_argument);
  EXPECT_NE(run.error().context.find("no compiled C++ source matches 'src/nope*.cc'"),
            std::string::npos)
      << run.error().context;
  o = Options();
  o.compile_db = (*root_ / "missing/compile_commands.json").string();
  run = RunMutate(o);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.error().code, std::errc::invalid_argument);
  EXPECT_NE(run.error().context.find("CMAKE_EXPORT_COMPILE_COMMANDS"), std::string::npos);
}

}  // namespace
}  // namespace duende::mutate
