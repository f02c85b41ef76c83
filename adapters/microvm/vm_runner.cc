// duende-microvm-runner: runs one boot of a duende microVM in the foreground, as `runc run`
// runs a container, so that the native Supervisor can supervise a VM like any process.
//
//   duende-microvm-runner --control SOCKET --pid-file FILE -- QEMU [ARG]...
//
// It listens on SOCKET (qemu's control chardev connects to it), starts QEMU in a process
// group of its own (the supervisor's stop signal must not reach qemu, which would end the VM
// without the daemon's shutdown) and writes qemu's pid to FILE. Then:
//   - "READY" from the guest -> READY=1 on $NOTIFY_SOCKET (the supervisor's readiness);
//   - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 -> "SIGNAL N" to the guest, whose
//     init signals the daemon; SIGRTMIN with an int value N (sigqueue) -> "SIGNAL N", for
//     signals that cannot be forwarded by catching them (SIGKILL, SIGSTOP);
//   - "EXIT code=N" / "EXIT signal=N" -> "BYE", and once qemu has ended the runner ends the
//     same way (exit N, or killed by signal N), so the supervisor sees the daemon's death.
// qemu ending without an EXIT report is a power loss (qemu killed: the runner kills itself
// with SIGKILL) or a guest crash (exit 125). Exit 125 also for the runner's own failures.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/notify.h"

namespace {

constexpr int kRunnerFailed = 125;
constexpr size_t kMaxLine = 4096;
constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "duende-microvm-runner: %s: %s\n", what.c_str(), std::strerror(errno));
  std::_Exit(kRunnerFailed);
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Ends this process the way the daemon ended.
[[noreturn]] void EndLike(bool signaled, int value) {
  if (signaled) {
    ::signal(value, SIG_DFL);
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
    ::kill(::getpid(), value);
    std::_Exit(128 + value);  // a signal whose default action is not to end a process
  }
  std::_Exit(value);
}

}  // namespace

int main(int argc, char** argv) {
  std::string control, pid_file;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (i + 1 >= argc) break;
    if (a == "--control") {
      control = argv[++i];
    } else if (a == "--pid-file") {
      pid_file = argv[++i];
    } else {
      break;
    }
  }
  if (control.empty() || pid_file.empty() || i >= argc) {
    std::fprintf(
        stderr, "usage: duende-microvm-runner --control SOCKET --pid-file FILE -- QEMU [ARG]...\n");
    return 2;
  }
  // With the supervisor gone, so are we (and qemu with us, by its own death signal).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return kRunnerFailed;

  sigset_t mask;
  sigemptyset(&mask);
  for (int s : kForwarded) sigaddset(&mask, s);
  sigaddset(&mask, SIGRTMIN);
  sigaddset(&mask, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) Die("signalfd");

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (control.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    Die(control);
  }
  std::memcpy(addr.sun_path, control.c_str(), control.size() + 1);
  ::unlink(control.c_str());  // left by an earlier boot (the directory is private)
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 1) != 0) {
    Die("unable to listen on " + control);
  }

  const int64_t started_ns = duende::framework::MonotonicNs();
  pid_t qemu = ::fork();
  if (qemu < 0) Die("fork");
  if (qemu == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::sigprocmask(SIG_UNBLOCK, &mask, nullptr);
    ::execvp(argv[i], argv + i);
    std::fprintf(stderr, "duende-microvm-runner: unable to run %s: %s\n", argv[i],
                 std::strerror(errno));
    std::_Exit(127);
  }
  {
    std::string tmp = pid_file + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) Die(tmp);
    WriteAll(fd, std::to_string(qemu) + "\n");
    ::close(fd);
    if (::rename(tmp.c_str(), pid_file.c_str()) != 0) Die(pid_file);
  }

  auto notifier = duende::framework::Notifier::FromEnvironment();
  int conn = -1;
  std::string pending;
  std::string queued;                               // signals that came before the guest connected
  std::optional<std::pair<bool, int>> daemon_exit;  // signaled?, code or signal
  int qemu_status = 0;
  bool qemu_done = false;

  auto handle_line = [&](const std::string& line) {
    int v = 0;
    if (line == "READY") {
      if (notifier.ok()) (void)notifier->Ready();
      std::fprintf(stderr, "duende-microvm-runner: guest ready %.3f s after qemu's start\n",
                   static_cast<double>(duende::framework::MonotonicNs() - started_ns) / 1e9);
    } else if (std::sscanf(line.c_str(), "EXIT code=%d", &v) == 1) {
      // What the guest says is checked like any input: root in the guest can write here too.
      daemon_exit =
          v >= 0 && v <= 255 ? std::make_pair(false, v) : std::make_pair(false, kRunnerFailed);
      WriteAll(conn, "BYE\n");
    } else if (std::sscanf(line.c_str(), "EXIT signal=%d", &v) == 1) {
      daemon_exit =
          v >= 1 && v < SIGRTMIN ? std::make_pair(true, v) : std::make_pair(false, kRunnerFailed);
      WriteAll(conn, "BYE\n");
    } else {
      std::fprintf(stderr, "duende-microvm-runner: guest: %s (%.3f s after qemu's start)\n",
                   line.c_str(),
                   static_cast<double>(duende::framework::MonotonicNs() - started_ns) / 1e9);
    }
  };
  auto read_conn = [&]() -> bool {
    char buf[4096];
    ssize_t n = ::read(conn, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    pending.append(buf, static_cast<size_t>(n));
    if (pending.size() > kMaxLine && pending.find('\n') == std::string::npos) {
      pending.clear();  // a line longer than any the guest init writes: not one of ours
    }
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      handle_line(line);
    }
    return true;
  };

  while (!qemu_done) {
    std::vector<pollfd> p = {{sfd, POLLIN, 0}, {conn >= 0 ? conn : listener, POLLIN, 0}};
    if (::poll(p.data(), p.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Die("poll");
    }
    if (p[1].revents != 0) {
      if (conn < 0) {
        conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (conn >= 0 && !queued.empty()) WriteAll(conn, queued);
        queued.clear();
      } else if (!read_conn()) {
        ::close(conn);
        conn = -2;  // qemu closed it: it is ending; wait for its exit on SIGCHLD
        ::close(listener);
        listener = -1;
      }
    }
    if (p[0].revents & POLLIN) {
      signalfd_siginfo si{};
      if (::read(sfd, &si, sizeof si) != sizeof si) continue;
      const int sig = static_cast<int>(si.ssi_signo);
      int forward = 0;
      if (sig == SIGCHLD) {
        if (::waitpid(qemu, &qemu_status, WNOHANG) == qemu) qemu_done = true;
      } else if (sig == SIGRTMIN) {
        forward = si.ssi_int;
      } else {
        forward = sig;
      }
      if (forward > 0) {
        // Before the guest has connected (still booting) the signal waits for it: the guest
        // init reads the port once the daemon runs, so it reaches the daemon then.
        const std::string line = "SIGNAL " + std::to_string(forward) + "\n";
        if (conn >= 0) {
          WriteAll(conn, line);
        } else if (conn == -1) {
          queued += line;
        }
      }
    }
    if (conn == -2 && !qemu_done) {
      // The control connection is gone; only qemu's exit is left to wait for.
      if (::waitpid(qemu, &qemu_status, 0) == qemu) qemu_done = true;
    }
  }
  if (conn >= 0) {
    ::fcntl(conn, F_SETFL, O_NONBLOCK);
    while (read_conn()) {
    }
  }
  ::unlink(pid_file.c_str());
  if (daemon_exit) EndLike(daemon_exit->first, daemon_exit->second);
  if (WIFSIGNALED(qemu_status)) {
    std::fprintf(stderr,
                 "duende-microvm-runner: qemu (pid %d) was killed by signal %d: power loss\n",
                 static_cast<int>(qemu), WTERMSIG(qemu_status));
    EndLike(true, SIGKILL);
  }
  std::fprintf(stderr,
               "duende-microvm-runner: the VM ended (qemu exit %d) without reporting the "
               "daemon's exit; see the console log\n",
               WEXITSTATUS(qemu_status));
  return kRunnerFailed;
}
