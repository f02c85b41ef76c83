// Reads with a ceiling (read_limits.h) and the private temporary directories (temp_dir.h).
#include "duende/framework/read_limits.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>

#include "duende/framework/temp_dir.h"
#include "support/temp_dir.h"

namespace duende::framework {
namespace {

TEST(ReadFileLimitedTest, AFileOfExactlyTheLimitIsReadAndOneByteMoreIsRefused) {
  testing::TempDir tmp("read-limits");
  const std::string at = tmp.Write("at", std::string(100, 'x'));
  const std::string over = tmp.Write("over", std::string(101, 'x'));
  auto ok = ReadFileLimited(at, 100);
  ASSERT_TRUE(ok.ok()) << ok.error().Message();
  EXPECT_EQ(ok->size(), 100u);
  auto big = ReadFileLimited(over, 100);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, std::errc::file_too_large);
  EXPECT_NE(big.error().Message().find(over + " is larger than 100 bytes"), std::string::npos);
  auto missing = ReadFileLimited(tmp / "missing", 100);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
}

TEST(GetLineLimitedTest, LinesAreCutAtTheLimitAndTheCutIsCounted) {
  std::istringstream in("abc\ndefgh\n\nxy");
  std::string line = "left over";
  size_t cut = 99;
  ASSERT_TRUE(GetLineLimited(in, &line, 3, &cut));
  EXPECT_EQ(line, "abc");
  EXPECT_EQ(cut, 0u);
  ASSERT_TRUE(GetLineLimited(in, &line, 3, &cut));
  EXPECT_EQ(line, "def");
  EXPECT_EQ(cut, 2u);
  ASSERT_TRUE(GetLineLimited(in, &line, 3, &cut));
  EXPECT_EQ(line, "") << "an empty line is a line";
  ASSERT_TRUE(GetLineLimited(in, &line, 3));
  EXPECT_EQ(line, "xy") << "the last line needs no newline";
  EXPECT_TRUE(in.eof());
  EXPECT_FALSE(in.fail());
  EXPECT_FALSE(GetLineLimited(in, &line, 3, &cut));
  EXPECT_EQ(line, "");
  EXPECT_TRUE(in.fail()) << "like std::getline, nothing read sets failbit";
}

// TempDir() is $TMPDIR, or /tmp when it is unset or empty.
TEST(TempDirTest, IsTmpdirOrTmp) {
  const char* was = std::getenv("TMPDIR");
  const std::optional<std::string> saved = was ? std::optional<std::string>(was) : std::nullopt;
  ::setenv("TMPDIR", "/var/tmp", 1);
  EXPECT_EQ(TempDir(), "/var/tmp");
  ::setenv("TMPDIR", "", 1);
  EXPECT_EQ(TempDir(), "/tmp");
  ::unsetenv("TMPDIR");
  EXPECT_EQ(TempDir(), "/tmp");
  if (saved) ::setenv("TMPDIR", saved->c_str(), 1);
}

TEST(TempDirTest, AMovedDirectoryHasOneOwnerAndAssignmentRemovesTheOldOne) {
  auto a = PrivateTempDir::Make("duende-test-move");
  auto b = PrivateTempDir::Make("duende-test-move");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string pa = a->path(), pb = b->path();
  *a = std::move(*b);
  EXPECT_FALSE(std::filesystem::exists(pa)) << "the directory a held is removed";
  EXPECT_EQ(a->path(), pb);
  EXPECT_EQ(b->path(), "") << "the moved-from directory owns nothing";
  PrivateTempDir& self = *a;
  *a = std::move(self);
  EXPECT_EQ(a->path(), pb) << "moving onto itself keeps it";
  EXPECT_TRUE(std::filesystem::is_directory(pb));
  { PrivateTempDir c(std::move(*a)); }
  EXPECT_FALSE(std::filesystem::exists(pb)) << "its last owner removed it";
}

}  // namespace
}  // namespace duende::framework
