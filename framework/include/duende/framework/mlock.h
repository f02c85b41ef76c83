// Memory locking for daemons that must never be swapped out ([resources] lock_memory).
//
// LockMemory() calls mlockall() and then reads the kernel's own account (VmLck in
// /proc/self/status) instead of trusting the return value.
#pragma once

#include <cstdint>
#include <string>

#include "duende/framework/result.h"

namespace duende::framework {

struct MlockStatus {
  enum class State {
    kNotRequested,  ///< lock_memory = false
    kLocked,        ///< mlockall succeeded and VmLck shows `bytes`
    kFailed,        ///< mlockall failed with `error` (EPERM, ENOMEM, EAGAIN, ...)
    kUnsupported,   ///< no mlockall here, or MCL_ONFAULT unknown to the kernel (`error`)
  };
  State state = State::kNotRequested;
  uint64_t bytes = 0;  ///< VmLck after locking (kLocked)
  int error = 0;       ///< errno (kFailed, kUnsupported)

  /// "locked 5.2MiB (VmLck 5324 kB)", "failed: Cannot allocate memory", ...
  std::string ToString() const;
};

struct MlockOptions {
  /// Add MCL_ONFAULT: pages are locked when first touched, not all at once (less RSS at
  /// start; VmLck then grows with use).
  bool on_fault = false;
};

/// Locks current and future pages (MCL_CURRENT | MCL_FUTURE [| MCL_ONFAULT]) and verifies the
/// result against VmLck. Never throws; the state says what happened.
MlockStatus LockMemory(const MlockOptions& options = {});

/// Undoes LockMemory() (munlockall).
void UnlockMemory();

/// VmLck of this process in bytes, from /proc/self/status. Errors: errno of reading it, or
/// ENODATA when the line is missing.
Result<uint64_t> LockedBytes();

/// VmLck of another process (/proc/PID/status).
Result<uint64_t> LockedBytesOf(int pid);

/// What an operator can do about a failed lock: raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK,
/// with the systemd (LimitMEMLOCK=infinity), Docker (--ulimit memlock=-1) and shell
/// (ulimit -l unlimited) spellings. Includes the current limit.
std::string MlockRemedy(int error);

}  // namespace duende::framework
