// RunCommand: Boost.Process (1.74, Process v1) starts the command; the rest is ours.
//
// Boost does the fork, exec, stdio binding and reports exec failures. What 1.74 gets wrong or
// lacks for us is wrapped here, each with a test in tests/framework/command_test.cc
// (BoostProcessTest shows the library's behaviour, CommandTest ours):
// - a plain bp::child inherits every descriptor of ours that lacks O_CLOEXEC, and its
//   bp::limit_handles closes Boost's own exec-error pipe, so an exec failure is reported as a
//   success: the child marks every descriptor above 2 close-on-exec itself (close_range);
// - after an exec failure the failed child is left a zombie: we reap it;
// - its pipes are made without O_CLOEXEC (a concurrent spawn in another thread inherits
//   them and holds our reader open): ours are pipe2(O_CLOEXEC), bound onto 1 and 2;
// - bp::group's terminate is SIGKILL only, and wait_for swaps the process-wide SIGCHLD
//   handler and sigtimedwait()s SIGCHLD (stealing it from other threads): the command gets its
//   own process group, and we wait on a pidfd with poll(), TERM then KILL to the group;
// - there is no bounded capture of both streams: we read both pipes in one poll() loop.
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <boost/process/posix.hpp>

#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/framework/unique_fd.h"
#include "spawn_support.h"

namespace duende::framework {
namespace {

namespace bp = boost::process;

// Our part of starting the child: the argv as given (Boost would make argv[0] the resolved
// path), the environment, and in the forked child before exec the process group, the parent
// death signal, clean signal state and descriptor hygiene.
struct ChildSetup : bp::extend::handler {
  char* const* argv = nullptr;
  char** envp = nullptr;
  const char* working_dir = nullptr;  // nullptr: keep ours

  template <typename Executor>
  void on_setup(Executor& exec) const {
    exec.cmd_line = argv;
    exec.env = envp;
  }

  template <typename Executor>
  void on_exec_setup(Executor& exec) const {
    auto fail = [&](const char* step) {
      exec.set_error(std::error_code(errno, std::system_category()), step);
      ::_exit(127);
    };
    // Its own group, so that a timeout stops what it started too.
    if (::setpgid(0, 0) != 0) fail("setpgid");
    // A command must not outlive us (we are its only reader and reaper).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("prctl(PR_SET_PDEATHSIG)");
    if (working_dir != nullptr && ::chdir(working_dir) != 0) fail("chdir");
    // Ignored signals and the blocked mask survive exec: a command started by a thread that
    // blocks SIGTERM for its signalfd would otherwise ignore our TERM.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Every descriptor but stdin/stdout/stderr is closed on exec, whoever opened it and how.
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail("close_range");
  }

  template <typename Executor>
  void on_error(Executor& exec, const std::error_code&) const {
    // Boost 1.74 returns an exec failure without reaping the child it forked.
    if (exec.pid > 0) ::waitpid(exec.pid, nullptr, 0);
  }
};

// One output stream of the command: its pipe and what we keep of it.
struct Stream {
  UniqueFd read_end;
  std::string* keep = nullptr;
  size_t* dropped = nullptr;
};

void Keep(Stream& s, const char* data, size_t n, size_t max) {
  if (max == 0) {
    *s.dropped += n;
    return;
  }
  s.keep->append(data, n);
  // Trimmed in steps of at least `max` bytes so that a chatty command costs amortised O(1)
  // per byte; the final trim to `max` is in Finish().
  if (s.keep->size() >= 2 * max) {
    size_t cut = s.keep->size() - max;
    s.keep->erase(0, cut);
    *s.dropped += cut;
  }
}

void Finish(Stream& s, size_t max) {
  if (s.keep->size() > max) {
    size_t cut = s.keep->size() - max;
    s.keep->erase(0, cut);
    *s.dropped += cut;
  }
}

enum class ReadState { kData, kEmpty, kClosed };

// One read of what is in the pipe now.
ReadState Drain(Stream& s, const CommandOptions& o) {
  char buf[65536];
  ssize_t got = ::read(s.read_end.get(), buf, sizeof buf);
  if (got < 0) return errno == EINTR || errno == EAGAIN ? ReadState::kEmpty : ReadState::kClosed;
  if (got == 0) return ReadState::kClosed;
  const auto n = static_cast<size_t>(got);
  if (o.on_output) o.on_output(std::string_view(buf, n));
  Keep(s, buf, n, o.max_capture);
  return ReadState::kData;
}

}  // namespace

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  if (argv.empty()) return MessageError("unable to spawn: empty command");
  auto exe = FindExecutable(argv[0]);
  if (!exe.ok()) return ErrnoError("unable to spawn " + argv[0], ENOENT);

  CommandResult result;
  const int64_t start = MonotonicNs();
  Stream streams[2];
  streams[0].keep = &result.out;
  streams[0].dropped = &result.out_dropped;
  streams[1].keep = &result.err;
  streams[1].dropped = &result.err_dropped;
  const int stream_count = options.merge_stderr ? 1 : 2;
  UniqueFd write_ends[2];
  for (int i = 0; i < stream_count; ++i) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("unable to spawn " + argv[0] + ": pipe");
    streams[i].read_end.Reset(fds[0]);
    write_ends[i].Reset(fds[1]);
  }
  const int out_fd = write_ends[0].get();
  const int err_fd = options.merge_stderr ? out_fd : write_ends[1].get();

  std::vector<char*> argv_ptrs;
  for (const auto& a : argv) argv_ptrs.push_back(const_cast<char*>(a.c_str()));
  argv_ptrs.push_back(nullptr);
  std::vector<std::string> env = ChildEnvironment(std::nullopt, options.env_overrides);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  ChildSetup setup;
  setup.argv = argv_ptrs.data();
  setup.envp = envp.data();
  setup.working_dir = options.working_dir.empty() ? nullptr : options.working_dir.c_str();

  std::error_code ec;
  bp::child child(bp::exe = *exe, bp::std_in < bp::null, bp::posix::fd.bind(STDOUT_FILENO, out_fd),
                  bp::posix::fd.bind(STDERR_FILENO, err_fd), setup, ec);
  if (ec) return ErrnoError("unable to spawn " + argv[0], ec.value());
  const pid_t pid = child.id();
  // From here on the pidfd is the child's handle; bp::child would SIGKILL the pid when it goes
  // out of scope, by then perhaps a recycled one.
  child.detach();
  auto pidfd = OpenPidfd(pid);  // race-free: the pid is ours until we reap it
  if (!pidfd.ok()) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return ErrnoError("unable to spawn " + argv[0] + ": pidfd_open", pidfd.error().code.value());
  }
  write_ends[0].Reset();
  write_ends[1].Reset();

  // Stops the group: TERM then KILL after the grace, or KILL at once. The leader is signalled
  // through its pidfd as well, in case it left the group.
  bool terminating = false;
  int64_t deadline = options.timeout.count() > 0 ? start + options.timeout.count() : INT64_MAX;
  auto stop_group = [&](int64_t now) {
    int sig = !terminating && options.kill_grace.count() > 0 ? SIGTERM : SIGKILL;
    ::kill(-pid, sig);
    (void)SignalPidfd(pidfd->get(), sig);
    terminating = true;
    deadline = sig == SIGTERM ? now + options.kill_grace.count() : INT64_MAX;
  };

  bool open[2] = {true, stream_count > 1};
  bool exited = false;
  while (!exited) {
    const int64_t now = MonotonicNs();
    if (!terminating && options.stop != nullptr && options.stop->load()) {
      result.interrupted = true;
      stop_group(now);
    } else if (now >= deadline) {
      if (!terminating) result.timed_out = true;
      stop_group(now);
    }
    pollfd p[3] = {{pidfd->get(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
    for (int i = 0; i < 2; ++i) p[i + 1].fd = open[i] ? streams[i].read_end.get() : -1;
    int64_t wait_ms = deadline == INT64_MAX ? 60'000 : (deadline - now) / 1'000'000 + 1;
    if (options.stop != nullptr) wait_ms = std::min<int64_t>(wait_ms, 100);
    int n = ::poll(p, 3, static_cast<int>(std::clamp<int64_t>(wait_ms, 0, 60'000)));
    if (n < 0 && errno != EINTR) return ErrnoError("unable to wait for " + argv[0]);
    for (int i = 0; i < 2; ++i) {
      if (open[i] && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        open[i] = Drain(streams[i], options) != ReadState::kClosed;
      }
    }
    if ((p[0].revents & POLLIN) != 0) exited = true;
  }
  // Whatever the command left running in its group is stopped with it. The leader is a
  // zombie until reaped, so its group id cannot have been recycled yet.
  ::kill(-pid, SIGKILL);
  auto status = WaitExit(pidfd->get());
  if (!status.ok()) return status.error();
  result.status = *status;
  // What the command wrote just before it exited is still in the pipes. A process that left
  // the group may hold a pipe open: take what is there, do not wait for its end.
  for (int i = 0; i < 2; ++i) {
    if (!open[i]) continue;
    ::fcntl(streams[i].read_end.get(), F_SETFL, O_NONBLOCK);
    while (Drain(streams[i], options) == ReadState::kData) {
    }
  }
  for (int i = 0; i < stream_count; ++i) Finish(streams[i], options.max_capture);
  result.elapsed = std::chrono::nanoseconds(MonotonicNs() - start);
  return result;
}

Result<CommandResult> RunChecked(const std::vector<std::string>& argv,
                                 const CommandOptions& options) {
  auto r = RunCommand(argv, options);
  if (!r.ok()) return r.error();
  if (r->timed_out || r->interrupted) {
    return Error{std::make_error_code(std::errc::timed_out),
                 argv[0] + (r->timed_out ? " timed out after " + FormatDuration(options.timeout)
                                         : std::string(" was interrupted"))};
  }
  if (!r->status.success()) {
    std::string line = r->err.substr(0, r->err.find('\n'));
    std::string cmd;
    for (size_t i = 0; i < argv.size() && i < 4; ++i) cmd += (i ? " " : "") + argv[i];
    return Error{
        std::make_error_code(std::errc::io_error),
        cmd + " failed (" + r->status.ToString() + ")" + (line.empty() ? "" : ": ") + line};
  }
  return r;
}

}  // namespace duende::framework
