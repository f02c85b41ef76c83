// Where run-time files are looked up (install_location.h), the private directories duende
// creates for what it later trusts (private_dir.h), and the names spawn errors give sandbox
// steps (sandbox.h).
#include <errno.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "duende/framework/install_location.h"
#include "duende/framework/private_dir.h"
#include "duende/framework/sandbox.h"
#include "support/temp_dir.h"

namespace {

using duende::framework::EnsurePrivateDir;
using duende::framework::FindRuntimeFile;
using duende::framework::RuntimeDir;
using duende::framework::RuntimeDirs;
using duende::framework::SandboxStep;
using duende::framework::SandboxStepName;

const std::string kBuild = DUENDE_BINARY_DIR;

// A test program in the build tree is not under an install prefix (its PREFIX/lib/duende and
// PREFIX/libexec/duende do not exist and are left out); what it has are the build tree's
// directories recorded when it was linked, in their order, each kind its own.
TEST(RuntimeDirsTest, ABuildTreeProgramHasTheBuildTreesDirectoriesOfEachKind) {
  EXPECT_EQ(RuntimeDirs(RuntimeDir::kPrograms),
            (std::vector<std::string>{kBuild + "/fixtures", kBuild + "/adapters"}));
  EXPECT_EQ(RuntimeDirs(RuntimeDir::kLibrary), (std::vector<std::string>{kBuild + "/faults"}));
}

TEST(RuntimeDirsTest, AFileIsFoundInTheFirstDirectoryHoldingItWithTheMode) {
  // In the first directory, in the second, and in none.
  EXPECT_EQ(FindRuntimeFile(RuntimeDir::kPrograms, "duende-fixture-stamp", X_OK),
            kBuild + "/fixtures/duende-fixture-stamp");
  EXPECT_EQ(FindRuntimeFile(RuntimeDir::kPrograms, "duende-microvm-init", X_OK),
            kBuild + "/adapters/duende-microvm-init");
  EXPECT_EQ(FindRuntimeFile(RuntimeDir::kPrograms, "no-such-program", F_OK), "");
  // Each kind looks only in its own directories.
  EXPECT_EQ(FindRuntimeFile(RuntimeDir::kLibrary, "libduende-fiu-shim.so", R_OK),
            kBuild + "/faults/libduende-fiu-shim.so");
  EXPECT_EQ(FindRuntimeFile(RuntimeDir::kLibrary, "duende-fixture-stamp", F_OK), "");
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST(EnsurePrivateDirTest, CreatesEveryMissingLevelWithMode0700AndLeavesExistingOnes) {
  duende::testing::TempDir tmp("private-dir");
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
  const std::string leaf = tmp / "a/b/c";
  auto r = EnsurePrivateDir(leaf);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(ModeOf(tmp / "a"), 0700u);
  EXPECT_EQ(ModeOf(tmp / "a/b"), 0700u);
  EXPECT_EQ(ModeOf(leaf), 0700u);
  EXPECT_EQ(ModeOf(tmp.path()), 0755u) << "an existing parent is left as it is";
  // Again, with every level there: nothing to do, no error.
  EXPECT_TRUE(EnsurePrivateDir(leaf).ok());
  // A trailing slash names the same directory.
  EXPECT_TRUE(EnsurePrivateDir(tmp / "a/b/d/").ok());
  EXPECT_EQ(ModeOf(tmp / "a/b/d"), 0700u);
}

TEST(EnsurePrivateDirTest, AFileInThePathIsMkdirsErrorNamingThatLevel) {
  duende::testing::TempDir tmp("private-dir");
  tmp.Write("file", "x");
  auto r = EnsurePrivateDir(tmp / "file/sub");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::not_a_directory) << r.error().Message();
  EXPECT_NE(r.error().Message().find(tmp / "file/sub"), std::string::npos) << r.error().Message();
}

TEST(EnsurePrivateDirTest, AnExistingDirectoryOpenToOthersIsRefused) {
  duende::testing::TempDir tmp("private-dir");
  ASSERT_EQ(::mkdir((tmp / "open").c_str(), 0755), 0);
  auto r = EnsurePrivateDir(tmp / "open");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::operation_not_permitted) << r.error().Message();
  EXPECT_NE(r.error().Message().find("mode 0755"), std::string::npos) << r.error().Message();
}

// A spawn error names the sandbox step that failed; each step its own words.
TEST(SandboxStepNameTest, EachStepHasItsOwnName) {
  const std::vector<std::pair<SandboxStep, std::string>> names = {
      {SandboxStep::kNone, "sandbox"},
      {SandboxStep::kMountNamespace, "sandbox: mount namespace"},
      {SandboxStep::kReadOnly, "sandbox: read-only bind mount"},
      {SandboxStep::kPrivateTmp, "sandbox: private /tmp"},
      {SandboxStep::kNetwork, "sandbox: network namespace"},
      {SandboxStep::kBoundingSet, "sandbox: capability bounding set"},
      {SandboxStep::kKeepCaps, "sandbox: prctl(PR_SET_KEEPCAPS)"},
      {SandboxStep::kCapabilities, "sandbox: capabilities"},
      {SandboxStep::kNoNewPrivileges, "sandbox: prctl(PR_SET_NO_NEW_PRIVS)"},
      {SandboxStep::kSeccomp, "sandbox: seccomp filter"},
  };
  for (const auto& [step, name] : names) {
    const char* got = SandboxStepName(step);
    ASSERT_NE(got, nullptr) << static_cast<int>(step);
    EXPECT_EQ(std::string(got), name);
  }
  EXPECT_EQ(std::string(SandboxStepName(static_cast<SandboxStep>(99))), "sandbox");
}

}  // namespace
