// EventLoop: one epoll set, one timerfd for every timer, one eventfd for work posted from other
// threads. No fixed tick: the loop sleeps in epoll_wait until a descriptor is ready, the
// earliest timer is due or another thread posts work, so an idle loop makes zero wake-ups.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

class EventLoop {
 public:
  using FdCallback = std::function<void(uint32_t epoll_events)>;
  using TimerId = uint64_t;

  /// Errors: the errno of epoll_create1/timerfd_create/eventfd (EMFILE, ENOMEM).
  static Result<std::unique_ptr<EventLoop>> Create();

  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;
  ~EventLoop();

  /// Watches `fd` for `events` (EPOLLIN, ...). The callback runs on the loop thread; it may
  /// remove this or any other watch. Errors: epoll_ctl's errno (EEXIST when already watched).
  Result<void> Watch(int fd, uint32_t events, FdCallback callback);
  /// Changes the events of a watched fd.
  Result<void> Modify(int fd, uint32_t events);
  /// Stops watching `fd` (no-op when not watched). Call before closing the fd.
  void Unwatch(int fd);

  /// Calls `callback` once at CLOCK_MONOTONIC time `deadline_ns` (or at the next iteration
  /// when already past). Returns an id for Cancel().
  TimerId AddTimer(int64_t deadline_ns, std::function<void()> callback);
  /// Cancels a pending timer (no-op when it already ran or the id is 0).
  void CancelTimer(TimerId id);

  /// Runs `fn` on the loop thread at its next iteration. Thread-safe; wakes the loop.
  void Post(std::function<void()> fn);

  /// Runs until Quit(). Must be called from one thread at a time.
  /// Errors: epoll_wait's errno other than EINTR.
  Result<void> Run();
  /// Runs one iteration, waiting at most `timeout_ms` (-1: until something happens).
  Result<void> RunOnce(int timeout_ms);
  /// Makes Run() return after the current iteration. Thread-safe.
  void Quit();

  /// Wake-ups of epoll_wait so far (for benchmarks: an idle loop must not add any).
  uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

 private:
  EventLoop(UniqueFd epoll, UniqueFd timer, UniqueFd wake);
  void ArmTimerFd();
  void RunDueTimers();
  void RunPosted();

  UniqueFd epoll_;
  UniqueFd timerfd_;
  UniqueFd wakefd_;
  // Callbacks are held by shared_ptr so that one removed while it runs stays alive.
  std::unordered_map<int, std::shared_ptr<FdCallback>> watches_;
  std::multimap<int64_t, TimerId> timers_by_time_;
  std::unordered_map<TimerId, std::pair<int64_t, std::function<void()>>> timers_;
  TimerId next_timer_id_ = 1;
  int64_t armed_ns_ = -1;
  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
  bool quit_ = false;
  std::mutex quit_mu_;
  std::atomic<uint64_t> wakeups_{0};
};

}  // namespace duende::framework
