#include "duende/framework/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

#include <cerrno>

#include "duende/framework/clock.h"

namespace duende::framework {

Result<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return ErrnoError("unable to create epoll set");
  UniqueFd tfd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!tfd) return ErrnoError("unable to create timerfd");
  UniqueFd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!efd) return ErrnoError("unable to create eventfd");
  std::unique_ptr<EventLoop> loop(new EventLoop(std::move(ep), std::move(tfd), std::move(efd)));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = loop->timerfd_.get();
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->timerfd_.get(), &ev) != 0) {
    return ErrnoError("unable to watch timerfd");
  }
  ev.data.fd = loop->wakefd_.get();
  if (::epoll_ctl(loop->epoll_.get(), EPOLL_CTL_ADD, loop->wakefd_.get(), &ev) != 0) {
    return ErrnoError("unable to watch eventfd");
  }
  return loop;
}

EventLoop::EventLoop(UniqueFd epoll, UniqueFd timer, UniqueFd wake)
    : epoll_(std::move(epoll)), timerfd_(std::move(timer)), wakefd_(std::move(wake)) {}

EventLoop::~EventLoop() = default;

Result<void> EventLoop::Watch(int fd, uint32_t events, FdCallback callback) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return ErrnoError("unable to watch fd " + std::to_string(fd));
  }
  watches_[fd] = std::make_shared<FdCallback>(std::move(callback));
  return {};
}

Result<void> EventLoop::Modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return ErrnoError("unable to modify watch of fd " + std::to_string(fd));
  }
  return {};
}

void EventLoop::Unwatch(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watches_.erase(it);
}

EventLoop::TimerId EventLoop::AddTimer(int64_t deadline_ns, std::function<void()> callback) {
  TimerId id = next_timer_id_++;
  timers_.emplace(id, std::make_pair(deadline_ns, std::move(callback)));
  timers_by_time_.emplace(deadline_ns, id);
  ArmTimerFd();
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto range = timers_by_time_.equal_range(it->second.first);
  for (auto t = range.first; t != range.second; ++t) {
    if (t->second == id) {
      timers_by_time_.erase(t);
      break;
    }
  }
  timers_.erase(it);
  // Re-arm (or disarm) so that a cancelled deadline does not wake an idle loop later.
  if (timers_by_time_.empty()) {
    if (armed_ns_ >= 0) {
      itimerspec off{};
      ::timerfd_settime(timerfd_.get(), TFD_TIMER_ABSTIME, &off, nullptr);
      armed_ns_ = -1;
    }
  } else if (timers_by_time_.begin()->first != armed_ns_) {
    armed_ns_ = -1;
    ArmTimerFd();
  }
}

void EventLoop::ArmTimerFd() {
  if (timers_by_time_.empty()) return;
  int64_t first = timers_by_time_.begin()->first;
  if (first == armed_ns_) return;
  itimerspec spec{};
  // 0 would disarm the timerfd: a deadline already past is armed at 1 ns (fires at once).
  int64_t at = first > 0 ? first : 1;
  spec.it_value.tv_sec = at / 1000000000;
  spec.it_value.tv_nsec = at % 1000000000;
  ::timerfd_settime(timerfd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  armed_ns_ = first;
}

void EventLoop::RunDueTimers() {
  uint64_t expirations = 0;
  while (::read(timerfd_.get(), &expirations, sizeof expirations) > 0) {
  }
  armed_ns_ = -1;
  const int64_t now = MonotonicNs();
  while (!timers_by_time_.empty() && timers_by_time_.begin()->first <= now) {
    TimerId id = timers_by_time_.begin()->second;
    timers_by_time_.erase(timers_by_time_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;
    auto fn = std::move(it->second.second);
    timers_.erase(it);
    fn();
  }
  ArmTimerFd();
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakefd_.get(), &one, sizeof one);
}

void EventLoop::RunPosted() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(wakefd_.get(), &count, sizeof count);
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(posted_mu_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

void EventLoop::Quit() {
  {
    std::lock_guard<std::mutex> lock(quit_mu_);
    quit_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakefd_.get(), &one, sizeof one);
}

Result<void> EventLoop::RunOnce(int timeout_ms) {
  epoll_event events[64];
  int n = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
  ++wakeups_;
  if (n < 0) {
    if (errno == EINTR) return {};
    return ErrnoError("epoll_wait");
  }
  bool timers_due = false;
  bool posted = false;
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == timerfd_.get()) {
      timers_due = true;
      continue;
    }
    if (fd == wakefd_.get()) {
      posted = true;
      continue;
    }
    auto it = watches_.find(fd);
    if (it == watches_.end()) continue;  // removed by an earlier callback of this batch
    std::shared_ptr<FdCallback> cb = it->second;
    (*cb)(events[i].events);
  }
  if (posted) RunPosted();
  if (timers_due) RunDueTimers();
  return {};
}

Result<void> EventLoop::Run() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(quit_mu_);
      if (quit_) {
        quit_ = false;  // a later Run() runs again
        return {};
      }
    }
    DUENDE_TRY(RunOnce(-1));
  }
}

}  // namespace duende::framework
