// Shards: parsing K/N, the stable hash that puts a scenario in a shard, and the plan ranges
// of a sharded explore search.
#include "duende/model/shard.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace duende::model {
namespace {

TEST(ShardTest, ParsesKOfN) {
  auto s = ParseShard("2/4");
  ASSERT_TRUE(s.ok()) << s.error().context;
  EXPECT_EQ(s->index, 2u);
  EXPECT_EQ(s->count, 4u);
  EXPECT_EQ(ShardName(*s), "2/4");
  EXPECT_TRUE(ParseShard("1/1").ok());
  EXPECT_TRUE(ParseShard("10000/10000").ok());
}

TEST(ShardTest, RefusesWhatIsNotKOfNWithTheFix) {
  for (const char* bad :
       {"0/4", "5/4", "1/0", "0/0", "x/4", "2/y", "4", "", "/", "2/", "/4", "-1/4", "+1/4", " 1/4",
        "1/4 ", "1.5/4", "2/4/6", "10001/10001", "1/99999999999999999999"}) {
    auto s = ParseShard(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, std::errc::invalid_argument);
    EXPECT_NE(s.error().context.find("\"" + std::string(bad) + "\" is not a shard"),
              std::string::npos)
        << s.error().context;
    EXPECT_NE(s.error().context.find("e.g. 2/4"), std::string::npos) << s.error().context;
  }
  EXPECT_NE(ParseShard("5/4").error().context.find("K must be 1 to N (4)"), std::string::npos);
}

TEST(ShardTest, HashIsFnv1aSoEveryMachineAgrees) {
  // Published FNV-1a 64 test vectors: the assignment must never depend on the platform, the
  // process or the standard library.
  EXPECT_EQ(StableHash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(StableHash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(StableHash("foobar"), 0x85944171f73967e8ull);
  EXPECT_EQ(ShardOfScenario("foobar", 4), static_cast<uint32_t>(0x85944171f73967e8ull % 4) + 1);
  EXPECT_EQ(ContentDigest("a"), "fnv1a64:af63dc4c8601ec8c");
}

TEST(ShardTest, EveryScenarioIsInExactlyOneShardAndShardsAreUsed) {
  std::map<uint32_t, int> per_shard;
  for (int i = 0; i < 400; ++i) {
    const std::string name = "scenario-" + std::to_string(i);
    const uint32_t k = ShardOfScenario(name, 4);
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, 4u);
    EXPECT_EQ(ShardOfScenario(name, 4), k);  // the same every time
    ++per_shard[k];
  }
  ASSERT_EQ(per_shard.size(), 4u);
  for (const auto& [k, n] : per_shard) EXPECT_GT(n, 60) << "shard " << k << " got " << n;
  EXPECT_EQ(ShardOfScenario("anything", 1), 1u);
}

TEST(ShardTest, PlanRangesPartitionTheRunsWithNoOverlap) {
  for (uint64_t total : {0ull, 1ull, 3ull, 4ull, 7ull, 100ull, 101ull, 99999ull}) {
    for (uint32_t n : {1u, 2u, 3u, 4u, 7u, 16u}) {
      uint64_t expect_begin = 0;
      std::set<uint64_t> seen;
      for (uint32_t k = 1; k <= n; ++k) {
        PlanRange r = ShardPlanRange({k, n}, total);
        EXPECT_EQ(r.begin, expect_begin) << k << "/" << n << " of " << total;
        ASSERT_LE(r.begin, r.end);
        // Balanced: sizes differ by at most one.
        EXPECT_LE(r.end - r.begin, total / n + 1);
        EXPECT_GE(r.end - r.begin, total / n);
        for (uint64_t i = r.begin; i < r.end && total < 1000; ++i) {
          EXPECT_TRUE(seen.insert(i).second) << "plan " << i << " in two shards";
        }
        expect_begin = r.end;
      }
      EXPECT_EQ(expect_begin, total) << n << " shards of " << total;
      if (total < 1000) {
        EXPECT_EQ(seen.size(), total);
      }
    }
  }
  // No overflow near the top of the range.
  PlanRange last = ShardPlanRange({3, 3}, UINT64_MAX);
  EXPECT_EQ(last.end, UINT64_MAX);
}

TEST(ShardTest, NormalisesPathsLexically) {
  EXPECT_EQ(NormalizedScenarioPath("./chaos//a.toml"), "chaos/a.toml");
  EXPECT_EQ(NormalizedScenarioPath("chaos/x/../a.toml"), "chaos/a.toml");
  EXPECT_EQ(NormalizedScenarioPath("a.toml"), "a.toml");
}

}  // namespace
}  // namespace duende::model
