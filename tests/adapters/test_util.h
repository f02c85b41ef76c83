// Helpers of the real-platform adapter tests: an event collector and bounded waiting.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "duende/adapters/adapter.h"
#include "duende/framework/clock.h"
#include "support/wait.h"

namespace duende::adapters::testing {

/// Collects an adapter's events (from its watcher thread) for the test thread.
class Events {
 public:
  Adapter::EventCallback Callback() {
    return [this](const framework::ServiceEvent& ev) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(ev);
      cv_.notify_all();
    };
  }
  /// Waits until `n` events of `type` were seen; false after `timeout`.
  bool WaitFor(framework::EventType type, size_t n, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return Count(type) >= n; });
  }
  size_t CountOf(framework::EventType type) {
    std::lock_guard<std::mutex> lock(mu_);
    return Count(type);
  }
  std::vector<framework::ServiceEvent> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  /// True when an `exited` event says killed by `signal`.
  bool SawDeathBy(int signal) {
    for (const auto& e : All()) {
      if (e.type == framework::EventType::kExited && e.exit && e.exit->signaled &&
          e.exit->signal == signal) {
        return true;
      }
    }
    return false;
  }
  std::string Dump() {
    std::string s;
    for (const auto& e : All()) s += e.ToString() + "\n";
    return s;
  }

 private:
  size_t Count(framework::EventType type) const {
    size_t n = 0;
    for (const auto& e : events_) n += e.type == type ? 1 : 0;
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<framework::ServiceEvent> events_;
};

using duende::testing::Eventually;

inline bool Alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

}  // namespace duende::adapters::testing
