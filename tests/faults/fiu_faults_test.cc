// syscall and disk faults against the kvd fixture: its WAL write gets ENOSPC and kvd answers
// an error instead of acknowledging; the full private tmpfs does the same.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "fault_test_util.h"
#include "test_util.h"

namespace duende::faults {
namespace {

using testing::MakeFault;

struct Kvd {
  std::unique_ptr<testing::TestChild> child;
  uint16_t port = 0;
  std::string dir;
  std::string prefix;
  ~Kvd() {
    child.reset();
    if (!prefix.empty()) RemoveFiuFifos(prefix);
    std::filesystem::remove_all(dir);
  }
};

std::unique_ptr<Kvd> StartKvd(bool fiu, uint64_t tmpfs_bytes = 0) {
  auto k = std::make_unique<Kvd>();
  char tmpl[] = "/tmp/duende-fiu-test-XXXXXX";
  k->dir = ::mkdtemp(tmpl);
  framework::SpawnOptions o;
  o.argv = {KVD_PATH, "--port", "0", "--data-dir", k->dir};
  o.stderr_fd = -1;
  if (fiu) {
    k->prefix = k->dir + "/fiu";
    EXPECT_TRUE(PrepareFiuSpawn(o, k->prefix, 42, nullptr).ok());
  }
  if (tmpfs_bytes > 0) {
    EXPECT_TRUE(PreparePrivateTmpfs(o, k->dir, tmpfs_bytes).ok());
  }
  auto c = testing::StartChild(o);
  EXPECT_TRUE(c.ok()) << c.error().Message();
  if (!c.ok()) return nullptr;
  k->child = std::move(*c);
  k->port = testing::PortOf(k->child->WaitLine("listening on"));
  EXPECT_NE(k->port, 0);
  return k;
}

TEST(SyscallFaultTest, KvdWalWriteGetsEnospcAndKvdAnswersAnError) {
  if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed";
  auto kvd = StartKvd(true);
  ASSERT_TRUE(kvd && kvd->port != 0);
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(kvd->port));
  EXPECT_EQ(c.Request("SET a 1"), "OK");
  FaultEnv env;
  auto f = MakeFault("syscall", "point = \"posix/io/rw/write\"\nerrno = \"ENOSPC\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  TargetRef t{"kvd", kvd->child->child.pid, kvd->child->child.pid, "", kvd->prefix, kvd->port};
  ASSERT_TRUE((*f)->Inject(t).ok());
  std::string reply = c.Request("SET b 2");
  EXPECT_EQ(reply.rfind("ERR", 0), 0u) << reply;
  EXPECT_NE(reply.find("No space left"), std::string::npos) << reply;
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(c.Request("SET c 3"), "OK");
  EXPECT_EQ(c.Request("GET c"), "VALUE 3");
  EXPECT_NE(c.Request("GET b").rfind("VALUE 2", 0), 0u);  // the failed SET was not applied
}

TEST(SyscallFaultTest, OnetimeFailsOnlyTheNextCall) {
  if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed";
  auto kvd = StartKvd(true);
  ASSERT_TRUE(kvd && kvd->port != 0);
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(kvd->port));
  FaultEnv env;
  // fsync, not write: kvd's threads also write(2) to sockets and eventfds, and a one-time
  // write fault may land on one of those first; only the WAL is fsynced.
  auto f =
      MakeFault("syscall", "point = \"posix/io/sync/fsync\"\nerrno = \"EIO\"\nonetime = true", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject({"kvd", kvd->child->child.pid, -1, "", kvd->prefix, 0}).ok());
  std::string first = c.Request("SET a 1");
  EXPECT_NE(first.find("Input/output error"), std::string::npos) << first;
  EXPECT_EQ(c.Request("SET a 2"), "OK");
  EXPECT_TRUE((*f)->Heal().ok());
}

TEST(SyscallFaultTest, TargetNotUnderLibfiuIsAClearError) {
  auto kvd = StartKvd(false);
  ASSERT_TRUE(kvd);
  FaultEnv env;
  auto f = MakeFault("syscall", "point = \"posix/io/rw/write\"", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject({"kvd", kvd->child->child.pid, -1, "", "", 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("not started under libfiu"), std::string::npos);
}

TEST(FiuCommandTest, ReportsLibfiuErrorsThatFiuCtrlHides) {
  if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed";
  auto kvd = StartKvd(true);
  ASSERT_TRUE(kvd);
  pid_t pid = kvd->child->child.pid;
  EXPECT_TRUE(FiuCommand(kvd->prefix, pid, "enable name=posix/io/rw/read,failinfo=5").ok());
  EXPECT_TRUE(FiuCommand(kvd->prefix, pid, "disable name=posix/io/rw/read").ok());
  auto bad = FiuCommand(kvd->prefix, pid, "disable name=never/enabled");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("libfiu refused"), std::string::npos);
}

TEST(DiskFaultTest, EnospcModeFailsTheWal) {
  if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed";
  auto kvd = StartKvd(true);
  ASSERT_TRUE(kvd && kvd->port != 0);
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(kvd->port));
  FaultEnv env;
  auto f = MakeFault("disk", "mode = \"enospc\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"kvd", kvd->child->child.pid, -1, "", kvd->prefix, 0}).ok());
  EXPECT_NE(c.Request("SET a 1").find("No space left"), std::string::npos);
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(c.Request("SET a 1"), "OK");
}

TEST(DiskFaultTest, FullPrivateTmpfsFailsTheWalUntilHealed) {
  if (::geteuid() != 0) GTEST_SKIP() << "a private mount namespace needs root here";
  auto kvd = StartKvd(false, 1 << 20);
  ASSERT_TRUE(kvd && kvd->port != 0);
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(kvd->port));
  EXPECT_EQ(c.Request("SET a 1"), "OK");
  FaultEnv env;
  auto f = MakeFault("disk", "mode = \"full\"\npath = \"" + kvd->dir + "\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"kvd", kvd->child->child.pid, -1, "", "", 0}).ok());
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  std::string big(9000, 'x');
  EXPECT_NE(c.Request("SET b " + big).find("No space left"), std::string::npos);
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(c.Request("SET b 2"), "OK");
  // The host never saw the tmpfs: the directory is empty here.
  EXPECT_TRUE(std::filesystem::is_empty(kvd->dir));
}

TEST(DiskFaultTest, FullModeWithoutPrivateTmpfsIsAClearError) {
  auto kvd = StartKvd(false);
  ASSERT_TRUE(kvd);
  FaultEnv env;
  auto f = MakeFault("disk", "mode = \"full\"\npath = \"" + kvd->dir + "\"", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject({"kvd", kvd->child->child.pid, -1, "", "", 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("PreparePrivateTmpfs"), std::string::npos);
}

}  // namespace
}  // namespace duende::faults
