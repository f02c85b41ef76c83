// --shard K/N of `duende run` and `duende explore`, and the suite identity `duende run` writes
// into its reports so that `duende report merge` can check the shards belong together
// (docs/sharding.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/harness/scenario.h"
#include "duende/model/shard.h"

namespace duende::cli {

/// Declares --shard K/N; `what` says what is split ("the scenarios by a hash of their name").
CLI::Option* AddShardOption(CLI::App& app, std::string* text, const std::string& what);

/// Parses the --shard value. On failure prints `--shard "0/4" is not a shard: ...` and returns
/// false (the verb exits 2).
bool ParseShardFlag(const std::string& text, model::Shard* out);

/// The suite of `scenarios` as given (file paths normalised, names, digests of the files'
/// bytes) and the --set overrides. Errors: a file that can no longer be read (its errno).
framework::Result<model::Suite> SuiteOf(const std::vector<harness::Scenario>& scenarios,
                                        const std::vector<std::string>& overrides);

}  // namespace duende::cli
