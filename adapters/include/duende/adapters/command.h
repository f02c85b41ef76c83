// RunCommand: runs a platform tool (systemctl, runc, launchctl...) to completion and captures
// its output. Used by the adapters; public so that tests and the scenario runner drive the
// same tools the same way.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "duende/framework/process.h"
#include "duende/framework/result.h"

namespace duende::adapters {

struct CommandResult {
  framework::ExitStatus status;
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

struct CommandOptions {
  /// "NAME=value" entries added to the inherited environment.
  std::vector<std::string> env_overrides;
  /// Killed (SIGKILL, whole process group) after this long; the result then says so.
  std::chrono::nanoseconds timeout = std::chrono::seconds(30);
};

/// Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, waits for it and returns
/// its exit status, stdout and stderr. A non-zero exit is not an error here. Errors: the spawn
/// error (ENOENT when the tool is missing); ETIMEDOUT "ARGV0 timed out after 30s".
framework::Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                            const CommandOptions& options = {});

/// As RunCommand, but a non-zero exit becomes an error "ARGV0 ARG1 failed (exited with code
/// 1): <first line of stderr>" (errc::io_error).
framework::Result<CommandResult> RunChecked(const std::vector<std::string>& argv,
                                            const CommandOptions& options = {});

}  // namespace duende::adapters
