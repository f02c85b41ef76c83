// The launchd property list (macOS) of a DaemonConfig, the launchctl command lines that load,
// start, signal, inspect and unload it, and reading the plist back. launchd cannot run on
// Linux: the plist is checked by parsing it back (and with xmllint against the plist DTD).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "duende/adapters/render.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters {

/// "org.duende.NAME" (options.label_prefix + name).
std::string LaunchdLabel(const framework::DaemonConfig& config,
                         const LaunchdRenderOptions& options = {});

/// The plist XML. Errors: as CheckRenderable().
framework::Result<std::string> RenderLaunchdPlist(const framework::DaemonConfig& config,
                                                  const LaunchdRenderOptions& options = {});

/// What the plist expresses.
Translation TranslateForLaunchd(const framework::DaemonConfig& config);

/// Reads a plist written by RenderLaunchdPlist() back. Errors: invalid_argument when it is
/// not a plist of that shape.
framework::Result<framework::DaemonConfig> ParseLaunchdPlist(std::string_view text);

/// The launchctl calls for one daemon (argv each).
struct LaunchctlCommands {
  std::vector<std::string> bootstrap;  ///< load and (RunAtLoad) start
  std::vector<std::string> kickstart;  ///< (re)start now: kickstart -k
  std::vector<std::string> kill;       ///< send the stop signal
  std::vector<std::string> print;      ///< state, pid, runs, last exit code
  std::vector<std::string> bootout;    ///< stop and unload
};

/// The launchctl command lines for `config` (kill sends config.stop_signal).
LaunchctlCommands LaunchctlFor(const framework::DaemonConfig& config,
                               const LaunchdRenderOptions& options = {});

/// The commands as shell lines, one per line, each preceded by a "# what" comment.
std::string RenderLaunchctlCommands(const framework::DaemonConfig& config,
                                    const LaunchdRenderOptions& options = {});

}  // namespace duende::adapters
