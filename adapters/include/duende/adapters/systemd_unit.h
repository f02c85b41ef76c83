// The systemd service unit of a DaemonConfig, and reading one back.
//
// Restart=, RestartSec=, StartLimitBurst=/StartLimitIntervalSec=, Type=notify, WatchdogSec=,
// TimeoutStopSec=, KillSignal=, MemoryMax=, CPUQuota=, TasksMax=, Limit*=, User=/Group=,
// WorkingDirectory=, Environment=; RestartSteps=/RestartMaxDelaySec= (exponential backoff)
// only for systemd >= 254 (Debian 12 has 252, which rejects them with a warning).
#pragma once

#include <string>
#include <string_view>

#include "duende/adapters/render.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters {

/// First version with RestartSteps= and RestartMaxDelaySec=.
inline constexpr int kSystemdRestartStepsVersion = 254;
/// Version assumed when none is given and no local systemd answers (Debian 12).
inline constexpr int kSystemdDefaultVersion = 252;

/// The local systemd's version from `systemctl --version` ("systemd 252 (...)"), or 0 when
/// systemctl is missing or says something else. Asked once per process.
int LocalSystemdVersion();

/// "NAME.service".
std::string SystemdUnitName(const framework::DaemonConfig& config);

/// The unit file text. Errors: as CheckRenderable().
framework::Result<std::string> RenderSystemdUnit(const framework::DaemonConfig& config,
                                                 const SystemdRenderOptions& options = {});

/// What the unit expresses (see Translation in render.h).
Translation TranslateForSystemd(const framework::DaemonConfig& config,
                                const SystemdRenderOptions& options = {});

/// Reads a unit written by RenderSystemdUnit() back into a config (systemd's quoting, %%
/// and $$ undone). Errors: invalid_argument "line N: ..." for lines it cannot read.
framework::Result<framework::DaemonConfig> ParseSystemdUnit(std::string_view text);

/// systemd's quoting of one word for ExecStart= (`exec` = true: $ doubled too) or
/// Environment=: double quotes, C escapes, % doubled.
std::string SystemdQuote(std::string_view word, bool exec);

/// A time span as systemd writes it: "250ms", "10s", "1500us" (whole microseconds, rounded up).
std::string SystemdTimespan(framework::nanoseconds d);

}  // namespace duende::adapters
