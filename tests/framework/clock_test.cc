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

TEST(ClockTest, WallClockIsRealtimeNanoseconds) {
  // Bracketed by the system clock (CLOCK_REALTIME too): a value outside the bracket is in the
  // wrong unit or has its sub-second part subtracted.
  for (int i = 0; i < 100; ++i) {
    const auto before = std::chrono::system_clock::now().time_since_epoch();
    const int64_t wall = WallClockNs();
    const auto after = std::chrono::system_clock::now().time_since_epoch();
    ASSERT_GE(wall, std::chrono::duration_cast<nanoseconds>(before).count());
    ASSERT_LE(wall, std::chrono::duration_cast<nanoseconds>(after).count());
  }
}

TEST(ClockTest, DurationUnitsAndTheirSpacing) {
  nanoseconds d{};
  ASSERT_TRUE(ParseDuration("5 ms", &d));  // spaces between number and unit are allowed
  EXPECT_EQ(d, std::chrono::milliseconds(5));
  ASSERT_TRUE(ParseDuration("1d", &d));
  EXPECT_EQ(d, std::chrono::hours(24));
  ASSERT_TRUE(ParseDuration("10us", &d));
  EXPECT_EQ(d, std::chrono::microseconds(10));
  ASSERT_TRUE(ParseDuration("0", &d));
  EXPECT_EQ(d, nanoseconds(0));
  // Only the view's characters count, not what follows it in memory.
  const std::string buffer = "12";
  ASSERT_TRUE(ParseDuration(std::string_view(buffer).substr(0, 1), &d));
  EXPECT_EQ(d, std::chrono::seconds(1));
  // A number must be one number: "1.2.3" is not 1.2 seconds.
  EXPECT_FALSE(ParseDuration("1.2.3s", &d));
  EXPECT_FALSE(ParseDuration(".", &d));
}

TEST(ClockTest, DurationRangeIsInclusiveAtBothEnds) {
  nanoseconds d{};
  ASSERT_TRUE(ParseDuration("365d", &d));  // exactly kMaxDuration
  EXPECT_EQ(d, kMaxDuration);
  EXPECT_FALSE(ParseDuration("365.001d", &d));

  auto at_max = ParseDurationIn("10s", std::chrono::seconds(1), std::chrono::seconds(10));
  ASSERT_TRUE(at_max.ok());
  EXPECT_EQ(*at_max, std::chrono::seconds(10));
  auto at_min = ParseDurationIn("1s", std::chrono::seconds(1), std::chrono::seconds(10));
  ASSERT_TRUE(at_min.ok());
  EXPECT_EQ(*at_min, std::chrono::seconds(1));
  auto above = ParseDurationIn("10001ms", std::chrono::seconds(1), std::chrono::seconds(10));
  ASSERT_FALSE(above.ok());
  EXPECT_EQ(above.error().Message(),
            "is \"10001ms\"; it must be a duration between 1.00s and 10.00s");
}

TEST(ClockTest, DurationErrorsSayWhetherTheTextOrTheRangeIsWrong) {
  // A negative duration is a number out of range, not gibberish.
  auto negative = ParseDurationIn("-1s", nanoseconds(0));
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().Message(),
            "is \"-1s\"; it must be a duration between 0s and 365 days");
  // So is a number too large for a double.
  const std::string huge = "1" + std::string(400, '0') + "s";
  auto too_big = ParseDurationIn(huge, nanoseconds(0));
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().Message().rfind("is \"1000", 0), 0u) << too_big.error().Message();
  nanoseconds d{};
  EXPECT_FALSE(ParseDuration(huge, &d));
  EXPECT_FALSE(ParseDuration("-" + huge, &d));
  auto gibberish = ParseDurationIn("fast", nanoseconds(0));
  ASSERT_FALSE(gibberish.ok());
  EXPECT_EQ(gibberish.error().Message(),
            "must be a duration such as \"5s\", \"250ms\" or \"2m\", not \"fast\"");
}

TEST(ClockTest, DurationRangesNameWholeDays) {
  EXPECT_EQ(DescribeDurationRange(nanoseconds(0), std::chrono::hours(24)), "between 0s and 1 day");
  EXPECT_EQ(DescribeDurationRange(std::chrono::hours(48), kMaxDuration),
            "between 2 days and 365 days");
  EXPECT_EQ(DescribeDurationRange(std::chrono::milliseconds(1), std::chrono::seconds(90)),
            "between 1.0ms and 1m30s");
}

TEST(ClockTest, FormatDurationSwitchesUnitAtEachBoundary) {
  EXPECT_EQ(FormatDuration(nanoseconds(999)), "999ns");
  EXPECT_EQ(FormatDuration(nanoseconds(1'000)), "1us");
  EXPECT_EQ(FormatDuration(nanoseconds(999'499)), "999us");
  EXPECT_EQ(FormatDuration(nanoseconds(1'000'000)), "1.0ms");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(1)), "1.00s");
  EXPECT_EQ(FormatDuration(std::chrono::seconds(60)), "1m00s");
  EXPECT_EQ(FormatDuration(-std::chrono::milliseconds(1500)), "-1.50s");
}

TEST(ClockTest, ByteUnitsArePowersOf1024Or1000AsDocumented) {
  uint64_t b = 0;
  for (const char* text : {"2k", "2K", "2Ki", "2KiB"}) {
    ASSERT_TRUE(ParseByteSize(text, &b)) << text;
    EXPECT_EQ(b, 2048u) << text;
  }
  for (const char* text : {"3T", "3Ti", "3TiB"}) {
    ASSERT_TRUE(ParseByteSize(text, &b)) << text;
    EXPECT_EQ(b, uint64_t{3} << 40) << text;
  }
  ASSERT_TRUE(ParseByteSize("2TB", &b));
  EXPECT_EQ(b, 2'000'000'000'000u);
  ASSERT_TRUE(ParseByteSize("512 B", &b));
  EXPECT_EQ(b, 512u);
  EXPECT_FALSE(ParseByteSize("5XB", &b));
  EXPECT_FALSE(ParseByteSize("5kiB", &b));
}

TEST(ClockTest, ByteSizeRangeIsZeroToJustBelow2To63) {
  uint64_t b = 1;
  ASSERT_TRUE(ParseByteSize("0", &b));
  EXPECT_EQ(b, 0u);
  EXPECT_FALSE(ParseByteSize("-1", &b));
  EXPECT_FALSE(ParseByteSize("9223372036854775808", &b));  // 2^63
  ASSERT_TRUE(ParseByteSize("8388607T", &b));              // 2^63 - 2^40
  EXPECT_EQ(b, (uint64_t{1} << 63) - (uint64_t{1} << 40));
}

TEST(ClockTest, ByteSizeInChecksBothEndsInclusively) {
  auto at_max = ParseByteSizeIn("4k", 0, 4096);
  ASSERT_TRUE(at_max.ok());
  EXPECT_EQ(*at_max, 4096u);
  auto at_min = ParseByteSizeIn("4k", 4096, 8192);
  ASSERT_TRUE(at_min.ok());
  EXPECT_EQ(*at_min, 4096u);
  auto below = ParseByteSizeIn("1k", 4096, 8192);
  ASSERT_FALSE(below.ok());
  EXPECT_EQ(below.error().Message(), "is \"1k\"; it must be a size between 4KiB and 8KiB");
  auto above = ParseByteSizeIn("4097", 0, 4096);
  ASSERT_FALSE(above.ok());
  EXPECT_EQ(above.error().Message(), "is \"4097\"; it must be a size between 0 bytes and 4KiB");
  auto negative = ParseByteSizeIn("-1", 0);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().Message(),
            "is \"-1\"; it must be a size between 0 bytes and 2^63-1 bytes");
  auto two_to_63 = ParseByteSizeIn("9223372036854775808", 0);
  EXPECT_FALSE(two_to_63.ok());
  auto gibberish = ParseByteSizeIn("lots", 0);
  ASSERT_FALSE(gibberish.ok());
  EXPECT_EQ(gibberish.error().Message(),
            "must be a size such as \"64MiB\", \"512k\" or \"1G\", not \"lots\"");
}

TEST(ClockTest, ByteRangesNameTheLargestExactUnit) {
  EXPECT_EQ(DescribeByteSizeRange(1, uint64_t{1} << 40), "between 1 byte and 1TiB");
  EXPECT_EQ(DescribeByteSizeRange(1024, uint64_t{3} << 30), "between 1KiB and 3GiB");
  EXPECT_EQ(DescribeByteSizeRange(1536, uint64_t{5} << 20), "between 1536 bytes and 5MiB");
  EXPECT_EQ(DescribeByteSizeRange(0, 2), "between 0 bytes and 2 bytes");
}

TEST(ClockTest, GigaAndMegaUnitsInEverySpelling) {
  uint64_t b = 0;
  for (const char* text : {"3G", "3Gi", "3GiB"}) {
    ASSERT_TRUE(ParseByteSize(text, &b)) << text;
    EXPECT_EQ(b, uint64_t{3} << 30) << text;
  }
  for (const char* text : {"5M", "5Mi", "5MiB"}) {
    ASSERT_TRUE(ParseByteSize(text, &b)) << text;
    EXPECT_EQ(b, uint64_t{5} << 20) << text;
  }
  ASSERT_TRUE(ParseByteSize("2MB", &b));
  EXPECT_EQ(b, 2'000'000u);
  ASSERT_TRUE(ParseByteSize("2GB", &b));
  EXPECT_EQ(b, 2'000'000'000u);
}

TEST(ClockTest, ByteSizeInRefusesNegativeAnd2To63EvenWithAWideMax) {
  // The upper bound of the caller does not widen the 0..2^63-1 that every size shares.
  constexpr uint64_t kWide = ~uint64_t{0};
  EXPECT_FALSE(ParseByteSizeIn("-1", 0, kWide).ok());
  EXPECT_FALSE(ParseByteSizeIn("9223372036854775808", 0, kWide).ok());
  auto zero = ParseByteSizeIn("0", 0, kWide);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0u);
}

TEST(ClockTest, ExactDurationTextUsesTheLargestDividingUnit) {
  EXPECT_EQ(ExactDurationText(nanoseconds(0)), "0s");
  EXPECT_EQ(ExactDurationText(std::chrono::hours(3)), "3h");
  EXPECT_EQ(ExactDurationText(std::chrono::minutes(90)), "90m");
  EXPECT_EQ(ExactDurationText(std::chrono::seconds(90)), "90s");
  EXPECT_EQ(ExactDurationText(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(ExactDurationText(std::chrono::microseconds(7)), "7us");
  EXPECT_EQ(ExactDurationText(nanoseconds(7)), "7ns");
  EXPECT_EQ(ExactDurationText(nanoseconds(1'000'000'001)), "1000000001ns");
  for (nanoseconds d : {nanoseconds(7), nanoseconds(1'500'000), nanoseconds(5'400'000'000'000)}) {
    nanoseconds back{};
    ASSERT_TRUE(ParseDuration(ExactDurationText(d), &back)) << ExactDurationText(d);
    EXPECT_EQ(back, d);
  }
}

}  // namespace
}  // namespace duende::framework
