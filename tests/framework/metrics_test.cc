#include "duende/framework/metrics.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <thread>

#include "duende/framework/health.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;

TEST(MetricsTest, CountsAndQuantiles) {
  MetricsRecorder m;
  for (int i = 0; i < 98; ++i) {
    m.AddRequest();
    m.RecordLatency(3us);  // bucket [2us, 4us)
  }
  m.AddRequest();
  m.AddError();
  m.RecordLatency(3ms);
  m.AddRequest();
  m.RecordLatency(5ms);
  m.Set("keys", 42);
  MetricsSnapshot s = m.Snapshot();
  EXPECT_EQ(s.requests, 100u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.latency_count, 100u);
  EXPECT_EQ(s.QuantileNs(0.5), 4000u);
  EXPECT_EQ(s.QuantileNs(0.99), 4096000u);  // 3ms lies in [2.048ms, 4.096ms)
  EXPECT_EQ(s.QuantileNs(1.0), 8192000u);   // 5ms lies in [4.096ms, 8.192ms)
  EXPECT_EQ(s.custom.at("keys"), 42);
  EXPECT_NE(s.ToText().find("requests=100 errors=1 latency_count=100 p50<=4us"), std::string::npos)
      << s.ToText();
  EXPECT_NE(s.ToJson().find("\"custom\":{\"keys\":42}"), std::string::npos) << s.ToJson();
}

RC_GTEST_PROP(MetricsTest, EveryLatencyLandsInTheBucketThatBoundsIt, (uint32_t us)) {
  MetricsRecorder m;
  m.RecordLatency(std::chrono::microseconds(us));
  MetricsSnapshot s = m.Snapshot();
  uint64_t ns = uint64_t{us} * 1000;
  for (size_t i = 0; i < s.buckets.size(); ++i) {
    if (s.buckets[i] == 0) continue;
    RC_ASSERT(ns < s.bucket_upper_ns[i]);
    if (i > 0 && i + 1 < s.buckets.size()) RC_ASSERT(ns >= s.bucket_upper_ns[i - 1]);
  }
  RC_ASSERT(s.latency_count == 1u);
}

TEST(MetricsTest, ConcurrentRecordingLosesNothing) {
  MetricsRecorder m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        m.AddRequest();
        m.RecordLatency(std::chrono::microseconds(i));
      }
    });
  }
  for (auto& t : threads) t.join();
  MetricsSnapshot s = m.Snapshot();
  EXPECT_EQ(s.requests, 40000u);
  uint64_t total = 0;
  for (uint64_t b : s.buckets) total += b;
  EXPECT_EQ(total, 40000u);
}

TEST(MetricsTest, AnEmptySnapshotHasNoQuantileAndJsonListsOnlyFilledBuckets) {
  MetricsRecorder m;
  EXPECT_EQ(m.Snapshot().QuantileNs(0.99), 0u);
  m.RecordLatency(3us);
  m.RecordLatency(3us);
  m.RecordLatency(5ms);
  m.Set("quote\"back\\slash", 1);
  const std::string json = m.Snapshot().ToJson();
  EXPECT_NE(json.find("\"latency_buckets\":[{\"le_ns\":4000,\"count\":2},{\"le_ns\":8192000,"
                      "\"count\":1}]"),
            std::string::npos)
      << json;
  // A custom name is a JSON string: its quote and backslash are escaped.
  EXPECT_NE(json.find("\"custom\":{\"quote\\\"back\\\\slash\":1}"), std::string::npos) << json;
}

TEST(HealthTest, EachStateHasItsName) {
  EXPECT_STREQ(HealthStateName(HealthState::kHealthy), "healthy");
  EXPECT_STREQ(HealthStateName(HealthState::kDegraded), "degraded");
  EXPECT_STREQ(HealthStateName(HealthState::kUnhealthy), "unhealthy");
}

TEST(HealthTest, ReportTakesTheWorstState) {
  HealthReport r;
  EXPECT_EQ(r.state, HealthState::kHealthy);
  r.Add({"wal", HealthState::kDegraded, "slow fsync", 2us});
  r.Add({"listener", HealthState::kHealthy, "", 1us});
  EXPECT_EQ(r.state, HealthState::kDegraded);
  r.Add({"disk", HealthState::kUnhealthy, "full", 1us});
  EXPECT_EQ(r.state, HealthState::kUnhealthy);
  r.latency = 12us;
  EXPECT_EQ(r.ToString(),
            "unhealthy (wal: degraded: slow fsync; listener: healthy; disk: unhealthy: full) in "
            "12us");
}

}  // namespace
}  // namespace duende::framework
