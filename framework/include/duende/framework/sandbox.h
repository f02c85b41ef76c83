// Applying a SandboxConfig to a child between fork and exec.
//
// Spawn() runs its child on a vfork, where only async-signal-safe system calls may be made. So
// everything that allocates or reads files — resolving capability and system-call names,
// compiling the seccomp filter to BPF with libseccomp, listing the submounts of read-only
// paths — happens in PrepareSandbox(), before the fork; ApplySandbox() then makes only raw
// system calls on the prepared data.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/sandbox_config.h"

namespace duende::framework {

/// A SandboxConfig resolved to numbers, paths and a BPF program.
struct PreparedSandbox {
  bool mount_namespace = false;
  /// The read-only paths, each bound onto itself (with its submounts).
  std::vector<std::string> read_only_binds;
  /// Every mount point at or below a read-only path (from /proc/self/mountinfo) with the
  /// nosuid/nodev/noexec/atime flags it has now, remounted read-only in this order.
  struct Mount {
    std::string path;
    unsigned long flags = 0;
  };
  std::vector<Mount> read_only_mounts;
  /// Mount points for a private tmpfs ("/tmp", "/var/tmp" where it exists).
  std::vector<std::string> private_tmp_dirs;
  bool network_namespace = false;
  /// Capabilities to keep (bit i = capability i); nullopt leaves them alone.
  std::optional<uint64_t> kept_caps;
  /// The highest capability number the kernel knows (/proc/sys/kernel/cap_last_cap).
  int cap_last = 40;
  /// Whether the child changes uid (keep-caps and ambient capabilities are needed then).
  bool changes_uid = false;
  bool no_new_privileges = false;
  /// The compiled seccomp filter (empty: none).
  std::vector<sock_filter> seccomp_filter;
};

/// Resolves `config` for ApplySandbox. `changes_uid` says the child will setuid to a non-zero
/// uid. Errors: invalid_argument for a name the running kernel does not know (config read on
/// another host), the errno of reading /proc/self/mountinfo, libseccomp's error.
Result<PreparedSandbox> PrepareSandbox(const SandboxConfig& config, bool changes_uid);

/// The steps of ApplySandbox, for the spawn error message.
enum class SandboxStep : int {
  kNone = 0,
  kMountNamespace,   ///< unshare(CLONE_NEWNS) or making / a slave mount
  kReadOnly,         ///< bind + remount read-only
  kPrivateTmp,       ///< tmpfs on /tmp
  kNetwork,          ///< unshare(CLONE_NEWNET) or bringing lo up
  kBoundingSet,      ///< PR_CAPBSET_DROP
  kKeepCaps,         ///< PR_SET_KEEPCAPS
  kCapabilities,     ///< capset / ambient raise
  kNoNewPrivileges,  ///< PR_SET_NO_NEW_PRIVS
  kSeccomp,          ///< seccomp(SECCOMP_SET_MODE_FILTER)
};
const char* SandboxStepName(SandboxStep step);

/// The first part, run in the child before it changes uid/gid: namespaces, mounts, bounding
/// set, keep-caps. Only raw system calls (async-signal-safe, no allocation). Returns kNone on
/// success, else the failed step with errno set.
SandboxStep ApplySandboxBeforeIds(const PreparedSandbox& sandbox) noexcept;

/// The second part, after setgroups/setgid/setuid: the kept capabilities (permitted,
/// effective, inheritable, ambient), no_new_privs, and the seccomp filter last (so that the
/// calls above are not filtered). Same rules as ApplySandboxBeforeIds.
SandboxStep ApplySandboxAfterIds(const PreparedSandbox& sandbox) noexcept;

}  // namespace duende::framework
