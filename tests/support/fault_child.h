// Helpers of the faults tests: children with a readable stdout, a line-based TCP client.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"

namespace duende::faults::testing {

/// A child whose stdout we read; killed and reaped on destruction.
struct TestChild {
  framework::Child child;
  framework::UniqueFd out;
  std::string buffered;
  bool reaped = false;

  ~TestChild() {
    if (child.pid > 0 && !reaped) {
      ::kill(child.pid, SIGCONT);
      ::kill(-child.pid, SIGKILL);
      ::kill(child.pid, SIGKILL);
      (void)framework::WaitExit(child.pidfd.get());
    }
  }

  /// Reads until a line containing `needle` (returns it) or the timeout ("" then).
  std::string WaitLine(const std::string& needle, int timeout_ms = 5000) {
    int64_t deadline = framework::MonotonicNs() + int64_t{timeout_ms} * 1000000;
    while (true) {
      size_t nl;
      while ((nl = buffered.find('\n')) != std::string::npos) {
        std::string line = buffered.substr(0, nl);
        buffered.erase(0, nl + 1);
        if (line.find(needle) != std::string::npos) return line;
      }
      int64_t left = (deadline - framework::MonotonicNs()) / 1000000;
      if (left <= 0) return "";
      pollfd p{out.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(out.get(), buf, sizeof buf);
      if (n <= 0) return "";
      buffered.append(buf, static_cast<size_t>(n));
    }
  }

  framework::ExitStatus Wait() {
    auto st = framework::WaitExit(child.pidfd.get());
    reaped = true;
    return st.ok() ? *st : framework::ExitStatus{};
  }
};

/// Spawns `options` with stdout to a pipe. Fails the test's ASSERT through the Result.
inline framework::Result<std::unique_ptr<TestChild>> StartChild(framework::SpawnOptions options) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return framework::ErrnoError("pipe");
  framework::UniqueFd rd(fds[0]), wr(fds[1]);
  options.stdout_fd = wr.get();
  auto c = framework::Spawn(options);
  if (!c.ok()) return c.error();
  auto t = std::make_unique<TestChild>();
  t->child = std::move(*c);
  t->out = std::move(rd);
  return t;
}

/// A blocking line client on 127.0.0.1.
class LineClient {
 public:
  bool Connect(uint16_t port) {
    fd_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{5, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  /// Sends `line` + "\n" and returns the reply line ("" on EOF/timeout/error).
  std::string Request(const std::string& line) {
    std::string msg = line + "\n";
    if (::send(fd_.get(), msg.data(), msg.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(msg.size())) {
      return "";
    }
    std::string reply;
    char c;
    while (true) {
      ssize_t n = ::recv(fd_.get(), &c, 1, 0);
      if (n <= 0) return "";
      if (c == '\n') return reply;
      reply += c;
    }
  }
  int fd() const { return fd_.get(); }

 private:
  framework::UniqueFd fd_;
};

/// Port from "listening on 127.0.0.1:PORT".
inline uint16_t PortOf(const std::string& line) {
  auto colon = line.rfind(':');
  return colon == std::string::npos ? 0 : static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
}

}  // namespace duende::faults::testing
