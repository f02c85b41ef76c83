#include "duende/framework/backoff.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

BackoffConfig Config(BackoffConfig::Jitter jitter) {
  BackoffConfig c;
  c.initial = milliseconds(100);
  c.multiplier = 2.0;
  c.max = seconds(1);
  c.jitter = jitter;
  return c;
}

TEST(BackoffTest, NoJitterDoublesUpToTheCap) {
  Backoff b(Config(BackoffConfig::Jitter::kNone), 1);
  std::vector<int64_t> ms;
  for (int i = 0; i < 7; ++i) ms.push_back(b.Next().count() / 1000000);
  EXPECT_EQ(ms, (std::vector<int64_t>{100, 200, 400, 800, 1000, 1000, 1000}));
  EXPECT_EQ(b.attempt(), 7u);
}

TEST(BackoffTest, ImmediateFirstRestartWaitsZeroThenInitial) {
  BackoffConfig c = Config(BackoffConfig::Jitter::kNone);
  c.immediate_first_restart = true;
  Backoff b(c, 1);
  EXPECT_EQ(b.Next(), nanoseconds(0));
  EXPECT_EQ(b.Next(), milliseconds(100));
  EXPECT_EQ(b.Next(), milliseconds(200));
}

TEST(BackoffTest, ResetStartsTheSequenceAgain) {
  Backoff b(Config(BackoffConfig::Jitter::kNone), 1);
  b.Next();
  b.Next();
  b.Reset();
  EXPECT_EQ(b.attempt(), 0u);
  EXPECT_EQ(b.Next(), milliseconds(100));
}

TEST(BackoffTest, SameSeedSameDelays) {
  Backoff a(Config(BackoffConfig::Jitter::kFull), 42);
  Backoff b(Config(BackoffConfig::Jitter::kFull), 42);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(BackoffTest, FullJitterActuallyVaries) {
  Backoff b(Config(BackoffConfig::Jitter::kFull), 7);
  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) seen.insert(b.Next().count());
  EXPECT_GT(seen.size(), 10u);
}

TEST(BackoffTest, HugeAttemptsDoNotOverflow) {
  BackoffConfig c = Config(BackoffConfig::Jitter::kNone);
  c.multiplier = 10.0;
  EXPECT_EQ(Backoff::Base(c, 100000), seconds(1));
}

BackoffConfig GenConfig() {
  BackoffConfig c;
  c.initial = milliseconds(*rc::gen::inRange(0, 2000));
  c.multiplier = *rc::gen::element(1.0, 1.5, 2.0, 3.0, 10.0);
  c.max = milliseconds(*rc::gen::inRange(0, 60000));
  c.jitter = *rc::gen::element(BackoffConfig::Jitter::kNone, BackoffConfig::Jitter::kFull,
                               BackoffConfig::Jitter::kEqual, BackoffConfig::Jitter::kDecorrelated);
  c.immediate_first_restart = *rc::gen::arbitrary<bool>();
  return c;
}

RC_GTEST_PROP(BackoffTest, DelayNeverExceedsCapNorGoesNegative, (uint64_t seed)) {
  BackoffConfig c = GenConfig();
  Backoff b(c, seed);
  const int attempts = *rc::gen::inRange(1, 60);
  for (int i = 0; i < attempts; ++i) {
    nanoseconds d = b.Next();
    RC_ASSERT(d.count() >= 0);
    RC_ASSERT(d <= c.max);
  }
}

RC_GTEST_PROP(BackoffTest, JitterStaysWithinItsBand, (uint64_t seed)) {
  BackoffConfig c = GenConfig();
  Backoff b(c, seed);
  const int attempts = *rc::gen::inRange(1, 40);
  for (int i = 1; i <= attempts; ++i) {
    const int64_t base = Backoff::Base(c, static_cast<uint32_t>(i)).count();
    const int64_t d = b.Next().count();
    switch (c.jitter) {
      case BackoffConfig::Jitter::kNone:
        RC_ASSERT(d == base);
        break;
      case BackoffConfig::Jitter::kFull:
        RC_ASSERT(d >= 0 && d <= base);
        break;
      case BackoffConfig::Jitter::kEqual:
        RC_ASSERT(d >= base / 2 && d <= base);
        break;
      case BackoffConfig::Jitter::kDecorrelated:
        if (c.immediate_first_restart && i == 1) {
          RC_ASSERT(d == 0);
        } else {
          RC_ASSERT(d >= std::min(c.initial, c.max).count());
          RC_ASSERT(d <= c.max.count());
        }
        break;
    }
  }
}

RC_GTEST_PROP(BackoffTest, BaseIsMonotonicInTheAttempt, ()) {
  BackoffConfig c = GenConfig();
  const auto n = *rc::gen::inRange<uint32_t>(1, 200);
  RC_ASSERT(Backoff::Base(c, n) <= Backoff::Base(c, n + 1));
}

TEST(BackoffTest, EachJitterHasItsConfigName) {
  EXPECT_STREQ(JitterName(BackoffConfig::Jitter::kNone), "none");
  EXPECT_STREQ(JitterName(BackoffConfig::Jitter::kFull), "full");
  EXPECT_STREQ(JitterName(BackoffConfig::Jitter::kEqual), "equal");
  EXPECT_STREQ(JitterName(BackoffConfig::Jitter::kDecorrelated), "decorrelated");
  EXPECT_STREQ(JitterName(static_cast<BackoffConfig::Jitter>(99)), "?");
}

}  // namespace
}  // namespace duende::framework
