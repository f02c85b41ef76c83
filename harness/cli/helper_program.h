// Verbs that run in their own program. `duende mutate` runs duende-mutate, the only program
// that links libclang and LLVM; `duende supervise` runs duende-supervise, which holds only the
// supervisor, so that a long-running process manager maps little (DESIGN.md, "Lean programs").
#pragma once

#include <string>
#include <vector>

#include "duende/framework/result.h"

namespace duende::cli {

/// The absolute path of helper program `name` (e.g. "duende-mutate"), found relative to this
/// executable only, never via PATH: beside it (the build tree) or in ../libexec/duende (an
/// install). Fails with ENOENT naming both places, or EPERM when the file is writable by
/// group/others or owned by neither root nor us (as root we would run what another user wrote).
framework::Result<std::string> FindHelperProgram(const std::string& name);

/// Runs `name ARGS...` to completion with our stdin/stdout/stderr. Returns its exit code
/// (128+N when killed by signal N), or an error when it cannot be found or started.
framework::Result<int> RunHelperProgram(const std::string& name,
                                        const std::vector<std::string>& args);

/// Replaces this process with `name argv[1..]` (the pid, signals and exit code stay the
/// caller's). Returns only on failure: prints why and returns 3 (environment).
int ExecHelperProgram(const std::string& name, int argc, char** argv);

}  // namespace duende::cli
