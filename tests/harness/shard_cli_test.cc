// `duende run --shard K/N` and `duende report merge` end to end: four shards of a suite of
// self-test scenarios (planted bugs that FAIL and healthy twins that PASS, a few seconds each)
// run locally, and their merged report has the verdicts, counts and JUnit test cases of a
// single run of the suite; what does not belong together is refused (exit 2).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "duende/model/shard.h"
#include "support/cli.h"

namespace duende::harness {
namespace {

namespace fs = std::filesystem;
using duende::testing::RunCli;
using Json = nlohmann::json;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kEnv = "DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures ";

// name -> file under scenarios/; the planted ones FAIL, the others PASS.
const std::vector<std::pair<std::string, std::string>> kSuite = {
    {"lost-writes-memory-planted", "self-test/lost-writes-memory-planted.toml"},
    {"lost-writes-healthy", "self-test/lost-writes-healthy.toml"},
    {"lost-writes-memory-healthy", "self-test/lost-writes-memory-healthy.toml"},
    {"lost-writes-planted", "self-test/lost-writes-planted.toml"},
    {"errors-after-recovery-healthy", "self-test/errors-after-recovery-healthy.toml"},
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Json ReadJson(const std::string& path) { return Json::parse(ReadAll(path)); }

void WriteJson(const std::string& path, const Json& j) { std::ofstream(path) << j.dump(); }

// The test cases of a JUnit file: "classname/name" -> "ok" | "failure" | "error".
std::map<std::string, std::string> TestCases(const std::string& xml) {
  std::map<std::string, std::string> out;
  std::regex testcase(R"re(<testcase name="([^"]*)" classname="([^"]*)"[^>]*?(/?)>)re");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), testcase);
       it != std::sregex_iterator(); ++it) {
    const size_t after = static_cast<size_t>(it->position(0) + it->length(0));
    std::string state = "ok";
    if ((*it)[3].str().empty()) {
      const std::string body = xml.substr(after, xml.find("</testcase>", after) - after);
      if (body.find("<failure") != std::string::npos) state = "failure";
      if (body.find("<error") != std::string::npos) state = "error";
    }
    out[(*it)[2].str() + "/" + (*it)[1].str()] = state;
  }
  return out;
}

class ShardCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "duende-shard-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Files() const {
    std::string out;
    for (const auto& [name, file] : kSuite) {
      out += " " + std::string(DUENDE_SOURCE_DIR) + "/scenarios/" + file;
    }
    return out;
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(ShardCliTest, FourShardsMergeToTheReportOfASingleRun) {
  auto single = RunCli(kEnv + kDuende + " run -q" + Files() + " --json " + Path("single.json") +
                       " --junit " + Path("single.xml"));
  ASSERT_EQ(single.code, 1) << single.out;  // the planted bugs FAIL

  std::set<std::string> ran;
  std::string shard_reports;
  for (uint32_t k = 1; k <= 4; ++k) {
    const std::string json = Path("shard-" + std::to_string(k) + ".json");
    auto r = RunCli(kEnv + kDuende + " run -q" + Files() + " --shard " + std::to_string(k) +
                    "/4 --json " + json);
    // Each shard runs exactly the scenarios whose name hashes to it, and exits as they do.
    std::vector<std::string> mine;
    bool planted = false;
    for (const auto& [name, file] : kSuite) {
      if (model::ShardOfScenario(name, 4) != k) continue;
      mine.push_back(name);
      planted = planted || name.find("planted") != std::string::npos;
    }
    EXPECT_EQ(r.code, planted ? 1 : 0) << r.out;
    EXPECT_NE(r.out.find("shard " + std::to_string(k) + "/4: " + std::to_string(mine.size()) +
                         " of 5 scenario(s)"),
              std::string::npos)
        << r.out;
    Json j = ReadJson(json);
    EXPECT_EQ(j["shard"], Json({{"index", k}, {"count", 4}}));
    ASSERT_EQ(j["suite"]["scenarios"].size(), kSuite.size());
    ASSERT_EQ(j["scenarios"].size(), mine.size()) << j.dump().substr(0, 300);
    for (size_t i = 0; i < mine.size(); ++i) {
      EXPECT_EQ(j["scenarios"][i]["name"], mine[i]);
      EXPECT_TRUE(ran.insert(mine[i]).second) << mine[i] << " ran in two shards";
    }
    shard_reports += " " + json;
  }
  EXPECT_EQ(ran.size(), kSuite.size());

  auto merged = RunCli(kDuende + " report merge -q" + shard_reports + " --json " +
                       Path("merged.json") + " --junit " + Path("merged.xml") + " --markdown " +
                       Path("merged.md") + " --html " + Path("merged.html"));
  EXPECT_EQ(merged.code, single.code) << merged.out;
  EXPECT_NE(merged.out.find("merged 4 of 4 shard report(s): 5 scenario(s) of a suite of 5"),
            std::string::npos)
      << merged.out;

  // Verdicts, checks and counts equal those of the single run, scenario by scenario, in order.
  Json a = ReadJson(Path("single.json"));
  Json b = ReadJson(Path("merged.json"));
  EXPECT_EQ(b["verdict"], a["verdict"]);
  EXPECT_EQ(b["tool_version"], a["tool_version"]);
  EXPECT_EQ(b["suite"], a["suite"]);
  EXPECT_FALSE(b.contains("shard"));
  ASSERT_EQ(b["scenarios"].size(), a["scenarios"].size());
  int fails = 0;
  for (size_t i = 0; i < a["scenarios"].size(); ++i) {
    const Json& x = a["scenarios"][i];
    const Json& y = b["scenarios"][i];
    EXPECT_EQ(y["name"], x["name"]);
    EXPECT_EQ(y["file"], x["file"]);
    EXPECT_EQ(y["verdict"], x["verdict"]) << x["name"];
    EXPECT_EQ(y["verdict"],
              x["name"].get<std::string>().find("planted") != std::string::npos ? "FAIL" : "PASS")
        << x["name"];
    fails += y["verdict"] == "FAIL";
    ASSERT_EQ(y["checks"].size(), x["checks"].size()) << x["name"];
    for (size_t c = 0; c < x["checks"].size(); ++c) {
      EXPECT_EQ(y["checks"][c]["name"], x["checks"][c]["name"]);
      EXPECT_EQ(y["checks"][c]["verdict"], x["checks"][c]["verdict"])
          << x["name"] << " " << x["checks"][c]["name"];
    }
    EXPECT_FALSE(y["events"].empty());
  }
  EXPECT_EQ(fails, 2);

  // The same JUnit test cases with the same outcomes.
  auto single_cases = TestCases(ReadAll(Path("single.xml")));
  auto merged_cases = TestCases(ReadAll(Path("merged.xml")));
  EXPECT_GT(single_cases.size(), 10u);
  EXPECT_EQ(merged_cases, single_cases);
  if (RunCli("command -v xmllint").code == 0) {
    auto v = RunCli("xmllint --noout --schema " + std::string(DUENDE_SOURCE_DIR) +
                    "/reporters/schema/junit.xsd " + Path("merged.xml"));
    EXPECT_EQ(v.code, 0) << v.out;
  }
  const std::string md = ReadAll(Path("merged.md"));
  const std::string html = ReadAll(Path("merged.html"));
  for (const auto& [name, file] : kSuite) {
    EXPECT_NE(md.find(name), std::string::npos) << name;
    EXPECT_NE(html.find(name), std::string::npos) << name;
  }

  // Refused: two duende versions, naming both reports and both values.
  Json other = ReadJson(Path("shard-2.json"));
  other["tool_version"] = "9.9.9";
  WriteJson(Path("other-version.json"), other);
  auto r = RunCli(kDuende + " report merge -q " + Path("shard-1.json") + " " +
                  Path("other-version.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(Path("shard-1.json") + " was written by duende \"" +
                       a["tool_version"].get<std::string>() + "\" and " +
                       Path("other-version.json") + " by duende \"9.9.9\""),
            std::string::npos)
      << r.out;
  // Refused: a scenario file that is not the same file on both shards.
  other = ReadJson(Path("shard-2.json"));
  other["suite"]["scenarios"][1]["digest"] = "fnv1a64:0123456789abcdef";
  WriteJson(Path("other-suite.json"), other);
  r = RunCli(kDuende + " report merge -q " + Path("shard-1.json") + " " + Path("other-suite.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("is not the same file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fnv1a64:0123456789abcdef in " + Path("other-suite.json")),
            std::string::npos)
      << r.out;
  // Refused: the same shard twice (its scenarios would count twice).
  fs::copy_file(Path("shard-3.json"), Path("again.json"));
  r = RunCli(kDuende + " report merge -q" + shard_reports + " " + Path("again.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("are both shard 3/4"), std::string::npos) << r.out;
  // Not a report: the path and what is wrong.
  std::ofstream(Path("junk.json")) << "{\"format\": \"something-else\"}";
  r = RunCli(kDuende + " report merge " + Path("junk.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(Path("junk.json") + ": not a duende JSON report"), std::string::npos)
      << r.out;
  // A missing shard: its scenarios are ERROR, and the merge says which shard (exit 3).
  const uint32_t gone = model::ShardOfScenario(kSuite[0].first, 4);
  std::string three;
  for (uint32_t k = 1; k <= 4; ++k) {
    if (k != gone) three += " " + Path("shard-" + std::to_string(k) + ".json");
  }
  r = RunCli(kDuende + " report merge -q" + three + " --json " + Path("gap.json"));
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("no report of shard " + std::to_string(gone) + "/4 was given"),
            std::string::npos)
      << r.out;
  Json gap = ReadJson(Path("gap.json"));
  EXPECT_EQ(gap["verdict"], "ERROR");
  EXPECT_EQ(gap["scenarios"].size(), kSuite.size());
  EXPECT_EQ(gap["scenarios"][0]["verdict"], "ERROR");
}

TEST_F(ShardCliTest, AShardWithNoScenarioWritesEmptyReportsAndPasses) {
  const std::string file =
      std::string(DUENDE_SOURCE_DIR) + "/scenarios/self-test/lost-writes-healthy.toml";
  const uint32_t owner = model::ShardOfScenario("lost-writes-healthy", 3);
  const uint32_t other = owner % 3 + 1;
  auto r = RunCli(kEnv + kDuende + " run -q " + file + " --shard " + std::to_string(other) +
                  "/3 --json " + Path("empty.json") + " --junit " + Path("empty.xml") +
                  " --markdown " + Path("empty.md") + " --html " + Path("empty.html"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("shard " + std::to_string(other) + "/3: 0 of 1 scenario(s)"),
            std::string::npos)
      << r.out;
  Json j = ReadJson(Path("empty.json"));
  EXPECT_TRUE(j["scenarios"].empty());
  EXPECT_EQ(j["suite"]["scenarios"][0]["name"], "lost-writes-healthy");
  EXPECT_EQ(j["suite"]["scenarios"][0]["file"], fs::path(file).lexically_normal().string());
  for (const char* f : {"empty.xml", "empty.md", "empty.html"}) {
    EXPECT_TRUE(fs::exists(Path(f))) << f;
  }
}

TEST_F(ShardCliTest, BadShardsAreUsageErrorsWithTheFix) {
  const std::string file =
      std::string(DUENDE_SOURCE_DIR) + "/scenarios/self-test/lost-writes-healthy.toml";
  for (const char* bad : {"0/4", "5/4", "x/4", "4", "1/0", "2/4/8"}) {
    auto r = RunCli(kEnv + kDuende + " run -q " + file + " --shard " + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("duende: error: --shard \"" + std::string(bad) + "\" is not a shard"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("e.g. 2/4"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("lost-writes-healthy: "), std::string::npos) << "it ran: " << r.out;
    r = RunCli(kDuende + " explore -q " + std::string(DUENDE_SOURCE_DIR) +
               "/scenarios/explore/fragile-kv.toml --seed 1 --shard " + bad);
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("is not a shard"), std::string::npos) << r.out;
  }
  const std::string explore = kDuende + " explore -q " + std::string(DUENDE_SOURCE_DIR) +
                              "/scenarios/explore/fragile-kv.toml --out " + Path("x");
  auto r = RunCli(explore + " --shard 1/2");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--shard 1/2 needs --seed S, the same on every shard"), std::string::npos)
      << r.out;
  r = RunCli(explore + " --shard 1/2 --seed 5 --reproduce abc");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("--shard and --reproduce do not combine"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(Path("x")));
}

}  // namespace
}  // namespace duende::harness
