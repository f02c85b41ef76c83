// Merging the reports of a sharded run (`duende run --shard K/N` on N machines) into the report
// of the whole suite, as one `duende run` of it would have written (docs/sharding.md).
#pragma once

#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/model/model.h"

namespace duende::model {

/// One shard's report and where it came from (the path names it in messages).
struct ShardReport {
  std::string path;
  RunReport report;
};

/// The merged report and what the merge noticed.
struct MergedReport {
  RunReport report;
  /// Shards of the suite whose report was not given; their scenarios are in `report` with
  /// verdict ERROR ("not run: no report of shard 3/4 was given").
  std::vector<Shard> missing;
};

/// Merges the shards' reports: the suite's scenarios in the order `duende run` was given them,
/// each taken from the shard it belongs to (ShardOfScenario), the verdict combined as a single
/// run's (Combine), the hostnames listed. A report without a shard counts as shard 1/1.
/// Errors (invalid_argument, the whole message naming both reports and both values):
/// no reports; reports of different duende versions; a report without a suite identity;
/// different suites (scenario files, their contents, --set overrides); different shard
/// counts; the same shard twice; a scenario in two reports; a scenario in a shard it does not
/// belong to.
framework::Result<MergedReport> MergeShardReports(const std::vector<ShardReport>& reports);

}  // namespace duende::model
