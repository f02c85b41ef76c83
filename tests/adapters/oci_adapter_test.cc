// Real runc: a container made from the rendered bundle, killed, restarted by the adapter's
// supervisor, deleted; nothing left (no container, no bundle, no process).
#include "duende/adapters/oci_adapter.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/framework/proc.h"
#include "test_util.h"

namespace duende::adapters {
namespace {

using framework::DaemonConfig;
using framework::EventType;
using framework::RunCommand;

using testing::Alive;
using testing::Events;
using testing::Eventually;

bool ContainerListed(const std::string& id) {
  auto r = RunCommand({"runc", "list", "-q"});
  return r.ok() && r->out.find(id) != std::string::npos;
}

TEST(OciAdapterTest, RuncContainerIsRestartedAfterAKillAndDeletedAfterwards) {
  if (::geteuid() != 0) GTEST_SKIP() << "runc needs root here";
  if (!framework::FindExecutable("runc").ok()) GTEST_SKIP() << "runc is not installed";
  struct stat st {};
  if (::stat("/usr/bin/tini", &st) != 0) GTEST_SKIP() << "tini is not installed (ci/deps.sh)";

  DaemonConfig c;
  c.name = "oci-sleeper";
  c.command = {"/bin/sleep", "1000"};
  c.env = {{"GREETING", "hello"}};
  c.resources.memory_max = 64u << 20;
  c.resources.pids_max = 16;
  c.restart.policy = framework::RestartConfig::Policy::kAlways;
  c.restart.backoff.initial = std::chrono::milliseconds(50);
  c.restart.backoff.jitter = framework::BackoffConfig::Jitter::kNone;
  c.shutdown_timeout = std::chrono::seconds(3);
  AdapterOptions options;
  auto adapter = OciAdapter::Create(c, options);
  ASSERT_TRUE(adapter.ok()) << adapter.error().Message();
  const std::string id = (*adapter)->container_id();
  const std::string bundle = (*adapter)->bundle_dir();
  Events events;
  (*adapter)->Subscribe(events.Callback());
  ASSERT_TRUE((*adapter)->Start().ok());

  pid_t first = -1;
  ASSERT_TRUE(Eventually(
      [&] {
        first = (*adapter)->ContainerPid();
        return first > 0;
      },
      std::chrono::seconds(10)))
      << events.Dump();
  EXPECT_TRUE(ContainerListed(id));
  // The daemon runs inside: its environment came from config.json.
  auto env = RunCommand({"runc", "exec", id, "/usr/bin/env"});
  ASSERT_TRUE(env.ok());
  EXPECT_NE(env->out.find("GREETING=hello"), std::string::npos) << env->out << env->err;

  // Kill the container's init for real; runc has no restart policy, the adapter restarts it.
  ASSERT_TRUE((*adapter)->Kill(SIGKILL).ok());
  ASSERT_TRUE(events.WaitFor(EventType::kSpawned, 2, std::chrono::seconds(10))) << events.Dump();
  pid_t second = -1;
  ASSERT_TRUE(Eventually(
      [&] {
        second = (*adapter)->ContainerPid();
        return second > 0 && second != first;
      },
      std::chrono::seconds(10)))
      << events.Dump();
  EXPECT_FALSE(Alive(first));
  EXPECT_TRUE(events.SawDeathBy(SIGKILL)) << events.Dump();
  auto status = (*adapter)->Status();
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->restarts, 1u);
  // Status() names the daemon: tini's child, not tini.
  EXPECT_EQ(status->pid, (*adapter)->DaemonPid());
  auto daemon = framework::ReadProcessInfo(status->pid);
  ASSERT_TRUE(daemon.ok());
  EXPECT_EQ(daemon->ppid, second);
  EXPECT_EQ(daemon->comm, "sleep");

  // Stop (SIGTERM forwarded by runc and tini), then delete: nothing left.
  ASSERT_TRUE((*adapter)->Stop().ok());
  EXPECT_TRUE(Eventually([&] { return !Alive(second); }, std::chrono::seconds(5)));
  ASSERT_TRUE((*adapter)->Remove().ok());
  EXPECT_FALSE(ContainerListed(id));
  EXPECT_NE(::stat(bundle.c_str(), &st), 0) << bundle << " left behind";
}

}  // namespace
}  // namespace duende::adapters
