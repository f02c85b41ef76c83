// ProcessUsage: what a process (or a set of them) costs now, read from /proc on demand.
//
// One reader for every view of running processes: the Prometheus process metrics of a daemon
// and of `duende supervise`, the per-service sums of the supervisor's metrics. Nothing here
// samples in the background; a caller reads when it needs a figure (a scrape).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "duende/framework/result.h"

namespace duende::framework {

struct ProcessUsage {
  double cpu_seconds = 0;         ///< user + system time
  uint64_t resident_bytes = 0;    ///< VmRSS
  uint64_t virtual_bytes = 0;     ///< VmSize
  uint64_t locked_bytes = 0;      ///< VmLck (mlock'ed memory)
  uint64_t open_fds = 0;          ///< entries of /proc/PID/fd
  uint64_t max_fds = 0;           ///< soft RLIMIT_NOFILE (0 when unknown)
  double start_time_seconds = 0;  ///< since the Unix epoch
  uint32_t processes = 0;         ///< how many processes the figures cover
};

/// One process (pid 0: this one). Errors: ESRCH when it is gone or its /proc is unreadable.
Result<ProcessUsage> ReadProcessUsage(pid_t pid);

/// The sum over `pids` (processes that are gone by now are skipped; max_fds and
/// start_time_seconds are those of the first one read).
ProcessUsage SumProcessUsage(const std::vector<pid_t>& pids);

}  // namespace duende::framework
