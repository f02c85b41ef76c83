#include "duende/framework/clock.h"

#include <time.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace duende::framework {

int64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t WallClockNs() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

// Splits "1.5ms" into 1.5 and "ms". Returns false when there is no leading number. A leading
// '-' is kept, so that a negative value is reported as out of range rather than as gibberish.
bool SplitNumber(std::string_view text, double* number, std::string_view* unit) {
  size_t i = !text.empty() && text[0] == '-' ? 1 : 0;
  const size_t digits = i;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
    ++i;
  }
  if (i == digits) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *number);
  // A number too large for a double is still a number: out of range, not malformed.
  if (ec == std::errc::result_out_of_range) {
    *number = text[0] == '-' ? -HUGE_VAL : HUGE_VAL;
  } else if (ec != std::errc() || ptr != text.data() + i) {
    return false;
  }
  *unit = text.substr(i);
  while (!unit->empty() && unit->front() == ' ') unit->remove_prefix(1);
  return true;
}

// The duration in nanoseconds, as a double so that an out-of-range value stays visible.
bool DurationNs(std::string_view text, double* ns) {
  double n = 0;
  std::string_view unit;
  if (!SplitNumber(text, &n, &unit)) return false;
  double scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "ns") {
    scale = 1;
  } else if (unit == "m" || unit == "min") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else if (unit == "d") {
    scale = 86400e9;
  } else {
    return false;
  }
  *ns = n * scale;
  return true;
}

bool ByteCount(std::string_view text, double* bytes) {
  double n = 0;
  std::string_view unit;
  if (!SplitNumber(text, &n, &unit)) return false;
  double scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "k" || unit == "K" || unit == "KiB" || unit == "Ki") {
    scale = 1024.0;
  } else if (unit == "M" || unit == "MiB" || unit == "Mi") {
    scale = 1024.0 * 1024;
  } else if (unit == "G" || unit == "GiB" || unit == "Gi") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "T" || unit == "TiB" || unit == "Ti") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else if (unit == "kB" || unit == "KB") {
    scale = 1e3;
  } else if (unit == "MB") {
    scale = 1e6;
  } else if (unit == "GB") {
    scale = 1e9;
  } else if (unit == "TB") {
    scale = 1e12;
  } else {
    return false;
  }
  *bytes = n * scale;
  return true;
}

std::string Quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string HumanDuration(std::chrono::nanoseconds d) {
  constexpr int64_t kDayNs = 86'400'000'000'000;
  if (d.count() == 0) return "0s";
  if (d.count() % kDayNs == 0) {
    const int64_t days = d.count() / kDayNs;
    return std::to_string(days) + (days == 1 ? " day" : " days");
  }
  return FormatDuration(d);
}

std::string HumanBytes(uint64_t b) {
  if (b == kMaxByteSize) return "2^63-1 bytes";
  const char* units[] = {"TiB", "GiB", "MiB", "KiB"};
  int shift = 40;
  for (const char* u : units) {
    if (b != 0 && b % (uint64_t{1} << shift) == 0) return std::to_string(b >> shift) + u;
    shift -= 10;
  }
  return std::to_string(b) + (b == 1 ? " byte" : " bytes");
}

}  // namespace

bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out) {
  double ns = 0;
  if (!DurationNs(text, &ns)) return false;
  if (!(ns >= 0 && ns <= static_cast<double>(kMaxDuration.count()))) return false;
  *out = std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
  return true;
}

Result<std::chrono::nanoseconds> ParseDurationIn(std::string_view text,
                                                 std::chrono::nanoseconds min,
                                                 std::chrono::nanoseconds max) {
  double ns = 0;
  if (!DurationNs(text, &ns)) {
    return MessageError("must be a duration such as \"5s\", \"250ms\" or \"2m\", not " +
                        Quoted(text));
  }
  if (!(ns >= static_cast<double>(min.count()) && ns <= static_cast<double>(max.count()))) {
    return MessageError("is " + Quoted(text) + "; it must be a duration " +
                        DescribeDurationRange(min, max));
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

std::string DescribeDurationRange(std::chrono::nanoseconds min, std::chrono::nanoseconds max) {
  return "between " + HumanDuration(min) + " and " + HumanDuration(max);
}

std::string FormatDuration(std::chrono::nanoseconds d) {
  char buf[64];
  int64_t ns = d.count();
  double v = static_cast<double>(ns);
  if (ns < 0) return "-" + FormatDuration(-d);
  if (ns < 1'000) {
    std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  } else if (ns < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.0fus", v / 1e3);
  } else if (ns < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.1fms", v / 1e6);
  } else if (ns < 60'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2fs", v / 1e9);
  } else {
    int64_t s = ns / 1'000'000'000;
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

std::string ExactDurationText(std::chrono::nanoseconds d) {
  const int64_t ns = d.count();
  struct Unit {
    int64_t scale;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{3'600'000'000'000, "h"},
                                    {60'000'000'000, "m"},
                                    {1'000'000'000, "s"},
                                    {1'000'000, "ms"},
                                    {1'000, "us"}};
  if (ns == 0) return "0s";
  for (const Unit& u : kUnits) {
    if (ns % u.scale == 0) return std::to_string(ns / u.scale) + u.suffix;
  }
  return std::to_string(ns) + "ns";
}

bool ParseByteSize(std::string_view text, uint64_t* out) {
  double bytes = 0;
  if (!ByteCount(text, &bytes)) return false;
  // 2^63 exactly is representable; kMaxByteSize is not (it rounds up to 2^63).
  if (!(bytes >= 0 && bytes < 9223372036854775808.0)) return false;
  *out = static_cast<uint64_t>(std::llround(bytes));
  return true;
}

Result<uint64_t> ParseByteSizeIn(std::string_view text, uint64_t min, uint64_t max) {
  double bytes = 0;
  if (!ByteCount(text, &bytes)) {
    return MessageError("must be a size such as \"64MiB\", \"512k\" or \"1G\", not " +
                        Quoted(text));
  }
  uint64_t v = 0;
  if (!(bytes >= 0 && bytes < 9223372036854775808.0) ||
      (v = static_cast<uint64_t>(std::llround(bytes))) < min || v > max) {
    return MessageError("is " + Quoted(text) + "; it must be a size " +
                        DescribeByteSizeRange(min, max));
  }
  return v;
}

std::string DescribeByteSizeRange(uint64_t min, uint64_t max) {
  return "between " + HumanBytes(min) + " and " + HumanBytes(max);
}

}  // namespace duende::framework
