// RunCommand: runs a command to completion. It starts the command in a process group of its
// own, drains stdout and stderr while it runs (neither pipe can fill up and stall it), stops the
// whole group on a timeout (SIGTERM, then SIGKILL after a grace period), reaps the command and
// kills whatever it left running in its group.
//
// Everything that runs a command and waits for it goes through here: platform tools (systemctl,
// runc), gate steps, mutation test runs, command probes. Starting is Boost.Process's (fork +
// exec); the supervisor's children use Spawn() (process.h), which is faster (DESIGN.md).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/process.h"
#include "duende/framework/result.h"

namespace duende::framework {

struct CommandOptions {
  /// Working directory of the command ("" keeps the caller's).
  std::string working_dir;
  /// "NAME=value" entries added to (or replacing in) the inherited environment.
  std::vector<std::string> env_overrides;
  /// The command's process group is stopped after this long; zero or less: no limit.
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);
  /// How a timed-out or interrupted command is stopped: zero sends SIGKILL to its process group
  /// at once; otherwise SIGTERM first, and SIGKILL when it is still running after this long.
  std::chrono::nanoseconds kill_grace{0};
  /// stderr goes into stdout's pipe, interleaved as written (`err` stays empty).
  bool merge_stderr = false;
  /// Bytes kept of each stream in the result; past it the oldest are dropped (the tail is
  /// kept, where errors and summaries are). 0 keeps nothing (on_output still sees everything).
  size_t max_capture = size_t{64} << 20;
  /// Called with each chunk read from either stream, as it arrives (for a log or an echo).
  std::function<void(std::string_view)> on_output;
  /// When it becomes true, the command is stopped as on a timeout and `interrupted` is set.
  /// Looked at every 100 ms.
  const std::atomic<bool>* stop = nullptr;
};

struct CommandResult {
  /// How the command ended (killed by SIGTERM/SIGKILL after a timeout).
  ExitStatus status;
  std::string out;         ///< stdout (with stderr when merge_stderr), its last max_capture bytes
  std::string err;         ///< stderr, its last max_capture bytes
  size_t out_dropped = 0;  ///< bytes of stdout left out of `out` by max_capture
  size_t err_dropped = 0;  ///< bytes of stderr left out of `err` by max_capture
  bool timed_out = false;
  bool interrupted = false;  ///< stopped because CommandOptions::stop became true
  std::chrono::nanoseconds elapsed{0};
};

/// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null and no descriptor of ours
/// but stdout/stderr, waits for it and returns how it ended with its output. A non-zero exit
/// or a timeout is not an error here (see `status`, `timed_out`). Errors: the spawn error with
/// the context "unable to spawn ARGV0" (ENOENT when the program is missing, EACCES, ...).
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options = {});

/// As RunCommand, but a timeout is the error "ARGV0 timed out after 30s" (errc::timed_out)
/// and a non-zero exit the error "ARGV0 ARG1 failed (exited with code 1): <first line of
/// stderr>" (errc::io_error).
Result<CommandResult> RunChecked(const std::vector<std::string>& argv,
                                 const CommandOptions& options = {});

}  // namespace duende::framework
