// oom (a real kernel OOM kill seen in the cgroup's counters), memory (the hog), cpu.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "duende/faults/fault.h"
#include "duende/framework/cgroup.h"
#include "support/fault_child.h"
#include "support/fault_make.h"
#include "support/sanitizer_skip.h"

namespace duende::faults {
namespace {

using testing::MakeFault;

bool CgroupsUsable() {
  auto dir = framework::CgroupDirOf(::getpid(), "memory");
  return dir.ok() && ::access(dir->c_str(), W_OK) == 0;
}

bool Exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

TEST(CgroupTest, LimitsMembersStatsAndRemove) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable memory cgroup here";
  auto g = framework::Cgroup::Create("duende-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  ASSERT_TRUE(g->SetMemoryLimit(256 << 20).ok());
  ASSERT_TRUE(g->SetPidsLimit(16).ok());
  ASSERT_TRUE(g->SetCpuQuota(50000).ok());
  framework::SpawnOptions o;
  o.argv = {"sleep", "30"};
  o.cgroup_procs_files = g->ProcsFiles();
  auto c = framework::Spawn(o);
  ASSERT_TRUE(c.ok()) << c.error().Message();
  auto members = g->Members();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->size(), 1u);
  EXPECT_EQ((*members)[0], c->pid);
  auto s = g->Stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->memory_limit, 256u << 20);
  EXPECT_EQ(s->pids_current, 1u);
  EXPECT_GT(s->memory_current, 0u);
  ASSERT_TRUE(g->Remove().ok());
  auto st = framework::WaitExit(c->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->signal, SIGKILL);
  for (const auto& d : g->Dirs()) EXPECT_FALSE(Exists(d)) << d;
}

TEST(OomFaultTest, KernelOomKillShowsInTheTargetsCgroupCounters) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable memory cgroup here";
  auto g = framework::Cgroup::Create("duende-oomtest-" + std::to_string(::getpid()));
  ASSERT_TRUE(g.ok()) << g.error().Message();
  framework::SpawnOptions o;
  o.argv = {ALLOC_LOOP_PATH};
  o.cgroup_procs_files = g->ProcsFiles();
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok()) << c.error().Message();
  ASSERT_FALSE((*c)->WaitLine("ready").empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  FaultEnv env;
  auto f = MakeFault("oom", "", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  TargetRef t{"alloc", (*c)->child.pid, (*c)->child.pid, g->memory_dir(), "", 0};
  ASSERT_TRUE((*f)->Inject(t).ok());
  auto st = (*c)->Wait();
  EXPECT_TRUE(st.signaled);
  EXPECT_EQ(st.signal, SIGKILL);
  auto stats = g->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GE(stats->oom_kills, 1u);
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("kernel OOM kill"), std::string::npos);
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(g->Stats()->memory_limit, 0u);  // restored to unlimited
  ASSERT_TRUE(g->Remove().ok());
}

TEST(OomFaultTest, TargetWithoutCgroupIsMovedIntoOneAndBack) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable memory cgroup here";
  framework::SpawnOptions o;
  o.argv = {ALLOC_LOOP_PATH};
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok());
  ASSERT_FALSE((*c)->WaitLine("ready").empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  FaultEnv env;
  auto f = MakeFault("oom", "", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject({"alloc", (*c)->child.pid, (*c)->child.pid, "", "", 0}).ok());
  auto st = (*c)->Wait();
  EXPECT_EQ(st.signal, SIGKILL);
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
  // The borrowed group is gone.
  std::string joined = testing::Joined(rec);
  auto p = joined.find("memory cgroup ");
  ASSERT_NE(p, std::string::npos);
  std::string dir = joined.substr(p + 14, joined.find('\n', p) - p - 14);
  EXPECT_FALSE(Exists(dir)) << dir;
}

TEST(OomFaultTest, AnOomKillIsStillRecordedWhenAskedAfterTheHeal) {
  // The runner asks for the record after the window ended: the kill seen at the heal counts.
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable memory cgroup here";
  framework::SpawnOptions o;
  o.argv = {ALLOC_LOOP_PATH};
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok());
  ASSERT_FALSE((*c)->WaitLine("ready").empty());
  FaultEnv env;
  auto f = MakeFault("oom", "", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject({"alloc", (*c)->child.pid, (*c)->child.pid, "", "", 0}).ok());
  EXPECT_EQ((*c)->Wait().signal, SIGKILL);
  ASSERT_TRUE((*f)->Heal().ok());
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("kernel OOM kill"), std::string::npos)
      << testing::Joined(rec);
}

TEST(OomFaultTest, SigkillByHandIsNotAnOomKill) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable memory cgroup here";
  framework::SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto c = testing::StartChild(o);
  ASSERT_TRUE(c.ok());
  FaultEnv env;
  auto f = MakeFault("oom", "slack = \"64MiB\"", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject({"sleep", (*c)->child.pid, (*c)->child.pid, "", "", 0}).ok());
  ::kill((*c)->child.pid, SIGKILL);
  EXPECT_EQ((*c)->Wait().signal, SIGKILL);
  EXPECT_FALSE((*f)->Record().took_effect) << testing::Joined((*f)->Record());
  ASSERT_TRUE((*f)->Heal().ok());
}

TEST(MemoryFaultTest, HogMemoryIsVisibleInProcAndGoneAfterHeal) {
#if defined(__SANITIZE_THREAD__)
  DUENDE_SKIP_UNDER_SANITIZER("the hog's RSS includes TSan's shadow memory");
#endif
  FaultEnv env;
  auto f = MakeFault("memory", "size = \"128MiB\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"none", ::getpid(), -1, "", "", 0}).ok());
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  long hog = testing::EvidenceNumber(rec, "hog pid ");
  ASSERT_GT(hog, 0);
  std::string status = "/proc/" + std::to_string(hog) + "/status";
  auto text = framework::ReadSmallFile(status);
  ASSERT_TRUE(text.ok());
  auto p = text->find("VmRSS:");
  ASSERT_NE(p, std::string::npos);
  EXPECT_GE(std::stol(text->substr(p + 6)), 120L * 1024) << *text;
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_FALSE(Exists(status));
}

TEST(MemoryFaultTest, MlockedHogShowsInVmLck) {
  DUENDE_SKIP_UNDER_SANITIZER("mlock cannot be tested");
  FaultEnv env;
  auto f = MakeFault("memory", "size = \"32MiB\"\nmlock = true", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject({"none", ::getpid(), -1, "", "", 0});
  if (!r.ok() && ::geteuid() != 0)
    GTEST_SKIP() << "mlock needs CAP_IPC_LOCK: " << r.error().Message();
  ASSERT_TRUE(r.ok()) << r.error().Message();
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("VmLck 32.0MiB"), std::string::npos) << testing::Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
}

TEST(MemoryFaultTest, RefusesMoreThanTheSafeShareOfMemAvailable) {
  FaultEnv env;
  auto f = MakeFault("memory", "size = \"4096GiB\"", env);
  ASSERT_TRUE(f.ok());
  auto r = (*f)->Inject({"none", ::getpid(), -1, "", "", 0});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("refusing to allocate"), std::string::npos)
      << r.error().Message();
  EXPECT_NE(r.error().Message().find("MemAvailable"), std::string::npos);
}

TEST(CpuFaultTest, BurnersUseCpuAndAreGoneAfterHeal) {
  FaultEnv env;
  auto f = MakeFault("cpu", "threads = 1", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject({"none", ::getpid(), -1, "", "", 0}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
}

// A shell loop whose `controller` group a fault borrows; `before` is the group it starts in.
struct ShellInGroup {
  std::unique_ptr<testing::TestChild> child;
  pid_t pid = 0;
  std::string before;
};

ShellInGroup StartShell(const std::string& script, const char* controller) {
  framework::SpawnOptions o;
  o.argv = {"sh", "-c", script};
  auto c = testing::StartChild(o);
  EXPECT_TRUE(c.ok());
  if (!c.ok()) return {};
  ShellInGroup s{std::move(*c), 0, ""};
  s.pid = s.child->child.pid;
  auto dir = framework::CgroupDirOf(s.pid, controller);
  EXPECT_TRUE(dir.ok());
  if (dir.ok()) s.before = *dir;
  return s;
}

TEST(CpuFaultTest, QuotaThrottlesTheTargetAndMovesItBack) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable cgroup here";
  auto sh = StartShell("while :; do :; done", "cpu");
  ASSERT_NE(sh.pid, 0);
  FaultEnv env;
  auto f = MakeFault("cpu", "mode = \"quota\"\nquota = 0.05", env);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Inject({"spin", sh.pid, sh.pid, "", "", 0}).ok());
  EXPECT_NE(*framework::CgroupDirOf(sh.pid, "cpu"), sh.before);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(*framework::CgroupDirOf(sh.pid, "cpu"), sh.before);
}

// pids: the target's next fork is refused by the kernel (dash gives up: "Cannot fork", exit 2),
// the refusal is the evidence, and the heal removes the borrowed group.
TEST(PidsFaultTest, ForkIsRefusedUntilTheHeal) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable cgroup here";
  auto sh = StartShell("while :; do sleep 0.02; done", "pids");
  ASSERT_NE(sh.pid, 0);
  FaultEnv env;
  auto f = MakeFault("pids", "", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"sh", sh.pid, sh.pid, "", "", 0}).ok());
  EXPECT_NE(*framework::CgroupDirOf(sh.pid, "pids"), sh.before);
  auto st = sh.child->Wait();  // the shell's next `sleep` cannot be forked
  EXPECT_FALSE(st.signaled);
  EXPECT_EQ(st.code, 2);
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("refused by pids.max"), std::string::npos)
      << testing::Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
}

TEST(PidsFaultTest, SlackLetsTheTargetForkAndTheHealMovesItBack) {
  if (!CgroupsUsable()) GTEST_SKIP() << "no writable cgroup here";
  auto sh = StartShell("while :; do sleep 0.02; done", "pids");
  ASSERT_NE(sh.pid, 0);
  FaultEnv env;
  auto f = MakeFault("pids", "slack = 4", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"sh", sh.pid, sh.pid, "", "", 0}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(::kill(sh.pid, 0), 0) << "the shell died though it had room to fork";
  auto rec = (*f)->Record();
  EXPECT_FALSE(rec.took_effect) << testing::Joined(rec);
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(*framework::CgroupDirOf(sh.pid, "pids"), sh.before);
}

}  // namespace
}  // namespace duende::faults
