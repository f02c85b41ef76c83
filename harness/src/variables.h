// The run variables of a scenario ({port.NAME}, {proxy.NAME}, {run_dir}, {seed}, {env.VAR},
// {file.NAME}): one scanner for expansion (runner) and validation (scenario), so both agree on
// what a variable is.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace duende::harness::internal {

/// Copies `text`, replacing each "{name}" for which `lookup(name)` gives a value. A name is a
/// letter followed by letters, digits, '_', '-' and '.'; any other brace (an nginx block, a
/// regex quantifier, a shell "${VAR}" with no value) is copied as it is.
std::string ExpandVariables(
    std::string_view text,
    const std::function<std::optional<std::string>(std::string_view)>& lookup);

/// A "{name}" in `text` with its offset.
struct VariableRef {
  std::string name;
  size_t offset = 0;
};

/// Every "{name}" in `text` (same grammar as ExpandVariables), except those written "${name}"
/// (shell syntax, left to the shell when they are not run variables).
std::vector<VariableRef> FindVariables(std::string_view text);

/// Whether `name` (after "load.") names a field of the load summary a probe may read:
/// sent, ok, errors, timeouts, abandoned, achieved_rate, p50_us, p99_us, max_us, or summary
/// (all of them as one JSON object).
bool IsLoadVariable(std::string_view name);

/// Whether `name` names the candidate of a `[fault.select]` probe (only there): select.target,
/// select.address, select.host, select.port, select.node, select.pid.
bool IsSelectVariable(std::string_view name);
const std::vector<std::string>& SelectVariables();

/// Whether `name` is a run variable: run_dir, seed, events, load.X (IsLoadVariable), port.X,
/// proxy.X, env.X, node.X.addr, node.X.netns, or file.X for a file in `files`. Otherwise sets
/// `hint` to the fix.
bool IsRunVariable(std::string_view name, const std::vector<std::string>& files, std::string* hint);

}  // namespace duende::harness::internal
