// Starting a target under libfiu and driving its failure points at run time through libfiu's
// control FIFO (PREFIX-PID.in / PREFIX-PID.out), reading each reply ("0" ok, "-1" error;
// fiu-ctrl exits 0 even on errors, so it is not used).
//
// Firing evidence comes from duende's own shim (faults/shim/fiu_shim.c), preloaded ahead of
// libfiu: it counts calls and failures per point (queried with FiuQuery: "duende_calls
// name=P", "duende_fired name=P"), can fail exactly the Nth call ("duende_nth
// name=P,nth=N,failinfo=E"), and logs every failed call to PREFIX-PID.fired (ReadFiuFirings).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "duende/faults/control_files.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/process.h"
#include "duende/framework/result.h"

namespace duende::faults {

inline constexpr const char* kFiuRunPreload = "/usr/lib/fiu/fiu_run_preload.so";
inline constexpr const char* kFiuPosixPreload = "/usr/lib/fiu/fiu_posix_preload.so";

/// True when both preload libraries are installed (Debian: fiu-utils).
bool FiuAvailable();

/// The firing shim libduende-fiu-shim.so: $DUENDE_FIU_SHIM when set, else the one in
/// PREFIX/lib/duende of the install (or the build tree) the running program belongs to
/// (framework::RuntimeDirs); "" when none exists (firing is then not observable).
std::string FiuShimPath();

/// Makes `options` start its program under libfiu: LD_PRELOAD of the firing shim (when
/// FiuShimPath() finds it) and libfiu's two preload libraries (prepended to an existing
/// LD_PRELOAD), FIU_CTRL_FIFO=`fifo_prefix` and FIU_PRNG_SEED=`seed`
/// (so enable_random schedules replay). The FIFO prefix is journaled first (the FIFOs outlive
/// a SIGKILLed target). Set TargetRef::fiu_fifo_prefix to `fifo_prefix` afterwards.
/// Errors: ENOENT when libfiu is not installed; the journal's write errno.
framework::Result<void> PrepareFiuSpawn(framework::SpawnOptions& options,
                                        const std::string& fifo_prefix, uint64_t seed,
                                        UndoJournal* journal);

/// Sends one control command ("enable name=posix/io/rw/write,failinfo=28") to the process and
/// waits for its reply. The FIFOs are opened as the process's uid and only when they are FIFOs
/// of that uid reached through no symbolic link (OpenControlFile). Errors: ENOENT when its FIFO
/// does not exist (not started under libfiu, or gone), ETIMEDOUT after `timeout_ms`, EINVAL
/// when libfiu answered -1 (bad command or point), EPERM/ELOOP/EMLINK when the FIFO was refused.
framework::Result<void> FiuCommand(const std::string& fifo_prefix, pid_t pid,
                                   const std::string& command, int timeout_ms = 2000);

/// Sends a command whose reply is a number (the shim's duende_calls / duende_fired) and
/// returns it. Errors as FiuCommand; EINVAL for a negative reply (no shim in the target, or a
/// bad command).
framework::Result<int> FiuQuery(const std::string& fifo_prefix, pid_t pid,
                                const std::string& command, int timeout_ms = 2000);

/// One call that a failure point failed, as the shim logged it.
struct FiuFiring {
  int64_t ts_ns = 0;  ///< CLOCK_MONOTONIC, comparable with framework::MonotonicNs()
  pid_t pid = 0;
  pid_t tid = 0;
  std::string point;  ///< the point evaluated ("posix/io/sync/fsync"), never a wildcard
  uint64_t call = 0;  ///< which call of that point since its last enable (1 = the first)
  int err = 0;        ///< the errno the call failed with
};

/// The failures logged in PREFIX-PID.fired (empty when the file does not exist, or is not a
/// regular file of `as` — the process's uid when `as` is null and it runs, else ours; PID is
/// `as->own_pid` when known: the pid the process saw for itself). The
/// shim stops logging after 10000 lines per process; its counters keep counting.
std::vector<FiuFiring> ReadFiuFirings(const std::string& fifo_prefix, pid_t pid,
                                      const ProcessCred* as = nullptr);

/// Removes every control FIFO and firing log under `fifo_prefix` (PREFIX-*.in, .out,
/// .fired). Returns how many.
int RemoveFiuFifos(const std::string& fifo_prefix);

/// The failure point names libfiu's POSIX preload library provides (113 in libfiu 1.1).
const std::vector<std::string>& FiuPointNames();
/// Known points matching `pattern` (an exact name, or a prefix ending in '*' as libfiu's
/// wildcards work: "posix/io/*").
std::vector<std::string> MatchFiuPoints(std::string_view pattern);

}  // namespace duende::faults
