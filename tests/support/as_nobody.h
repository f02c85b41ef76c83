// Playing the attacker in tests: RunAsNobody forks, drops the child to uid/gid 65534 (nobody,
// no supplementary groups) and runs a function there. Tests run as root on these machines;
// the attacker must be an unprivileged user, and the test then checks that root's files,
// sockets and processes came to no harm.
#pragma once

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

namespace duende::testing {

inline constexpr uid_t kNobody = 65534;

/// Runs `attack` in a forked child as uid/gid 65534 and returns its exit code (the value
/// `attack` returns; 120 when dropping privileges failed, 121 when the child died by a
/// signal). `attack` must only use async-signal-safe calls or plain syscalls (the parent may
/// have threads).
inline int RunAsNobody(const std::function<int()>& attack) {
  pid_t pid = ::fork();
  if (pid < 0) return 122;
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0 ||
        ::getuid() != kNobody || ::setuid(0) == 0) {
      ::_exit(120);
    }
    ::_exit(attack());
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 121;
}

}  // namespace duende::testing
