// The service manager's end of NOTIFY_SOCKET for tests: an abstract-namespace datagram socket
// (as duende's supervisor uses), named after the test process so parallel tests do not meet.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>

#include "duende/framework/unique_fd.h"

namespace duende::framework::testing_util {

struct NotifyManager {
  UniqueFd fd;
  std::string address;  ///< "@duende-notify-test-<pid>-<n>", for NOTIFY_SOCKET
  NotifyManager() {
    static std::atomic<int> count{0};
    address = "@duende-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(++count);
    fd.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path + 1, address.data() + 1, address.size() - 1);
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), len), 0);
  }
  /// The next datagram, or "" when none comes within `timeout_ms`.
  std::string Next(int timeout_ms = 2000) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return "";
    char buf[512];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
};

}  // namespace duende::framework::testing_util
