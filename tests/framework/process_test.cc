#include "duende/framework/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <tuple>

#include "duende/framework/sandbox.h"
#include "support/temp_dir.h"

extern char** environ;

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

// Runs `o` with stdout to a pipe; returns what it printed (the child is reaped).
std::string Output(SpawnOptions o) {
  Pipe p;
  o.stdout_fd = p.w.get();
  auto child = Spawn(o);
  EXPECT_TRUE(child.ok()) << child.error().Message();
  if (!child.ok()) return "<spawn failed>";
  p.w.Reset();
  std::string out = ReadAll(p.r.get());
  EXPECT_TRUE(WaitExit(child->pidfd.get()).ok());
  return out;
}

// Each failing step of the child is named in the error with its errno, and the child reaped.
TEST(ProcessTest, AFailingChildStepIsNamedWithItsErrno) {
  struct Case {
    std::string step;
    int err;
    std::function<void(SpawnOptions&)> set;
  };
  const std::vector<Case> cases = {
      {"prctl(PR_SET_PDEATHSIG)", EINVAL, [](SpawnOptions& o) { o.parent_death_signal = 1000; }},
      {"joining cgroup", ENOENT,
       [](SpawnOptions& o) { o.cgroup_procs_files = {"/nonexistent/cgroup.procs"}; }},
      {"setrlimit", EINVAL,
       [](SpawnOptions& o) {
         o.rlimits = {{RLIMIT_NOFILE, 100, 50}};
       }},
      {"chdir", ENOENT, [](SpawnOptions& o) { o.working_dir = "/nonexistent/dir"; }},
      {"setting up descriptors", EBADF, [](SpawnOptions& o) { o.stdout_fd = 1000; }},
      {"setgid", EINVAL, [](SpawnOptions& o) { o.gid = static_cast<gid_t>(-1); }},
      {"setuid", EINVAL, [](SpawnOptions& o) { o.uid = static_cast<uid_t>(-1); }},
      {"execve", EACCES, [](SpawnOptions& o) { o.argv = {"/etc/passwd"}; }},
  };
  ASSERT_EQ(::fcntl(1000, F_GETFD), -1) << "fd 1000 is open in the test";
  for (const auto& c : cases) {
    SpawnOptions o;
    o.argv = {"true"};
    c.set(o);
    auto child = Spawn(o);
    ASSERT_FALSE(child.ok()) << c.step;
    EXPECT_EQ(child.error().code.value(), c.err) << c.step;
    EXPECT_EQ(child.error().Message(),
              "unable to spawn " + o.argv[0] + ": " + c.step + ": " + std::strerror(c.err));
  }
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1) << "a failed child was left unreaped";
  EXPECT_EQ(errno, ECHILD);
}

TEST(ProcessTest, TheChildRunsAsTheGivenUserAndGroupWithNoOthers) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing ids needs root";
  SpawnOptions o;
  o.argv = {"sh", "-c", "id -u; id -g; id -G"};
  o.uid = 65534;
  o.gid = 65534;
  EXPECT_EQ(Output(o), "65534\n65534\n65534\n");
}

// PR_SET_PDEATHSIG: the child gets the signal when the thread that spawned it ends.
TEST(ProcessTest, ParentDeathSignalArrivesWhenTheSpawningThreadEnds) {
  Result<Child> child = MessageError("not spawned");
  std::thread spawner([&] {
    SpawnOptions o;
    o.argv = {"sleep", "30"};
    o.parent_death_signal = SIGKILL;
    child = Spawn(o);
  });
  spawner.join();
  ASSERT_TRUE(child.ok()) << child.error().Message();
  pollfd pfd{child->pidfd.get(), POLLIN, 0};
  const int ready = ::poll(&pfd, 1, 10'000);
  if (ready != 1) (void)SignalPidfd(child->pidfd.get(), SIGKILL);
  auto status = WaitExit(child->pidfd.get());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(ready, 1) << "the child outlived its spawning thread";
  EXPECT_TRUE(status->signaled);
  EXPECT_EQ(status->signal, SIGKILL);
}

// -1 is /dev/null for each of the three streams on its own, the others staying as given.
TEST(ProcessTest, EachStandardStreamCanBeDevNullOnItsOwn) {
  for (int null_stream = 0; null_stream < 3; ++null_stream) {
    Pipe in, out, err;
    SpawnOptions o;
    o.argv = {"sh", "-c", "cat; echo out; echo err >&2"};
    o.stdin_fd = null_stream == 0 ? -1 : in.r.get();
    o.stdout_fd = null_stream == 1 ? -1 : out.w.get();
    o.stderr_fd = null_stream == 2 ? -1 : err.w.get();
    auto child = Spawn(o);
    ASSERT_TRUE(child.ok()) << null_stream << ": " << child.error().Message();
    in.r.Reset();
    out.w.Reset();
    err.w.Reset();
    if (null_stream != 0) {
      ASSERT_EQ(::write(in.w.get(), "in\n", 3), 3);
    }
    in.w.Reset();
    const std::string got_out = ReadAll(out.r.get());
    const std::string got_err = ReadAll(err.r.get());
    ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());
    EXPECT_EQ(got_out, null_stream == 1   ? ""
                       : null_stream == 0 ? "out\n"
                                          : "in\nout\n")
        << null_stream;
    EXPECT_EQ(got_err, null_stream == 2 ? "" : "err\n") << null_stream;
  }
}

// A passed descriptor may become the child's stdin.
TEST(ProcessTest, APassedDescriptorCanBeStdin) {
  Pipe in;
  SpawnOptions o;
  o.argv = {"sh", "-c", "read x; echo got $x"};
  o.pass_fds = {{in.r.get(), 0}};
  ASSERT_EQ(::write(in.w.get(), "hi\n", 3), 3);
  in.w.Reset();
  EXPECT_EQ(Output(o), "got hi\n");
}

// Passed descriptors whose numbers are free in the parent arrive open (not closed on exec),
// and a failure after they are in place is still reported.
TEST(ProcessTest, PassedDescriptorsAtFreeNumbersArriveAndFailuresAreStillReported) {
  ASSERT_EQ(::fcntl(40, F_GETFD), -1) << "fd 40 is open in the test";
  ASSERT_EQ(::fcntl(41, F_GETFD), -1) << "fd 41 is open in the test";
  Pipe a, b;
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo A >/proc/self/fd/40; echo B >/proc/self/fd/41"};
  o.pass_fds = {{a.w.get(), 40}, {b.w.get(), 41}};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  a.w.Reset();
  b.w.Reset();
  EXPECT_EQ(ReadAll(a.r.get()), "A\n");
  EXPECT_EQ(ReadAll(b.r.get()), "B\n");
  ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());

  Pipe c, d;
  o.argv = {"/nonexistent/program"};
  o.pass_fds = {{c.w.get(), 40}, {d.w.get(), 41}};
  auto failed = Spawn(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().Message(),
            "unable to spawn /nonexistent/program: execve: No such file or directory");
  EXPECT_EQ(::fcntl(40, F_GETFD), -1);  // nothing left open in the parent
}

// kInherit keeps our stdin for the child.
TEST(ProcessTest, AnInheritedStdinIsOurs) {
  Pipe in;
  const int saved = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(in.r.get(), 0), 0);
  SpawnOptions o;
  o.argv = {"cat"};
  o.stdin_fd = SpawnOptions::kInherit;
  Pipe out;
  o.stdout_fd = out.w.get();
  auto child = Spawn(o);
  ::dup2(saved, 0);
  ::close(saved);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  in.r.Reset();
  out.w.Reset();
  ASSERT_EQ(::write(in.w.get(), "ours\n", 5), 5);
  in.w.Reset();
  EXPECT_EQ(ReadAll(out.r.get()), "ours\n");
  ASSERT_TRUE(WaitExit(child->pidfd.get()).ok());
}

// Without `env` the child gets ours; an override replaces the entry of exactly its name.
TEST(ProcessTest, TheChildInheritsOurEnvironmentAndOverridesReplaceWholeNames) {
  SpawnOptions o;
  o.argv = {"env"};
  std::vector<std::string> theirs;
  std::istringstream lines(Output(o));
  for (std::string line; std::getline(lines, line);) theirs.push_back(line);
  std::vector<std::string> ours;
  for (char** e = environ; *e != nullptr; ++e) ours.emplace_back(*e);
  ASSERT_FALSE(ours.empty());
  std::sort(theirs.begin(), theirs.end());
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(theirs, ours);
  o.env = std::vector<std::string>{"A=1", "AB=2", "B=3"};
  o.env_overrides = {"A=9"};
  EXPECT_EQ(Output(o), "AB=2\nB=3\nA=9\n");
}

// Restores an environment variable when it goes out of scope.
struct EnvRestore {
  std::string name;
  std::optional<std::string> old;
  explicit EnvRestore(std::string n) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
  }
  ~EnvRestore() {
    if (old) {
      ::setenv(name.c_str(), old->c_str(), 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }
};

TEST(ProcessTest, FindExecutableSearchesPathOrTheDefaultDirectories) {
  testing::TempDir dir("path");
  const std::string prog = dir.Write("duende-only-here", "", /*exec=*/true);
  EnvRestore restore("PATH");
  ::setenv("PATH", ("/nonexistent:" + dir.path()).c_str(), 1);
  auto found = FindExecutable("duende-only-here");
  ASSERT_TRUE(found.ok()) << found.error().Message();
  EXPECT_EQ(*found, prog);
  EXPECT_FALSE(FindExecutable("sh").ok());  // not in this PATH
  ::unsetenv("PATH");
  auto sh = FindExecutable("sh");
  ASSERT_TRUE(sh.ok()) << sh.error().Message();
  EXPECT_TRUE(*sh == "/usr/local/bin/sh" || *sh == "/usr/bin/sh" || *sh == "/bin/sh") << *sh;
}

TEST(ProcessTest, PermanentSpawnErrorsAreTheOnesARetryRepeats) {
  for (int err : {E2BIG, ENOENT, EACCES, ENOEXEC, ENOTDIR, ELOOP, ENAMETOOLONG}) {
    EXPECT_TRUE(IsPermanentSpawnError(ErrnoError("spawn", err))) << std::strerror(err);
  }
  for (int err : {EAGAIN, ENOMEM, EMFILE, EPERM, EINTR}) {
    EXPECT_FALSE(IsPermanentSpawnError(ErrnoError("spawn", err))) << std::strerror(err);
  }
  // Not an errno at all (ENOENT's value in another category).
  EXPECT_FALSE(IsPermanentSpawnError(MessageError("bad", std::errc::no_such_file_or_directory)));
  Error generic;
  generic.code = std::error_code(ENOENT, std::generic_category());
  EXPECT_FALSE(IsPermanentSpawnError(generic));
}

TEST(ProcessTest, ExecLimitProblemCountsEveryByteUpToTheLimit) {
  const std::string fits(kMaxArgStrlen - 1, 'a');  // with its NUL: exactly the limit
  const std::string over(kMaxArgStrlen, 'a');
  EXPECT_EQ(ExecLimitProblem({"x", fits}, {}, 0), "");
  EXPECT_EQ(ExecLimitProblem({"x", over}, {}, 0),
            "argument 1 is 131072 bytes; Linux limits one argument to 131071 bytes "
            "(MAX_ARG_STRLEN), so execve would fail with E2BIG");
  EXPECT_EQ(ExecLimitProblem({"x"}, {"B=" + fits.substr(2)}, 0), "");
  EXPECT_EQ(ExecLimitProblem({"x"}, {"BIG=" + over.substr(4)}, 0),
            "environment variable BIG is 131072 bytes (NAME=value); Linux limits one "
            "environment string to 131071 bytes (MAX_ARG_STRLEN), so execve would fail with E2BIG");
  // The total: each string with its NUL and pointer, two closing null pointers, the inherited.
  const long arg_max = ::sysconf(_SC_ARG_MAX);
  ASSERT_GT(arg_max, 100);
  const size_t own = (1 + 1 + sizeof(char*)) + (3 + 1 + sizeof(char*)) + 2 * sizeof(char*);
  const size_t at_limit = static_cast<size_t>(arg_max) - own;
  EXPECT_EQ(ExecLimitProblem({"a"}, {"X=1"}, at_limit), "");
  EXPECT_EQ(ExecLimitProblem({"a"}, {"X=1"}, at_limit + 1),
            "the command line and environment take " + std::to_string(arg_max + 1) +
                " bytes (with " + std::to_string(at_limit + 1) +
                " bytes of inherited environment); execve accepts at most " +
                std::to_string(arg_max) + " (ARG_MAX), so it would fail with E2BIG");
}

TEST(ProcessTest, InheritedEnvironmentBytesCountsStringsNulsAndPointers) {
  size_t expected = 0;
  for (char** e = environ; *e != nullptr; ++e) expected += std::strlen(*e) + 1 + sizeof(char*);
  ASSERT_GT(expected, 0u);
  EXPECT_EQ(InheritedEnvironmentBytes(), expected);
}

TEST(ProcessTest, ParseSignalTakesMultiDigitNumbersBelowNsigOnly) {
  EXPECT_EQ(ParseSignal("15"), SIGTERM);
  EXPECT_EQ(ParseSignal(std::to_string(NSIG - 1)), NSIG - 1);
  EXPECT_EQ(ParseSignal(std::to_string(NSIG)), 0);
  EXPECT_EQ(ParseSignal(""), 0);
  EXPECT_EQ(ParseSignal("1x"), 0);
}

// A sandbox step that fails in the child is named like the other steps.
TEST(ProcessTest, AFailingSandboxStepIsNamed) {
  if (::geteuid() != 0) GTEST_SKIP() << "a mount namespace needs root";
  PreparedSandbox before_ids;
  before_ids.mount_namespace = true;
  before_ids.read_only_binds = {"/nonexistent/duende-path"};
  PreparedSandbox after_ids;
  after_ids.seccomp_filter = {sock_filter{0xffff, 0, 0, 0}};  // no such BPF instruction
  for (const auto& [sandbox, step, err] :
       std::vector<std::tuple<const PreparedSandbox*, std::string, int>>{
           {&before_ids, "sandbox: read-only bind mount", ENOENT},
           {&after_ids, "sandbox: seccomp filter", EINVAL}}) {
    SpawnOptions o;
    o.argv = {"true"};
    o.sandbox = sandbox;
    auto child = Spawn(o);
    ASSERT_FALSE(child.ok()) << step;
    EXPECT_EQ(child.error().Message(), "unable to spawn true: " + step + ": " + std::strerror(err));
  }
}

}  // namespace
}  // namespace duende::framework
