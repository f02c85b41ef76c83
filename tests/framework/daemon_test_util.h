// Helpers for tests that run daemons as real child processes: a fixture started with Spawn()
// or a test Daemon run by Run() in a forked child, stdout through a pipe (to wait for
// "listening on ..."), stderr into a file, and a line client for kvd.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"
#include "duende/framework/unique_fd.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace duende::framework::testing_util {

using namespace std::chrono_literals;
using duende::testing::ReadFile;
using duende::testing::TempDir;

/// A child process whose stdout we read line by line and whose stderr goes to a file.
/// Killed (SIGKILL) and reaped on destruction if still running.
class Proc {
 public:
  Proc() = default;
  Proc(Proc&&) = default;
  Proc& operator=(Proc&&) = default;
  ~Proc() {
    Kill(SIGKILL);
    Wait(10s);
  }

  /// Starts `argv` with Spawn() (own process group, dies with the test).
  static Proc Start(const std::vector<std::string>& argv, const std::string& stderr_path,
                    std::vector<std::string> env = {}, std::vector<RlimitSetting> rlimits = {},
                    std::optional<uid_t> uid = std::nullopt) {
    Proc p;
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    UniqueFd out_r(fds[0]), out_w(fds[1]);
    UniqueFd err(::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    SpawnOptions o;
    o.argv = argv;
    o.env_overrides = std::move(env);
    o.stdout_fd = out_w.get();
    o.stderr_fd = err.get();
    o.parent_death_signal = SIGKILL;
    o.rlimits = std::move(rlimits);
    if (uid) {
      o.uid = *uid;
      o.gid = *uid;
    }
    auto child = Spawn(o);
    EXPECT_TRUE(child.ok()) << child.error().Message();
    if (!child.ok()) return p;
    p.pid_ = child->pid;
    p.pidfd_ = std::move(child->pidfd);
    p.out_ = std::move(out_r);
    p.stderr_path_ = stderr_path;
    return p;
  }

  /// Runs `body` in a forked child (its return value is the exit code); `body` typically
  /// calls Run(daemon, argc, argv). `env` is set in the child first.
  static Proc Fork(const std::function<int()>& body, const std::string& stderr_path,
                   const std::vector<std::pair<std::string, std::string>>& env = {}) {
    Proc p;
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = ::fork();
    if (pid == 0) {
      int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      ::dup2(err, STDERR_FILENO);
      ::dup2(fds[1], STDOUT_FILENO);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
      int code = body();
      std::fflush(stdout);
      ::_exit(code);
    }
    ::close(fds[1]);
    p.pid_ = pid;
    auto pidfd = OpenPidfd(pid);
    if (pidfd.ok()) p.pidfd_ = std::move(*pidfd);
    p.out_.Reset(fds[0]);
    p.stderr_path_ = stderr_path;
    return p;
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_; }
  std::string Stderr() const { return ReadFile(stderr_path_); }

  /// Waits until a stdout line starting with `prefix` arrives; returns it (or nullopt on
  /// timeout / EOF). Lines before it are kept in lines().
  std::optional<std::string> WaitLine(const std::string& prefix,
                                      std::chrono::milliseconds timeout = 10s) {
    int64_t deadline = MonotonicNs() + std::chrono::nanoseconds(timeout).count();
    while (true) {
      size_t nl;
      while ((nl = buf_.find('\n')) != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        lines_.push_back(line);
        if (line.rfind(prefix, 0) == 0) return line;
      }
      int64_t left_ms = (deadline - MonotonicNs()) / 1'000'000;
      if (left_ms <= 0 || !out_) return std::nullopt;
      pollfd pfd{out_.get(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(left_ms)) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(out_.get(), chunk, sizeof chunk);
      if (n <= 0) {
        out_.Reset();
        continue;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  /// The port of a "listening on 127.0.0.1:PORT" line (0 on timeout).
  int WaitListening(std::chrono::milliseconds timeout = 10s) {
    auto line = WaitLine("listening on 127.0.0.1:", timeout);
    if (!line) return 0;
    return std::atoi(line->c_str() + std::strlen("listening on 127.0.0.1:"));
  }

  void Kill(int sig) {
    if (running() && pidfd_) [[maybe_unused]]
      auto r = SignalPidfd(pidfd_.get(), sig);
  }

  /// Waits for the exit (nullopt on timeout).
  std::optional<ExitStatus> Wait(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    if (!pidfd_) return std::nullopt;
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    auto s = TryReap(pidfd_.get());
    if (s.ok() && s.value()) status_ = *s.value();
    return status_;
  }

  const std::vector<std::string>& lines() const { return lines_; }

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd out_;
  std::string buf_;
  std::vector<std::string> lines_;
  std::string stderr_path_;
  std::optional<ExitStatus> status_;
};

/// A line-protocol client for kvd on 127.0.0.1.
class KvClient {
 public:
  explicit KvClient(int port) {
    fd_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd_.Reset();
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  bool connected() const { return fd_.valid(); }

  /// Sends `line` and returns the answer line ("" when the connection failed or timed out).
  std::string Call(const std::string& line) {
    if (!Send(line)) return "";
    return ReadLine();
  }
  bool Send(const std::string& line) {
    std::string data = line + "\n";
    return fd_.valid() && ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL) ==
                              static_cast<ssize_t>(data.size());
  }
  std::string ReadLine() {
    while (true) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      char chunk[4096];
      ssize_t n = fd_.valid() ? ::recv(fd_.get(), chunk, sizeof chunk, 0) : -1;
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  UniqueFd fd_;
  std::string buf_;
};

}  // namespace duende::framework::testing_util
