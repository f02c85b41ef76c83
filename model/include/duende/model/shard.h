// Sharding: one suite of scenarios (or one explore search) split over N machines, and the
// identity a shard's report carries so that the shards' reports can be merged into the report
// of a single run (merge.h, docs/sharding.md).
//
// Scenarios go to shards by a stable hash of the scenario's name (its [scenario] name, which
// is the same on every machine and checkout, however the file's path was spelled); explore
// plans by contiguous ranges of plan numbers in the seed's sequence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::model {

/// Shard `index` of `count` (1-based, 1 <= index <= count): "--shard 2/4".
struct Shard {
  uint32_t index = 1;
  uint32_t count = 1;
  bool operator==(const Shard&) const = default;
};

/// The most shards a suite may be split into.
inline constexpr uint32_t kMaxShards = 10000;

/// "2/4".
std::string ShardName(const Shard& shard);

/// Parses "K/N" (decimal, 1 <= K <= N <= kMaxShards). Errors (invalid_argument): the whole
/// message, e.g. `"0/4" is not a shard: give K/N with 1 <= K <= N, e.g. 2/4`.
framework::Result<Shard> ParseShard(std::string_view text);

/// FNV-1a, 64 bits, of `bytes`: the same on every machine (no seed, no std::hash).
uint64_t StableHash(std::string_view bytes);

/// The shard (1-based, of `count`) that the scenario named `name` belongs to:
/// StableHash(name) % count + 1.
uint32_t ShardOfScenario(std::string_view name, uint32_t count);

/// Plan numbers [begin, end) (0-based) of `shard` among `total` plans: contiguous ranges,
/// shard K gets [total*(K-1)/N, total*K/N). The N ranges partition [0, total) with no overlap
/// and differ in size by at most one.
struct PlanRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};
PlanRange ShardPlanRange(const Shard& shard, uint64_t total);

/// One scenario of a suite as `duende run` was given it.
struct SuiteScenario {
  std::string file;    ///< the path as given, lexically normalised ("./a//b.toml" -> "a/b.toml")
  std::string name;    ///< [scenario] name
  std::string digest;  ///< "fnv1a64:<16 hex digits>" of the file's bytes
  bool operator==(const SuiteScenario&) const = default;
};

/// What a run was asked to run, before sharding: every scenario given, in order, and the
/// --set overrides. Two shards' reports merge only when their suites are equal.
struct Suite {
  std::vector<SuiteScenario> scenarios;
  std::vector<std::string> overrides;
  bool empty() const { return scenarios.empty(); }
  bool operator==(const Suite&) const = default;
};

/// `path` lexically normalised for the suite identity (no "./", no "//", "a/../b" -> "b").
std::string NormalizedScenarioPath(const std::string& path);

/// "fnv1a64:0123456789abcdef" of the bytes of `text`.
std::string ContentDigest(std::string_view text);

}  // namespace duende::model
