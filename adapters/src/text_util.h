// Quoting and number formatting shared by the renderers (private to duende::adapters).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters::internal {

/// POSIX shell word: bare when it is made only of safe characters, else single-quoted
/// ('it'\''s').
std::string ShellQuote(std::string_view word);

/// Splits a POSIX shell command line (quotes, backslashes, backslash-newline continuations)
/// into words. No expansions. Errors: invalid_argument on an unterminated quote.
framework::Result<std::vector<std::string>> ShellSplit(std::string_view line);

/// Exact decimal of a double that reads back to the same double ("0.5", "1.25").
std::string DoubleText(double v);

/// Whole seconds, rounded up (a timeout never gets shorter by translation).
int64_t CeilSeconds(std::chrono::nanoseconds d);
/// Microseconds, rounded up.
int64_t CeilMicros(std::chrono::nanoseconds d);

/// The exact spelling of a duration in the largest of s, ms, us, ns that divides it ("250ms",
/// "10s", "0s"); both systemd and Go read it.
std::string ExactDuration(std::chrono::nanoseconds d);
/// Reads ExactDuration()'s spelling back (an integer with suffix ns, us, ms or s).
std::optional<std::chrono::nanoseconds> ParseExactDuration(std::string_view v);

/// Parses a non-negative decimal integer that fits in uint64_t (all digits).
std::optional<uint64_t> ParseUint(std::string_view s);

/// The environment the daemon gets on a platform: config.env plus DUENDE_MLOCK=1 (and
/// DUENDE_MLOCK_REQUIRED=1) when memory must be locked: the framework's Run() reads them
/// (ApplyEnvOverrides), so the platform only has to allow the locking.
std::vector<std::pair<std::string, std::string>> PlatformEnv(const framework::DaemonConfig& c);

/// The inverse of PlatformEnv(): moves DUENDE_MLOCK/DUENDE_MLOCK_REQUIRED out of c->env into
/// c->resources.
void TakeMlockEnv(framework::DaemonConfig* c);

/// A config holding only what every platform keeps: name and command (the rest default).
framework::DaemonConfig Skeleton(const framework::DaemonConfig& c);

}  // namespace duende::adapters::internal
