#include "duende/framework/clock.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace duende::framework {
namespace {

using std::chrono::nanoseconds;

TEST(ClockTest, MonotonicNeverGoesBack) {
  int64_t prev = MonotonicNs();
  for (int i = 0; i < 10000; ++i) {
    int64_t now = MonotonicNs();
    ASSERT_GE(now, prev);
    prev = now;
  }
}

TEST(ClockTest, ParsesDurations) {
  nanoseconds d{};
  ASSERT_TRUE(ParseDuration("250ms", &d));
  EXPECT_EQ(d, std::chrono::milliseconds(250));
  ASSERT_TRUE(ParseDuration("1.5s", &d));
  EXPECT_EQ(d, std::chrono::milliseconds(1500));
  ASSERT_TRUE(ParseDuration("2m", &d));
  EXPECT_EQ(d, std::chrono::seconds(120));
  ASSERT_TRUE(ParseDuration("3", &d));
  EXPECT_EQ(d, std::chrono::seconds(3));
  EXPECT_FALSE(ParseDuration("-1s", &d));
  EXPECT_FALSE(ParseDuration("fast", &d));
  EXPECT_FALSE(ParseDuration("5 parsecs", &d));
  EXPECT_FALSE(ParseDuration("", &d));
}

TEST(ClockTest, ParsesByteSizes) {
  uint64_t b = 0;
  ASSERT_TRUE(ParseByteSize("64MiB", &b));
  EXPECT_EQ(b, 64u << 20);
  ASSERT_TRUE(ParseByteSize("1G", &b));
  EXPECT_EQ(b, 1u << 30);
  ASSERT_TRUE(ParseByteSize("10kB", &b));
  EXPECT_EQ(b, 10000u);
  EXPECT_FALSE(ParseByteSize("lots", &b));
}

RC_GTEST_PROP(ClockTest, FormattedMillisecondsParseBack, (uint32_t ms)) {
  nanoseconds d{};
  std::string text = std::to_string(ms) + "ms";
  RC_ASSERT(ParseDuration(text, &d));
  RC_ASSERT(d == std::chrono::milliseconds(ms));
}

TEST(ClockTest, FormatsForHumans) {
  EXPECT_EQ(FormatDuration(std::chrono::microseconds(850)), "850us");
  EXPECT_EQ(FormatDuration(std::chrono::microseconds(12345)), "12.3ms");
  EXPECT_EQ(FormatDuration(std::chrono::milliseconds(4200)), "4.20s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(185)), "3m05s");
}

}  // namespace
}  // namespace duende::framework
