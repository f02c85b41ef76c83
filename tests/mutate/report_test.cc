// mutate's reports go through the reporters: the JUnit XML is RenderJunit of the run in the
// result model, and every file is written by the reporters' file writers.
#include "duende/mutate/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/cli.h"
#include "support/temp_dir.h"

namespace duende::mutate {
namespace {

using duende::testing::TempDir;

Mutant M(uint32_t id, Status status, uint32_t line, std::string original, std::string replacement,
         std::string detail = "") {
  Mutant m;
  m.id = id;
  m.file = "/p/src/calc.cc";
  m.mutator = "EqualityOperator";
  m.original = std::move(original);
  m.replacement = std::move(replacement);
  m.start = {line, 7};
  m.status = status;
  m.detail = std::move(detail);
  m.tests_run = 2;
  return m;
}

// One mutant of each status, one with text that XML must escape.
MutateRun SampleRun() {
  MutateRun run;
  run.source_dir = "/p";
  run.sources["/p/src/calc.cc"] = "int f(int a) { return a < 1 && a > -1; }\n";
  run.mutants = {M(1, Status::kKilled, 1, "<", "<=", "CalcTest.Small"),
                 M(2, Status::kSurvived, 2, "&&", "||"),
                 M(3, Status::kNoCoverage, 3, ">", ">="),
                 M(4, Status::kTimeout, 4, "<", ">="),
                 M(5, Status::kCompileError, 5, "<", ">"),
                 M(6, Status::kIgnored, 6, "<", "<="),
                 M(7, Status::kPending, 7, "<", "<=")};
  run.total_ns = 2'500'000'000;
  return run;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(MutateReportTest, RunReportHasTheGateAndOneCheckPerTestedMutant) {
  MutateRun run = SampleRun();
  GateResult gate{false, "mutation score 50.0% < 80.0%"};
  model::RunReport r = AsRunReport(run, gate);
  ASSERT_EQ(r.scenarios.size(), 1u);
  const model::ScenarioResult& s = r.scenarios[0];
  EXPECT_EQ(s.verdict, model::Verdict::kFail);
  EXPECT_EQ(r.verdict, model::Verdict::kFail);
  ASSERT_EQ(s.checks.size(), 5u) << "gate + killed, survived, no coverage, timeout";
  EXPECT_EQ(s.checks[0].name, "gate");
  EXPECT_EQ(s.checks[0].verdict, model::Verdict::kFail);
  EXPECT_EQ(s.checks[0].measured, gate.message);
  ASSERT_EQ(s.checks[0].evidence.size(), 1u);
  EXPECT_EQ(s.checks[0].evidence[0], SummaryLine(run));
  EXPECT_EQ(s.checks[1].name, "src/calc.cc:1:7 '<' -> '<='");
  EXPECT_EQ(s.checks[1].kind, "EqualityOperator");
  EXPECT_EQ(s.checks[1].verdict, model::Verdict::kPass);
  EXPECT_EQ(s.checks[1].measured, "Killed by CalcTest.Small");
  EXPECT_EQ(s.checks[2].verdict, model::Verdict::kFail);
  EXPECT_EQ(s.checks[2].measured, "survived 2 covering test(s)");
  EXPECT_EQ(s.checks[3].verdict, model::Verdict::kFail);
  EXPECT_EQ(s.checks[3].measured, "no test covers it");
  EXPECT_EQ(s.checks[4].verdict, model::Verdict::kPass) << "a timeout counts as detected";
  EXPECT_EQ(s.end_ns - s.start_ns, run.total_ns);

  gate.pass = true;
  EXPECT_EQ(AsRunReport(run, gate).scenarios[0].checks[0].verdict, model::Verdict::kPass);
  EXPECT_EQ(AsRunReport(run, gate).verdict, model::Verdict::kPass);
}

TEST(MutateReportTest, JunitCountsFailuresEscapesAndValidates) {
  MutateRun run = SampleRun();
  std::string xml = JunitReport(run, GateResult{false, "mutation score 50.0% < 80.0%"});
  EXPECT_NE(xml.find("tests=\"5\" failures=\"3\" errors=\"0\""), std::string::npos) << xml;
  // The '&&' of the survivor is escaped inside the test case's name.
  EXPECT_NE(xml.find("name=\"src/calc.cc:2:7 &apos;&amp;&amp;&apos; -&gt; &apos;||&apos;\""),
            std::string::npos)
      << xml;
  EXPECT_EQ(xml.find("'&&'"), std::string::npos) << xml;
  if (!duende::testing::RunCli("command -v xmllint").out.empty()) {
    TempDir dir;
    std::string path = dir.path() + "/m.xml";
    std::ofstream(path) << xml;
    auto v = duende::testing::RunCli("xmllint --noout --schema " + std::string(DUENDE_SOURCE_DIR) +
                                     "/reporters/schema/junit.xsd " + path);
    EXPECT_EQ(v.code, 0) << v.out;
  }
}

TEST(MutateReportTest, WritesEveryWantedFileAndReportsOneThatCannotBeOpened) {
  TempDir dir;
  MutateRun run = SampleRun();
  GateResult gate{true, "mutation score 75.0% >= 70.0%"};
  ReportPaths paths{dir.path() + "/m.json", dir.path() + "/m.html", dir.path() + "/m.xml"};
  auto ok = WriteReports(paths, run, gate);
  ASSERT_TRUE(ok.ok()) << ok.error().Message();
  EXPECT_EQ(Slurp(paths.json), StrykerJson(run));
  EXPECT_EQ(Slurp(paths.html), HtmlReport(run, gate));
  EXPECT_EQ(Slurp(paths.junit), JunitReport(run, gate));

  // Only the wanted ones: an empty path writes nothing.
  std::filesystem::remove(paths.html);
  ASSERT_TRUE(WriteReports({paths.json, "", ""}, run, gate).ok());
  EXPECT_FALSE(std::filesystem::exists(paths.html));

  auto bad = WriteReports({"", dir.path() + "/no-such-dir/m.html", ""}, run, gate);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().Message(),
            "unable to open " + dir.path() + "/no-such-dir/m.html: No such file or directory");
}

}  // namespace
}  // namespace duende::mutate
