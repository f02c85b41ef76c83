// Small pieces of a run kept out of runner.cc: rendering [[target.file]] config files into the
// run directory, and the last lines of a target's output for messages.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/harness/load.h"
#include "duende/harness/scenario.h"

namespace duende::harness::internal {

/// Writes `content` to `run_dir`/`relative` with permission bits `mode` (whatever the umask).
/// Every directory on the way is created 0700 inside `run_dir` and opened without following
/// symlinks; the file is created with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, so an existing file
/// or a planted symlink is an error, never overwritten or followed. `relative` must be a
/// relative path without "." or ".." components. Returns the absolute path. Errors: the errno
/// of the failing step (EEXIST, ELOOP, ENOSPC, ...) naming the path; EINVAL for a bad path.
framework::Result<std::string> WriteRunFile(const std::string& run_dir, const std::string& relative,
                                            const std::string& content, mode_t mode);

/// The generator's configuration for a scenario's [load] (everything but `address`, which the
/// runner resolves once the ports and proxies exist). `timeline` is the scenario's duration.
LoadConfig LoadConfigFor(const LoadSpec& load, std::chrono::nanoseconds timeline, uint64_t seed);

/// The last `max_lines` lines of the file at `path` (at most its last 64 KiB; without their
/// line ends). Empty when the file is missing or empty.
std::vector<std::string> LastLines(const std::string& path, size_t max_lines);

}  // namespace duende::harness::internal
