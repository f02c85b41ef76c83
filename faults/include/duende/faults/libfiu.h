// Starting a target under libfiu and driving its failure points at run time through libfiu's
// control FIFO (PREFIX-PID.in / PREFIX-PID.out), reading each reply ("0" ok, "-1" error;
// fiu-ctrl exits 0 even on errors, so it is not used).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "duende/faults/undo_journal.h"
#include "duende/framework/process.h"
#include "duende/framework/result.h"

namespace duende::faults {

inline constexpr const char* kFiuRunPreload = "/usr/lib/fiu/fiu_run_preload.so";
inline constexpr const char* kFiuPosixPreload = "/usr/lib/fiu/fiu_posix_preload.so";

/// True when both preload libraries are installed (Debian: fiu-utils).
bool FiuAvailable();

/// Makes `options` start its program under libfiu: LD_PRELOAD of the two preload libraries
/// (prepended to an existing LD_PRELOAD), FIU_CTRL_FIFO=`fifo_prefix` and FIU_PRNG_SEED=`seed`
/// (so enable_random schedules replay). The FIFO prefix is journaled first (the FIFOs outlive
/// a SIGKILLed target). Set TargetRef::fiu_fifo_prefix to `fifo_prefix` afterwards.
/// Errors: ENOENT when libfiu is not installed; the journal's write errno.
framework::Result<void> PrepareFiuSpawn(framework::SpawnOptions& options,
                                        const std::string& fifo_prefix, uint64_t seed,
                                        UndoJournal* journal);

/// Sends one control command ("enable name=posix/io/rw/write,failinfo=28") to the process and
/// waits for its reply. Errors: ENOENT when its FIFO does not exist (not started under libfiu,
/// or gone), ETIMEDOUT after `timeout_ms`, EINVAL when libfiu answered -1 (bad command or
/// point).
framework::Result<void> FiuCommand(const std::string& fifo_prefix, pid_t pid,
                                   const std::string& command, int timeout_ms = 2000);

/// Removes every control FIFO under `fifo_prefix` (PREFIX-*.in / .out). Returns how many.
int RemoveFiuFifos(const std::string& fifo_prefix);

/// The failure point names libfiu's POSIX preload library provides (113 in libfiu 1.1).
const std::vector<std::string>& FiuPointNames();
/// Known points matching `pattern` (an exact name, or a prefix ending in '*' as libfiu's
/// wildcards work: "posix/io/*").
std::vector<std::string> MatchFiuPoints(std::string_view pattern);

}  // namespace duende::faults
