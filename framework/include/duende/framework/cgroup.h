// Cgroup: one control group for a child (memory, pids and cpu limits), on cgroup v1 and v2.
//
// On v2 (one unified hierarchy at /sys/fs/cgroup) a group is one directory. On v1 each
// controller has its own hierarchy (/sys/fs/cgroup/memory, /pids, /cpu), and the group is one
// directory per controller, each created under the caller's own (possibly nested) group as
// /proc/self/cgroup names it. A child joins the group before exec through
// SpawnOptions::cgroup_procs_files = group.ProcsFiles().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/result.h"

namespace duende::framework {

enum class CgroupVersion { kNone, kV1, kV2 };

/// Which hierarchy this machine uses for resource control: kV2 when /sys/fs/cgroup is a
/// cgroup2 mount, kV1 when per-controller v1 mounts exist, kNone otherwise.
CgroupVersion DetectCgroupVersion();

/// The directory of `pid`'s own group for `controller` ("memory", "pids", "cpu"): on v1
/// /sys/fs/cgroup/<controller>/<path from /proc/PID/cgroup>, on v2 /sys/fs/cgroup/<path>.
/// Errors: ENOENT when the controller is not mounted or the pid is gone.
Result<std::string> CgroupDirOf(pid_t pid, const std::string& controller);

/// Counters of a group. Zero where the kernel does not provide the counter.
struct CgroupStats {
  uint64_t memory_current = 0;  ///< bytes charged now (memory.current / usage_in_bytes)
  uint64_t memory_peak = 0;     ///< high-water mark (memory.peak / max_usage_in_bytes)
  uint64_t memory_limit = 0;    ///< current limit in bytes; 0 means unlimited
  uint64_t oom_kills = 0;       ///< processes killed by the OOM killer in this group
  uint64_t oom_events = 0;      ///< times the group hit OOM (v2 memory.events "oom")
  uint64_t memory_failcnt = 0;  ///< allocations that hit the limit (v1 failcnt, v2 "max")
  uint64_t pids_current = 0;
  uint64_t pids_denied = 0;       ///< forks refused by pids.max (pids.events "max")
  uint64_t cpu_usage_ns = 0;      ///< CPU time used (cpuacct / cpu.stat usage_usec)
  uint64_t cpu_nr_throttled = 0;  ///< periods in which the quota throttled the group
  uint64_t cpu_throttled_ns = 0;  ///< time spent throttled
};

/// Which controllers a group should have (on v1: which hierarchies get a directory).
struct CgroupControllers {
  bool memory = true;
  bool pids = true;
  bool cpu = true;
};

/// A control group created by (or opened for) the caller. Not copyable; the destructor does
/// NOT remove the group (call Remove(); a crashed owner's groups are found by their name).
class Cgroup {
 public:
  /// Creates the group `name` (one path component, e.g. "duende-1234-kvd") under the caller's
  /// own group (v1: per controller; v2: under the nearest ancestor that may have children
  /// with controllers). An existing empty group of that name is reused.
  /// Errors: ENOENT when no cgroup hierarchy is mounted, EACCES/EPERM without permission.
  static Result<Cgroup> Create(const std::string& name, CgroupControllers controllers = {});

  /// Creates a group that only tracks membership (no limits), for knowing every process a
  /// service starts: v2 a child of the caller's own group without controllers; v1 the first
  /// of the pids, memory, cpu hierarchies that accepts it. Errors: as Create.
  static Result<Cgroup> CreateForTracking(const std::string& name);

  /// The directory Create(name, controllers) uses for `controller` ("memory", "pids", "cpu"),
  /// without creating it, for undo journals that record a group before it exists. v1: the
  /// caller's group of that controller + "/" + name. v2: the nearest ancestor of the caller's
  /// group that delegates `controllers` (enabled in its cgroup.subtree_control on the way:
  /// a group with processes cannot) + "/" + name. Errors: as Create.
  static Result<std::string> PlannedDir(const std::string& name, const std::string& controller,
                                        CgroupControllers controllers = {});

  /// Opens existing directories (v1: one per controller, any may be ""; v2: pass the same
  /// directory as `memory_dir` and leave the others empty).
  static Cgroup Open(CgroupVersion version, std::string memory_dir, std::string pids_dir = "",
                     std::string cpu_dir = "");

  Cgroup(Cgroup&&) noexcept = default;
  Cgroup& operator=(Cgroup&&) noexcept = default;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  ~Cgroup() = default;

  CgroupVersion version() const { return version_; }
  /// The directory holding the memory controller's files ("" when not created).
  const std::string& memory_dir() const { return memory_dir_; }
  const std::string& pids_dir() const { return pids_dir_; }
  const std::string& cpu_dir() const { return cpu_dir_; }
  /// Every directory of the group (one on v2), without duplicates.
  std::vector<std::string> Dirs() const;

  /// The files a child writes its pid to (SpawnOptions::cgroup_procs_files).
  std::vector<std::string> ProcsFiles() const;

  /// Sets the hard memory limit (v1 memory.limit_in_bytes, v2 memory.max); 0 = unlimited.
  /// Errors: EBUSY (v1) when the usage cannot be reclaimed below `bytes`.
  Result<void> SetMemoryLimit(uint64_t bytes);
  /// Sets the maximum number of tasks (pids.max); 0 = unlimited.
  Result<void> SetPidsLimit(uint64_t max);
  /// Sets a CFS quota: `quota_us` of CPU time every `period_us` (v1 cpu.cfs_quota_us and
  /// cpu.cfs_period_us, v2 cpu.max); quota 0 = unlimited.
  Result<void> SetCpuQuota(uint64_t quota_us, uint64_t period_us = 100000);
  /// v1 only: charge a joining process's pages to this group (move_charge_at_immigrate=3) so
  /// that moving a running process in brings its memory along. No-op on v2.
  Result<void> MoveChargeOnJoin();

  /// Moves a running process (all its threads) into every directory of the group.
  Result<void> AddProcess(pid_t pid);
  /// "cgroup v1 /sys/fs/cgroup/pids/x" (for messages and events).
  std::string Describe() const;
  /// True when `pid` is a member now (read from the kernel, not cached).
  bool Contains(pid_t pid) const;

  /// Pids of the group's members (from the memory, pids or cpu directory, first present).
  Result<std::vector<pid_t>> Members() const;
  /// Counters; missing files are left at 0. Errors only when no directory is readable.
  Result<CgroupStats> Stats() const;

  /// Sends SIGKILL to every member until the group is empty (v2: cgroup.kill when present),
  /// for at most `timeout_ms`. Returns how many signals were sent. Errors: ETIMEDOUT.
  Result<int> KillAll(int timeout_ms = 2000);
  /// Kills every member, then removes every directory. Idempotent (ENOENT is success).
  Result<void> Remove();

 private:
  Cgroup() = default;
  CgroupVersion version_ = CgroupVersion::kNone;
  std::string memory_dir_;
  std::string pids_dir_;
  std::string cpu_dir_;
};

/// Reads a whole small file (cgroup and /proc files), at most kMaxSmallFileBytes (16 MiB).
/// Errors: the open/read errno; file_too_large past the cap.
Result<std::string> ReadSmallFile(const std::string& path);
/// Writes `text` to an existing file in one write(2) (how cgroup files want it).
/// Errors: the open/write errno (EBUSY, EINVAL, ... from the kernel).
Result<void> WriteSmallFile(const std::string& path, const std::string& text);

}  // namespace duende::framework
