// Backoff: the delay before the next restart, capped exponential with jitter.
//
// Pure arithmetic plus a seeded random generator: no clock, no I/O, so tests replay exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

#include "duende/framework/config.h"

namespace duende::framework {

/// The delay sequence of one service. Attempt n (1-based, the n-th restart in a row) waits
///   base(n) = min(max, initial * multiplier^(n-1))        (n-2 with immediate_first_restart,
///                                                          whose attempt 1 waits 0)
/// then jitter picks the actual delay:
///   none: base(n);   full: uniform [0, base(n)];   equal: base(n)/2 + uniform [0, base(n)/2];
///   decorrelated (AWS): min(max, uniform [initial, previous * multiplier]), previous starting
///   at initial. Every delay lies in [0, max].
class Backoff {
 public:
  /// `seed` makes the jitter reproducible (the supervisor draws one per service and logs it).
  Backoff(const BackoffConfig& config, uint64_t seed);

  /// The delay of the next attempt; advances the attempt counter.
  std::chrono::nanoseconds Next();

  /// Starts the sequence again (after the child was up for reset_after, or a manual start).
  void Reset();

  /// Restarts taken since the last Reset().
  uint32_t attempt() const { return attempt_; }

  const BackoffConfig& config() const { return config_; }

  /// base(n) above, before jitter. `attempt` >= 1.
  static std::chrono::nanoseconds Base(const BackoffConfig& config, uint32_t attempt);

 private:
  int64_t Uniform(int64_t lo, int64_t hi);

  BackoffConfig config_;
  std::mt19937_64 rng_;
  uint32_t attempt_ = 0;
  int64_t previous_ns_ = 0;  // decorrelated jitter's memory
};

/// "none", "full", "equal", "decorrelated".
const char* JitterName(BackoffConfig::Jitter jitter);

}  // namespace duende::framework
