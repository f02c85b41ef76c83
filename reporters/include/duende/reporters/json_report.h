// Reading a JSON report ("duende-run/1", written by RenderJson) back into the result model, for
// `duende report merge` (docs/sharding.md). The writer and this reader are the format's owners.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "duende/framework/result.h"
#include "duende/model/model.h"

namespace duende::reporters {

/// The largest JSON report read back: 256 MiB (a report holds every event of its runs).
inline constexpr size_t kMaxJsonReportBytes = size_t{256} << 20;

/// Reads the JSON report at `path`. Errors: errno ones with context "unable to open/read PATH",
/// EFBIG past kMaxJsonReportBytes;
/// bad content (invalid_argument, the whole message): "PATH: invalid JSON: ...",
/// "PATH: not a duende JSON report (format is "x", expected "duende-run/1")",
/// "PATH: scenarios[2].checks[0]: 'verdict' must be one of PASS, FAIL, ERROR, ABORTED".
framework::Result<model::RunReport> ReadJsonReport(const std::string& path);

/// The same from the document's text; `name` stands for the file in messages.
framework::Result<model::RunReport> ParseJsonReport(std::string_view text, const std::string& name);

namespace internal {
/// Adds the members "suite" (when the report has one) and "shard" (when it is a shard) to a
/// JSON report document.
void AddShardIdentity(const model::RunReport& report, nlohmann::json& doc);
}  // namespace internal

}  // namespace duende::reporters
