#include "duende/framework/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace duende::framework {
namespace {

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    r.Reset(fds[0]);
    w.Reset(fds[1]);
  }
};

TEST(ProcessTest, SpawnsAndReportsExitCode) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "exit 7"};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  auto status = WaitExit(child->pidfd.get());
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->signaled);
  EXPECT_EQ(status->code, 7);
  EXPECT_EQ(status->ToString(), "exited with code 7");
}

TEST(ProcessTest, MissingProgramIsEnoent) {
  SpawnOptions o;
  o.argv = {"/nonexistent/program"};
  auto child = Spawn(o);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().code.value(), ENOENT);
  EXPECT_EQ(child.error().Message(),
            "unable to spawn /nonexistent/program: execve: No such file or directory");
}

TEST(ProcessTest, ChildGetsOwnProcessGroupEnvAndCwd) {
  Pipe p;
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo $$ $(ps -o pgid= -p $$) $FOO $(pwd)"};
  o.env_overrides = {"FOO=bar"};
  o.working_dir = "/tmp";
  o.stdout_fd = p.w.get();
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  p.w.Reset();
  std::istringstream out(ReadAll(p.r.get()));
  std::string pid, pgid, foo, cwd;
  out >> pid >> pgid >> foo >> cwd;
  EXPECT_EQ(pid, std::to_string(child->pid));
  EXPECT_EQ(pgid, pid);
  EXPECT_EQ(foo, "bar");
  EXPECT_EQ(cwd, "/tmp");
  ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());
}

TEST(ProcessTest, NoDescriptorLeaksIntoChild) {
  // An fd opened without O_CLOEXEC must still not reach the child.
  int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  Pipe p;
  SpawnOptions o;
  o.argv = {"sh", "-c", "ls /proc/self/fd | wc -l"};
  o.stdout_fd = p.w.get();
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  p.w.Reset();
  std::string out = ReadAll(p.r.get());
  ::close(leaky);
  // ls sees 0, 1, 2 and the directory fd it reads: 4.
  EXPECT_EQ(std::stoi(out), 4) << out;
  ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());
}

TEST(ProcessTest, PassedDescriptorArrivesAtRequestedNumber) {
  Pipe p;
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo hello >&5"};
  o.pass_fds = {{p.w.get(), 5}};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  p.w.Reset();
  EXPECT_EQ(ReadAll(p.r.get()), "hello\n");
  ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());
}

TEST(ProcessTest, RlimitIsApplied) {
  Pipe p;
  SpawnOptions o;
  o.argv = {"sh", "-c", "ulimit -n"};
  o.rlimits = {{RLIMIT_NOFILE, 64, 64}};
  o.stdout_fd = p.w.get();
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  p.w.Reset();
  EXPECT_EQ(ReadAll(p.r.get()), "64\n");
  ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());
}

TEST(ProcessTest, PidfdBecomesReadableOnExitAndSignalWorks) {
  SpawnOptions o;
  o.argv = {"sleep", "30"};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  pollfd pfd{child->pidfd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 0), 0);
  auto running = TryReap(child->pidfd.get());
  ASSERT_TRUE(running.ok());
  EXPECT_FALSE(running->has_value());
  ASSERT_TRUE(SignalPidfd(child->pidfd.get(), SIGKILL).ok());
  EXPECT_EQ(::poll(&pfd, 1, 5000), 1);
  auto status = WaitExit(child->pidfd.get());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGKILL);
  EXPECT_EQ(status->ToString(), "killed by signal 9 (SIGKILL)");
}

TEST(ProcessTest, IgnoredSignalsAreResetInChild) {
  // We ignore SIGPIPE (as daemons do); the child must get the default back.
  auto old = ::signal(SIGPIPE, SIG_IGN);
  SpawnOptions o;
  o.argv = {"sh", "-c", "kill -PIPE $$; sleep 5"};
  auto child = Spawn(o);
  ::signal(SIGPIPE, old);
  ASSERT_TRUE(child.ok());
  auto status = WaitExit(child->pidfd.get());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGPIPE);
}

TEST(ProcessTest, SignalNamesRoundTrip) {
  EXPECT_EQ(SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(ParseSignal("SIGTERM"), SIGTERM);
  EXPECT_EQ(ParseSignal("term"), SIGTERM);
  EXPECT_EQ(ParseSignal("9"), SIGKILL);
  EXPECT_EQ(ParseSignal("SIGNOPE"), 0);
  for (int sig = 1; sig < 32; ++sig) EXPECT_EQ(ParseSignal(SignalName(sig)), sig);
}

}  // namespace
}  // namespace duende::framework
