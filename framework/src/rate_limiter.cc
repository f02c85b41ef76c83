#include "duende/framework/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace duende::framework {

RateLimiter::RateLimiter(const RateLimitConfig& config)
    : config_(config),
      interval_ns_(std::max<int64_t>(1, std::llround(1e9 / config.rate))),
      capacity_ns_(interval_ns_ * static_cast<int64_t>(std::max<uint32_t>(1, config.burst))),
      full_at_ns_(std::numeric_limits<int64_t>::min() / 2) {}

bool RateLimiter::TryAcquire(int64_t now_ns) {
  int64_t full_at = full_at_ns_.load(std::memory_order_relaxed);
  while (true) {
    const int64_t next = std::max(full_at, now_ns) + interval_ns_;
    if (next - now_ns > capacity_ns_) return false;  // less than one token left
    if (full_at_ns_.compare_exchange_weak(full_at, next, std::memory_order_relaxed)) return true;
  }
}

uint32_t RateLimiter::Tokens(int64_t now_ns) const {
  const int64_t owed = std::max<int64_t>(0, full_at_ns_.load(std::memory_order_relaxed) - now_ns);
  return static_cast<uint32_t>((capacity_ns_ - std::min(owed, capacity_ns_)) / interval_ns_);
}

}  // namespace duende::framework
