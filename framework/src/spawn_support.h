// What Spawn() (process_linux.cc) and RunCommand() (command_linux.cc) share: both start
// children, through different mechanisms (DESIGN.md says why there are two).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace duende::framework {

/// A child's environment: `base` (nullopt: ours) with the "NAME=value" `overrides` added or
/// replacing the entries of the same name.
std::vector<std::string> ChildEnvironment(const std::optional<std::vector<std::string>>& base,
                                          const std::vector<std::string>& overrides);

}  // namespace duende::framework
