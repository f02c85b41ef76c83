// Starting a target so that a fault can act on it from inside:
// - a disk fault fills its data directory: a small tmpfs mounted over the directory in a
//   private mount namespace of the target only (the rest of the machine never sees it, and it
//   vanishes with the target);
// - a clock fault moves its wall clock: libfaketime preloaded, reading its offset from a file
//   the fault rewrites at run time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

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

class UndoJournal;

inline constexpr const char* kFaketimeLibrary =
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// True when libfaketime is installed (Debian: libfaketime).
bool FaketimeAvailable();

/// Makes `options` start its program under libfaketime with its wall clock read from
/// `clock_file` (created with "+0", no offset, by CreateClockFile; journaled as a file; put it
/// in a private directory such as MakePrivateDir's): LD_PRELOAD (merged with an
/// LD_PRELOAD already in options.env_overrides or the environment), FAKETIME_TIMESTAMP_FILE,
/// FAKETIME_CACHE_DURATION=1 (the file is re-read at most once a second, on a clock call) and
/// FAKETIME_DONT_FAKE_MONOTONIC=1 (a clock fault moves CLOCK_REALTIME, as an NTP step does;
/// CLOCK_MONOTONIC keeps running). Set TargetRef::clock_file to `clock_file` afterwards.
/// Errors: ENOENT when libfaketime is not installed; the file's errno.
framework::Result<void> PrepareFaketimeSpawn(framework::SpawnOptions& options,
                                             const std::string& clock_file, UndoJournal* journal);

/// Creates a clock file holding "+0" (libfaketime's syntax: "+0", "-30s", "+1h", "+2d", "+0 x2"
/// for double speed) with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600: never a file that exists.
/// The clock fault rewrites it with ReplaceControlFile (control_files.h). Errors: EEXIST, the
/// open's errno.
framework::Result<void> CreateClockFile(const std::string& clock_file);

/// libfaketime keeps its state in POSIX shared memory named after the first process's pid
/// (/dev/shm/faketime_shm_PID, /dev/shm/sem.faketime_sem_PID) and removes it only on a clean
/// exit. Removes both for `pid` once that process is gone (a SIGKILLed target leaves them).
/// Returns how many files were removed; 0 while the process still runs.
int RemoveFaketimeShm(pid_t pid);

/// True when `pid` no longer runs: no such process, or a zombie.
bool ProcessGone(pid_t pid);

}  // namespace duende::faults
