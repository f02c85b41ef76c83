// Model test of RateLimiter: the real limiter keeps one number (when the bucket is full again,
// GCRA); the model below is the textbook token bucket, counting credit in nanoseconds (one
// token = interval_ns of credit, at most burst tokens). Random sequences of acquisitions and
// time passing must give the same decisions and the same token count.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include <atomic>
#include <thread>
#include <vector>

#include "duende/framework/rate_limiter.h"

namespace duende::framework {
namespace {

constexpr int64_t kStart = 5'000'000'000;

struct Model {
  int64_t interval = 0;
  int64_t capacity = 0;
  int64_t credit = 0;  // ns of credit; a full bucket holds capacity
  int64_t now = kStart;
  int64_t last = kStart;

  void Refill() {
    credit = std::min(capacity, credit + (now - last));
    last = now;
  }
  bool Acquire() {
    Refill();
    if (credit < interval) return false;
    credit -= interval;
    return true;
  }
  uint32_t Tokens() {
    Refill();
    return static_cast<uint32_t>(credit / interval);
  }
};

struct Sut {
  explicit Sut(const RateLimitConfig& c) : limiter(c) {}
  RateLimiter limiter;
  int64_t now = kStart;
};

using Cmd = rc::state::Command<Model, Sut>;

struct AcquireCmd : Cmd {
  void apply(Model& m) const override { m.Acquire(); }
  void run(const Model& m, Sut& s) const override {
    Model expected = m;
    RC_ASSERT(s.limiter.TryAcquire(s.now) == expected.Acquire());
    RC_ASSERT(s.limiter.Tokens(s.now) == expected.Tokens());
  }
  void show(std::ostream& os) const override { os << "TryAcquire"; }
};

struct AdvanceCmd : Cmd {
  int64_t dt;
  explicit AdvanceCmd(const Model& m)
      : dt(*rc::gen::weightedElement<int64_t>(
            {{3, 0},
             {4, *rc::gen::inRange<int64_t>(0, m.interval + 1)},
             {1, *rc::gen::inRange<int64_t>(0, m.capacity * 2 + 1)}})) {}
  void apply(Model& m) const override { m.now += dt; }
  void run(const Model& m, Sut& s) const override {
    Model expected = m;
    apply(expected);
    s.now += dt;
    RC_ASSERT(s.limiter.Tokens(s.now) == expected.Tokens());
  }
  void show(std::ostream& os) const override { os << "Advance(" << dt << "ns)"; }
};

RC_GTEST_PROP(RateLimiterModelTest, AgreesWithTheTokenBucket, ()) {
  RateLimitConfig c;
  c.rate = *rc::gen::element(0.5, 1.0, 3.0, 100.0, 1000.0, 12345.0, 1e9);
  c.burst = *rc::gen::element<uint32_t>(1, 2, 10, 100);
  Sut sut(c);
  Model model;
  model.interval = sut.limiter.interval_ns();
  model.capacity = model.interval * c.burst;
  model.credit = model.capacity;
  RC_ASSERT(sut.limiter.Tokens(kStart) == c.burst);
  rc::state::check(model, sut, rc::state::gen::execOneOfWithArgs<AcquireCmd, AdvanceCmd>());
}

// Over any span, no more than burst + span * rate acquisitions succeed, even from many
// threads at once (the compare-and-swap loses no update and double-spends no token).
TEST(RateLimiterTest, ThreadsNeverExceedBurstPlusRate) {
  RateLimitConfig c;
  c.rate = 1000;  // 1 ms a token
  c.burst = 50;
  RateLimiter limiter(c);
  std::atomic<int64_t> clock{kStart};
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        // Time moves 10 us per 10 calls of any thread: 200 ms over the run.
        const int64_t now = clock.fetch_add(i % 10 == 0 ? 10'000 : 0);
        if (limiter.TryAcquire(now)) taken.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  const int64_t span_ms = (clock.load() - kStart) / 1'000'000;
  EXPECT_LE(taken.load(), 50 + span_ms + 1);
  EXPECT_GE(taken.load(), 50 + span_ms - 5) << "tokens were lost";
}

TEST(RateLimiterTest, RefusesPastTheBurstAndRefillsAtTheRate) {
  RateLimitConfig c;
  c.rate = 10;  // 100 ms a token
  c.burst = 3;
  RateLimiter limiter(c);
  EXPECT_TRUE(limiter.TryAcquire(kStart));
  EXPECT_TRUE(limiter.TryAcquire(kStart));
  EXPECT_TRUE(limiter.TryAcquire(kStart));
  EXPECT_FALSE(limiter.TryAcquire(kStart));
  EXPECT_FALSE(limiter.TryAcquire(kStart + 99'999'999));
  EXPECT_TRUE(limiter.TryAcquire(kStart + 100'000'000));
  EXPECT_EQ(limiter.Tokens(kStart + 10'000'000'000), 3u);
}

}  // namespace
}  // namespace duende::framework
