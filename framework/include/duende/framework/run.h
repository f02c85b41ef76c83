// Run(): the in-process driver that turns a Daemon into a well-behaved process.
//
//   int main(int argc, char** argv) {
//     MyDaemon daemon;
//     return duende::framework::Run(daemon, argc, argv);
//   }
//
// It parses --config FILE, validates the config (file:line:col messages, exit 2), applies
// DUENDE_MLOCK / DUENDE_MLOCK_REQUIRED, sets up logging, takes the pid file, locks memory,
// handles SIGTERM/SIGINT (graceful stop bounded by shutdown_timeout), SIGHUP (reload; a bad
// new config is reported and the old one kept), SIGUSR1 (logs health and metrics), ignores
// SIGPIPE, and speaks sd_notify. Documented in docs/framework.md.
#pragma once

#include "duende/framework/daemon.h"
#include "duende/framework/daemon_context.h"

namespace duende::framework {

/// Runs `daemon` as this process's main job and returns the process exit code:
/// 0 stopped or completed; 1 failed (Run() failed, Init() failed, or the stop overran
/// shutdown_timeout); 2 bad command line or config; 3 environment (pid file held by a running
/// instance, required mlock failed, log file not writable).
int Run(Daemon& daemon, int argc, char** argv);

}  // namespace duende::framework
