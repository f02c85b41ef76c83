// Small /proc helpers shared by the injectors (not public).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::faults::internal {

/// The one-letter state of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), 0 when gone.
char ProcessState(pid_t pid);
/// Field `index` (1-based, as proc(5) numbers them) of /proc/PID/stat; nullopt when gone.
std::optional<int64_t> StatField(pid_t pid, int index);
/// Pids whose process group is `pgid`.
std::vector<pid_t> GroupMembers(pid_t pgid);
/// Waits up to `timeout_ms` for the process behind `pidfd` to exit (poll on the pidfd).
bool WaitPidfdExit(int pidfd, int timeout_ms);
/// The exit status of a zombie (field 52 of /proc/PID/stat), if it is one.
std::optional<int> ZombieExitStatus(pid_t pid);
/// MemAvailable of /proc/meminfo in bytes (0 when unreadable).
uint64_t MemAvailableBytes();
/// splitmix64: the seeded generator of random choices.
uint64_t Mix(uint64_t x);
/// ${TMPDIR:-/tmp}
std::string TempDir();

}  // namespace duende::faults::internal
