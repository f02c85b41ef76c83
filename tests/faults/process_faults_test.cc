// kill, pause, crash and fds against real child processes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <thread>

#include "duende/faults/fault.h"
#include "duende/framework/cgroup.h"
#include "support/fault_child.h"
#include "support/fault_make.h"

namespace duende::faults {
namespace {

using testing::MakeFault;
using testing::StartChild;

std::unique_ptr<testing::TestChild> Start(std::vector<std::string> argv) {
  framework::SpawnOptions o;
  o.argv = std::move(argv);
  auto c = StartChild(o);
  EXPECT_TRUE(c.ok()) << c.error().Message();
  return c.ok() ? std::move(*c) : nullptr;
}

TargetRef Ref(const testing::TestChild& c) {
  return TargetRef{"child", c.child.pid, c.child.pid, "", "", 0};
}

TEST(KillFaultTest, SigkillIsSeenByWaitpid) {
  auto c = Start({"sleep", "30"});
  FaultEnv env;
  auto f = MakeFault("kill", "", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  auto st = c->Wait();
  EXPECT_TRUE(st.signaled);
  EXPECT_EQ(st.signal, SIGKILL);
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("SIGKILL"), std::string::npos) << testing::Joined(rec);
  EXPECT_GT(rec.injected_ns, 0);
}

TEST(KillFaultTest, IgnoredSignalIsRecordedAsNoEffect) {
  auto c = Start({"sh", "-c", "trap '' USR1; echo ready; while :; do sleep 1; done"});
  ASSERT_FALSE(c->WaitLine("ready").empty());
  FaultEnv env;
  auto f = MakeFault("kill", "signal = \"USR1\"\nwait = \"200ms\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  EXPECT_FALSE((*f)->Record().took_effect) << testing::Joined((*f)->Record());
  EXPECT_EQ(::kill(c->child.pid, 0), 0);
}

TEST(KillFaultTest, GroupScopeKillsEveryMember) {
  auto c = Start({"sh", "-c", "sleep 30 & sleep 30 & echo ready; wait"});
  ASSERT_FALSE(c->WaitLine("ready").empty());
  FaultEnv env;
  auto f = MakeFault("kill", "scope = \"group\"\nsignal = \"SIGTERM\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("(3 processes)"), std::string::npos) << testing::Joined(rec);
  EXPECT_TRUE(c->Wait().signaled);
}

TEST(KillFaultTest, RandomScopeKillsExactlyOneMember) {
  auto c = Start({"sh", "-c", "sleep 30 & sleep 30 & echo ready; wait; sleep 30"});
  ASSERT_FALSE(c->WaitLine("ready").empty());
  FaultEnv env;
  env.seed = 7;
  auto f = MakeFault("kill", "scope = \"random\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  auto rec = (*f)->Record();
  EXPECT_TRUE(rec.took_effect) << testing::Joined(rec);
  EXPECT_NE(testing::Joined(rec).find("random member"), std::string::npos);
}

TEST(PauseFaultTest, StopsUntilHealedThenContinues) {
  auto c = Start({"sleep", "30"});
  FaultEnv env;
  auto f = MakeFault("pause", "", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  EXPECT_TRUE((*f)->Record().took_effect);
  auto stat = framework::ReadSmallFile("/proc/" + std::to_string(c->child.pid) + "/stat");
  ASSERT_TRUE(stat.ok());
  EXPECT_NE(stat->find(") T "), std::string::npos) << *stat;
  ASSERT_TRUE((*f)->Heal().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stat = framework::ReadSmallFile("/proc/" + std::to_string(c->child.pid) + "/stat");
  EXPECT_EQ(stat->find(") T "), std::string::npos) << *stat;
  EXPECT_GT((*f)->Record().healed_ns, (*f)->Record().injected_ns);
}

TEST(CrashFaultTest, SegvEndsTheProcessWithThatSignal) {
  auto c = Start({"sleep", "30"});
  FaultEnv env;
  auto f = MakeFault("crash", "signal = \"SIGABRT\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  EXPECT_TRUE((*f)->Record().took_effect);
  auto st = c->Wait();
  EXPECT_TRUE(st.signaled);
  EXPECT_EQ(st.signal, SIGABRT);
}

TEST(FdsFaultTest, LowersNofileToCurrentUseAndRestores) {
  auto c = Start({"sleep", "30"});
  rlimit before{};
  ASSERT_EQ(::prlimit(c->child.pid, RLIMIT_NOFILE, nullptr, &before), 0);
  FaultEnv env;
  auto f = MakeFault("fds", "", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  rlimit during{};
  ASSERT_EQ(::prlimit(c->child.pid, RLIMIT_NOFILE, nullptr, &during), 0);
  EXPECT_LE(during.rlim_cur, 8u);  // sleep holds 3-4 descriptors
  EXPECT_TRUE((*f)->Record().took_effect) << testing::Joined((*f)->Record());
  ASSERT_TRUE((*f)->Heal().ok());
  rlimit after{};
  ASSERT_EQ(::prlimit(c->child.pid, RLIMIT_NOFILE, nullptr, &after), 0);
  EXPECT_EQ(after.rlim_cur, before.rlim_cur);
}

TEST(FdsFaultTest, MakesTheTargetsNextOpenFail) {
  // The same open before and after the limit drops: it must succeed, then fail.
  auto c = Start({"sh", "-c",
                  "( : 7</dev/null ) 2>/dev/null && echo opened1 || echo failed1; echo ready; "
                  "sleep 0.5; ( : 7</dev/null ) 2>/dev/null && echo opened2 || echo failed2; "
                  "sleep 30"});
  EXPECT_EQ(c->WaitLine("1"), "opened1");
  ASSERT_FALSE(c->WaitLine("ready").empty());
  FaultEnv env;
  auto f = MakeFault("fds", "", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject(Ref(*c)).ok());
  EXPECT_EQ(c->WaitLine("2", 3000), "failed2");
  ASSERT_TRUE((*f)->Heal().ok());
}

}  // namespace
}  // namespace duende::faults
