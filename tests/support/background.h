// A program run in the background by a test: stderr in a file, killed (SIGKILL, by its pid)
// and reaped at the end of the scope unless the test waited for it.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"
#include "support/files.h"
#include "support/wait.h"

namespace duende::testing {

class Background {
 public:
  Background(std::vector<std::string> argv, const std::string& stderr_path)
      : stderr_path_(stderr_path) {
    framework::UniqueFd err(
        ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    framework::SpawnOptions o;
    o.argv = std::move(argv);
    o.stdout_fd = -1;
    o.stderr_fd = err.get();
    o.parent_death_signal = SIGKILL;
    auto c = framework::Spawn(o);
    EXPECT_TRUE(c.ok()) << c.error().Message();
    if (c.ok()) {
      pid_ = c->pid;
      pidfd_ = std::move(c->pidfd);
    }
  }
  ~Background() {
    if (!status_ && pid_ > 0) {
      ::kill(pid_, SIGKILL);
      (void)Wait(std::chrono::seconds(10));
    }
  }
  pid_t pid() const { return pid_; }
  std::string Stderr() const { return ReadFile(stderr_path_); }
  /// The port of the first "metrics on http://HOST:PORT/metrics" line on stderr (0: none).
  int WaitMetricsPort(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    int port = 0;
    Eventually(
        [&] {
          const std::string err = Stderr();
          size_t at = err.find("metrics on http://127.0.0.1:");
          if (at == std::string::npos) return false;
          port = std::atoi(err.c_str() + at + std::strlen("metrics on http://127.0.0.1:"));
          return true;
        },
        timeout);
    return port;
  }
  std::optional<framework::ExitStatus> Wait(std::chrono::milliseconds timeout) {
    if (status_) return status_;
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    auto st = framework::WaitExit(pidfd_.get());
    if (st.ok()) status_ = *st;
    return status_;
  }

 private:
  std::string stderr_path_;
  pid_t pid_ = -1;
  framework::UniqueFd pidfd_;
  std::optional<framework::ExitStatus> status_;
};

}  // namespace duende::testing
