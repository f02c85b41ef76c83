// syscall and disk faults against the kvd fixture: its WAL write gets ENOSPC and kvd answers
// an error instead of acknowledging; the full private tmpfs does the same.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "support/fault_child.h"
#include "support/fault_make.h"

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
  // The shim saw the point fire: counted, and the failed call logged with its errno.
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_GE(rec.effects, 1) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("of posix/io/rw/write failed with ENOSPC"), std::string::npos)
      << testing::Joined(rec);
}

// The shim (faults/shim/fiu_shim.c) is what makes firing observable: without it these tests
// would have nothing to assert but the target's reaction.
class FiuShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed";
    ASSERT_FALSE(FiuShimPath().empty()) << "libduende-fiu-shim.so was not built";
    kvd_ = StartKvd(true);
    ASSERT_TRUE(kvd_ && kvd_->port != 0);
    ASSERT_TRUE(client_.Connect(kvd_->port));
    ASSERT_EQ(client_.Request("SET warm 1"), "OK");
  }
  TargetRef Target() const { return {"kvd", kvd_->child->child.pid, -1, "", kvd_->prefix, 0}; }

  std::unique_ptr<Kvd> kvd_;
  testing::LineClient client_;
};

TEST_F(FiuShimTest, NthFailsExactlyThatCallAndLogsIt) {
  FaultEnv env;
  // One fsync per acknowledged SET (requests are sequential): the 3rd SET's fsync fails.
  auto f = MakeFault("syscall", "point = \"posix/io/sync/fsync\"\nerrno = \"EIO\"\nnth = 3", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  EXPECT_EQ(client_.Request("SET a 1"), "OK");
  EXPECT_EQ(client_.Request("SET a 2"), "OK");
  std::string third = client_.Request("SET a 3");
  EXPECT_NE(third.find("Input/output error"), std::string::npos) << third;
  EXPECT_EQ(client_.Request("SET a 4"), "OK");
  EXPECT_EQ(client_.Request("SET a 5"), "OK");
  ASSERT_TRUE((*f)->Heal().ok());
  auto rec = (*f)->Record();
  std::string ev = testing::Joined(rec);
  EXPECT_TRUE(rec.took_effect) << ev;
  EXPECT_EQ(rec.effects, 1) << ev;
  EXPECT_NE(ev.find("posix/io/sync/fsync: 1 of 5 call(s) failed"), std::string::npos) << ev;
  EXPECT_NE(ev.find("call 3 of posix/io/sync/fsync failed with EIO"), std::string::npos) << ev;
}

TEST_F(FiuShimTest, PointNeverCalledIsReportedAsABlindSpot) {
  FaultEnv env;
  // kvd never calls opendir: the point is enabled, libfiu accepts it, nothing ever fails.
  auto f = MakeFault("syscall", "point = \"posix/io/dir/opendir\"\nerrno = \"EIO\"", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  EXPECT_EQ(client_.Request("SET a 1"), "OK");
  ASSERT_TRUE((*f)->Heal().ok());
  auto rec = (*f)->Record();
  EXPECT_FALSE(rec.took_effect) << testing::Joined(rec);
  EXPECT_EQ(rec.effects, 0);
  EXPECT_NE(testing::Joined(rec).find("posix/io/dir/opendir was enabled but NEVER CALLED"),
            std::string::npos)
      << testing::Joined(rec);
}

TEST_F(FiuShimTest, PointCalledButNeverFailedIsReported) {
  FaultEnv env;
  auto f = MakeFault(
      "syscall", "point = \"posix/io/sync/fsync\"\nerrno = \"EIO\"\nprobability = 0.000001", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(client_.Request("SET a " + std::to_string(i)), "OK");
  ASSERT_TRUE((*f)->Heal().ok());
  auto rec = (*f)->Record();
  EXPECT_FALSE(rec.took_effect);
  EXPECT_NE(testing::Joined(rec).find("posix/io/sync/fsync was enabled but NEVER FIRED: 4 call(s)"),
            std::string::npos)
      << testing::Joined(rec);
}

TEST_F(FiuShimTest, WildcardCountsEveryMatchingPointAndTookEffectTurnsOnWhileInjected) {
  FaultEnv env;
  auto f = MakeFault("syscall", "point = \"posix/io/sync/*\"\nerrno = \"EIO\"", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject(Target()).ok());
  EXPECT_FALSE((*f)->Record().took_effect);  // nothing has called fsync yet
  EXPECT_NE(client_.Request("SET a 1").find("Input/output error"), std::string::npos);
  EXPECT_TRUE((*f)->Record().took_effect);  // seen before the heal, through the counters
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_NE(testing::Joined((*f)->Record()).find("call 1 of posix/io/sync/fsync failed with EIO"),
            std::string::npos)
      << testing::Joined((*f)->Record());
}

TEST_F(FiuShimTest, QueriesAnswerCountsAndLibfiuCommandsStillWork) {
  pid_t pid = kvd_->child->child.pid;
  ASSERT_TRUE(FiuCommand(kvd_->prefix, pid, "enable name=posix/io/sync/fsync,failinfo=5").ok());
  EXPECT_EQ(*FiuQuery(kvd_->prefix, pid, "duende_calls name=posix/io/sync/fsync"), 0);
  EXPECT_NE(client_.Request("SET a 1").rfind("ERR", 0), std::string::npos);
  EXPECT_NE(client_.Request("SET a 2").rfind("ERR", 0), std::string::npos);
  EXPECT_EQ(*FiuQuery(kvd_->prefix, pid, "duende_calls name=posix/io/sync/fsync"), 2);
  EXPECT_EQ(*FiuQuery(kvd_->prefix, pid, "duende_fired name=posix/io/sync/fsync"), 2);
  ASSERT_TRUE(FiuCommand(kvd_->prefix, pid, "disable name=posix/io/sync/fsync").ok());
  EXPECT_EQ(client_.Request("SET a 3"), "OK");
  auto log = ReadFiuFirings(kvd_->prefix, pid);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].point, "posix/io/sync/fsync");
  EXPECT_EQ(log[0].call, 1u);
  EXPECT_EQ(log[1].call, 2u);
  EXPECT_EQ(log[1].err, 5);
  EXPECT_EQ(log[0].pid, pid);
  EXPECT_FALSE(FiuQuery(kvd_->prefix, pid, "duende_nth name=posix/io/sync/fsync").ok());
}

TEST_F(FiuShimTest, SigtermStillReachesTheTargetsOwnHandler) {
  // kvd handles SIGTERM through signalfd in its main thread and exits 0. libfiu's control
  // threads block no signal; without the shim's mask they could take the SIGTERM and kill kvd.
  ASSERT_TRUE(framework::SignalPidfd(kvd_->child->child.pidfd.get(), SIGTERM).ok());
  auto st = kvd_->child->Wait();
  EXPECT_TRUE(st.success()) << st.ToString();
}

TEST_F(FiuShimTest, QueriesDoNotCountThemselves) {
  // libfiu's control thread reads each command byte by byte and writes the reply: those calls
  // are libfiu's own (it never fails them), not the target's.
  pid_t pid = kvd_->child->child.pid;
  ASSERT_TRUE(
      FiuCommand(kvd_->prefix, pid, "duende_nth name=posix/io/rw/*,nth=1000000,failinfo=5").ok());
  auto before = FiuQuery(kvd_->prefix, pid, "duende_calls name=posix/io/rw/*");
  ASSERT_TRUE(before.ok());
  for (int i = 0; i < 5; ++i) (void)FiuQuery(kvd_->prefix, pid, "duende_fired name=posix/io/rw/*");
  EXPECT_EQ(*FiuQuery(kvd_->prefix, pid, "duende_calls name=posix/io/rw/*"), *before);
  EXPECT_EQ(*before, 0);
}

TEST(FiuShimParamsTest, NthIsCheckedAgainstProbabilityAndOnetime) {
  FaultEnv env;
  auto bad = MakeFault("syscall", "point = \"posix/io/sync/fsync\"\nnth = 2\nonetime = true", env);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("cannot be combined"), std::string::npos);
  auto zero = MakeFault("syscall", "point = \"posix/io/sync/fsync\"\nnth = 0", env);
  ASSERT_FALSE(zero.ok());
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

namespace duende::faults {
namespace {

// A program built with AddressSanitizer refuses to start (or crashes) when another preloaded
// library comes before the ASan runtime; PrepareFiuSpawn puts the runtime first.
TEST(FiuSanitizerTest, AnAsanProgramRunsUnderLibfiuAndItsFaultsFire) {
  if (!FiuAvailable()) GTEST_SKIP() << "libfiu not installed";
  char tmpl[] = "/tmp/duende-asan-fiu-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::ofstream(dir + "/p.c") << "#include <stdio.h>\n#include <unistd.h>\n"
                                 "int main(int argc, char** argv) {\n"
                                 "  for (int i = 0; i < 2000 && access(argv[1], F_OK) != 0; ++i)\n"
                                 "    usleep(10000);\n"
                                 "  if (fsync(1) != 0) { perror(\"fsync\"); return 3; }\n"
                                 "  puts(\"synced\"); return 0; }\n";
  std::string build = "cc -fsanitize=address -o " + dir + "/p " + dir + "/p.c 2>&1";
  if (std::system(build.c_str()) != 0) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "no C compiler with -fsanitize=address";
  }
  // The LD_PRELOAD PrepareFiuSpawn gives a program, as a list.
  auto preload_of = [&](const std::string& program, framework::SpawnOptions* out) {
    out->argv = {program};
    out->stderr_fd = -1;
    EXPECT_TRUE(PrepareFiuSpawn(*out, dir + "/fiu", 1, nullptr).ok());
    std::vector<std::string> libs;
    for (const auto& e : out->env_overrides) {
      if (e.rfind("LD_PRELOAD=", 0) != 0) continue;
      std::istringstream in(e.substr(11));
      for (std::string lib; in >> lib;) libs.push_back(lib);
    }
    return libs;
  };
  // A program without a sanitizer runtime gets libfiu's libraries only.
  framework::SpawnOptions plain;
  auto plain_libs = preload_of("/bin/true", &plain);
  ASSERT_FALSE(plain_libs.empty());
  for (const auto& lib : plain_libs) EXPECT_EQ(lib.find("libasan"), std::string::npos) << lib;
  // The ASan program's runtime comes first, ahead of libfiu's.
  framework::SpawnOptions o;
  auto libs = preload_of(dir + "/p", &o);
  ASSERT_EQ(libs.size(), plain_libs.size() + 1);
  EXPECT_NE(libs[0].find("libasan.so"), std::string::npos) << libs[0];
  EXPECT_TRUE(std::filesystem::exists(libs[0])) << libs[0];
  std::string prefix = dir + "/fiu";
  o.argv.push_back(dir + "/go");  // the program fsyncs once this file exists (20 s at most)
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok());
  // libfiu makes PREFIX-PID.in, then .out: wait for the second, or the command finds none.
  std::string base = prefix + "-" + std::to_string((*c)->child.pid);
  for (int i = 0; i < 100; ++i) {
    if (std::filesystem::exists(base + ".in") && std::filesystem::exists(base + ".out")) break;
    ::usleep(2000);
  }
  auto enabled = FiuCommand(prefix, (*c)->child.pid, "enable name=posix/io/sync/fsync,failinfo=5");
  ASSERT_TRUE(enabled.ok()) << enabled.error().Message();
  std::ofstream(dir + "/go") << "";
  auto st = (*c)->Wait();
  EXPECT_EQ(st.code, 3) << st.ToString();  // fsync failed with the injected EIO
  EXPECT_EQ(ReadFiuFirings(prefix, (*c)->child.pid).size(), 1u);
  RemoveFiuFifos(prefix);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace duende::faults
