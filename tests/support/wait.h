// Bounded waiting in tests: for a condition, for a loopback port to accept connections.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"

namespace duende::testing {

/// Polls `pred` every 10 ms until it holds or `timeout` passes; returns pred() at the end.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds timeout) {
  const int64_t deadline = framework::MonotonicNs() + timeout.count() * 1'000'000;
  while (framework::MonotonicNs() < deadline) {
    if (pred()) return true;
    ::usleep(10'000);
  }
  return pred();
}

/// True when a TCP connection to 127.0.0.1:`port` succeeds now (it is closed at once).
inline bool CanConnect(int port) {
  framework::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return fd && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

/// Waits until 127.0.0.1:`port` accepts a connection; false after `timeout`.
inline bool WaitForPort(int port, std::chrono::milliseconds timeout) {
  return Eventually([port] { return CanConnect(port); }, timeout);
}

}  // namespace duende::testing
