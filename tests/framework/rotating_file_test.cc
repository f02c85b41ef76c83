#include "duende/framework/rotating_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "duende/framework/temp_dir.h"

namespace duende::framework {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class RotatingFileTest : public testing::Test {
 protected:
  void SetUp() override {
    auto made = framework::MakePrivateTempDir("duende-rotating");
    ASSERT_TRUE(made.ok()) << made.error().Message();
    dir_ = *made;
    path_ = (dir_ / "app.log").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string path_;
};

TEST_F(RotatingFileTest, RotatesBySizeAndKeepsN) {
  auto f = RotatingFile::Open(path_, 10, 2);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  for (char c : std::string("abcdefgh")) {
    ASSERT_TRUE(f->Write(std::string(4, c) + "\n").ok());  // 5 bytes: two lines per file
  }
  // 8 lines, 2 per file: gh in app.log, ef in .1, cd in .2, ab dropped.
  EXPECT_EQ(ReadAll(path_), "gggg\nhhhh\n");
  EXPECT_EQ(ReadAll(path_ + ".1"), "eeee\nffff\n");
  EXPECT_EQ(ReadAll(path_ + ".2"), "cccc\ndddd\n");
  EXPECT_FALSE(fs::exists(path_ + ".3"));
}

TEST_F(RotatingFileTest, AppendsToExistingFileAndCountsItsSize) {
  std::ofstream(path_) << "123456789";
  auto f = RotatingFile::Open(path_, 10, 1);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->size(), 9u);
  ASSERT_TRUE(f->Write("ab").ok());  // would be 11 > 10: rotates first
  EXPECT_EQ(ReadAll(path_ + ".1"), "123456789");
  EXPECT_EQ(ReadAll(path_), "ab");
}

TEST_F(RotatingFileTest, OversizedWriteGoesWholeIntoAFreshFile) {
  auto f = RotatingFile::Open(path_, 4, 1);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Write("xy").ok());
  ASSERT_TRUE(f->Write("0123456789").ok());
  EXPECT_EQ(ReadAll(path_), "0123456789");
  EXPECT_EQ(ReadAll(path_ + ".1"), "xy");
}

TEST_F(RotatingFileTest, KeepZeroTruncates) {
  auto f = RotatingFile::Open(path_, 4, 0);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Write("abc").ok());
  ASSERT_TRUE(f->Write("de").ok());
  EXPECT_EQ(ReadAll(path_), "de");
  EXPECT_FALSE(fs::exists(path_ + ".1"));
}

TEST_F(RotatingFileTest, FdFollowsRotation) {
  auto f = RotatingFile::Open(path_, 4, 1);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->Write("abcd").ok());
  ASSERT_TRUE(f->Rotate().ok());
  ASSERT_EQ(::write(f->fd(), "zz", 2), 2);
  EXPECT_EQ(ReadAll(path_), "zz");
  EXPECT_EQ(ReadAll(path_ + ".1"), "abcd");
}

TEST_F(RotatingFileTest, OpenFailsWithErrno) {
  auto f = RotatingFile::Open((dir_ / "missing" / "x.log").string(), 10, 1);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code.value(), ENOENT);
}

}  // namespace
}  // namespace duende::framework
