#include "duende/model/events.h"

#include <gtest/gtest.h>

#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>

namespace duende::model {
namespace {

using Json = nlohmann::json;

Event Ev(int64_t ts_ns, const char* type, const std::string& target, Json data = Json::object()) {
  return Event{ts_ns, type, target, std::move(data)};
}

TEST(EventsTest, TypesAreUniqueAndEachIsDocumented) {
  std::ifstream in(std::string(DUENDE_SOURCE_DIR) + "/docs/events.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  std::set<std::string> seen;
  for (const char* type : events::AllTypes()) {
    EXPECT_TRUE(seen.insert(type).second) << type << " is listed twice";
    EXPECT_NE(doc.str().find(std::string("`") + type + "`"), std::string::npos)
        << type << " is not documented in docs/events.md";
  }
}

TEST(EventsTest, DecodesALoadSecond) {
  auto s = events::DecodeLoadSecond(Ev(5'000'000'000, events::kLoadSecond, "load",
                                       {{"second", 3},
                                        {"start_ns", 4'100'000'000},
                                        {"sent", 10},
                                        {"ok", 8},
                                        {"errors", 1},
                                        {"timeouts", 1},
                                        {"rate", 7.5},
                                        {"p50_us", 120},
                                        {"p99_us", 900},
                                        {"max_us", 1500}}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->second, 3);
  EXPECT_EQ(s->start_ns, 4'100'000'000);
  EXPECT_EQ(s->end_ns, 5'000'000'000);
  EXPECT_EQ(s->sent, 10);
  EXPECT_EQ(s->ok, 8);
  EXPECT_EQ(s->errors + s->timeouts, 2);
  EXPECT_DOUBLE_EQ(s->rate, 7.5);
  EXPECT_EQ(s->p99_us, 900);
  EXPECT_EQ(s->max_us, 1500);
}

// The load's last second ends where the load stopped ("span_ns"), not when its event was
// written; a span that cannot be one (over a second, or past the end of time) is ignored.
TEST(EventsTest, ALoadSecondWithASpanEndsAtItsSpan) {
  auto s = events::DecodeLoadSecond(Ev(5'000'000'000, events::kLoadSecond, "load",
                                       {{"start_ns", 4'000'000'000}, {"span_ns", 400'000'000}}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->end_ns, 4'400'000'000);
  auto too_long = events::DecodeLoadSecond(Ev(5'000'000'000, events::kLoadSecond, "load",
                                              {{"start_ns", 1}, {"span_ns", 2'000'000'000}}));
  EXPECT_EQ(too_long->end_ns, 5'000'000'000);
  auto overflow = events::DecodeLoadSecond(
      Ev(5, events::kLoadSecond, "load",
         {{"start_ns", std::numeric_limits<int64_t>::max()}, {"span_ns", 10}}));
  EXPECT_EQ(overflow->end_ns, 5);
}

TEST(EventsTest, OlderLoadSecondsWithoutStartOrRateGetTheirDefaults) {
  auto s = events::DecodeLoadSecond(Ev(3'000'000'000, events::kLoadSecond, "load", {{"ok", 4}}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->start_ns, 2'000'000'000);
  EXPECT_DOUBLE_EQ(s->rate, 4.0);
  EXPECT_FALSE(events::DecodeLoadSecond(Ev(1, events::kLoadSummary, "load", {{"ok", 4}})));
}

TEST(EventsTest, FaultSpansPairEachInjectionWithItsOwnHeal) {
  std::vector<Event> log = {
      Ev(100, events::kFaultInjected, "kill", {{"kind", "kill"}, {"on", "kvd"}}),
      Ev(110, events::kFaultFired, "kill"),
      Ev(200, events::kFaultHealed, "kill", {{"took_effect", true}}),
      Ev(250, events::kFaultHealed, "kill", {{"took_effect", false}}),  // no open injection
      Ev(300, events::kFaultInjected, "kill", {{"kind", "kill"}, {"on", "kvd"}}),
      Ev(350, events::kFaultInjected, "lat", {{"kind", "latency"}}),
      Ev(400, events::kFaultHealed, "lat", {{"took_effect", false}}),
  };
  auto spans = events::FaultSpans(log);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].fault, "kill");
  EXPECT_EQ(spans[0].on, "kvd");
  EXPECT_TRUE(spans[0].fired);
  EXPECT_EQ(spans[0].healed_ns, 200);
  EXPECT_EQ(spans[0].took_effect, true);
  EXPECT_FALSE(spans[1].healed_ns.has_value()) << "the second kill was never healed";
  EXPECT_FALSE(spans[1].fired);
  EXPECT_EQ(spans[2].kind, "latency");
  EXPECT_EQ(spans[2].healed_ns, 400);
  EXPECT_EQ(spans[2].took_effect, false);
}

TEST(EventsTest, FieldReadersFallBackOnWrongTypes) {
  Json d = {{"n", 3.9}, {"s", "x"}, {"bad", "7"}};
  EXPECT_EQ(events::IntField(d, "n"), 3);
  EXPECT_EQ(events::IntField(d, "bad", -1), -1);
  EXPECT_EQ(events::IntField(d, "missing", 5), 5);
  EXPECT_DOUBLE_EQ(events::NumberField(d, "n"), 3.9);
  EXPECT_EQ(events::StringField(d, "s"), "x");
  EXPECT_EQ(events::StringField(d, "n"), "");
}

}  // namespace
}  // namespace duende::model

namespace duende::model {
namespace {

TEST(ModelTest, VerdictNamesAndTheWorstVerdictOfSeveral) {
  EXPECT_STREQ(VerdictName(Verdict::kPass), "PASS");
  EXPECT_STREQ(VerdictName(Verdict::kFail), "FAIL");
  EXPECT_STREQ(VerdictName(Verdict::kError), "ERROR");
  EXPECT_STREQ(VerdictName(Verdict::kAborted), "ABORTED");
  EXPECT_STREQ(VerdictName(static_cast<Verdict>(42)), "?");
  EXPECT_EQ(Combine({}), Verdict::kPass);
  EXPECT_EQ(Combine({Verdict::kPass, Verdict::kFail, Verdict::kPass}), Verdict::kFail);
  EXPECT_EQ(Combine({Verdict::kError, Verdict::kFail}), Verdict::kError);
  EXPECT_EQ(Combine({Verdict::kFail, Verdict::kAborted, Verdict::kError}), Verdict::kAborted);
}

}  // namespace
}  // namespace duende::model
