// The OCI runtime bundle of a DaemonConfig (config.json for runc), and reading one back.
//
// The bundle runs the host's own programs: /usr and /etc are bind-mounted read-only into an
// otherwise empty root whose bin/lib/lib64/sbin are symlinks into usr (the recipe that works
// with runc on this machine, see docs/adapters.md). Restart policy is not part of a runtime
// bundle: the OCI adapter applies it.
#pragma once

#include <string>
#include <string_view>

#include "duende/adapters/render.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters {

/// The default capability set of container engines (docker's), plus CAP_IPC_LOCK when memory
/// must be locked.
std::vector<std::string> OciCapabilities(const framework::DaemonConfig& config);

/// config.json text (pretty JSON). Errors: as CheckRenderable(); invalid_argument when the
/// user or group is a name that does not exist on this host (OCI needs numbers).
framework::Result<std::string> RenderOciConfig(const framework::DaemonConfig& config,
                                               const OciRenderOptions& options = {});

/// What config.json expresses. Errors: as RenderOciConfig().
framework::Result<Translation> TranslateForOci(const framework::DaemonConfig& config,
                                               const OciRenderOptions& options = {});

/// Reads a config.json written by RenderOciConfig() back. Errors: invalid_argument when it is
/// not JSON or lacks process.args.
framework::Result<framework::DaemonConfig> ParseOciConfig(std::string_view text,
                                                          const OciRenderOptions& options = {});

/// Creates a bundle directory: `dir`/config.json and the root filesystem skeleton (empty
/// mount points for the binds, /proc, /dev, /tmp; bin, lib, lib64, sbin as symlinks into usr).
/// Errors: the errno of the mkdir/symlink/write that failed.
framework::Result<void> WriteOciBundle(const std::string& dir,
                                       const framework::DaemonConfig& config,
                                       const OciRenderOptions& options = {});

}  // namespace duende::adapters
