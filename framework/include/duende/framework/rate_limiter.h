// RateLimiter: a token bucket of `burst` tokens refilled at `rate` tokens a second; each
// request takes one token or is refused at once.
//
// Kept as one number, the time at which the bucket will be full again (GCRA, the generic cell
// rate algorithm: the same decisions as a token bucket), so TryAcquire() is one compare-and-swap
// and needs no lock. A pure state machine over the caller's clock (monotonic nanoseconds):
// tests drive it with a fake one. Thread-safe. docs/policy.md has the numbers.
#pragma once

#include <atomic>
#include <cstdint>

#include "duende/framework/policy_config.h"

namespace duende::framework {

class RateLimiter {
 public:
  /// Starts with a full bucket.
  explicit RateLimiter(const RateLimitConfig& config);

  /// Takes one token at `now_ns`; false (nothing taken) when fewer than one is left.
  bool TryAcquire(int64_t now_ns);

  /// Whole tokens left at `now_ns` (0..burst).
  uint32_t Tokens(int64_t now_ns) const;

  /// Nanoseconds per token (1e9 / rate, rounded, at least 1).
  int64_t interval_ns() const { return interval_ns_; }
  const RateLimitConfig& config() const { return config_; }

 private:
  const RateLimitConfig config_;
  const int64_t interval_ns_;
  const int64_t capacity_ns_;  // burst * interval: a full bucket's worth of time
  // When the bucket is full again: tokens(now) = (capacity - max(0, full_at - now)) / interval.
  std::atomic<int64_t> full_at_ns_;
};

}  // namespace duende::framework
