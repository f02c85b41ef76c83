#include "duende/framework/backoff.h"

#include <algorithm>
#include <cmath>

namespace duende::framework {

using std::chrono::nanoseconds;

Backoff::Backoff(const BackoffConfig& config, uint64_t seed) : config_(config), rng_(seed) {
  Reset();
}

void Backoff::Reset() {
  attempt_ = 0;
  previous_ns_ = config_.initial.count();
}

nanoseconds Backoff::Base(const BackoffConfig& config, uint32_t attempt) {
  if (attempt == 0) return nanoseconds(0);
  uint32_t exponent = attempt - 1;
  if (config.immediate_first_restart) {
    if (attempt == 1) return nanoseconds(0);
    exponent = attempt - 2;
  }
  const double cap = static_cast<double>(std::max<int64_t>(0, config.max.count()));
  const double initial = static_cast<double>(std::max<int64_t>(0, config.initial.count()));
  // pow() saturates to +inf for large exponents, which min() then caps: no overflow.
  double base = initial * std::pow(std::max(1.0, config.multiplier), exponent);
  base = std::min(base, cap);
  return nanoseconds(static_cast<int64_t>(base));
}

int64_t Backoff::Uniform(int64_t lo, int64_t hi) {
  if (hi <= lo) return lo;
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
}

nanoseconds Backoff::Next() {
  ++attempt_;
  const int64_t cap = std::max<int64_t>(0, config_.max.count());
  const int64_t base = Base(config_, attempt_).count();
  switch (config_.jitter) {
    case BackoffConfig::Jitter::kNone:
      return nanoseconds(base);
    case BackoffConfig::Jitter::kFull:
      return nanoseconds(Uniform(0, base));
    case BackoffConfig::Jitter::kEqual:
      return nanoseconds(base / 2 + Uniform(0, base - base / 2));
    case BackoffConfig::Jitter::kDecorrelated: {
      if (config_.immediate_first_restart && attempt_ == 1) return nanoseconds(0);
      const int64_t lo = std::min(cap, std::max<int64_t>(0, config_.initial.count()));
      const double grown = static_cast<double>(previous_ns_) * std::max(1.0, config_.multiplier);
      const int64_t hi = static_cast<int64_t>(std::min(grown, static_cast<double>(cap)));
      previous_ns_ = std::min(cap, Uniform(lo, std::max(lo, hi)));
      return nanoseconds(previous_ns_);
    }
  }
  return nanoseconds(base);
}

const char* JitterName(BackoffConfig::Jitter jitter) {
  switch (jitter) {
    case BackoffConfig::Jitter::kNone:
      return "none";
    case BackoffConfig::Jitter::kFull:
      return "full";
    case BackoffConfig::Jitter::kEqual:
      return "equal";
    case BackoffConfig::Jitter::kDecorrelated:
      return "decorrelated";
  }
  return "?";
}

}  // namespace duende::framework
