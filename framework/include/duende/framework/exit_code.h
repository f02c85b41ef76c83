// The one exit-code contract of every duende program and verb (DESIGN.md).
#pragma once

namespace duende::framework {

enum ExitCode : int {
  kExitOk = 0,      ///< ran, and every invariant / gate held
  kExitFailed = 1,  ///< ran, and an invariant or gate failed
  kExitUsage = 2,   ///< usage error, or invalid scenario / config (message names file:line:col)
  kExitEnvironment = 3,  ///< the environment failed (could not spawn, no cgroup permission, ...)
  /// interrupted by SIGINT/SIGTERM (128 + SIGINT, as a shell reports Ctrl-C): everything was
  /// healed and stopped, and the partial report says ABORTED
  kExitInterrupted = 130,
};

/// Exit status of a daemon whose configuration is invalid (sysexits EX_CONFIG); supervisors
/// treat it as "do not restart" by default, like systemd's RestartPreventExitStatus.
inline constexpr int kExitBadConfig = 78;

}  // namespace duende::framework
