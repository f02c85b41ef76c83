// Reading strace -f -ttt -T output and the report's figures from it (syscall_trace.h).
#include "duende/harness/syscall_trace.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace duende::harness {
namespace {

// strace's wall time 1000.000000 s is monotonic 0 with this offset.
constexpr int64_t kOffset = 1000LL * 1000000000;

std::vector<SyscallRecord> ParseAll(const std::vector<std::string>& lines) {
  StraceParser p(kOffset);
  std::vector<SyscallRecord> out;
  for (const auto& l : lines) {
    if (auto r = p.Feed(l)) out.push_back(*r);
  }
  return out;
}

TEST(StraceParserTest, ReadsFailedCallWithErrnoAndDuration) {
  auto c =
      ParseAll({"4242  1000.250000 fsync(5) = -1 ENOSPC (No space left on device) "
                "<0.000120>"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].tid, 4242);
  EXPECT_EQ(c[0].start_ns, 250'000'000);
  EXPECT_EQ(c[0].name, "fsync");
  EXPECT_EQ(c[0].args, "5");
  EXPECT_EQ(c[0].ret, "-1");
  EXPECT_EQ(c[0].err, "ENOSPC");
  EXPECT_EQ(c[0].dur_ns, 120'000);
}

TEST(StraceParserTest, ParenthesesAndEqualsInsideStringsDoNotConfuseIt) {
  auto c =
      ParseAll({"7 1000.000001 write(4, \"a) = -1 EIO (x\\\" <1.0>\\n\", 12) = 12 <0.000010>"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "write");
  EXPECT_EQ(c[0].ret, "12");
  EXPECT_EQ(c[0].err, "");
  EXPECT_EQ(c[0].dur_ns, 10'000);
}

TEST(StraceParserTest, JoinsUnfinishedWithResumedPerThread) {
  auto c = ParseAll({
      "10 1000.100000 epoll_wait(3,  <unfinished ...>",
      "11 1000.100500 write(6, \"OK\\n\", 3 <unfinished ...>",
      "10 1000.200000 <... epoll_wait resumed>[{events=EPOLLIN, data={u32=5, u64=5}}], 64, -1) "
      "= 1 <0.100000>",
      "11 1000.100600 <... write resumed>) = 3 <0.000100>",
  });
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].name, "epoll_wait");
  EXPECT_EQ(c[0].tid, 10);
  EXPECT_EQ(c[0].start_ns, 100'000'000);  // when it began, not when it resumed
  EXPECT_EQ(c[0].ret, "1");
  EXPECT_EQ(c[1].name, "write");
  EXPECT_EQ(c[1].args, "6, \"OK\\n\", 3");
  EXPECT_EQ(c[1].ret, "3");
}

TEST(StraceParserTest, IgnoresSignalsExitsAndStraceMessages) {
  auto c = ParseAll({"strace: Process 5 attached", "5 1000.1 --- SIGTERM {si_signo=SIGTERM} ---",
                     "5 1000.100000 +++ killed by SIGKILL +++", "garbage", "",
                     "5 1000.100000 exit_group(0) = ?"});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].name, "exit_group");
  EXPECT_EQ(c[0].ret, "?");
  EXPECT_EQ(c[0].dur_ns, -1);
}

TEST(SyscallSummaryTest, CountsErrorsAndPercentiles) {
  std::vector<SyscallRecord> calls;
  for (int i = 1; i <= 100; ++i) {
    calls.push_back({1, i * 1000, i * 1000, "write", "", i % 10 == 0 ? "-1" : "3",
                     i % 10 == 0 ? "ENOSPC" : ""});
  }
  calls.push_back({1, 0, 5000, "read", "", "-1", "EAGAIN"});  // not an error worth showing
  auto s = SummarizeSyscalls(calls);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]["name"], "write");
  EXPECT_EQ(s[0]["count"], 100);
  EXPECT_EQ(s[0]["errors"], 10);
  EXPECT_EQ(s[0]["errnos"]["ENOSPC"], 10);
  EXPECT_NEAR(s[0]["p50_us"].get<double>(), 50.0, 1.0);
  EXPECT_NEAR(s[0]["p99_us"].get<double>(), 99.0, 1.0);
  EXPECT_EQ(s[1]["name"], "read");
  EXPECT_EQ(s[1]["errors"], 0);
}

TEST(SyscallWindowTest, FailedAndSlowCallsInsideTheWindowWithWhatFollowed) {
  std::vector<SyscallRecord> calls = {
      {1, 10, 5, "write", "5, ...", "-1", "ENOSPC"},             // before the window
      {1, 100, 5, "write", "5, ...", "-1", "ENOSPC"},            // in it
      {2, 101, 5, "sendto", "9, ...", "4", ""},                  // another thread
      {1, 102, 5, "write", "7, \"ERR No space\\n\"", "14", ""},  // the reply
      {1, 103, 50'000'000, "epoll_wait", "", "1", ""},           // waiting, never slow
      {1, 104, 50'000'000, "fsync", "5", "0", ""},               // slow
      {1, 900, 5, "write", "5, ...", "-1", "ENOSPC"},            // after it
  };
  auto w = WindowCalls(calls, 100, 500, 10'000'000, 2);
  EXPECT_EQ(w["failed"], 1);
  EXPECT_EQ(w["slow"], 1);
  ASSERT_EQ(w["calls"].size(), 2u);
  EXPECT_EQ(w["calls"][0]["why"], "failed");
  EXPECT_EQ(w["calls"][0]["errno"], "ENOSPC");
  ASSERT_EQ(w["calls"][0]["next"].size(), 2u);
  EXPECT_EQ(w["calls"][0]["next"][0]["name"], "write");  // same thread only: not sendto
  EXPECT_EQ(w["calls"][0]["next"][0]["ret"], "14");
  EXPECT_EQ(w["calls"][1]["why"], "slow");
  EXPECT_EQ(w["calls"][1]["name"], "fsync");
}

TEST(SyscallNamesTest, KnowsSyscallsAndStraceClasses) {
  EXPECT_TRUE(IsTraceableSyscall("fsync"));
  EXPECT_TRUE(IsTraceableSyscall("pwrite64"));
  EXPECT_TRUE(IsTraceableSyscall("%network"));
  EXPECT_FALSE(IsTraceableSyscall("fsynk"));
  EXPECT_FALSE(IsTraceableSyscall(""));
  EXPECT_FALSE(IsTraceableSyscall("write,read"));
  EXPECT_FALSE(IsTraceableSyscall("%bogus"));
}

}  // namespace
}  // namespace duende::harness
