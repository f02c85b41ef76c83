#include "duende/framework/mlock.h"

#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "duende/framework/proc.h"

namespace duende::framework {
namespace {

#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fMiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

std::string MlockStatus::ToString() const {
  switch (state) {
    case State::kNotRequested:
      return "not requested";
    case State::kLocked:
      return "locked " + Mib(bytes) + " (VmLck " + std::to_string(bytes / 1024) + " kB)";
    case State::kFailed:
      return std::string("failed: ") + std::strerror(error);
    case State::kUnsupported:
      return std::string("unsupported: ") + std::strerror(error);
  }
  return "?";
}

Result<uint64_t> LockedBytesOf(int pid) {
  auto kb = StatusKb(pid, "VmLck");
  if (!kb.ok()) return kb.error();
  return *kb * 1024;
}

Result<uint64_t> LockedBytes() { return LockedBytesOf(0); }

MlockStatus LockMemory(const MlockOptions& options) {
  MlockStatus status;
  int flags = MCL_CURRENT | MCL_FUTURE;
  if (options.on_fault) flags |= MCL_ONFAULT;
  if (::mlockall(flags) != 0) {
    status.error = errno;
    // ENOSYS: no mlockall; EINVAL with MCL_ONFAULT: a kernel older than 4.4.
    bool unsupported = errno == ENOSYS || (errno == EINVAL && options.on_fault);
    status.state = unsupported ? MlockStatus::State::kUnsupported : MlockStatus::State::kFailed;
    return status;
  }
  auto bytes = LockedBytes();
  if (!bytes.ok()) {
    // Without /proc we cannot verify; mlockall said yes, so report locked with 0 known bytes.
    status.state = MlockStatus::State::kLocked;
    return status;
  }
  status.bytes = *bytes;
  // With MCL_ONFAULT nothing need be resident yet; otherwise 0 bytes means the lock is a lie.
  if (*bytes == 0 && !options.on_fault) {
    status.state = MlockStatus::State::kFailed;
    status.error = ENOMEM;
    return status;
  }
  status.state = MlockStatus::State::kLocked;
  return status;
}

void UnlockMemory() { ::munlockall(); }

std::string MlockRemedy(int error) {
  rlimit lim{};
  std::string current = "unknown";
  if (::getrlimit(RLIMIT_MEMLOCK, &lim) == 0) {
    current =
        lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur / 1024) + " KiB";
  }
  std::string why = std::strerror(error);
  return "mlockall failed (" + why + "; RLIMIT_MEMLOCK is " + current +
         "). Raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK: systemd unit "
         "LimitMEMLOCK=infinity (or AmbientCapabilities=CAP_IPC_LOCK), docker run "
         "--ulimit memlock=-1 (or --cap-add IPC_LOCK), shell ulimit -l unlimited; or set "
         "lock_memory_required = false (DUENDE_MLOCK_REQUIRED=0) to run unlocked";
}

}  // namespace duende::framework
