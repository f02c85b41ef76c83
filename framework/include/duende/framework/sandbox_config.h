// SandboxConfig: the [sandbox] table of a daemon config, a `duende supervise` [[service]] and a
// scenario [[target]] — how far a service is confined when duende (or a platform adapter)
// starts it. One reader and one writer, used by all three (docs/supervise.md has the table of
// keys with their systemd and OCI equivalents).
#pragma once

#include <toml++/toml.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/toml_reader.h"

namespace duende::framework {

/// A system-call filter (seccomp mode 2).
struct SeccompConfig {
  /// kNone: no filter. kAllow: only `syscalls` (plus the few an exec needs, see
  /// kSeccompAlwaysAllowed) are allowed. kDeny: `syscalls` are refused, the rest allowed.
  enum class Mode { kNone, kAllow, kDeny };
  Mode mode = Mode::kNone;
  /// Names as the kernel and strace spell them ("ptrace", "mount"), checked against the
  /// running architecture's table.
  std::vector<std::string> syscalls;
  /// What a refused call does: kErrno fails it with `errno_value`, kKill kills the whole
  /// process with SIGSYS (SECCOMP_RET_KILL_PROCESS).
  enum class Action { kErrno, kKill };
  Action action = Action::kErrno;
  int errno_value = EPERM;

  bool operator==(const SeccompConfig&) const = default;
};

/// System calls an allow-list always includes so that the program can be started and can end
/// (systemd's SystemCallFilter= makes the same exception).
inline const std::vector<std::string> kSeccompAlwaysAllowed = {"execve", "execveat", "exit",
                                                               "exit_group", "rt_sigreturn"};

struct SandboxConfig {
  /// prctl(PR_SET_NO_NEW_PRIVS): no exec gains privileges (setuid bits, file capabilities).
  /// A seccomp filter implies it unless CAP_SYS_ADMIN is kept (as systemd does).
  bool no_new_privileges = false;
  /// The capabilities kept ("CAP_NET_BIND_SERVICE" ...); every other one is dropped from the
  /// bounding, permitted, effective and inheritable sets. nullopt: left as they are.
  std::optional<std::vector<std::string>> capabilities;
  SeccompConfig seccomp;
  /// Bind-mounted read-only onto themselves (submounts included) in a private mount namespace.
  std::vector<std::string> read_only_paths;
  /// A private, empty tmpfs on /tmp and /var/tmp.
  bool private_tmp = false;
  /// kNone: a private network namespace with only the loopback interface, up.
  enum class Network { kHost, kNone };
  Network network = Network::kHost;
  /// The account to run as; the same as the top-level `user`/`group` (either may be written,
  /// they must agree). Must exist when the config is read.
  std::string user;
  std::string group;

  /// True when any setting asks for confinement (user/group alone do not: the top-level
  /// keys already do that).
  bool confines() const;

  bool operator==(const SandboxConfig&) const = default;
};

/// Options of ReadSandboxConfig.
struct SandboxReadOptions {
  /// Paths may hold run variables ("{dir}/data", a scenario target's): those are checked
  /// for shape only, not for existence.
  bool variables = false;
};

/// Reads a [sandbox] table into `out`. Problems go to the reader's Diagnostics at the
/// offending value (file:line:col) with a did-you-mean: an unknown system call, capability or
/// errno name, a read-only path that is relative or does not exist, a user or group that does
/// not exist on this host, both allow and deny. Calls Finish() on the table.
void ReadSandboxConfig(TomlReader& reader, SandboxConfig* out,
                       const SandboxReadOptions& options = {});

/// The [sandbox] table that ReadSandboxConfig reads back to `config`.
toml::table FormatSandboxConfig(const SandboxConfig& config);

/// The capability names this kernel and libcap know, upper case ("CAP_CHOWN", ...).
std::vector<std::string> KnownCapabilityNames();
/// The number of a capability named "CAP_NET_ADMIN", "cap_net_admin" or "net_admin"; -1 when
/// unknown.
int CapabilityNumber(std::string_view name);
/// The canonical spelling "CAP_NET_ADMIN" of a capability number.
std::string CapabilityName(int cap);
/// The number of a system call on this architecture; -1 when unknown.
int SyscallNumber(const std::string& name);
/// The number of an errno name ("EPERM"); 0 when unknown.
int ErrnoNumber(std::string_view name);
/// "EPERM" for EPERM.
std::string ErrnoName(int value);

}  // namespace duende::framework
