// Process: spawning children the way a supervisor needs them, and learning how they ended.
//
// Spawn() uses vfork+exec (as posix_spawn does internally: no page-table copy), and does in
// the child what posix_spawn cannot: its own process group, PR_SET_PDEATHSIG, rlimits,
// joining a cgroup, dropping privileges, and closing every inherited descriptor. The child's
// exit is a pidfd the caller can put in epoll.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

/// One resource limit to set in the child (setrlimit semantics; RLIM_INFINITY allowed).
struct RlimitSetting {
  int resource = RLIMIT_NOFILE;
  rlim_t soft = RLIM_INFINITY;
  rlim_t hard = RLIM_INFINITY;
};

struct PreparedSandbox;  // sandbox.h

struct SpawnOptions {
  /// argv[0] is looked up in PATH when it has no '/'. Must not be empty.
  std::vector<std::string> argv;
  /// The whole environment of the child; nullopt inherits the caller's.
  std::optional<std::vector<std::string>> env;
  /// "NAME=value" entries added to (or replacing in) the environment above.
  std::vector<std::string> env_overrides;
  /// Working directory of the child ("" keeps the caller's).
  std::string working_dir;
  /// Put the child in a new process group whose id is its pid (so a stop can signal the
  /// whole group).
  bool new_process_group = true;
  /// Signal the child gets when the spawning thread dies (0: none).
  int parent_death_signal = 0;
  /// Descriptors for the child's stdin/stdout/stderr; -1 means /dev/null, kInherit keeps ours.
  static constexpr int kInherit = -2;
  int stdin_fd = -1;
  int stdout_fd = kInherit;
  int stderr_fd = kInherit;
  /// Extra descriptors passed on: {fd in the parent, fd number in the child}. All others
  /// (beyond 0-2) are closed in the child.
  std::vector<std::pair<int, int>> pass_fds;
  std::vector<RlimitSetting> rlimits;
  /// A cgroup.procs (v2) or tasks/cgroup.procs (v1) file the child writes itself into
  /// before exec, so it never runs outside the group.
  std::vector<std::string> cgroup_procs_files;
  /// Drop to this user/group before exec (needs privilege).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  /// Confinement applied between fork and exec (PrepareSandbox, sandbox.h); must outlive the
  /// call. nullptr: none.
  const PreparedSandbox* sandbox = nullptr;
};

struct Child {
  pid_t pid = -1;
  /// A pidfd for the child: readable (EPOLLIN) once it has exited.
  UniqueFd pidfd;
};

/// Starts a child. Errors: the errno of the step that failed in the child (ENOENT when the
/// program is not found, EACCES, EPERM for uid/gid/cgroup, E2BIG when argv and environment
/// pass the kernel's limits, ...) with the context "unable to spawn ARGV0: STEP" (STEP is
/// "execve", "chdir", "setrlimit", ...); the child is reaped in that case.
Result<Child> Spawn(const SpawnOptions& options);

/// True when a Spawn() error cannot heal by retrying the same spawn: the program is missing or
/// not a file (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG), not executable (EACCES, ENOEXEC), or argv
/// and environment pass the kernel's limits (E2BIG). A supervisor stops its restart loop on
/// these instead of retrying a failure that will recur at every attempt.
bool IsPermanentSpawnError(const Error& error);

/// Linux refuses an execve() with a single argument or environment string longer than this,
/// its NUL included (MAX_ARG_STRLEN: 32 pages of 4 KiB).
inline constexpr size_t kMaxArgStrlen = 32 * 4096;

/// Why execve() would refuse `argv` with the environment strings `env` ("NAME=value") with
/// E2BIG, or "" when it would not: one string longer than kMaxArgStrlen, or all of them (with
/// their NULs and pointers) together with `inherited_bytes` more than sysconf(_SC_ARG_MAX).
/// The message names the string ("environment variable BIG is 1048577 bytes ...").
std::string ExecLimitProblem(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, size_t inherited_bytes = 0);

/// The bytes (strings, NULs, pointers) that this process's environment adds to a child's
/// argv+environment budget when the child inherits it.
size_t InheritedEnvironmentBytes();

/// How a process ended.
struct ExitStatus {
  bool signaled = false;
  int code = 0;    ///< exit code when !signaled
  int signal = 0;  ///< terminating signal when signaled
  bool core_dumped = false;

  bool success() const { return !signaled && code == 0; }
  /// "exited with code 3" / "killed by signal 9 (SIGKILL)"
  std::string ToString() const;
};

/// Reaps the child behind `pidfd` if it has exited. Returns nullopt when it is still
/// running (WNOHANG). Errors: ECHILD when it is not our child or already reaped.
Result<std::optional<ExitStatus>> TryReap(int pidfd);

/// Like TryReap, but leaves the child a zombie (waitid WNOWAIT): its pid and process group stay
/// reserved while the caller decides what to do. Errors: ECHILD when it is not our child.
Result<std::optional<ExitStatus>> PeekExit(int pidfd);

/// A pidfd for any process (pidfd_open). Errors: ESRCH when it is gone.
Result<UniqueFd> OpenPidfd(pid_t pid);

/// Waits for the child behind `pidfd` to exit and reaps it.
Result<ExitStatus> WaitExit(int pidfd);

/// Sends a signal through a pidfd (never hits a recycled pid). ESRCH when it is gone.
Result<void> SignalPidfd(int pidfd, int signal);

/// "SIGKILL" for 9, "SIG34" style for unnamed ones.
std::string SignalName(int signal);
/// Parses "SIGTERM", "TERM", "term" or "15". Returns 0 when unknown.
int ParseSignal(std::string_view name);

/// Looks `program` up in PATH (or returns it unchanged when it contains '/').
/// Errors: ENOENT when no executable is found.
Result<std::string> FindExecutable(const std::string& program);

}  // namespace duende::framework
