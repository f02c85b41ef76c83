// Monotonic time in nanoseconds: the one time base of events, timers and reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "duende/framework/result.h"

namespace duende::framework {

/// The longest duration any input may give (365 days). Every duration key of every file, every
/// duration flag and every --set/--param goes through ParseDuration/TomlReader::Duration, so a
/// value such as `at = 9999999999` (317 years, past int64 nanoseconds) or `inf` is an error
/// naming this range instead of a silent overflow; sums of a few such values still fit int64.
inline constexpr std::chrono::nanoseconds kMaxDuration = std::chrono::hours(24 * 365);

/// The largest byte size any input may give: 2^63 - 1 bytes (sizes are written to cgroup files
/// and rlimits as signed 64-bit numbers).
inline constexpr uint64_t kMaxByteSize = 0x7fffffffffffffffULL;

/// CLOCK_MONOTONIC in nanoseconds. Never goes back; unrelated to wall-clock time.
int64_t MonotonicNs();

/// CLOCK_REALTIME in nanoseconds since the epoch (for report headers only).
int64_t WallClockNs();

/// Parses a duration such as "250ms", "5s", "1.5s", "2m", "1h", "10us", "100ns".
/// A bare number is seconds. Returns false on anything else: negative, not finite, or longer
/// than kMaxDuration.
bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out);

/// Like ParseDuration, for values in [min, max]. Errors (invalid_argument) carry the whole
/// message after the caller's subject: `is "9999999999s"; it must be a duration between 0s and
/// 365 days` or `must be a duration such as "5s", "250ms" or "2m", not "fast"`.
Result<std::chrono::nanoseconds> ParseDurationIn(std::string_view text,
                                                 std::chrono::nanoseconds min,
                                                 std::chrono::nanoseconds max = kMaxDuration);

/// "between 0s and 365 days": the range part of the messages above.
std::string DescribeDurationRange(std::chrono::nanoseconds min, std::chrono::nanoseconds max);

/// Formats nanoseconds for humans: "850us", "12.3ms", "4.20s", "3m05s".
std::string FormatDuration(std::chrono::nanoseconds d);

/// The exact spelling of a duration in the largest unit that divides it ("1500ms", "2m",
/// "0s", "7ns"), as config files write it: ParseDuration reads it back to the same value.
std::string ExactDurationText(std::chrono::nanoseconds d);

/// Parses a byte size: "512", "64k", "64KiB", "16M", "16MiB", "1G", "1GB" (k/M/G are powers of
/// 1024; "kB"/"MB"/"GB" are powers of 1000, "T"/"TiB" 1024^4). Returns false on anything else,
/// a size past kMaxByteSize included.
bool ParseByteSize(std::string_view text, uint64_t* out);

/// Like ParseByteSize, for values in [min, max]; messages as ParseDurationIn's.
Result<uint64_t> ParseByteSizeIn(std::string_view text, uint64_t min, uint64_t max = kMaxByteSize);

/// "between 0 and 9223372036854775807 bytes (8 EiB - 1)".
std::string DescribeByteSizeRange(uint64_t min, uint64_t max);

}  // namespace duende::framework
