// The JSON report read back: everything `duende report merge` needs survives RenderJson and
// ParseJsonReport, and a document that is not a report is refused with where and what.
#include "duende/reporters/json_report.h"

#include <gtest/gtest.h>

#include "duende/reporters/reporter.h"

namespace duende::reporters {
namespace {

model::RunReport Sample() {
  model::RunReport r;
  r.tool_version = "0.1.0";
  r.hostname = "runner-2";
  model::ScenarioResult s;
  s.name = "kill-under-load";
  s.file = "chaos/kv.toml";
  s.description = "kill -9 \xff under load";  // invalid UTF-8 is written as U+FFFD
  s.seed = 18446744073709551615ull;
  s.replay_command = "duende run chaos/kv.toml --seed 1";
  s.start_ns = 5;
  s.end_ns = 3000000005;
  s.wall_start_ns = 1795000000000000000;
  s.events.push_back({7, "target.spawned", "kvd", {{"pid", 42}}});
  s.checks.push_back({"no-lost",
                      "no_lost_writes",
                      model::Verdict::kFail,
                      "3 lost",
                      "0",
                      {"k-1 acked", "k-2 acked"},
                      0.25});
  s.verdict = model::Verdict::kFail;
  r.scenarios.push_back(s);
  r.verdict = model::Verdict::kFail;
  r.suite.scenarios = {{"chaos/kv.toml", "kill-under-load", "fnv1a64:0000000000000001"},
                       {"chaos/b.toml", "b", "fnv1a64:0000000000000002"}};
  r.suite.overrides = {"load.rate=50"};
  r.shard = model::Shard{2, 4};
  return r;
}

TEST(JsonReportTest, ReadsBackWhatRenderJsonWrote) {
  const model::RunReport in = Sample();
  auto out = ParseJsonReport(RenderJson(in), "r.json");
  ASSERT_TRUE(out.ok()) << out.error().context;
  EXPECT_EQ(out->tool_version, in.tool_version);
  EXPECT_EQ(out->hostname, in.hostname);
  EXPECT_EQ(out->verdict, in.verdict);
  EXPECT_EQ(out->suite, in.suite);
  EXPECT_EQ(out->shard, in.shard);
  ASSERT_EQ(out->scenarios.size(), 1u);
  const model::ScenarioResult& s = out->scenarios[0];
  EXPECT_EQ(s.name, "kill-under-load");
  EXPECT_EQ(s.file, "chaos/kv.toml");
  EXPECT_EQ(s.description, "kill -9 \xef\xbf\xbd under load");
  EXPECT_EQ(s.seed, in.scenarios[0].seed);
  EXPECT_EQ(s.replay_command, in.scenarios[0].replay_command);
  EXPECT_EQ(s.end_ns, in.scenarios[0].end_ns);
  EXPECT_EQ(s.wall_start_ns, in.scenarios[0].wall_start_ns);
  EXPECT_EQ(s.verdict, model::Verdict::kFail);
  ASSERT_EQ(s.checks.size(), 1u);
  EXPECT_EQ(s.checks[0].evidence, in.scenarios[0].checks[0].evidence);
  EXPECT_EQ(s.checks[0].measured, "3 lost");
  EXPECT_EQ(s.checks[0].verdict, model::Verdict::kFail);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].type, "target.spawned");
  EXPECT_EQ(s.events[0].data["pid"], 42);
  // Rendered again, the same document.
  EXPECT_EQ(RenderJson(*out), RenderJson(in));
  // A report without suite or shard (a re-render from an event log) has neither member.
  model::RunReport plain = in;
  plain.suite = {};
  plain.shard.reset();
  const std::string text = RenderJson(plain);
  EXPECT_EQ(text.find("\"suite\""), std::string::npos);
  EXPECT_EQ(text.find("\"shard\""), std::string::npos);
}

TEST(JsonReportTest, RefusesWhatIsNotAReportSayingWhereAndWhat) {
  auto error = [](const std::string& text) {
    auto r = ParseJsonReport(text, "r.json");
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? std::string() : r.error().context;
  };
  EXPECT_EQ(error("{"), "r.json: invalid JSON (not a JSON report of duende run --json)");
  EXPECT_EQ(error("[]"), "r.json: the document: must be an object");
  EXPECT_EQ(error(R"({"format": "duende-gate/1"})"),
            "r.json: not a duende JSON report (format is \"duende-gate/1\", expected "
            "\"duende-run/1\")");
  const std::string head = R"({"format": "duende-run/1", "verdict": "PASS", )";
  EXPECT_EQ(error(head + R"("scenarios": [{"name": "a", "verdict": "MAYBE"}]})"),
            "r.json: scenarios[0].verdict: is \"MAYBE\"; it must be PASS, FAIL, ERROR or ABORTED");
  EXPECT_EQ(error(head + R"("scenarios": [{"name": "a", "verdict": "PASS", "checks": [{}]}]})"),
            "r.json: scenarios[0].checks[0]: 'name' is missing");
  EXPECT_EQ(error(head + R"("scenarios": [{"name": "a", "verdict": "PASS", "seed": -1}]})"),
            "r.json: scenarios[0].seed: must not be negative");
  EXPECT_EQ(error(head + R"("scenarios": [], "shard": {"index": 5, "count": 4}})"),
            "r.json: shard: \"5/4\" is not a shard: K must be 1 to N (4); give K/N with 1 <= K "
            "<= N <= 10000, e.g. 2/4 for the second of four shards");
  EXPECT_EQ(error(head + R"("scenarios": [], "suite": {"scenarios": []}})"),
            "r.json: suite.scenarios: names no scenario");
  auto missing = ReadJsonReport("/nonexistent/r.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace duende::reporters
