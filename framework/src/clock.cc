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

// Splits "1.5ms" into 1.5 and "ms". Returns false when there is no leading number.
bool SplitNumber(std::string_view text, double* number, std::string_view* unit) {
  size_t i = 0;
  while (i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, *number);
  if (ec != std::errc() || ptr != text.data() + i) return false;
  *unit = text.substr(i);
  while (!unit->empty() && unit->front() == ' ') unit->remove_prefix(1);
  return std::isfinite(*number) && *number >= 0;
}

}  // namespace

bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out) {
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
  } else {
    return false;
  }
  double ns = n * scale;
  if (ns > 9.2e18) return false;
  *out = std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
  return true;
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

bool ParseByteSize(std::string_view text, uint64_t* out) {
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
  } else if (unit == "kB" || unit == "KB") {
    scale = 1e3;
  } else if (unit == "MB") {
    scale = 1e6;
  } else if (unit == "GB") {
    scale = 1e9;
  } else {
    return false;
  }
  double bytes = n * scale;
  if (bytes > 1.8e19) return false;
  *out = static_cast<uint64_t>(std::llround(bytes));
  return true;
}

}  // namespace duende::framework
