#include "duende/framework/circuit_breaker.h"

#include <algorithm>
#include <cmath>

namespace duende::framework {

const char* BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(const BreakerConfig& config, uint64_t seed)
    : config_(config),
      bucket_ns_(std::max<int64_t>(1, config.window.count() / kBuckets)),
      rng_(seed) {}

CircuitBreaker::Permit CircuitBreaker::Allow(int64_t now_ns) {
  std::lock_guard lock(mu_);
  switch (state_) {
    case BreakerState::kClosed:
      return Permit{true, generation_};
    case BreakerState::kOpen:
      if (now_ns < open_until_ns_) return Permit{false, generation_};
      state_ = BreakerState::kHalfOpen;
      ++generation_;
      trials_started_ = 0;
      trials_succeeded_ = 0;
      [[fallthrough]];
    case BreakerState::kHalfOpen:
      if (trials_started_ >= config_.half_open_trials) return Permit{false, generation_};
      ++trials_started_;
      return Permit{true, generation_};
  }
  return Permit{false, generation_};
}

void CircuitBreaker::Record(const Permit& permit, bool success, int64_t now_ns) {
  std::lock_guard lock(mu_);
  if (!permit.allowed || permit.generation != generation_) return;
  if (state_ == BreakerState::kHalfOpen) {
    if (!success) {
      OpenLocked(now_ns);
    } else if (++trials_succeeded_ >= config_.half_open_trials) {
      CloseLocked();
    }
    return;
  }
  if (state_ != BreakerState::kClosed) return;
  const int64_t index = now_ns / bucket_ns_;
  Bucket& b = buckets_[static_cast<size_t>(index % kBuckets)];
  if (b.index != index) b = Bucket{index, 0, 0};
  ++b.calls;
  if (success) {
    consecutive_failures_ = 0;
    return;
  }
  ++b.failures;
  ++consecutive_failures_;
  if (config_.failure_threshold > 0 && consecutive_failures_ >= config_.failure_threshold) {
    OpenLocked(now_ns);
    return;
  }
  if (config_.failure_rate > 0) {
    uint32_t calls = 0;
    uint32_t failures = 0;
    WindowCountsLocked(now_ns, &calls, &failures);
    if (calls >= config_.min_calls &&
        static_cast<double>(failures) >= config_.failure_rate * static_cast<double>(calls)) {
      OpenLocked(now_ns);
    }
  }
}

void CircuitBreaker::WindowCountsLocked(int64_t now_ns, uint32_t* calls, uint32_t* failures) const {
  const int64_t index = now_ns / bucket_ns_;
  for (const Bucket& b : buckets_) {
    if (b.index > index - static_cast<int64_t>(kBuckets) && b.index <= index) {
      *calls += b.calls;
      *failures += b.failures;
    }
  }
}

int64_t CircuitBreaker::NextOpenIntervalNs() {
  // splitmix64: a small, seedable generator whose state is one word.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
  const double factor = 1.0 - config_.jitter + 2.0 * config_.jitter * u;
  return std::max<int64_t>(1, std::llround(static_cast<double>(config_.open_for.count()) * factor));
}

void CircuitBreaker::OpenLocked(int64_t now_ns) {
  state_ = BreakerState::kOpen;
  ++generation_;
  ++times_opened_;
  open_until_ns_ = now_ns + NextOpenIntervalNs();
  consecutive_failures_ = 0;
  buckets_.fill(Bucket{});
  trials_started_ = 0;
  trials_succeeded_ = 0;
}

void CircuitBreaker::CloseLocked() {
  state_ = BreakerState::kClosed;
  ++generation_;
  consecutive_failures_ = 0;
  buckets_.fill(Bucket{});
  trials_started_ = 0;
  trials_succeeded_ = 0;
}

CircuitBreaker::Status CircuitBreaker::status(int64_t now_ns) const {
  std::lock_guard lock(mu_);
  Status s;
  s.state = state_;
  s.consecutive_failures = consecutive_failures_;
  if (state_ == BreakerState::kClosed) {
    WindowCountsLocked(now_ns, &s.window_calls, &s.window_failures);
  }
  s.open_until_ns = state_ == BreakerState::kOpen ? open_until_ns_ : 0;
  s.trials_started = trials_started_;
  s.trials_succeeded = trials_succeeded_;
  s.generation = generation_;
  s.times_opened = times_opened_;
  return s;
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace duende::framework
