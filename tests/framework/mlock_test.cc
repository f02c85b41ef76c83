// Memory locking checked against the kernel's own account (VmLck), in child processes so the
// test process itself is never locked.
#include "duende/framework/mlock.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "daemon_test_util.h"
#include "duende/framework/exit_code.h"
#include "support/sanitizer_skip.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;
using testing_util::Proc;
using testing_util::TempDir;

constexpr uid_t kNobody = 65534;

// Runs LockMemory() in a forked child and prints "state bytes error vmlck-after-touch".
Proc ForkLocker(const TempDir& dir, bool on_fault, bool as_nobody) {
  return Proc::Fork(
      [on_fault, as_nobody] {
        if (as_nobody) {
          rlimit lim{64 * 1024, 64 * 1024};
          if (::setrlimit(RLIMIT_MEMLOCK, &lim) != 0 || ::setgid(kNobody) != 0 ||
              ::setuid(kNobody) != 0) {
            return 99;
          }
        }
        MlockStatus s = LockMemory(MlockOptions{on_fault});
        // Touch 16MiB: with MCL_FUTURE (and ONFAULT) these pages must be locked too.
        std::vector<char> block(16u << 20);
        std::memset(block.data(), 1, block.size());
        auto after = LockedBytes();
        std::printf("state=%d bytes=%llu error=%d after=%llu\n", static_cast<int>(s.state),
                    static_cast<unsigned long long>(s.bytes), s.error,
                    static_cast<unsigned long long>(after.ok() ? *after : 0));
        std::fflush(stdout);
        return 0;
      },
      dir / "stderr");
}

struct Reported {
  int state = -1;
  unsigned long long bytes = 0;
  int error = 0;
  unsigned long long after = 0;
};

Reported Read(Proc& p) {
  Reported r;
  auto line = p.WaitLine("state=");
  EXPECT_TRUE(line) << p.Stderr();
  if (line)
    std::sscanf(line->c_str(), "state=%d bytes=%llu error=%d after=%llu", &r.state, &r.bytes,
                &r.error, &r.after);
  EXPECT_TRUE(p.Wait(10s));
  return r;
}

bool Root() { return ::geteuid() == 0; }

// The sanitizers reserve terabytes of shadow address space: locking is only testable in a
// plain build.
#define DUENDE_SKIP_UNDER_ASAN() DUENDE_SKIP_UNDER_SANITIZER("mlock(all) cannot be tested")

TEST(MlockTest, LockedStatusMatchesVmLck) {
  DUENDE_SKIP_UNDER_ASAN();
  if (!Root()) GTEST_SKIP() << "needs CAP_IPC_LOCK (root) to lock more than RLIMIT_MEMLOCK";
  TempDir dir;
  Proc p = ForkLocker(dir, /*on_fault=*/false, /*as_nobody=*/false);
  Reported r = Read(p);
  EXPECT_EQ(r.state, static_cast<int>(MlockStatus::State::kLocked));
  EXPECT_GT(r.bytes, 1u << 20) << "VmLck shows (almost) nothing locked";
  EXPECT_GE(r.after, r.bytes + (16u << 20)) << "MCL_FUTURE did not lock the new 16MiB";
}

TEST(MlockTest, OnFaultLocksPagesAsTheyAreTouched) {
  DUENDE_SKIP_UNDER_ASAN();
  if (!Root()) GTEST_SKIP() << "needs CAP_IPC_LOCK (root)";
  TempDir dir;
  Proc p = ForkLocker(dir, /*on_fault=*/true, /*as_nobody=*/false);
  Reported r = Read(p);
  EXPECT_EQ(r.state, static_cast<int>(MlockStatus::State::kLocked));
  EXPECT_GE(r.after, r.bytes + (16u << 20));
}

TEST(MlockTest, FailsUnderALowLimitWithoutCapIpcLock) {
  if (!Root()) GTEST_SKIP() << "needs root to switch to 'nobody'";
  TempDir dir;
  Proc p = ForkLocker(dir, false, /*as_nobody=*/true);
  Reported r = Read(p);
  EXPECT_EQ(r.state, static_cast<int>(MlockStatus::State::kFailed));
  EXPECT_TRUE(r.error == ENOMEM || r.error == EPERM || r.error == EAGAIN) << r.error;
  EXPECT_EQ(r.after, 0u) << "VmLck shows locked pages although mlockall failed";
}

TEST(MlockTest, RemedyNamesTheLimitAndEveryWayToRaiseIt) {
  std::string remedy = MlockRemedy(ENOMEM);
  for (const char* part : {"RLIMIT_MEMLOCK", "CAP_IPC_LOCK", "LimitMEMLOCK=infinity",
                           "--ulimit memlock=-1", "ulimit -l unlimited", "lock_memory_required"}) {
    EXPECT_NE(remedy.find(part), std::string::npos) << part << " missing in: " << remedy;
  }
}

Proc StartKvdAsNobody(const TempDir& dir, const std::string& env) {
  return Proc::Start({KVD_PATH, "--port", "0", "--data-dir", dir.path()}, dir / "stderr", {env},
                     {RlimitSetting{RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024}}, kNobody);
}

TEST(MlockTest, RequiredModeExitsWithTheRemedyWhenTheLimitIsTooLow) {
  if (!Root()) GTEST_SKIP() << "needs root to start kvd as 'nobody'";
  TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  Proc kvd = StartKvdAsNobody(dir, "DUENDE_MLOCK_REQUIRED=1");
  auto s = kvd.Wait(10s);
  ASSERT_TRUE(s) << "kvd ran although the required mlock cannot succeed";
  EXPECT_EQ(s->code, kExitEnvironment) << s->ToString();
  std::string err = kvd.Stderr();
  EXPECT_NE(err.find("lock_memory_required: mlockall failed"), std::string::npos) << err;
  EXPECT_NE(err.find("RLIMIT_MEMLOCK is 64 KiB"), std::string::npos) << err;
  EXPECT_NE(err.find("LimitMEMLOCK=infinity"), std::string::npos) << err;
  EXPECT_FALSE(kvd.WaitLine("listening", 100ms));
}

TEST(MlockTest, OptionalModeWarnsAndRunsUnlocked) {
  if (!Root()) GTEST_SKIP() << "needs root to start kvd as 'nobody'";
  TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  Proc kvd = StartKvdAsNobody(dir, "DUENDE_MLOCK=1");
  ASSERT_NE(kvd.WaitListening(), 0) << kvd.Stderr();
  EXPECT_NE(kvd.Stderr().find("warn: running without locked memory"), std::string::npos)
      << kvd.Stderr();
  auto locked = LockedBytesOf(kvd.pid());
  ASSERT_TRUE(locked.ok());
  EXPECT_EQ(*locked, 0u);
}

TEST(MlockTest, KvdLocksItsMemoryWhenPermitted) {
  DUENDE_SKIP_UNDER_ASAN();
  if (!Root()) GTEST_SKIP() << "needs CAP_IPC_LOCK (root)";
  TempDir dir;
  Proc kvd = Proc::Start({KVD_PATH, "--port", "0", "--data-dir", dir.path()}, dir / "stderr",
                         {"DUENDE_MLOCK_REQUIRED=1"});
  ASSERT_NE(kvd.WaitListening(), 0) << kvd.Stderr();
  EXPECT_NE(kvd.Stderr().find("info: memory locked"), std::string::npos) << kvd.Stderr();
  auto locked = LockedBytesOf(kvd.pid());
  ASSERT_TRUE(locked.ok());
  EXPECT_GT(*locked, 1u << 20);
}

}  // namespace
}  // namespace duende::framework
