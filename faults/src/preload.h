// LD_PRELOAD for a target started under libfiu and/or libfaketime (not public).
#pragma once

#include <string>
#include <vector>

#include "duende/framework/process.h"

namespace duende::faults::internal {

/// Adds `libs` to the LD_PRELOAD `options` starts its program with: ahead of what is there
/// already (an LD_PRELOAD in options.env_overrides, else the environment's) when `front`, else
/// after it; one LD_PRELOAD entry results. When the program links a sanitizer runtime
/// (libasan, libtsan, liblsan), that runtime is put first: ASan refuses to start otherwise,
/// and a preloaded malloc wrapper ahead of it crashes the program.
void AddPreload(framework::SpawnOptions& options, const std::vector<std::string>& libs, bool front);

/// The sanitizer runtime `program` (a path, or a name looked up in PATH) links, as a path
/// ("/lib/x86_64-linux-gnu/libasan.so.8"); "" when none or unreadable.
std::string SanitizerRuntimeOf(const std::string& program);

}  // namespace duende::faults::internal
