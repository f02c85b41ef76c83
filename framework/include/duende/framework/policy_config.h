// The settings of the resilience policies (circuit_breaker.h, rate_limiter.h,
// load_shedder.h): the [policy] table of a daemon config, documented key by key in
// docs/config.md and the state machines with their numbers in docs/policy.md.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "duende/framework/toml_reader.h"

namespace duende::framework {

/// [policy.breaker]: when a circuit breaker opens, how long it stays open, how it probes.
struct BreakerConfig {
  /// Opens after this many failures in a row (0: this trigger is off).
  uint32_t failure_threshold = 5;
  /// Opens when failures / calls over the last `window` reach this share (0: off)...
  double failure_rate = 0;
  /// ...counted in 10 buckets of window/10 each...
  std::chrono::nanoseconds window = std::chrono::seconds(10);
  /// ...once the window holds at least this many calls.
  uint32_t min_calls = 10;
  /// How long it stays open before the first call is let through as a trial...
  std::chrono::nanoseconds open_for = std::chrono::seconds(1);
  /// ...drawn uniformly from open_for * [1 - jitter, 1 + jitter] at each opening.
  double jitter = 0.2;
  /// Trial calls let through while half-open; all must succeed to close, one failure reopens.
  uint32_t half_open_trials = 1;

  bool operator==(const BreakerConfig&) const = default;
};

/// [policy.rate_limit]: a token bucket.
struct RateLimitConfig {
  double rate = 100;   ///< tokens added per second (requests per second sustained)
  uint32_t burst = 1;  ///< bucket size: requests allowed at once after a quiet time

  bool operator==(const RateLimitConfig&) const = default;
};

/// [policy.shed]: queue-delay load shedding (CoDel-like).
struct ShedConfig {
  /// The longest a request may have waited in the queue while the queue has not been empty
  /// for `interval` (overload): older ones are shed.
  std::chrono::nanoseconds target = std::chrono::milliseconds(5);
  /// How long the queue may stay non-empty before `target` applies; until then a request may
  /// wait up to `interval` (a burst is absorbed, a standing queue is not).
  std::chrono::nanoseconds interval = std::chrono::milliseconds(100);

  bool operator==(const ShedConfig&) const = default;
};

/// [policy]: each table present turns its policy on; an absent one is off.
struct PolicyConfig {
  std::optional<BreakerConfig> breaker;
  std::optional<RateLimitConfig> rate_limit;
  std::optional<ShedConfig> shed;

  bool operator==(const PolicyConfig&) const = default;
};

/// [policy.breaker]; problems go to the reader's Diagnostics (file:line:col with the fix).
void ReadBreakerConfig(TomlReader& reader, BreakerConfig* out);
/// [policy.rate_limit].
void ReadRateLimitConfig(TomlReader& reader, RateLimitConfig* out);
/// [policy.shed].
void ReadShedConfig(TomlReader& reader, ShedConfig* out);
/// [policy] with its sub-tables (each present one turns its policy on with its defaults).
void ReadPolicyConfig(TomlReader& reader, PolicyConfig* out);

/// The [policy] table that ReadPolicyConfig reads back to an equal config (every key of each
/// policy that is on); empty when every policy is off.
toml::table FormatPolicyConfig(const PolicyConfig& config);

}  // namespace duende::framework
