// Linux implementation of Spawn(): vfork + a short list of raw syscalls in the child.
//
// Between vfork() and execve() the child shares our memory and runs on our stack, so it only
// makes system calls (no allocation, no locks) and reports a failure as {step, errno} through
// a close-on-exec pipe: an exec that succeeds closes it empty. (A pipe rather than shared
// memory, so the same code is right where vfork acts as fork, e.g. under ThreadSanitizer.)
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "duende/framework/process.h"
#include "duende/framework/sandbox.h"
#include "spawn_support.h"

extern char** environ;

namespace duende::framework {
namespace {

// glibc 2.36's <sys/pidfd.h> lacks extern "C" guards, so the syscalls are made directly.
int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U)); }
int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0U));
}

// Steps of the child, for the error message.
enum ChildStep : int {
  kStepNone = 0,
  kStepSetpgid,
  kStepPdeathsig,
  kStepCgroup,
  kStepRlimit,
  kStepChdir,
  kStepFds,
  kStepGid,
  kStepUid,
  kStepExec,
  // kStepSandbox + SandboxStep
  kStepSandbox = 64,
};

const char* StepName(int step) {
  switch (step) {
    case kStepSetpgid:
      return "setpgid";
    case kStepPdeathsig:
      return "prctl(PR_SET_PDEATHSIG)";
    case kStepCgroup:
      return "joining cgroup";
    case kStepRlimit:
      return "setrlimit";
    case kStepChdir:
      return "chdir";
    case kStepFds:
      return "setting up descriptors";
    case kStepGid:
      return "setgid";
    case kStepUid:
      return "setuid";
    default:
      if (step > kStepSandbox) {
        return SandboxStepName(static_cast<SandboxStep>(step - kStepSandbox));
      }
      return "execve";
  }
}

}  // namespace

std::vector<std::string> ChildEnvironment(const std::optional<std::vector<std::string>>& base,
                                          const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  if (base) {
    env = *base;
  } else {
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  }
  for (const auto& kv : overrides) {
    std::string name = kv.substr(0, kv.find('='));
    std::erase_if(env, [&](const std::string& e) {
      return e.size() > name.size() && e.compare(0, name.size(), name) == 0 &&
             e[name.size()] == '=';
    });
    env.push_back(kv);
  }
  return env;
}

Result<std::string> FindExecutable(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return ErrnoError("unable to find " + program + " in PATH", ENOENT);
}

bool IsPermanentSpawnError(const Error& error) {
  if (error.code.category() != std::system_category()) return false;
  switch (error.code.value()) {
    case E2BIG:
    case ENOENT:
    case EACCES:
    case ENOEXEC:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
      return true;
    default:
      return false;
  }
}

std::string ExecLimitProblem(const std::vector<std::string>& argv,
                             const std::vector<std::string>& env, size_t inherited_bytes) {
  size_t total = inherited_bytes + sizeof(char*) * 2;  // the two terminating null pointers
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].size() + 1 > kMaxArgStrlen) {
      return "argument " + std::to_string(i) + " is " + std::to_string(argv[i].size()) +
             " bytes; Linux limits one argument to " + std::to_string(kMaxArgStrlen - 1) +
             " bytes (MAX_ARG_STRLEN), so execve would fail with E2BIG";
    }
    total += argv[i].size() + 1 + sizeof(char*);
  }
  for (const auto& e : env) {
    if (e.size() + 1 > kMaxArgStrlen) {
      return "environment variable " + e.substr(0, std::min<size_t>(e.find('='), 64)) + " is " +
             std::to_string(e.size()) +
             " bytes (NAME=value); Linux limits one environment "
             "string to " +
             std::to_string(kMaxArgStrlen - 1) +
             " bytes (MAX_ARG_STRLEN), so execve would fail with E2BIG";
    }
    total += e.size() + 1 + sizeof(char*);
  }
  const long arg_max = ::sysconf(_SC_ARG_MAX);
  if (arg_max > 0 && total > static_cast<size_t>(arg_max)) {
    return "the command line and environment take " + std::to_string(total) + " bytes (with " +
           std::to_string(inherited_bytes) +
           " bytes of inherited environment); execve accepts at most " + std::to_string(arg_max) +
           " (ARG_MAX), so it would fail with E2BIG";
  }
  return "";
}

size_t InheritedEnvironmentBytes() {
  size_t total = 0;
  for (char** e = environ; *e != nullptr; ++e) total += std::strlen(*e) + 1 + sizeof(char*);
  return total;
}

// vfork() returns twice, so GCC warns that locals live across it "might be clobbered". They
// are not: the child never returns into this frame (it execs or _exits) and writes none of them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
Result<Child> Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return MessageError("unable to spawn: empty command");
  auto exe = FindExecutable(o.argv[0]);
  if (!exe.ok()) return ErrnoError("unable to spawn " + o.argv[0], ENOENT);

  // Everything the child needs is prepared here, before vfork.
  std::vector<char*> argv;
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = ChildEnvironment(o.env, o.env_overrides);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  UniqueFd devnull;
  if (o.stdin_fd == -1 || o.stdout_fd == -1 || o.stderr_fd == -1) {
    devnull.Reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) return ErrnoError("unable to open /dev/null");
  }
  auto pick = [&](int fd) { return fd == -1 ? devnull.get() : fd; };
  const int stdio[3] = {pick(o.stdin_fd), pick(o.stdout_fd), pick(o.stderr_fd)};

  // Sources of extra fds are first duplicated above every target number, so that moving one
  // into place can never clobber another's source.
  const int max_target = [&] {
    int highest = 2;
    for (const auto& [src, dst] : o.pass_fds) highest = std::max(highest, dst);
    return highest;
  }();
  std::vector<UniqueFd> staged;
  for (const auto& [src, dst] : o.pass_fds) {
    int copy = ::fcntl(src, F_DUPFD_CLOEXEC, max_target + 1);
    if (copy < 0) return ErrnoError("unable to spawn " + o.argv[0] + ": passing fd");
    staged.emplace_back(copy);
  }
  std::vector<std::pair<int, int>> moves;
  for (size_t i = 0; i < o.pass_fds.size(); ++i)
    moves.emplace_back(staged[i].get(), o.pass_fds[i].second);

  // The failure report pipe; its write end sits above every target fd number so that moving
  // passed fds into place cannot overwrite it.
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return ErrnoError("unable to spawn " + o.argv[0] + ": pipe");
  UniqueFd report_read(report[0]);
  UniqueFd report_write(::fcntl(report[1], F_DUPFD_CLOEXEC, max_target + 1));
  ::close(report[1]);
  if (!report_write) return ErrnoError("unable to spawn " + o.argv[0] + ": pipe");
  const int report_fd = report_write.get();

  // Block every signal so that no handler of ours runs in the child between vfork and the
  // reset of dispositions below.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);

  const char* exe_path = exe->c_str();
  const pid_t parent = ::getpid();

  pid_t pid = vfork();
  if (pid == 0) {
    // --- child: raw syscalls only ---
    auto fail = [&](int step) {
      int failure[2] = {step, errno};
      ssize_t ignored = write(report_fd, failure, sizeof failure);
      (void)ignored;
      _exit(127);
    };
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    }
    if (o.new_process_group && setpgid(0, 0) != 0) fail(kStepSetpgid);
    if (o.parent_death_signal != 0) {
      if (prctl(PR_SET_PDEATHSIG, o.parent_death_signal) != 0) fail(kStepPdeathsig);
      // A parent killed between vfork and the prctl never sends the signal: go now.
      if (getppid() != parent) _exit(127);
    }
    for (const auto& file : o.cgroup_procs_files) {
      int fd = open(file.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, "0", 1) != 1) fail(kStepCgroup);
      close(fd);
    }
    for (const auto& r : o.rlimits) {
      rlimit lim{r.soft, r.hard};
      if (setrlimit(r.resource, &lim) != 0) fail(kStepRlimit);
    }
    if (!o.working_dir.empty() && chdir(o.working_dir.c_str()) != 0) fail(kStepChdir);
    for (int i = 0; i < 3; ++i) {
      if (o.stdout_fd == SpawnOptions::kInherit && i == 1) continue;
      if (o.stderr_fd == SpawnOptions::kInherit && i == 2) continue;
      if (o.stdin_fd == SpawnOptions::kInherit && i == 0) continue;
      // dup2 onto itself would keep FD_CLOEXEC; dup3 refuses equal fds, so clear it.
      if (stdio[i] == i) {
        if (fcntl(i, F_SETFD, 0) != 0) fail(kStepFds);
      } else if (dup2(stdio[i], i) < 0) {
        fail(kStepFds);
      }
    }
    for (const auto& [src, dst] : moves) {
      if (dup2(src, dst) < 0) fail(kStepFds);
    }
    // Everything above the passed descriptors is closed on exec, whatever its flags.
    syscall(SYS_close_range, static_cast<unsigned>(max_target + 1), ~0U, CLOSE_RANGE_CLOEXEC);
    // Namespaces, mounts and the bounding set need root's capabilities: before the ids.
    if (o.sandbox != nullptr) {
      if (SandboxStep st = ApplySandboxBeforeIds(*o.sandbox); st != SandboxStep::kNone) {
        fail(kStepSandbox + static_cast<int>(st));
      }
    }
    if (o.gid && (setgroups(0, nullptr) != 0 || setgid(*o.gid) != 0)) fail(kStepGid);
    if (o.uid && setuid(*o.uid) != 0) fail(kStepUid);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Capabilities, no_new_privs and the seccomp filter last: nothing after it but execve.
    if (o.sandbox != nullptr) {
      if (SandboxStep st = ApplySandboxAfterIds(*o.sandbox); st != SandboxStep::kNone) {
        fail(kStepSandbox + static_cast<int>(st));
      }
    }
    execve(exe_path, argv.data(), envp.data());
    fail(kStepExec);
  }
  int vfork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);

  if (pid < 0) return ErrnoError("unable to spawn " + o.argv[0] + ": vfork", vfork_errno);
  report_write.Reset();
  int failure[2] = {kStepNone, 0};
  ssize_t got = 0;
  do {
    got = ::read(report_read.get(), failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int step = failure[0];
    int err = failure[1];
    ::waitpid(pid, nullptr, 0);
    return ErrnoError("unable to spawn " + o.argv[0] + ": " + StepName(step), err);
  }
  // The pid cannot be recycled before we reap it, so opening the pidfd now is race-free.
  int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return ErrnoError("unable to spawn " + o.argv[0] + ": pidfd_open", err);
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  return Child{pid, UniqueFd(pidfd)};
}
#pragma GCC diagnostic pop

namespace {
ExitStatus FromSiginfo(const siginfo_t& info) {
  ExitStatus s;
  if (info.si_code == CLD_EXITED) {
    s.code = info.si_status;
  } else {
    s.signaled = true;
    s.signal = info.si_status;
    s.core_dumped = info.si_code == CLD_DUMPED;
  }
  return s;
}
}  // namespace

Result<std::optional<ExitStatus>> TryReap(int pidfd) {
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
               WEXITED | WNOHANG) != 0) {
    return ErrnoError("waitid");
  }
  if (info.si_pid == 0) return std::optional<ExitStatus>();
  return std::optional<ExitStatus>(FromSiginfo(info));
}

Result<std::optional<ExitStatus>> PeekExit(int pidfd) {
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0) {
    return ErrnoError("waitid");
  }
  if (info.si_pid == 0) return std::optional<ExitStatus>();
  return std::optional<ExitStatus>(FromSiginfo(info));
}

Result<UniqueFd> OpenPidfd(pid_t pid) {
  int fd = PidfdOpen(pid);
  if (fd < 0) return ErrnoError("unable to open a pidfd for pid " + std::to_string(pid));
  return UniqueFd(fd);
}

Result<ExitStatus> WaitExit(int pidfd) {
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) != 0) {
    if (errno != EINTR) return ErrnoError("waitid");
  }
  return FromSiginfo(info);
}

Result<void> SignalPidfd(int pidfd, int signal) {
  if (PidfdSendSignal(pidfd, signal) != 0) {
    return ErrnoError("unable to send " + SignalName(signal));
  }
  return {};
}

std::string ExitStatus::ToString() const {
  if (!signaled) return "exited with code " + std::to_string(code);
  std::string s = "killed by signal " + std::to_string(signal) + " (" + SignalName(signal) + ")";
  if (core_dumped) s += ", core dumped";
  return s;
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  if (abbrev != nullptr) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signal);
}

int ParseSignal(std::string_view name) {
  if (name.empty()) return 0;
  if (std::isdigit(static_cast<unsigned char>(name[0])) != 0) {
    int n = 0;
    for (char c : name) {
      if (std::isdigit(static_cast<unsigned char>(c)) == 0) return 0;
      n = n * 10 + (c - '0');
      if (n >= NSIG) return 0;
    }
    return n;
  }
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.rfind("SIG", 0) == 0) upper = upper.substr(3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && upper == abbrev) return sig;
  }
  return 0;
}

}  // namespace duende::framework
