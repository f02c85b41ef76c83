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

}  // namespace
}  // namespace duende::framework
