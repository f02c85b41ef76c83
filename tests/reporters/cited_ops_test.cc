// Operations cited by failed checks: read back from the evidence (both spellings the checks
// write) and drawn by the HTML report on the timeline's time axis, one lane per client.
#include "duende/reporters/cited_ops.h"

#include <gtest/gtest.h>

#include "duende/model/event_log.h"
#include "duende/reporters/reporter.h"
#include "sample_events.h"
#include "support/html_elements.h"

namespace duende::reporters {
namespace {

using duende::testing::ElementsWithClass;

model::CheckResult Counter() {
  model::CheckResult c;
  c.name = "counter";
  c.kind = "counter";
  c.verdict = model::Verdict::kFail;
  c.evidence = {
      "lost increments: client 2 read k0 +1.80s..+1.81s (ok, read '41'), but 44 increments "
      "were acknowledged before it began; the last of them: client 0 incr k0 1 "
      "+750.0ms..+752.0ms (ok)",
      "phantom increments: client 1 incr k0 +900.0ms..+1.20s (indeterminate)",
      "again: client 2 read k0 +1.80s..+1.81s (ok, read '41')",  // the same op, once
  };
  return c;
}

model::CheckResult Linearizable() {
  model::CheckResult c;
  c.name = "lin";
  c.kind = "linearizable";
  c.verdict = model::Verdict::kFail;
  c.evidence = {
      "no order explains these 3 of the history's 120 operations (shrunk to 1-minimal); * = "
      "cannot take effect next",
      "    3       +1.10s      +1.11s      write 7 ok",
      "  * 0       +1.50s      +1.51s      read 5 ok",
      "    1       +1.40s      never       write 9 info  (line 12)",
      "longest order that explains its results: c3 write 7",
  };
  return c;
}

TEST(CitedOpsTest, ReadsModelCheckCitations) {
  auto ops = CitedOps(Counter());
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].client, 2u);
  EXPECT_EQ(ops[0].op, "read k0");
  EXPECT_EQ(ops[0].outcome, "ok, read '41'");
  EXPECT_DOUBLE_EQ(ops[0].invoke_s, 1.80);
  EXPECT_DOUBLE_EQ(*ops[0].complete_s, 1.81);
  EXPECT_EQ(ops[1].client, 0u);
  EXPECT_EQ(ops[1].op, "incr k0 1");
  EXPECT_DOUBLE_EQ(ops[1].invoke_s, 0.750);
  EXPECT_DOUBLE_EQ(*ops[1].complete_s, 0.752);
  EXPECT_EQ(ops[1].evidence_line, 0u);
  EXPECT_EQ(ops[2].outcome, "indeterminate");
  EXPECT_EQ(ops[2].evidence_line, 1u);
  EXPECT_EQ(ops[2].text, "client 1 incr k0 +900.0ms..+1.20s (indeterminate)");
}

TEST(CitedOpsTest, ReadsLinearizableRows) {
  auto ops = CitedOps(Linearizable());
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[0].client, 3u);
  EXPECT_EQ(ops[0].op, "write 7");
  EXPECT_EQ(ops[0].outcome, "ok");
  EXPECT_FALSE(ops[0].stuck);
  EXPECT_TRUE(ops[1].stuck);
  EXPECT_EQ(ops[1].op, "read 5");
  EXPECT_EQ(ops[2].client, 1u);
  EXPECT_FALSE(ops[2].complete_s.has_value());  // never completed
  EXPECT_EQ(ops[2].outcome, "info");
  EXPECT_DOUBLE_EQ(ops[2].invoke_s, 1.40);
}

TEST(CitedOpsTest, IgnoresTextThatOnlyLooksLikeACitation) {
  model::CheckResult c;
  c.evidence = {"client 2 said hello",
                "client x incr k0 +1s..+2s (ok)",
                "client 2 said hello to client 3 +1s..+2s (ok)",
                "client 2 incr k0 +1s..+2s (maybe)",
                "  * 1  +zz  +1s  read 1 ok",
                ""};
  EXPECT_TRUE(CitedOps(c).empty());
}

TEST(CitedOpsTest, HtmlDrawsEachCitedOperationInItsClientsLane) {
  model::RunReport report = model::RunReportFromEvents(testing::KillUnderLoad());
  ASSERT_EQ(report.scenarios.size(), 1u);
  report.scenarios[0].checks.push_back(Counter());
  report.scenarios[0].checks.push_back(Linearizable());
  model::CheckResult passed = Counter();
  passed.name = "passed";
  passed.verdict = model::Verdict::kPass;  // a passing check's citations are not drawn
  report.scenarios[0].checks.push_back(passed);
  const std::string html = RenderHtml(report);

  auto lanes = ElementsWithClass(html, "lane");
  std::vector<std::string> names;
  for (const auto& l : lanes)
    names.push_back(l.attrs.at("data-check") + "/" + l.attrs.at("data-client"));
  EXPECT_EQ(names, (std::vector<std::string>{"counter/0", "counter/1", "counter/2", "lin/0",
                                             "lin/1", "lin/3"}));
  auto ops = ElementsWithClass(html, "cited-op");
  ASSERT_EQ(ops.size(), 6u);
  // Each sits in the lane of its check and client (the nearest lane start before it).
  for (const auto& op : ops) {
    const duende::testing::HtmlElement* lane = nullptr;
    for (const auto& l : lanes) {
      if (l.offset < op.offset) lane = &l;
    }
    ASSERT_NE(lane, nullptr);
    EXPECT_EQ(lane->attrs.at("data-client"), op.attrs.at("data-client")) << op.title;
  }
  EXPECT_EQ(ops[0].attrs.at("data-client"), "0");
  EXPECT_EQ(ops[0].attrs.at("data-invoke"), "0.750");
  EXPECT_EQ(ops[0].attrs.at("data-complete"), "0.752");
  EXPECT_EQ(ops[0].title, "client 0 incr k0 1 +750.0ms..+752.0ms (ok)");
  EXPECT_EQ(ops[2].attrs.at("data-op"), "read k0");
  EXPECT_EQ(ops[2].attrs.at("data-outcome"), "ok, read '41'");
  EXPECT_TRUE(ops[1].HasClass("uncertain"));  // indeterminate
  EXPECT_TRUE(ops[3].HasClass("stuck"));      // lin client 0, marked *
  EXPECT_EQ(ops[4].attrs.at("data-complete"), "never");
  EXPECT_NE(html.find("<h3>Operations cited by failed checks</h3>"), std::string::npos);
}

TEST(CitedOpsTest, NoChartWithoutCitations) {
  const std::string html = RenderHtml(model::RunReportFromEvents(testing::KillUnderLoad()));
  EXPECT_TRUE(ElementsWithClass(html, "cited-op").empty());
  EXPECT_EQ(html.find("Operations cited by failed checks"), std::string::npos);
}

}  // namespace
}  // namespace duende::reporters
