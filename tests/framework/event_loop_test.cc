// EventLoop's timers: a cancelled one neither runs nor wakes the loop, timers at one deadline
// are told apart, a past deadline runs at once, a future one not before its time. Times only
// ever err late here (a loaded machine delays a wake-up, it never advances one), so the bounds
// below are one-sided.
#include "duende/framework/event_loop.h"

#include <gtest/gtest.h>

#include <vector>

#include "duende/framework/clock.h"

namespace duende::framework {
namespace {

constexpr int64_t kMs = 1'000'000;

std::unique_ptr<EventLoop> NewLoop() {
  auto loop = EventLoop::Create();
  EXPECT_TRUE(loop.ok()) << loop.error().Message();
  return loop.ok() ? std::move(*loop) : nullptr;
}

// Runs iterations until `done` or `max_ms` of waiting.
void RunUntil(EventLoop& loop, const std::function<bool()>& done, int64_t max_ms = 3000) {
  const int64_t end = MonotonicNs() + max_ms * kMs;
  while (!done() && MonotonicNs() < end) ASSERT_TRUE(loop.RunOnce(100).ok());
}

TEST(EventLoopTest, ACancelledTimerNeitherRunsNorWakesTheLoop) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop);
  bool ran = false;
  auto id = loop->AddTimer(MonotonicNs() + 30 * kMs, [&] { ran = true; });
  EXPECT_NE(id, 0u);
  loop->CancelTimer(id);
  const int64_t t0 = MonotonicNs();
  ASSERT_TRUE(loop->RunOnce(300).ok());
  EXPECT_GE(MonotonicNs() - t0, 250 * kMs) << "woken by the cancelled deadline";
  EXPECT_FALSE(ran);
}

TEST(EventLoopTest, CancellingTheFirstTimerWaitsForTheNextOne) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop);
  bool first = false, second = false;
  const int64_t t0 = MonotonicNs();
  auto id = loop->AddTimer(t0 + 30 * kMs, [&] { first = true; });
  loop->AddTimer(t0 + 300 * kMs, [&] { second = true; });
  loop->CancelTimer(id);
  ASSERT_TRUE(loop->RunOnce(2000).ok());
  EXPECT_GE(MonotonicNs() - t0, 300 * kMs) << "woken at the cancelled deadline";
  RunUntil(*loop, [&] { return second; });
  EXPECT_TRUE(second);
  EXPECT_FALSE(first);
}

TEST(EventLoopTest, TimersAtTheSameDeadlineAreCancelledOneByOne) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop);
  const int64_t at = MonotonicNs() + 20 * kMs;
  bool a = false, b = false, c = false;
  loop->AddTimer(at, [&] { a = true; });
  auto idb = loop->AddTimer(at, [&] { b = true; });
  loop->AddTimer(at, [&] { c = true; });
  loop->CancelTimer(idb);
  RunUntil(*loop, [&] { return a && c; });
  EXPECT_TRUE(a);
  EXPECT_TRUE(c);
  EXPECT_FALSE(b);
}

TEST(EventLoopTest, APastOrZeroDeadlineRunsAtTheNextIteration) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop);
  bool zero = false, past = false;
  loop->AddTimer(0, [&] { zero = true; });
  loop->AddTimer(MonotonicNs() - kMs, [&] { past = true; });
  const int64_t t0 = MonotonicNs();
  RunUntil(
      *loop, [&] { return zero && past; }, 1000);
  EXPECT_TRUE(zero) << "a deadline of 0 must not disarm the timer";
  EXPECT_TRUE(past);
  EXPECT_LT(MonotonicNs() - t0, 900 * kMs);
}

TEST(EventLoopTest, FutureTimersRunInOrderNotBeforeTheirTimeWithoutSpinning) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop);
  const int64_t t0 = MonotonicNs();
  std::vector<std::pair<char, int64_t>> runs;
  loop->AddTimer(t0 + 150 * kMs, [&] { runs.emplace_back('b', MonotonicNs()); });
  loop->AddTimer(t0 + 50 * kMs, [&] { runs.emplace_back('a', MonotonicNs()); });
  const uint64_t wakeups_before = loop->wakeups();
  RunUntil(*loop, [&] { return runs.size() == 2; });
  ASSERT_EQ(runs.size(), 2u) << "the second timer needs the timerfd armed again";
  EXPECT_EQ(runs[0].first, 'a');
  EXPECT_GE(runs[0].second, t0 + 50 * kMs);
  EXPECT_EQ(runs[1].first, 'b');
  EXPECT_GE(runs[1].second, t0 + 150 * kMs);
  // Two deadlines, a few wake-ups: not a loop woken again and again before its time.
  EXPECT_LE(loop->wakeups() - wakeups_before, 6u);
}

TEST(EventLoopTest, PostedWorkRunsAndQuitEndsRunWhichCanRunAgain) {
  auto loop = NewLoop();
  ASSERT_TRUE(loop);
  int posted = 0;
  loop->Post([&] {
    ++posted;
    loop->Quit();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(posted, 1);
  loop->Post([&] {
    ++posted;
    loop->Quit();
  });
  ASSERT_TRUE(loop->Run().ok());
  EXPECT_EQ(posted, 2);
  // Nothing to do: an iteration with a timeout simply returns.
  EXPECT_TRUE(loop->RunOnce(10).ok());
}

}  // namespace
}  // namespace duende::framework
