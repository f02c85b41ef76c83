// ReadProcessInfo against /proc/self/stat read by hand (proc(5) numbers the fields from 1).
#include "duende/framework/proc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace duende::framework {
namespace {

std::vector<std::string> StatFieldsAfterComm() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> out;
  for (std::string f; rest >> f;) out.push_back(f);
  return out;  // out[0] is field 3
}

TEST(ProcTest, ReadProcessInfoReadsTheFieldsProcNumbers) {
  auto info = ReadProcessInfo(::getpid());
  ASSERT_TRUE(info.ok()) << info.error().Message();
  const auto f = StatFieldsAfterComm();
  ASSERT_GT(f.size(), 20u);
  EXPECT_EQ(info->state, f[0][0]);
  EXPECT_EQ(info->ppid, ::getppid());
  EXPECT_EQ(info->pgid, ::getpgrp());
  EXPECT_EQ(info->sid, ::getsid(0));
  EXPECT_EQ(std::to_string(info->start_time), f[22 - 3]);  // field 22: starttime
  EXPECT_GT(info->start_time, 0u);
}

TEST(ProcTest, AGoneProcessIsAnError) {
  EXPECT_FALSE(ReadProcessInfo(0).ok());
  EXPECT_FALSE(ReadProcessInfo(-1).ok());
}

TEST(ProcTest, StatusKbReadsTheKbLinesOfStatus) {
  auto all = ReadStatusKb(0);
  ASSERT_TRUE(all.ok()) << all.error().Message();
  ASSERT_TRUE(all->contains("VmRSS"));
  EXPECT_GT(all->at("VmRSS"), 0u);
  EXPECT_FALSE(all->contains("Pid")) << "only the kB lines";
  auto rss = StatusKb(::getpid(), "VmRSS");
  ASSERT_TRUE(rss.ok());
  EXPECT_GT(*rss, 0u);
  auto none = StatusKb(0, "NoSuchLine");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code.value(), ENODATA);
  auto gone = StatusKb(1 << 30, "VmRSS");  // above pid_max
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code.value(), ENOENT);
}

TEST(ProcTest, CountOpenFdsCountsOurDescriptors) {
  auto before = CountOpenFds(::getpid());
  ASSERT_TRUE(before.ok()) << before.error().Message();
  int a = ::dup(1);
  int b = ::dup(1);
  auto after = CountOpenFds(0);
  ::close(a);
  ::close(b);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, *before + 2);
  EXPECT_FALSE(CountOpenFds(1 << 30).ok());
}

}  // namespace
}  // namespace duende::framework
