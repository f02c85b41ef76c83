#include "duende/framework/command.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/handles.hpp>
#include <boost/process/io.hpp>
#include <boost/process/pipe.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {
namespace {

// True when `pid` is gone or a zombie (a reparented orphan waits for init to reap it).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

// SIGKILL is delivered when the process next runs: give it up to 5 s.
bool DiesSoon(pid_t pid) {
  for (int i = 0; i < 500 && !Dead(pid); ++i) ::usleep(10'000);
  return Dead(pid);
}

// The zombie children of this process (a spawn that leaves one behind leaks a pid).
int ExitedChildren() {
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return 0;  // ECHILD: none
  return info.si_pid != 0 ? 1 : 0;
}

TEST(CommandTest, ReportsExitCodeAndBothStreamsApart) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_FALSE(r->status.signaled);
  EXPECT_EQ(r->status.code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->timed_out);
}

TEST(CommandTest, ReportsTheTerminatingSignal) {
  auto r = RunCommand({"sh", "-c", "kill -USR1 $$"});
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->status.signaled);
  EXPECT_EQ(r->status.signal, SIGUSR1);
  EXPECT_FALSE(r->status.success());
}

TEST(CommandTest, DrainsMoreThanAPipeBufferOnBothStreamsAtOnce) {
  // 1 MB on each stream, written concurrently: a reader that waited on one pipe first would
  // leave the writer of the other blocked on a full 64 KiB pipe, and both would stall.
  auto r = RunCommand({"sh", "-c",
                       "head -c 1000000 /dev/zero | tr '\\0' o & "
                       "head -c 1000000 /dev/zero | tr '\\0' e >&2; wait"});
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->status.success()) << r->status.ToString();
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out, std::string(1000000, 'o'));
  EXPECT_EQ(r->err, std::string(1000000, 'e'));
}

TEST(CommandTest, TimeoutStopsTheWholeGroupIncludingAGrandchildThatIgnoresTerm) {
  // The leader and its grandchild both ignore SIGTERM, so only the SIGKILL after the grace
  // period can end them.
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(300);
  o.kill_grace = std::chrono::milliseconds(200);
  auto r = RunCommand({"sh", "-c",
                       "trap '' TERM; sh -c 'echo $$; exec sleep 600' & "
                       "while :; do sleep 1; done"},
                      o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->interrupted);
  EXPECT_TRUE(r->status.signaled);
  EXPECT_EQ(r->status.signal, SIGKILL) << r->status.ToString();
  pid_t grandchild = std::atoi(r->out.c_str());
  ASSERT_GT(grandchild, 0) << r->out;
  EXPECT_TRUE(DiesSoon(grandchild));
  EXPECT_GE(r->elapsed, o.timeout + o.kill_grace);
}

TEST(CommandTest, TimeoutSendsTermFirstWhenThereIsAGrace) {
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(200);
  o.kill_grace = std::chrono::seconds(30);
  auto r = RunCommand({"sh", "-c", "trap 'echo got TERM; exit 5' TERM; sleep 600 & wait"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->out, "got TERM\n");
  EXPECT_EQ(r->status.ToString(), "exited with code 5");
  EXPECT_LT(r->elapsed, o.kill_grace);
}

TEST(CommandTest, TimeoutWithoutGraceKillsAtOnce) {
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(100);
  auto r = RunCommand({"sh", "-c", "trap 'exit 5' TERM; sleep 600 & wait"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->status.signal, SIGKILL) << r->status.ToString();
}

TEST(CommandTest, TermReachesTheCommandWhenTheCallerBlocksIt) {
  // A thread that reads SIGTERM from a signalfd blocks it; the command must not inherit that.
  sigset_t term;
  sigset_t old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(100);
  o.kill_grace = std::chrono::seconds(30);
  auto r = RunCommand({"sleep", "600"}, o);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->status.signal, SIGTERM) << r->status.ToString();
}

TEST(CommandTest, StopsWhatTheCommandLeftInItsGroupAndDoesNotWaitForIt) {
  // The background sleep holds stdout open: waiting for the pipe's end would take 600 s.
  CommandOptions o;
  o.timeout = std::chrono::seconds(60);
  auto r = RunCommand({"sh", "-c", "sleep 600 & echo $!"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->status.success());
  EXPECT_FALSE(r->timed_out);
  pid_t left = std::atoi(r->out.c_str());
  ASSERT_GT(left, 0) << r->out;
  EXPECT_TRUE(DiesSoon(left));
}

TEST(CommandTest, DoesNotLeakOurDescriptorsIntoTheCommand) {
  // Opened the careless way (no O_CLOEXEC), as a library might.
  UniqueFd plain(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(plain.valid());
  UniqueFd high(::dup2(plain.get(), 200));
  ASSERT_EQ(high.get(), 200);
  std::string fd = std::to_string(plain.get());
  // No pipeline in the shell: while it sets one up it holds the pipe's ends itself, and a
  // listing that raced with that saw them (a flaky "0 1 2 3 4").
  auto r = RunCommand({"sh", "-c", "ls /proc/$$/fd"});
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->out, "0\n1\n2\n") << "leaked " << fd << " or 200";
  // stdin is /dev/null, read-only: nothing of ours.
  auto in = RunCommand({"sh", "-c", "readlink /proc/$$/fd/0"});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->out, "/dev/null\n");
}

TEST(CommandTest, ExecFailureIsTheErrorAndLeavesNoZombie) {
  ASSERT_EQ(ExitedChildren(), 0);
  auto r = RunCommand({"/etc/passwd"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code.value(), EACCES);
  EXPECT_EQ(r.error().Message(), "unable to spawn /etc/passwd: Permission denied");
  EXPECT_EQ(ExitedChildren(), 0);
  auto missing = RunCommand({"no-such-program-duende"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code.value(), ENOENT);
}

TEST(CommandTest, KeepsTheTailWithinMaxCaptureAndShowsEverythingToOnOutput) {
  CommandOptions o;
  o.max_capture = 1000;
  size_t seen = 0;
  std::string seen_tail;
  o.on_output = [&](std::string_view chunk) {
    seen += chunk.size();
    seen_tail.append(chunk);
    if (seen_tail.size() > 100) seen_tail.erase(0, seen_tail.size() - 100);
  };
  auto r = RunCommand({"seq", "1", "100000"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_TRUE(r->out.ends_with("99999\n100000\n"));
  EXPECT_EQ(r->out_dropped + r->out.size(), seen);
  EXPECT_EQ(seen, 588895u);  // the bytes of `seq 1 100000`
  EXPECT_TRUE(seen_tail.ends_with("100000\n"));
}

TEST(CommandTest, MergedStderrKeepsTheWriteOrder) {
  CommandOptions o;
  o.merge_stderr = true;
  auto r = RunCommand({"sh", "-c", "echo a; echo b >&2; echo c"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->out, "a\nb\nc\n");
  EXPECT_EQ(r->err, "");
}

TEST(CommandTest, StopFlagInterruptsTheCommand) {
  std::atomic<bool> stop{false};
  CommandOptions o;
  o.stop = &stop;
  o.timeout = std::chrono::seconds(60);
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  auto r = RunCommand({"sleep", "600"}, o);
  setter.join();
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_TRUE(r->interrupted);
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->status.signaled);
}

TEST(CommandTest, PassesEnvironmentWorkingDirectoryAndArgvZeroAsGiven) {
  CommandOptions o;
  o.env_overrides = {"DUENDE_COMMAND_TEST=yes", "HOME=/nowhere"};
  o.working_dir = "/usr";
  auto r = RunCommand({"sh", "-c",
                       "echo $DUENDE_COMMAND_TEST $HOME $(pwd); tr '\\0' ' ' "
                       "</proc/$$/cmdline | cut -d' ' -f1"},
                      o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->out, "yes /nowhere /usr\nsh\n");
}

TEST(CommandTest, RunCheckedTurnsFailureAndTimeoutIntoErrors) {
  auto failed = RunChecked({"sh", "-c", "echo boom >&2; echo more >&2; exit 1"});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, std::make_error_code(std::errc::io_error));
  EXPECT_EQ(failed.error().Message(),
            "sh -c echo boom >&2; echo more >&2; exit 1 failed (exited with code 1): boom: "
            "Input/output error");
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(100);
  auto slow = RunChecked({"sleep", "600"}, o);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().code, std::make_error_code(std::errc::timed_out));
  EXPECT_EQ(slow.error().context, "sleep timed out after " + FormatDuration(o.timeout));
  EXPECT_TRUE(RunChecked({"true"}).ok());
}

TEST(CommandTest, MaxCaptureKeepsTheTailOfShortOutputToo) {
  // Less than twice max_capture: only the final trim cuts it, on both streams.
  CommandOptions o;
  o.max_capture = 10;
  auto r = RunCommand({"sh", "-c", "printf 0123456789abcde; printf ABCDEFGHIJKLMNOPQ >&2"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->out, "56789abcde");
  EXPECT_EQ(r->out_dropped, 5u);
  EXPECT_EQ(r->err, "HIJKLMNOPQ");
  EXPECT_EQ(r->err_dropped, 7u);
  o.max_capture = 15;
  auto exact = RunCommand({"printf", "0123456789abcde"}, o);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->out, "0123456789abcde");
  EXPECT_EQ(exact->out_dropped, 0u);
}

TEST(CommandTest, ZeroTimeoutMeansNoLimit) {
  CommandOptions o;
  o.timeout = std::chrono::nanoseconds(0);
  auto r = RunCommand({"sh", "-c", "sleep 0.2; echo done"}, o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->status.success()) << r->status.ToString();
  EXPECT_EQ(r->out, "done\n");
}

TEST(CommandTest, OutputStillInThePipeAtExitIsKept) {
  // A 1 MiB pipe holds all 300000 bytes, so the command exits at once; the caller is still
  // busy with the first chunk then, and finds the rest in the pipe after the exit.
  CommandOptions o;
  bool first = true;
  o.on_output = [&](std::string_view) {
    if (first) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    first = false;
  };
  auto r = RunCommand({"perl", "-e",
                       "fcntl(STDOUT, 1031, 1048576) or die qq(F_SETPIPE_SZ: $!); "
                       "syswrite(STDOUT, 'x' x 300000) == 300000 or die qq(short write); "
                       "syswrite(STDERR, 'e' x 1000); exit 0"},
                      o);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  ASSERT_TRUE(r->status.success()) << r->status.ToString() << ": " << r->err;
  EXPECT_EQ(r->out.size(), 300000u);
  EXPECT_EQ(r->err, std::string(1000, 'e'));
}

TEST(CommandTest, RunCheckedNamesAtMostFourWordsOfTheCommand) {
  auto failed = RunChecked({"sh", "-c", "exit 3", "zero", "one", "two"});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().context, "sh -c exit 3 zero failed (exited with code 3)");
  auto short_one = RunChecked({"false"});
  ASSERT_FALSE(short_one.ok());
  EXPECT_EQ(short_one.error().context, "false failed (exited with code 1)");
}

// What Boost.Process 1.74 (Process v1) does on its own: the reasons RunCommand wraps it
// (src/command_linux.cc). When a Boost upgrade makes one of these fail, its wrap can go.
namespace bp = boost::process;

TEST(BoostProcess174Test, PlainChildInheritsOurDescriptorsWithoutCloexec) {
  UniqueFd plain(::open("/dev/null", O_RDONLY));
  ASSERT_TRUE(plain.valid());
  std::error_code ec;
  bp::child c(bp::exe = std::string("/bin/sh"), "-c",
              "[ -e /proc/$$/fd/" + std::to_string(plain.get()) + " ]", bp::std_in < bp::null, ec);
  ASSERT_FALSE(ec) << ec.message();
  c.wait(ec);
  EXPECT_EQ(c.exit_code(), 0) << "the descriptor did not reach the child";
}

TEST(BoostProcess174Test, LimitHandlesReportsAFailedExecAsSuccess) {
  // limit_handles closes Boost's own exec-error pipe along with ours.
  std::error_code ec;
  bp::child c(bp::exe = std::string("/etc/passwd"), bp::std_in<bp::null, bp::std_out> bp::null,
              bp::std_err > bp::null, bp::limit_handles, ec);
  EXPECT_FALSE(ec) << "the exec failure was reported: " << ec.message();
  if (c.valid()) c.wait(ec);
  // Without limit_handles the same spawn is EACCES.
  bp::child plain(bp::exe = std::string("/etc/passwd"), ec);
  EXPECT_EQ(ec.value(), EACCES);
  ::waitpid(-1, nullptr, 0);  // the zombie it leaves (next test)
}

TEST(BoostProcess174Test, FailedExecLeavesAZombie) {
  ASSERT_EQ(ExitedChildren(), 0);
  std::error_code ec;
  bp::child c(bp::exe = std::string("/etc/passwd"), ec);
  ASSERT_EQ(ec.value(), EACCES);
  // The child closes the error pipe a moment before it becomes a zombie.
  for (int i = 0; i < 200 && ExitedChildren() == 0; ++i) ::usleep(10'000);
  EXPECT_EQ(ExitedChildren(), 1);
  ::waitpid(-1, nullptr, 0);
}

TEST(BoostProcess174Test, PipesAreNotCloseOnExec) {
  bp::pipe p;
  EXPECT_EQ(::fcntl(p.native_source(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::fcntl(p.native_sink(), F_GETFD) & FD_CLOEXEC, 0);
}

}  // namespace
}  // namespace duende::framework
