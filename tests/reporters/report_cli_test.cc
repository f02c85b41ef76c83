#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "duende/model/event_log.h"
#include "duende/reporters/reporter.h"
#include "sample_events.h"
#include "support/cli.h"
#include "support/golden.h"

namespace duende::reporters {
namespace {

namespace fs = std::filesystem;
using duende::testing::RunCli;
using namespace duende::reporters::testing;  // NOLINT(google-build-using-namespace)
using duende::testing::MatchesGolden;
using duende::testing::ReadFile;

class ReportCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/duende-report-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Log(const std::string& name, const std::vector<Event>& events) {
    std::string path = dir_ + "/" + name;
    auto w = EventLogWriter::Open(path);
    EXPECT_TRUE(w.ok());
    for (const Event& e : events) w->Append(e);
    return path;
  }

  std::string dir_;
};

std::string Duende() { return DUENDE_PATH; }

bool Have(const char* tool) { return RunCli(std::string("command -v ") + tool).code == 0; }

TEST_F(ReportCliTest, ExitCodeFollowsTheVerdict) {
  EXPECT_EQ(RunCli(Duende() + " report -q " + Log("p.jsonl", QuietPass())).code, 0);
  EXPECT_EQ(RunCli(Duende() + " report -q " + Log("f.jsonl", KillUnderLoad())).code, 1);
  // Interrupted: no run.finished.
  auto cut = KillUnderLoad();
  cut.resize(20);
  auto r = RunCli(Duende() + " report -q " + Log("a.jsonl", cut));
  EXPECT_EQ(r.code, 130) << r.out;
  EXPECT_NE(r.out.find("ABORTED"), std::string::npos) << r.out;
  // A run that ended in ERROR exits 3, as the run did.
  auto errored = QuietPass();
  errored.back().data = {{"verdict", "ERROR"}, {"error", "target kvd never became ready"}};
  r = RunCli(Duende() + " report -q " + Log("e.jsonl", errored));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("never became ready"), std::string::npos) << r.out;
}

TEST_F(ReportCliTest, BadInputIsExit2WithPathAndLine) {
  std::string path = dir_ + "/bad.jsonl";
  std::ofstream(path)
      << "{\"ts_ns\":1,\"type\":\"run.started\"}\n{\"ts_ns\":\"x\",\"type\":\"a\"}\n";
  auto r = RunCli(Duende() + " report " + path);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out, "duende: error: " + path + ":2: event has no integer 'ts_ns'\n");
  r = RunCli(Duende() + " report " + dir_ + "/missing.jsonl");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("No such file or directory"), std::string::npos);
  std::ofstream(dir_ + "/empty.jsonl") << "\n";
  EXPECT_EQ(RunCli(Duende() + " report " + dir_ + "/empty.jsonl").code, 2);
  EXPECT_EQ(RunCli(Duende() + " report").code, 2);
}

TEST_F(ReportCliTest, UnwritableReportIsExit3BeforeOutput) {
  auto r = RunCli(Duende() + " report -q " + Log("p.jsonl", QuietPass()) +
                  " --html /nonexistent/x.html");
  EXPECT_EQ(r.code, 3);
  EXPECT_EQ(r.out,
            "duende: error: unable to open /nonexistent/x.html: No such file or directory\n");
}

TEST_F(ReportCliTest, JunitValidatesAgainstTheSchemaForAnyText) {
  if (!Have("xmllint")) GTEST_SKIP() << "xmllint (libxml2-utils) is not installed";
  std::string xsd = std::string(DUENDE_SOURCE_DIR) + "/reporters/schema/junit.xsd";
  std::vector<Event> all = KillUnderLoad();
  for (Event& e : QuietPass()) all.push_back(e);
  for (Event& e : NastyRun()) all.push_back(e);
  for (const auto& [name, events] : std::vector<std::pair<std::string, std::vector<Event>>>{
           {"two", all}, {"nasty", NastyRun()}}) {
    std::string xml = dir_ + "/" + name + ".xml";
    RunCli(Duende() + " report -q " + Log(name + ".jsonl", events) + " --junit " + xml);
    auto v = RunCli("xmllint --noout --schema " + xsd + " " + xml);
    EXPECT_EQ(v.code, 0) << v.out;
  }
  // The in-memory nasty run still holds raw invalid UTF-8 and control bytes (the file writer
  // replaced them): render it directly too.
  std::string xml = dir_ + "/raw.xml";
  std::ofstream(xml) << RenderJunit(RunReportFromEvents(NastyRun()));
  auto v = RunCli("xmllint --noout --schema " + xsd + " " + xml);
  EXPECT_EQ(v.code, 0) << v.out;
  // And a schema that can fail: a report missing a required attribute is rejected.
  std::ofstream(dir_ + "/wrong.xml")
      << "<testsuites tests=\"1\"><testsuite name=\"x\"/></testsuites>";
  EXPECT_NE(RunCli("xmllint --noout --schema " + xsd + " " + dir_ + "/wrong.xml").code, 0);
}

TEST_F(ReportCliTest, MarkdownAndJsonFiles) {
  std::string md = dir_ + "/s.md", json = dir_ + "/s.json";
  RunCli(Duende() + " report -q " + Log("f.jsonl", KillUnderLoad()) + " --markdown " + md +
         " --json " + json);
  EXPECT_NE(ReadFile(md).find("## ❌ FAIL — duende"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(ReadFile(json))["verdict"], "FAIL");
}

// Headless Chromium renders the page: it must load with no console errors and no network
// request (the CSP would report one as an error), and the screenshot must not be blank.
TEST_F(ReportCliTest, HtmlRendersInHeadlessChromium) {
  if (!Have("chromium")) GTEST_SKIP() << "chromium is not installed (ci/deps.sh installs it)";
  std::string html = dir_ + "/r.html", png = dir_ + "/r.png";
  std::vector<Event> all = KillUnderLoad();
  for (Event& e : QuietPass()) all.push_back(e);
  ASSERT_EQ(RunCli(Duende() + " report -q " + Log("two.jsonl", all) + " --html " + html).code, 1);
  std::string flags =
      "--headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run "
      "--disable-component-update --disable-sync --user-data-dir=" +
      dir_ +
      "/profile "
      "--enable-logging=stderr --v=0 ";
  auto dom = RunCli("timeout -k 5 60 chromium " + flags + "--dump-dom file://" + html);
  ASSERT_EQ(dom.code, 0) << dom.out.substr(0, 2000);
  // The DOM after rendering holds the timeline and the checks table.
  EXPECT_NE(dom.out.find("<svg class=\"timeline\""), std::string::npos);
  EXPECT_NE(dom.out.find("no-lost-writes"), std::string::npos);
  // Console messages from the page are logged as "CONSOLE(...)"; CSP violations and failed
  // loads would show up here.
  EXPECT_EQ(dom.out.find("CONSOLE("), std::string::npos) << dom.out.substr(0, 4000);
  EXPECT_EQ(dom.out.find("Content Security Policy"), std::string::npos);
  auto shot = RunCli("timeout -k 5 60 chromium " + flags + "--screenshot=" + png +
                     " --window-size=1280,900 file://" + html);
  ASSERT_EQ(shot.code, 0) << shot.out.substr(0, 2000);
  ASSERT_TRUE(fs::exists(png));
  // A blank page compresses to a few KB; a rendered report is far larger.
  EXPECT_GT(fs::file_size(png), 40000u);
}

}  // namespace
}  // namespace duende::reporters
