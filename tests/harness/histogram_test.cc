#include "duende/harness/histogram.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace duende::harness {
namespace {

// The value at percentile p of `sorted` with the histogram's rank rule (the smallest value
// with at least p% of the values at or below it).
int64_t ExactPercentile(const std::vector<int64_t>& sorted, double p) {
  auto rank =
      static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// Latency-like values over the whole range: a random magnitude, then a random mantissa.
rc::Gen<int64_t> LatencyValue() {
  return rc::gen::mapcat(rc::gen::inRange(0, 43), [](int bits) {
    const int64_t hi = int64_t{1} << bits;
    return rc::gen::inRange<int64_t>(hi / 2, hi);
  });
}

TEST(HistogramTest, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Percentile(50), 0);
  EXPECT_EQ(h.Max(), 0);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Mean(), 0);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int64_t v = 1; v <= 2000; ++v) h.Record(v);
  EXPECT_EQ(h.Count(), 2000u);
  EXPECT_EQ(h.Percentile(50), 1000);
  EXPECT_EQ(h.Percentile(99), 1980);
  EXPECT_EQ(h.Percentile(100), 2000);
  EXPECT_EQ(h.Percentile(0), 1);
  EXPECT_EQ(h.Min(), 1);
  EXPECT_EQ(h.Max(), 2000);
  EXPECT_DOUBLE_EQ(h.Mean(), 1000.5);
}

TEST(HistogramTest, ThreeSignificantDigitsAtAnHour) {
  Histogram h;
  const int64_t hour = int64_t{3600} * 1'000'000'000;
  h.Record(hour);
  h.Record(hour + 1'000'000);  // +1 ms: below the 3-digit resolution at this magnitude
  EXPECT_EQ(h.Max(), hour + 1'000'000);
  EXPECT_LE(std::abs(h.Percentile(50) - hour), hour / 1000);
}

TEST(HistogramTest, ClampsNegativeAndHugeValues) {
  Histogram h;
  h.Record(-5);
  h.Record(Histogram::kMaxValue * 4);
  EXPECT_EQ(h.Count(), 2u);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Max(), Histogram::kMaxValue);
}

TEST(HistogramTest, ResetForgetsEverything) {
  Histogram h;
  h.Record(12345);
  h.Reset();
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Percentile(99), 0);
  h.Record(7);
  EXPECT_EQ(h.Percentile(50), 7);
  EXPECT_EQ(h.Min(), 7);
}

RC_GTEST_PROP(HistogramTest, PercentilesWithinATenthOfAPercent, ()) {
  const auto values = *rc::gen::nonEmpty(rc::gen::container<std::vector<int64_t>>(LatencyValue()));
  const double p = *rc::gen::inRange(0, 100001) / 1000.0;
  Histogram h;
  for (int64_t v : values) h.Record(v);
  std::vector<int64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {p, 0.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    const int64_t exact = ExactPercentile(sorted, q);
    const int64_t got = h.Percentile(q);
    RC_ASSERT(got >= exact);
    RC_ASSERT(static_cast<double>(got - exact) <= static_cast<double>(exact) * 0.001);
  }
  RC_ASSERT(h.Count() == values.size());
  RC_ASSERT(h.Max() == sorted.back());
  RC_ASSERT(h.Min() == sorted.front());
}

RC_GTEST_PROP(HistogramTest, MergeEqualsRecordingEverything, ()) {
  const auto a = *rc::gen::container<std::vector<int64_t>>(LatencyValue());
  const auto b = *rc::gen::container<std::vector<int64_t>>(LatencyValue());
  Histogram ha, hb, all;
  for (int64_t v : a) ha.Record(v), all.Record(v);
  for (int64_t v : b) hb.Record(v), all.Record(v);
  ha.Merge(hb);
  RC_ASSERT(ha.Count() == all.Count());
  RC_ASSERT(ha.Max() == all.Max());
  RC_ASSERT(ha.Min() == all.Min());
  for (double q : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0})
    RC_ASSERT(ha.Percentile(q) == all.Percentile(q));
}

}  // namespace
}  // namespace duende::harness
