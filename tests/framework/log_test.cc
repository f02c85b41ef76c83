// The framework's log (log.h): one line per message, its timestamp, name, pid and level, the
// level filter, and the way back to stderr.
#include "duende/framework/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <regex>
#include <string>

#include "duende/framework/clock.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace duende::framework {
namespace {

// The line's time as wall-clock milliseconds (UTC), or -1 when it has none.
int64_t LineMs(const std::string& line) {
  std::smatch m;
  static const std::regex kTime(R"(^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z )");
  if (!std::regex_search(line, m, kTime)) return -1;
  struct tm tm {};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  return static_cast<int64_t>(timegm(&tm)) * 1000 + std::stoi(m[7]);
}

TEST(LogTest, ALineCarriesTimeNamePidAndLevelAndOnlyLevelsAtTheThresholdPass) {
  testing::TempDir tmp("log");
  LogConfig c;
  c.file = tmp / "d.log";
  c.level = LogConfig::Level::kInfo;
  ASSERT_TRUE(ConfigureLog("kvd", c).ok());
  EXPECT_FALSE(LogEnabled(LogConfig::Level::kDebug));
  EXPECT_TRUE(LogEnabled(LogConfig::Level::kInfo));
  EXPECT_TRUE(LogEnabled(LogConfig::Level::kError));
  const int64_t before_ms = WallClockNs() / 1'000'000;
  LogDebug("not written");
  LogInfo("two\nlines");
  LogError("bad");
  const int64_t after_ms = WallClockNs() / 1'000'000;
  const std::string text = testing::ReadFile(c.file);
  const std::string pid = std::to_string(::getpid());
  const std::regex kLines(R"(^\S+ kvd\[)" + pid + R"(\] info: two\\nlines\n\S+ kvd\[)" + pid +
                          R"(\] error: bad\n$)");
  EXPECT_TRUE(std::regex_match(text, kLines)) << text;
  const int64_t at = LineMs(text);
  EXPECT_GE(at, before_ms) << text;
  EXPECT_LE(at, after_ms) << text;

  // Back to stderr: the file gets nothing more.
  ResetLog();
  LogError("to stderr");
  EXPECT_EQ(testing::ReadFile(c.file), text);
  ASSERT_TRUE(ConfigureLog("", LogConfig{}).ok());
}

TEST(LogTest, AnUnopenableFileKeepsThePreviousDestination) {
  testing::TempDir tmp("log");
  LogConfig c;
  c.file = tmp / "first.log";
  ASSERT_TRUE(ConfigureLog("a", c).ok());
  LogConfig bad;
  bad.file = tmp / "missing-dir/x.log";
  EXPECT_FALSE(ConfigureLog("b", bad).ok());
  LogWarn("still here");
  EXPECT_NE(testing::ReadFile(c.file).find(" a["), std::string::npos);
  ResetLog();
  ASSERT_TRUE(ConfigureLog("", LogConfig{}).ok());
}

}  // namespace
}  // namespace duende::framework
