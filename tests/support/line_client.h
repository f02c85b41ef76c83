// A loopback line-protocol client with deadlines (kvd's protocol: one reply line per request
// line), and a free loopback port: for tests and benchmarks that talk to a daemon over TCP.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"

namespace duende::testing {

/// A loopback port free right now (bound to port 0 and released), 0 when none could be had.
/// Another program may take it before the caller binds it: use it where a test needs a fixed
/// port to give a daemon, not for security.
inline int FreePort() {
  framework::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

// A blocking line client with a per-reply deadline.
class LineClient {
 public:
  bool Connect(int port) {
    fd_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    buf_.clear();
    return fd_ && ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  bool Send(const std::string& text) {
    return ::send(fd_.get(), text.data(), text.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(text.size());
  }
  /// The next reply line, or "" after `timeout` or when the connection closed.
  std::string ReadLine(std::chrono::milliseconds timeout) {
    const int64_t deadline = framework::MonotonicNs() + timeout.count() * 1'000'000;
    while (buf_.find('\n') == std::string::npos) {
      int64_t left_ms = (deadline - framework::MonotonicNs()) / 1'000'000;
      if (left_ms <= 0) return "";
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left_ms)) <= 0) continue;
      char tmp[4096];
      ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
      if (n <= 0) return "";
      buf_.append(tmp, static_cast<size_t>(n));
    }
    size_t nl = buf_.find('\n');
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    return line;
  }
  std::string Ask(const std::string& line,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    if (!Send(line + "\n")) return "";
    return ReadLine(timeout);
  }

 private:
  framework::UniqueFd fd_;
  std::string buf_;
};

}  // namespace duende::testing
