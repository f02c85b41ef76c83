// Merging shards' reports: the result of a single run, and a refusal naming both reports and
// both values for everything that does not belong together.
#include "duende/model/merge.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace duende::model {
namespace {

// A suite of `names` (file chaos/<name>.toml); the report of shard k/n holds the ones the
// hash gives it, with verdict FAIL for names starting with "bad".
struct Fixture {
  std::vector<std::string> names{"alpha",       "bad-beta", "gamma", "delta",
                                 "bad-epsilon", "zeta",     "eta",   "theta"};
  uint32_t n = 4;

  Suite MakeSuite() const {
    Suite s;
    for (const auto& name : names) {
      s.scenarios.push_back({"chaos/" + name + ".toml", name, ContentDigest(name)});
    }
    s.overrides = {"load.rate=50"};
    return s;
  }
  ScenarioResult Result(const std::string& name) const {
    ScenarioResult r;
    r.name = name;
    r.file = "./chaos/" + name + ".toml";  // as given: normalised when compared
    r.verdict = name.rfind("bad", 0) == 0 ? Verdict::kFail : Verdict::kPass;
    r.checks.push_back({"c", "no_lost_writes", r.verdict, "m", "t", {}, 0});
    return r;
  }
  ShardReport Shard(uint32_t k) const {
    ShardReport sr;
    sr.path = "shard-" + std::to_string(k) + ".json";
    RunReport& r = sr.report;
    r.tool_version = "0.1.0";
    r.hostname = "runner-" + std::to_string(k);
    r.suite = MakeSuite();
    r.shard = model::Shard{k, n};
    std::vector<Verdict> v;
    for (const auto& name : names) {
      if (ShardOfScenario(name, n) != k) continue;
      r.scenarios.push_back(Result(name));
      v.push_back(r.scenarios.back().verdict);
    }
    r.verdict = Combine(v);
    return sr;
  }
  std::vector<ShardReport> All() const {
    std::vector<ShardReport> v;
    for (uint32_t k = 1; k <= n; ++k) v.push_back(Shard(k));
    return v;
  }
};

std::string MergeError(const std::vector<ShardReport>& reports) {
  auto m = MergeShardReports(reports);
  EXPECT_FALSE(m.ok());
  if (m.ok()) return "";
  EXPECT_EQ(m.error().code, std::errc::invalid_argument);
  return m.error().context;
}

TEST(MergeTest, GivesTheSuiteInOrderWithTheVerdictOfOneRun) {
  Fixture f;
  // The reports in any order.
  auto all = f.All();
  std::swap(all[0], all[3]);
  auto m = MergeShardReports(all);
  ASSERT_TRUE(m.ok()) << m.error().context;
  const RunReport& r = m->report;
  ASSERT_EQ(r.scenarios.size(), f.names.size());
  for (size_t i = 0; i < f.names.size(); ++i) {
    EXPECT_EQ(r.scenarios[i].name, f.names[i]);
    EXPECT_EQ(r.scenarios[i].verdict, f.Result(f.names[i]).verdict);
  }
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_EQ(r.tool_version, "0.1.0");
  EXPECT_EQ(r.suite, f.MakeSuite());
  EXPECT_FALSE(r.shard.has_value());
  EXPECT_TRUE(m->missing.empty());
  EXPECT_NE(r.hostname.find("runner-1"), std::string::npos);
  EXPECT_NE(r.hostname.find("runner-4"), std::string::npos);
  // Without the failing scenarios, the merge passes.
  Fixture ok;
  ok.names = {"alpha", "gamma", "delta", "zeta"};
  auto p = MergeShardReports(ok.All());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->report.verdict, Verdict::kPass);
}

TEST(MergeTest, AnUnshardedReportMergesAlone) {
  Fixture f;
  f.n = 1;
  ShardReport whole = f.Shard(1);
  whole.report.shard.reset();
  auto m = MergeShardReports({whole});
  ASSERT_TRUE(m.ok()) << m.error().context;
  EXPECT_EQ(m->report.scenarios.size(), f.names.size());
}

TEST(MergeTest, RefusesDifferentVersions) {
  Fixture f;
  auto all = f.All();
  all[2].report.tool_version = "0.2.0";
  std::string e = MergeError(all);
  EXPECT_NE(e.find("shard-1.json was written by duende \"0.1.0\" and shard-3.json by duende "
                   "\"0.2.0\""),
            std::string::npos)
      << e;
}

TEST(MergeTest, RefusesDifferentSuites) {
  Fixture f;
  auto all = f.All();
  all[1].report.suite.scenarios[2].digest = "fnv1a64:0000000000000000";
  std::string e = MergeError(all);
  EXPECT_NE(e.find("chaos/gamma.toml is not the same file: " + ContentDigest("gamma") +
                   " in shard-1.json, fnv1a64:0000000000000000 in shard-2.json"),
            std::string::npos)
      << e;

  all = f.All();
  all[3].report.suite.scenarios[0].file = "other/alpha.toml";
  e = MergeError(all);
  EXPECT_NE(e.find("scenario 1 of the suite is chaos/alpha.toml (alpha) in shard-1.json but "
                   "other/alpha.toml (alpha) in shard-4.json"),
            std::string::npos)
      << e;

  all = f.All();
  all[3].report.suite.scenarios.pop_back();
  e = MergeError(all);
  EXPECT_NE(e.find("shard-1.json ran a suite of 8 scenario files, shard-4.json one of 7"),
            std::string::npos)
      << e;

  all = f.All();
  all[1].report.suite.overrides = {"load.rate=500"};
  e = MergeError(all);
  EXPECT_NE(e.find("the overrides differ: --set load.rate=50 in shard-1.json, --set "
                   "load.rate=500 in shard-2.json"),
            std::string::npos)
      << e;

  all = f.All();
  all[1].report.suite = Suite{};
  e = MergeError(all);
  EXPECT_NE(e.find("shard-2.json names no suite"), std::string::npos) << e;
}

TEST(MergeTest, RefusesShardsThatDoNotFit) {
  Fixture f;
  auto all = f.All();
  all[1].report.shard = Shard{2, 3};
  std::string e = MergeError(all);
  EXPECT_NE(e.find("shard-1.json is shard 1/4 and shard-2.json is shard 2/3"), std::string::npos)
      << e;

  all = f.All();
  all.push_back(all[2]);
  all.back().path = "copy.json";
  e = MergeError(all);
  EXPECT_NE(e.find("shard-3.json and copy.json are both shard 3/4"), std::string::npos) << e;
}

TEST(MergeTest, RefusesAScenarioInTwoShardsOrInTheWrongOne) {
  Fixture f;
  auto all = f.All();
  // alpha, also in a shard it does not belong to.
  const uint32_t owner = ShardOfScenario("alpha", 4);
  const uint32_t other = owner % 4 + 1;
  all[other - 1].report.scenarios.push_back(f.Result("alpha"));
  std::string e = MergeError(all);
  EXPECT_NE(e.find("scenario alpha (./chaos/alpha.toml) is in both"), std::string::npos) << e;

  all = f.All();
  // Only in the wrong shard.
  for (auto& sr : all) {
    auto& v = sr.report.scenarios;
    v.erase(std::remove_if(v.begin(), v.end(), [](auto& s) { return s.name == "alpha"; }), v.end());
  }
  all[other - 1].report.scenarios.push_back(f.Result("alpha"));
  e = MergeError(all);
  EXPECT_NE(e.find("(shard " + std::to_string(other) +
                   "/4) holds scenario alpha, which belongs "
                   "to shard " +
                   std::to_string(owner) + "/4"),
            std::string::npos)
      << e;

  all = f.All();
  all[owner - 1].report.scenarios.push_back(f.Result("stranger"));
  e = MergeError(all);
  // A stranger is either in the wrong shard or not in the suite: both refused.
  EXPECT_NE(e.find("stranger"), std::string::npos) << e;
}

TEST(MergeTest, AMissingShardMakesItsScenariosError) {
  Fixture f;
  auto all = f.All();
  // Find a shard with scenarios, and leave its report out.
  uint32_t gone = ShardOfScenario("alpha", 4);
  all.erase(all.begin() + (gone - 1));
  auto m = MergeShardReports(all);
  ASSERT_TRUE(m.ok()) << m.error().context;
  ASSERT_EQ(m->missing.size(), 1u);
  EXPECT_EQ(m->missing[0].index, gone);
  EXPECT_EQ(m->report.verdict, Verdict::kError);
  ASSERT_EQ(m->report.scenarios.size(), f.names.size());
  EXPECT_EQ(m->report.scenarios[0].name, "alpha");
  EXPECT_EQ(m->report.scenarios[0].verdict, Verdict::kError);
  EXPECT_NE(m->report.scenarios[0].error.find("no report of shard " + std::to_string(gone) + "/4"),
            std::string::npos);
}

TEST(MergeTest, AnInterruptedShardEndsAsASingleRunWould) {
  Fixture f;
  auto all = f.All();
  const uint32_t k = ShardOfScenario("alpha", 4);
  auto& r = all[k - 1].report;
  ASSERT_FALSE(r.scenarios.empty());
  // Ctrl-C during its first scenario: the later ones of that shard never started.
  const size_t dropped = r.scenarios.size() - 1;
  r.scenarios.resize(1);
  r.scenarios[0].verdict = Verdict::kAborted;
  r.verdict = Verdict::kAborted;
  auto m = MergeShardReports(all);
  ASSERT_TRUE(m.ok()) << m.error().context;
  EXPECT_EQ(m->report.verdict, Verdict::kAborted);
  EXPECT_EQ(ExitCodeFor(m->report.verdict), 130);
  EXPECT_EQ(m->report.scenarios.size(), f.names.size() - dropped);
  for (const auto& s : m->report.scenarios) EXPECT_NE(s.verdict, Verdict::kError) << s.name;
  // Not interrupted, the same gap is an error of the merge's input, reported per scenario.
  if (dropped > 0) {
    r.scenarios[0].verdict = Verdict::kPass;
    r.verdict = Verdict::kPass;
    auto e = MergeShardReports(all);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->report.verdict, Verdict::kError);
    EXPECT_EQ(e->report.scenarios.size(), f.names.size());
  }
}

}  // namespace
}  // namespace duende::model
