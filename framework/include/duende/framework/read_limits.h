// Size caps on what duende reads. Files and streams can come from other users (a scenario
// passed on the command line, a target's output, a firing log written inside a target, an
// event log handed to `duende report`), so every read has a ceiling: past it the read is an
// error (whole files) or the line is cut (line streams), never an allocation without end.
// The caps are listed in docs/security.md ("Hostile input").
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>

#include "duende/framework/result.h"

namespace duende::framework {

/// Scenario, daemon config, services.toml, gates.toml and mutate config files: 8 MiB.
inline constexpr size_t kMaxInputFileBytes = 8 << 20;
/// Kernel and cgroup files, journal entries and other small state files: 16 MiB.
inline constexpr size_t kMaxSmallFileBytes = 16 << 20;
/// One line of a target's output kept in the event log: 64 KiB (the rest of the line is cut).
inline constexpr size_t kMaxOutputLineBytes = 64 << 10;
/// One line (one event) of an event log read back: 4 MiB.
inline constexpr size_t kMaxEventLineBytes = 4 << 20;

/// Reads a whole file of at most `max_bytes`. Errors: the open/read errno with "unable to
/// open/read PATH"; EFBIG with "PATH is larger than N bytes (the limit for ...)" past the cap
/// (checked while reading, so a file that grows meanwhile is caught too).
Result<std::string> ReadFileLimited(const std::string& path, size_t max_bytes);

/// std::getline with a ceiling: reads the next line of `in` (without its '\n') into `line`,
/// keeping at most `max_bytes` of it and skipping the rest; `*cut` (optional) is the number of
/// bytes skipped. Returns false at the end of the stream when no line was read.
bool GetLineLimited(std::istream& in, std::string* line, size_t max_bytes, size_t* cut = nullptr);

}  // namespace duende::framework
