// What `duende top` makes of status replies, without processes: rates between two samples
// (and none across a restart), the latency of the last interval, text that cannot drive a
// terminal, the frame cut to the terminal's size, malformed replies refused.
#include "top_view.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace duende::cli {
namespace {

using nlohmann::json;

json Service(const std::string& name, int pid, double cpu, const std::string& status = "") {
  return {{"name", name},
          {"state", "running"},
          {"pid", pid},
          {"restarts", 0},
          {"last_exit", nullptr},
          {"reason", ""},
          {"status", status},
          {"usage",
           {{"processes", 1},
            {"cpu_seconds", cpu},
            {"rss_bytes", 4096},
            {"fds", 3},
            {"vmlck_bytes", 0}}}};
}

TopSample Parse(const json& j) {
  auto s = ParseTopReply(j.dump());
  EXPECT_TRUE(s.ok()) << s.error().Message();
  return s.ok() ? *s : TopSample{};
}

json Supervise(int64_t ns, std::vector<json> services) {
  return {{"ok", true}, {"kind", "supervise"}, {"sampled_ns", ns}, {"services", services}};
}

TEST(TopViewTest, CpuPercentIsTheRateBetweenSamplesAndNoneAcrossARestart) {
  const TopSample a = Parse(Supervise(1'000'000'000, {Service("x", 10, 1.0), Service("y", 20, 5)}));
  const TopSample b = Parse(Supervise(3'000'000'000, {Service("x", 10, 2.0), Service("y", 21, 0)}));
  const TopFrame f = MakeTopFrame(&a, b);
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_DOUBLE_EQ(f.window_s, 2.0);
  ASSERT_TRUE(f.rows[0].cpu_percent.has_value());
  EXPECT_DOUBLE_EQ(*f.rows[0].cpu_percent, 50.0);
  EXPECT_FALSE(f.rows[1].cpu_percent.has_value()) << "y restarted: another pid";
  EXPECT_FALSE(MakeTopFrame(nullptr, b).rows[0].cpu_percent.has_value());
  const json j = RenderTopJson(f, "s.sock");
  EXPECT_EQ(j["services"][0]["cpu_percent"], 50.0);
  EXPECT_TRUE(j["services"][1]["cpu_percent"].is_null());
}

TEST(TopViewTest, RunLoadRatesAndTheLastIntervalsLatency) {
  auto run = [](int64_t ns, uint64_t ok, uint64_t timeouts, std::vector<uint64_t> counts) {
    return json{{"ok", true},
                {"kind", "run"},
                {"scenario", "s"},
                {"sampled_ns", ns},
                {"targets", json::array()},
                {"load",
                 {{"ok", ok},
                  {"errors", 0},
                  {"timeouts", timeouts},
                  {"abandoned", 0},
                  {"latency", {{"upper_ns", {1000, 2000, 4000}}, {"counts", counts}}}}},
                {"faults", {{{"name", "f"}, {"kind", "pause"}, {"on", "kvd"}}}},
                {"faults_injected", 1}};
  };
  // The first second: 100 requests at <1us; the next: 10 more, all 2-4us.
  const TopSample a = Parse(run(0, 100, 0, {100, 0, 0}));
  const TopSample b = Parse(run(1'000'000'000, 105, 5, {100, 0, 10}));
  const TopFrame f = MakeTopFrame(&a, b);
  ASSERT_TRUE(f.requests_per_s.has_value());
  EXPECT_DOUBLE_EQ(*f.requests_per_s, 10);
  EXPECT_DOUBLE_EQ(*f.errors_per_s, 5);
  EXPECT_TRUE(f.latency_window);
  EXPECT_EQ(*f.p99_ns, 4000u) << "of the last second, not the whole run (1us)";
  const TopFrame first = MakeTopFrame(nullptr, a);
  EXPECT_FALSE(first.requests_per_s.has_value());
  EXPECT_FALSE(first.latency_window);
  EXPECT_EQ(*first.p99_ns, 1000u);
  const auto lines = RenderTopText(f, "r.sock", "", 0, 0, "");
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[1],
            "load: 10.0 req/s, errors 5.0/s; 110 requests, 0 errors, 5 timeouts; p50 4us p99 4us "
            "(last 1.0s)");
  EXPECT_EQ(lines[2], "faults: f (pause on kvd); 1 injected so far");
}

TEST(TopViewTest, TextFromAServiceCannotDriveTheTerminal) {
  const TopSample s =
      Parse(Supervise(1, {Service("evil\x1b[2J", 1, 0, "\x1b]0;owned\x07 caf\xc3\xa9")}));
  for (const auto& line : RenderTopText(MakeTopFrame(nullptr, s), "s", "", 0, 0, "")) {
    for (char c : line) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c) << " in " << line;
    }
  }
}

TEST(TopViewTest, FrameFitsTheTerminal) {
  std::vector<json> many;
  for (int i = 0; i < 30; ++i) many.push_back(Service("s" + std::to_string(i), 100 + i, 0));
  const TopSample s = Parse(Supervise(1, many));
  const auto lines = RenderTopText(MakeTopFrame(nullptr, s), "s.sock", "12:00:00  q quits", 50, 10,
                                   "no status since 12:00:01: gone");
  // 10 lines: the title, the column header, 6 rows, the count of the 24 others, the status.
  ASSERT_EQ(lines.size(), 10u);
  for (const auto& l : lines) EXPECT_LE(l.size(), 50u) << l;
  EXPECT_EQ(lines[0].size(), 50u);
  EXPECT_EQ(lines[0].substr(50 - 17), "12:00:00  q quits") << "right-aligned to the width";
  EXPECT_EQ(lines[8], "... 24 more (a taller terminal shows them)");
  EXPECT_EQ(lines[9], "no status since 12:00:01: gone");
}

TEST(TopViewTest, MalformedRepliesAreRefusedWithWhy) {
  for (
      const std::string& bad :
      {std::string("nope"), std::string("[]"), std::string(R"({"ok":true})"),
       std::string(R"({"ok":true,"kind":"what","services":[]})"),
       std::string(R"({"ok":true,"services":[{"name":1,"state":"x"}]})"),
       std::string(R"({"ok":true,"services":[{"name":"a","state":"x","usage":{"fds":-1}}]})"),
       std::string(
           R"({"ok":true,"kind":"run","targets":[],"load":{"latency":{"upper_ns":[1],"counts":[]}}})")}) {
    auto r = ParseTopReply(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().context.find("malformed status reply: "), std::string::npos);
    }
  }
  auto refused = ParseTopReply(R"({"ok":false,"error":"no service named 'x'"})");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().context, "no service named 'x'");
}

}  // namespace
}  // namespace duende::cli
