// The [sandbox] table in a platform's own words: systemd's hardening directives and an OCI
// config.json's process capabilities, seccomp, read-only paths and namespaces. Both directions
// (render and read back), so that a rendered artefact parses back to the same config.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters::internal {

/// The [Service] lines of `config` (each ending in '\n'; "" when it confines nothing).
std::string SystemdSandboxLines(const framework::SandboxConfig& config);

/// Reads one [Service] directive written by SystemdSandboxLines into `config`. Returns false
/// when `key` is not one of them; errors: a value it cannot have written.
framework::Result<bool> ReadSystemdSandboxKey(const std::string& key, const std::string& value,
                                              framework::SandboxConfig* config);

/// Sets the kept capabilities, seccomp, read-only paths and network namespace of `spec`
/// (already holding process.capabilities, linux.namespaces and linux.readonlyPaths).
void AddOciSandbox(const framework::SandboxConfig& config, bool host_user_is_root,
                   nlohmann::ordered_json* spec);

/// Reads back what AddOciSandbox wrote.
void ReadOciSandbox(const nlohmann::ordered_json& spec, framework::SandboxConfig* config);

}  // namespace duende::adapters::internal
