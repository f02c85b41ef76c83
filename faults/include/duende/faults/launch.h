// Starting a target so that a disk fault can fill its data directory: a small tmpfs mounted
// over the directory in a private mount namespace of the target only (the rest of the machine
// never sees it, and it vanishes with the target).
#pragma once

#include <cstdint>
#include <string>

#include "duende/framework/process.h"
#include "duende/framework/result.h"

namespace duende::faults {

/// Wraps `options.argv` as `unshare -m --propagation private sh -c 'mount -t tmpfs -o
/// size=BYTES tmpfs DIR && exec "$@"'` so that the program runs with a `size_bytes` tmpfs over
/// `data_dir` (same pid: nothing forks). The disk fault's mode "full" then fills it through
/// /proc/PID/root. Errors: ENOENT when unshare is missing, EINVAL for a relative `data_dir`.
/// Needs CAP_SYS_ADMIN (root); without it the child fails at start.
framework::Result<void> PreparePrivateTmpfs(framework::SpawnOptions& options,
                                            const std::string& data_dir, uint64_t size_bytes);

}  // namespace duende::faults
