// CircuitBreaker: stops calling a dependency that keeps failing, lets one trial through after
// a while, and resumes when the trials succeed.
//
//   closed ----(failure_threshold failures in a row, or failure_rate over window)----> open
//   open ------(first Allow() at or after open_until; open_for +- jitter)-----------> half-open
//   half-open -(half_open_trials trials all succeeded)-------------------------------> closed
//   half-open -(a trial failed)------------------------------------------------------> open
//
// A pure state machine: every input carries the time (monotonic nanoseconds, never going
// back), so tests drive it with a fake clock. Thread-safe: any thread may call anything.
// docs/policy.md has the transition table with its numbers.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "duende/framework/policy_config.h"

namespace duende::framework {

enum class BreakerState { kClosed, kOpen, kHalfOpen };

/// "closed", "open", "half-open".
const char* BreakerStateName(BreakerState state);

class CircuitBreaker {
 public:
  /// Permission for one call. Every allowed call must be reported once with Record() (a
  /// timeout is a failure); a denied call must not be made (answer the caller at once).
  struct Permit {
    bool allowed = false;
    /// The breaker's state generation when it was given: a result that arrives after the state
    /// changed (a call let through before the breaker opened) changes nothing.
    uint64_t generation = 0;
    explicit operator bool() const { return allowed; }
  };

  /// What the breaker holds, for tests, metrics and logs.
  struct Status {
    BreakerState state = BreakerState::kClosed;
    uint32_t consecutive_failures = 0;  ///< closed: failures in a row so far
    uint32_t window_calls = 0;          ///< closed: calls recorded in the sliding window
    uint32_t window_failures = 0;       ///< closed: failures among them
    int64_t open_until_ns = 0;          ///< open: when the next call becomes a trial
    uint32_t trials_started = 0;        ///< half-open: permits given
    uint32_t trials_succeeded = 0;      ///< half-open: of them, successes recorded
    uint64_t generation = 0;            ///< +1 at every state change
    uint64_t times_opened = 0;
  };

  /// `seed` drives the open-interval jitter (the same seed gives the same intervals).
  explicit CircuitBreaker(const BreakerConfig& config, uint64_t seed = 0);

  /// May a call be made at `now_ns`? Closed: yes. Open: no, until open_until; the first call
  /// at or after it turns the breaker half-open and is a trial. Half-open: yes for up to
  /// half_open_trials calls (the trials), no for the rest.
  Permit Allow(int64_t now_ns);

  /// The outcome of an allowed call, at `now_ns`. Ignored when the state changed since the
  /// permit was given (its generation is old) or for a denied permit.
  void Record(const Permit& permit, bool success, int64_t now_ns);

  Status status(int64_t now_ns) const;
  BreakerState state() const;
  const BreakerConfig& config() const { return config_; }

  /// The number of buckets of the sliding window (each covers window / kBuckets).
  static constexpr uint32_t kBuckets = 10;

 private:
  struct Bucket {
    int64_t index = -1;  // now / bucket width of the calls counted in it
    uint32_t calls = 0;
    uint32_t failures = 0;
  };

  void OpenLocked(int64_t now_ns);
  void CloseLocked();
  void WindowCountsLocked(int64_t now_ns, uint32_t* calls, uint32_t* failures) const;
  int64_t NextOpenIntervalNs();

  const BreakerConfig config_;
  const int64_t bucket_ns_;
  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::kClosed;
  uint64_t generation_ = 0;
  uint64_t times_opened_ = 0;
  uint32_t consecutive_failures_ = 0;
  std::array<Bucket, kBuckets> buckets_{};
  int64_t open_until_ns_ = 0;
  uint32_t trials_started_ = 0;
  uint32_t trials_succeeded_ = 0;
  uint64_t rng_;
};

}  // namespace duende::framework
