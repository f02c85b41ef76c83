// The [policy] table of a daemon config: read, rejected with file:line:col and the fix, and
// written back by FormatDaemonConfig to an equal config.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "duende/framework/config.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;

TEST(PolicyConfigTest, ReadsEveryTable) {
  auto c = ParseDaemonConfig(R"(
[policy.breaker]
failure_threshold = 3
failure_rate = 0.5
window = "2s"
min_calls = 20
open_for = "400ms"
jitter = 0.1
half_open_trials = 2
[policy.rate_limit]
rate = 2000
burst = 50
[policy.shed]
target = "10ms"
interval = "100ms"
)",
                             "p.toml");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  ASSERT_TRUE(c->policy.breaker);
  EXPECT_EQ(c->policy.breaker->failure_threshold, 3u);
  EXPECT_EQ(c->policy.breaker->failure_rate, 0.5);
  EXPECT_EQ(c->policy.breaker->window, std::chrono::seconds(2));
  EXPECT_EQ(c->policy.breaker->min_calls, 20u);
  EXPECT_EQ(c->policy.breaker->open_for, milliseconds(400));
  EXPECT_EQ(c->policy.breaker->jitter, 0.1);
  EXPECT_EQ(c->policy.breaker->half_open_trials, 2u);
  ASSERT_TRUE(c->policy.rate_limit);
  EXPECT_EQ(c->policy.rate_limit->rate, 2000);
  EXPECT_EQ(c->policy.rate_limit->burst, 50u);
  ASSERT_TRUE(c->policy.shed);
  EXPECT_EQ(c->policy.shed->target, milliseconds(10));
  EXPECT_EQ(c->policy.shed->interval, milliseconds(100));
}

TEST(PolicyConfigTest, AbsentTablesAreOffAndAnEmptyTableIsOnWithDefaults) {
  auto off = ParseDaemonConfig("name = \"x\"\n", "p.toml");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->policy.breaker || off->policy.rate_limit || off->policy.shed);
  auto on = ParseDaemonConfig("[policy.breaker]\n[policy.shed]\n", "p.toml");
  ASSERT_TRUE(on.ok()) << on.error().Message();
  EXPECT_EQ(on->policy.breaker, BreakerConfig{});
  EXPECT_EQ(on->policy.shed, ShedConfig{});
  EXPECT_FALSE(on->policy.rate_limit);
}

// Each bad value is one file:line:col message that says what to write instead.
TEST(PolicyConfigTest, BadValuesAreErrorsWithPositionAndFix) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"[policy.breaker]\nfailure_treshold = 3\n",
       "p.toml:2:1: unknown key 'failure_treshold' in [policy].breaker; did you mean "
       "'failure_threshold'?"},
      {"[policy.breaker]\nfailure_rate = 1.5\n",
       "p.toml:2:16: 'failure_rate' in "
       "[policy].breaker is 1.5; it must be between 0 "
       "and 1"},
      {"[policy.breaker]\nfailure_threshold = 0\n",
       "p.toml:2:21: the breaker in [policy].breaker can never open"},
      {"[policy.breaker]\nopen_for = \"0s\"\n",
       "p.toml:2:12: 'open_for' in [policy].breaker is "
       "\"0s\"; it must be a duration between 1ns"},
      {"[policy.rate_limit]\nrate = 0\n", "p.toml:2:8: 'rate' in [policy].rate_limit is 0"},
      {"[policy.rate_limit]\nburst = 0\n", "p.toml:2:9: 'burst' in [policy].rate_limit is 0"},
      {"[policy.shed]\ntarget = \"200ms\"\n",
       "p.toml:2:10: 'interval' in [policy].shed (100.0ms) is shorter than 'target' (200.0ms)"},
      {"[policy.shed]\ntarget = \"fast\"\n", "must be a duration such as \"5s\""},
      {"[policy.rate_limit]\nbrust = 5\n",
       "p.toml:2:1: unknown key 'brust' in [policy].rate_limit; did you mean 'burst'?"},
      {"[policy.shed]\ntraget = \"5ms\"\n",
       "p.toml:2:1: unknown key 'traget' in [policy].shed; did you mean 'target'?"},
      {"[policy]\nbreakr = {}\n",
       "p.toml:2:1: unknown key 'breakr' in [policy]; did you mean "
       "'breaker'?"},
  };
  for (const Case& c : cases) {
    auto r = ParseDaemonConfig(c.text, "p.toml");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().Message().find(c.message), std::string::npos) << c.text << "\n"
                                                                      << r.error().Message();
  }
}

RC_GTEST_PROP(PolicyConfigTest, RenderedPolicyParsesBackEqual, ()) {
  DaemonConfig c;
  c.source_file = "gen.toml";
  if (*rc::gen::arbitrary<bool>()) {
    BreakerConfig b;
    b.failure_threshold = *rc::gen::inRange<uint32_t>(1, 1000);
    b.failure_rate = *rc::gen::inRange(0, 101) / 100.0;
    b.window = milliseconds(*rc::gen::inRange(1, 100'000));
    b.min_calls = *rc::gen::inRange<uint32_t>(1, 1000);
    b.open_for = std::chrono::microseconds(*rc::gen::inRange(1, 100'000'000));
    b.jitter = *rc::gen::inRange(0, 101) / 100.0;
    b.half_open_trials = *rc::gen::inRange<uint32_t>(1, 100);
    c.policy.breaker = b;
  }
  if (*rc::gen::arbitrary<bool>()) {
    c.policy.rate_limit = RateLimitConfig{*rc::gen::inRange(1, 1'000'000) / 10.0,
                                          *rc::gen::inRange<uint32_t>(1, 100'000)};
  }
  if (*rc::gen::arbitrary<bool>()) {
    ShedConfig s;
    s.target = std::chrono::microseconds(*rc::gen::inRange(1, 1'000'000));
    s.interval = s.target + milliseconds(*rc::gen::inRange(0, 10'000));
    c.policy.shed = s;
  }
  const std::string text = FormatDaemonConfig(c);
  auto back = ParseDaemonConfig(text, "gen.toml");
  RC_ASSERT(back.ok());
  RC_ASSERT(back->policy == c.policy);
}

}  // namespace
}  // namespace duende::framework
