// Target tracking for the runner: which ports a target will listen on and who holds them
// already, whose listener a probe reached, which of a target's processes outlived the run.
// The /proc work itself is framework/proc.h; this file knows the scenario model. Public so
// that the runner's port and leftover rules are tested as they are (namespace internal: not
// a stable interface for users).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "duende/harness/scenario.h"

namespace duende::harness::internal {

/// The "port.NAME" variables a target's command, env, address, probe addresses or rendered
/// files ([[target.file]]) use.
std::set<std::string> PortVariables(const TargetSpec& target);

/// Why `port` cannot be given to target `name`: "" when no listener holds it, or when every
/// holder is in `ours` (processes of this run's other targets, or duende itself); else
/// "target kvd: port 8080 (from its address) is already in use: 127.0.0.1:8080 (nginx (pid 42,
/// /usr/sbin/nginx)); stop that program or give the target a free port ({port.kvd})".
std::string PortTaken(const std::string& name, uint16_t port, const std::string& from,
                      const std::vector<pid_t>& ours);

/// One leftover process for the run.leftovers event: pid, ppid, pgid, state, comm, exe and
/// the target it belonged to ("" when found only by its process group or parent).
nlohmann::json LeftoverJson(pid_t pid, const std::string& target);

}  // namespace duende::harness::internal
