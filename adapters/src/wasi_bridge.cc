#include "wasi_bridge.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "duende/framework/log.h"

namespace duende::adapters::internal {

using framework::ErrnoError;
using framework::Result;
using framework::UniqueFd;

namespace {

constexpr uint64_t kWakeId = 1;
constexpr uint64_t kToModuleId = 2;
constexpr uint64_t kFromModuleId = 3;
constexpr uint64_t kListenerId = 4;
// Request bytes the bridge holds for a module that does not read (paused): past it, clients
// are not read until it has taken some (their bytes wait in their sockets).
constexpr size_t kMaxPendingBytes = 4u << 20;
// How often a banner-ready module's address is tried again when it could not be opened.
constexpr int kListenRetryMs = 100;

// Reads and discards what `fd` (non-blocking) holds now.
void Drain(int fd) {
  char buf[16384];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

}  // namespace

Result<std::unique_ptr<WasiBridge>> WasiBridge::Create(sockaddr_in address,
                                                       const std::string& to_module,
                                                       const std::string& from_module) {
  // O_RDWR on a FIFO: open() never blocks and the other end's restarts never give us EOF or
  // EPIPE (Linux fifo(7)).
  constexpr int kFlags = O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW;
  UniqueFd to(::open(to_module.c_str(), kFlags));
  if (!to) return ErrnoError("unable to open " + to_module);
  UniqueFd from(::open(from_module.c_str(), kFlags));
  if (!from) return ErrnoError("unable to open " + from_module);
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return ErrnoError("eventfd");
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) return ErrnoError("epoll_create1");
  std::unique_ptr<WasiBridge> b(
      new WasiBridge(address, std::move(to), std::move(from), std::move(wake), std::move(ep)));
  b->Watch(b->wake_.get(), EPOLLIN, kWakeId);
  b->Watch(b->to_module_.get(), EPOLLOUT | EPOLLET, kToModuleId);
  b->Watch(b->from_module_.get(), EPOLLIN, kFromModuleId);
  b->thread_ = std::thread([p = b.get()] { p->Loop(); });
  return b;
}

WasiBridge::WasiBridge(sockaddr_in address, UniqueFd to_module, UniqueFd from_module, UniqueFd wake,
                       UniqueFd epoll)
    : address_(address),
      to_module_(std::move(to_module)),
      from_module_(std::move(from_module)),
      wake_(std::move(wake)),
      epoll_(std::move(epoll)) {}

WasiBridge::~WasiBridge() {
  stop_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void WasiBridge::Watch(int fd, uint32_t events, uint64_t id) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void WasiBridge::ModuleExited() {
  std::lock_guard<std::mutex> lock(mu_);
  CloseAllLocked();
}

void WasiBridge::CloseAllLocked() {
  Drain(to_module_.get());
  Drain(from_module_.get());
  to_send_.clear();
  from_module_buf_.clear();
  stats_.replies_dropped += queue_.size();
  queue_.clear();
  clients_.clear();  // closes every connection, as the death of a native daemon does
  listener_.Reset();
  banner_seen_ = false;
}

WasiBridge::Stats WasiBridge::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool WasiBridge::listening() {
  std::lock_guard<std::mutex> lock(mu_);
  return listener_.valid();
}

void WasiBridge::Loop() {
  std::array<epoll_event, 64> events{};
  while (!stop_.load()) {
    int timeout = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (banner_seen_ && !listener_) timeout = kListenRetryMs;
    }
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0 && errno != EINTR) {
      framework::LogError(std::string("wasi bridge: epoll_wait: ") + std::strerror(errno));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (banner_seen_ && !listener_) OpenListener();
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events[static_cast<size_t>(i)];
      switch (ev.data.u64) {
        case kWakeId:
          Drain(wake_.get());
          break;
        case kToModuleId:
          WriteModule();
          break;
        case kFromModuleId:
          ReadModule();
          break;
        case kListenerId:
          Accept();
          break;
        default:
          // A client; its id may be stale (closed by ModuleExited after epoll_wait returned).
          if ((ev.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
            ReadClient(ev.data.u64);
          }
          if ((ev.events & EPOLLOUT) != 0) FlushClient(ev.data.u64);
          break;
      }
    }
  }
}

void WasiBridge::OpenListener() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int one = 1;
  if (fd) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!fd || ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address_), sizeof address_) != 0 ||
      ::listen(fd.get(), 512) != 0) {
    std::string why = std::strerror(errno);
    if (stats_.listen_error != why) {
      framework::LogWarn("wasi bridge: unable to listen (" + why + "); trying again");
    }
    stats_.listen_error = why;
    return;
  }
  stats_.listen_error.clear();
  listener_ = std::move(fd);
  Watch(listener_.get(), EPOLLIN, kListenerId);
}

void WasiBridge::Accept() {
  while (listener_) {
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && errno == EINTR) continue;
    if (fd < 0) return;  // EAGAIN, or a transient error (EMFILE): at the next event
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint64_t id = next_id_++;
    clients_[id].fd.Reset(fd);
    Watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, id);
  }
}

void WasiBridge::ReadClient(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  c.starved = false;
  char buf[16384];
  while (!c.read_closed) {
    if (to_send_.size() >= kMaxPendingBytes) {
      c.starved = true;  // read again once the module has taken some (WriteModule)
      break;
    }
    ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      c.in.append(buf, static_cast<size_t>(n));
      size_t pos = 0;
      for (size_t nl; (nl = c.in.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        to_send_.append(c.in, pos, nl + 1 - pos);
        queue_.push_back(id);
        ++c.awaiting;
        ++stats_.requests;
      }
      c.in.erase(0, pos);
      if (c.in.size() > kMaxLineBytes) {
        // Not a request the module can hold: tell the client and drop it, as kvd does.
        c.out += "ERR line too long (more than " + std::to_string(kMaxLineBytes) +
                 " bytes without a newline); closing\n";
        (void)::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        clients_.erase(it);
        WriteModule();
        return;
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    c.read_closed = true;  // EOF or a reset: answer what it sent, then close
  }
  const bool done = c.read_closed && c.awaiting == 0 && c.out.empty();
  WriteModule();  // may read other clients: `c` is not used after it
  if (done) clients_.erase(id);
}

void WasiBridge::FlushClient(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  while (!c.out.empty()) {
    ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;  // EPOLLOUT (edge) resumes it
    clients_.erase(it);                    // the peer is gone; its later replies are dropped
    return;
  }
  if (c.read_closed && c.awaiting == 0) clients_.erase(it);
}

void WasiBridge::WriteModule() {
  while (!to_send_.empty()) {
    ssize_t n = ::write(to_module_.get(), to_send_.data(), to_send_.size());
    if (n > 0) {
      to_send_.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: the module is not reading (busy, paused); EPOLLOUT resumes
  }
  if (to_send_.size() >= kMaxPendingBytes) return;
  std::vector<uint64_t> starved;
  for (const auto& [id, c] : clients_) {
    if (c.starved) starved.push_back(id);
  }
  for (uint64_t id : starved) ReadClient(id);
}

void WasiBridge::ReadModule() {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(from_module_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    from_module_buf_.append(buf, static_cast<size_t>(n));
  }
  std::vector<uint64_t> touched;
  size_t pos = 0;
  for (size_t nl; (nl = from_module_buf_.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    if (!banner_seen_) {
      // The module's first line: it is ready; the address opens now.
      banner_seen_ = true;
      ++stats_.banners;
      stats_.last_banner = from_module_buf_.substr(pos, nl - pos);
      OpenListener();
      continue;
    }
    if (queue_.empty()) {
      ++stats_.replies_dropped;  // a line nobody asked for: the module broke the protocol
      continue;
    }
    uint64_t id = queue_.front();
    queue_.pop_front();
    auto it = clients_.find(id);
    if (it == clients_.end()) {
      ++stats_.replies_dropped;
      continue;
    }
    it->second.out.append(from_module_buf_, pos, nl + 1 - pos);
    --it->second.awaiting;
    ++stats_.replies;
    if (touched.empty() || touched.back() != id) touched.push_back(id);
  }
  from_module_buf_.erase(0, pos);
  if (from_module_buf_.size() > 2 * kMaxLineBytes) from_module_buf_.clear();
  for (uint64_t id : touched) FlushClient(id);
}

}  // namespace duende::adapters::internal
