// Monotonic time in nanoseconds: the one time base of events, timers and reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace duende::framework {

/// CLOCK_MONOTONIC in nanoseconds. Never goes back; unrelated to wall-clock time.
int64_t MonotonicNs();

/// CLOCK_REALTIME in nanoseconds since the epoch (for report headers only).
int64_t WallClockNs();

/// Parses a duration such as "250ms", "5s", "1.5s", "2m", "1h", "10us", "100ns".
/// A bare number is seconds. Returns false on anything else (negative included).
bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out);

/// Formats nanoseconds for humans: "850us", "12.3ms", "4.20s", "3m05s".
std::string FormatDuration(std::chrono::nanoseconds d);

/// Parses a byte size: "512", "64k", "64KiB", "16M", "16MiB", "1G", "1GB" (k/M/G are powers of
/// 1024; "kB"/"MB"/"GB" are powers of 1000). Returns false on anything else.
bool ParseByteSize(std::string_view text, uint64_t* out);

}  // namespace duende::framework
