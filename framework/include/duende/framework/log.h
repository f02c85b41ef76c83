// Log: the daemon's own log lines, to stderr or to a size-rotated file ([log] in the config).
//
// One line per message: "2026-11-27T07:10:27.123Z kvd[4242] warn: message". Lines are written
// with one write(2) each, so lines of concurrent threads never interleave and a line logged
// before a crash is on disk (in the page cache) already.
#pragma once

#include <string>
#include <string_view>

#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::framework {

/// Sends log lines to `config.file` (rotated at max_bytes, keeping `keep` files) or to stderr
/// when the file is empty; `name` prefixes each line. Replaces an earlier configuration.
/// Errors: the errno of opening the file (the previous destination stays in use).
Result<void> ConfigureLog(const std::string& name, const LogConfig& config);

/// Logs to stderr again (and closes a log file).
void ResetLog();

/// True when a message at `level` would be written.
bool LogEnabled(LogConfig::Level level);

/// Writes one line (newlines inside `message` are kept on that line as "\n").
void Log(LogConfig::Level level, std::string_view message);

inline void LogDebug(std::string_view m) { Log(LogConfig::Level::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogConfig::Level::kInfo, m); }
inline void LogWarn(std::string_view m) { Log(LogConfig::Level::kWarn, m); }
inline void LogError(std::string_view m) { Log(LogConfig::Level::kError, m); }

}  // namespace duende::framework
