// Per-call cost of the resilience policies on the request path, uncontended (one thread) and
// shared by 2 threads, against the floor of reading the monotonic clock that every caller
// pays anyway. Goal: under 50 ns a call uncontended (docs/policy.md has the figures).
//
//   BM_ClockRead                    MonotonicNs(), for scale
//   BM_BreakerAllowRecord           Allow() + Record(success) on a closed breaker: one call
//   BM_BreakerAllowOpen             Allow() refused by an open breaker (the fast-fail path)
//   BM_RateLimiterTryAcquire        a token taken (the clock moves a token's worth per call)
//   BM_RateLimiterRefused           an empty bucket refusing
//   BM_ShedderAdmit                 Admit() of a request that waited 1 us
#include <benchmark/benchmark.h>

#include "duende/framework/circuit_breaker.h"
#include "duende/framework/clock.h"
#include "duende/framework/load_shedder.h"
#include "duende/framework/rate_limiter.h"

namespace {

using namespace duende::framework;

constexpr int64_t kStart = 1'000'000'000;

void BM_ClockRead(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(MonotonicNs());
}
BENCHMARK(BM_ClockRead);

CircuitBreaker& SharedBreaker() {
  static CircuitBreaker b{BreakerConfig{}};
  return b;
}

void BM_BreakerAllowRecord(benchmark::State& state) {
  CircuitBreaker& b = SharedBreaker();
  int64_t now = kStart;
  for (auto _ : state) {
    auto p = b.Allow(now);
    b.Record(p, true, now);
    now += 100;
  }
}
BENCHMARK(BM_BreakerAllowRecord);
BENCHMARK(BM_BreakerAllowRecord)->Threads(2)->UseRealTime();

void BM_BreakerAllowOpen(benchmark::State& state) {
  BreakerConfig c;
  c.failure_threshold = 1;
  c.open_for = std::chrono::hours(1);
  CircuitBreaker b(c);
  b.Record(b.Allow(kStart), false, kStart);
  int64_t now = kStart;
  for (auto _ : state) benchmark::DoNotOptimize(b.Allow(now += 100));
}
BENCHMARK(BM_BreakerAllowOpen);

void BM_RateLimiterTryAcquire(benchmark::State& state) {
  static RateLimiter limiter(RateLimitConfig{1e6, 100});  // 1 us a token
  int64_t now = kStart;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.TryAcquire(now));
    now += 1000;
  }
}
BENCHMARK(BM_RateLimiterTryAcquire);
BENCHMARK(BM_RateLimiterTryAcquire)->Threads(2)->UseRealTime();

void BM_RateLimiterRefused(benchmark::State& state) {
  RateLimiter limiter(RateLimitConfig{1, 1});
  limiter.TryAcquire(kStart);
  for (auto _ : state) benchmark::DoNotOptimize(limiter.TryAcquire(kStart));
}
BENCHMARK(BM_RateLimiterRefused);

void BM_ShedderAdmit(benchmark::State& state) {
  static LoadShedder shedder(ShedConfig{}, kStart);
  int64_t now = kStart;
  for (auto _ : state) {
    benchmark::DoNotOptimize(shedder.Admit(now - 1000, now));
    now += 100;
  }
}
BENCHMARK(BM_ShedderAdmit);
BENCHMARK(BM_ShedderAdmit)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
