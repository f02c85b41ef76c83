// The reports' syscall-trace and trace-id section (trace_report.cc): rendered from
// trace.summary / trace.window events and load.summary's trace_ids in every format, absent
// from runs without them.
#include <gtest/gtest.h>

#include <string>

#include "duende/model/events.h"
#include "duende/reporters/reporter.h"

namespace duende::reporters {
namespace {

namespace events = model::events;
using nlohmann::json;

model::RunReport TracedRun() {
  model::ScenarioResult s;
  s.name = "traced";
  s.start_ns = 1'000'000'000;
  s.verdict = model::Verdict::kPass;
  s.events.push_back({s.start_ns, events::kRunStarted, "", json::object()});
  json call = {
      {"tid", 42},   {"t_ns", 2'500'000'000}, {"name", "write"}, {"args", "9, \"SET k1\"..., 276"},
      {"ret", "-1"}, {"errno", "ENOSPC"},     {"dur_us", 18},    {"why", "failed"}};
  call["next"] = json::array({{{"tid", 42},
                               {"t_ns", 2'500'100'000},
                               {"name", "sendto"},
                               {"args", "16, \"ERR No space left on device\\n\", 28"},
                               {"ret", "28"},
                               {"errno", ""},
                               {"dur_us", 45}}});
  s.events.push_back({3'000'000'000,
                      events::kTraceSummary,
                      "kvd",
                      {{"pids", {42, 43}},
                       {"calls", 2893},
                       {"dir", "/run/x/trace"},
                       {"dropped_bytes", 0},
                       {"syscalls",
                        {{{"name", "write"},
                          {"count", 569},
                          {"errors", 103},
                          {"errnos", {{"ENOSPC", 103}}},
                          {"p50_us", 43.0},
                          {"p99_us", 3800.0},
                          {"total_us", 105000}}}}}});
  s.events.push_back({3'000'000'000,
                      events::kTraceWindow,
                      "full",
                      {{"on", "kvd"},
                       {"kind", "disk"},
                       {"start_ns", 2'180'000'000},
                       {"end_ns", 3'377'000'000},
                       {"failed", 1},
                       {"slow", 0},
                       {"calls", json::array({call})}}});
  s.events.push_back({3'100'000'000,
                      events::kLoadSummary,
                      "load",
                      {{"sent", 10},
                       {"trace_ids",
                        {{"failed",
                          {{{"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
                            {"latency_us", 900},
                            {"outcome", "error"}}}},
                         {"slowest",
                          {{{"trace_id", "0af7651916cd43dd8448eb211c80319c"},
                            {"latency_us", 84000},
                            {"outcome", "ok"}}}}}}}});
  model::RunReport r;
  r.scenarios.push_back(s);
  r.verdict = model::Verdict::kPass;
  return r;
}

TEST(TraceReportTest, EveryFormatShowsTheFailedCallWhatFollowedAndTheTraceIds) {
  const model::RunReport r = TracedRun();
  const std::string console = RenderConsoleSummary(r.scenarios[0], false);
  const std::string md = RenderMarkdown(r);
  const std::string html = RenderHtml(r);
  const json j = json::parse(RenderJson(r));
  for (const std::string* text : {&console, &md, &html}) {
    EXPECT_NE(text->find("ENOSPC"), std::string::npos) << *text;
    EXPECT_NE(text->find("ERR No space left on device"), std::string::npos) << *text;
    EXPECT_NE(text->find("4bf92f3577b34da6a3ce929d0e0e4736"), std::string::npos) << *text;
    EXPECT_NE(text->find("0af7651916cd43dd8448eb211c80319c"), std::string::npos) << *text;
    EXPECT_NE(text->find("569"), std::string::npos) << *text;  // the summary row
  }
  EXPECT_NE(console.find("fault full (disk on kvd, 1.180-2.377 s): 1 failed, 0 slow"),
            std::string::npos)
      << console;
  const json& t = j["scenarios"][0]["trace"];
  EXPECT_EQ(t["windows"][0]["calls"][0]["errno"], "ENOSPC");
  EXPECT_EQ(t["syscalls"]["kvd"]["calls"], 2893);
  EXPECT_EQ(t["trace_ids"]["failed"][0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceReportTest, RunsWithoutTracesHaveNoSection) {
  model::RunReport r = TracedRun();
  auto& ev = r.scenarios[0].events;
  ev.resize(1);
  EXPECT_EQ(RenderConsoleSummary(r.scenarios[0], false).find("syscalls"), std::string::npos);
  EXPECT_EQ(RenderMarkdown(r).find("Syscalls"), std::string::npos);
  EXPECT_EQ(RenderHtml(r).find("Syscalls"), std::string::npos);
  EXPECT_FALSE(json::parse(RenderJson(r))["scenarios"][0].contains("trace"));
}

}  // namespace
}  // namespace duende::reporters
