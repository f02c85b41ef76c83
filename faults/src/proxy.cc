// Proxy: one accept thread, and per connection one pump thread per direction. A pump reads a
// chunk, stamps it with the time it may leave (latency, jitter, bandwidth, slicing), queues it
// and writes what is due; ppoll's nanosecond timeout keeps the added delay close to the
// configured one.
#include "duende/faults/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <deque>
#include <list>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"
#include "proc_util.h"

namespace duende::faults {

using framework::ErrnoError;
using framework::MonotonicNs;
using framework::Result;
using framework::UniqueFd;

namespace {

Result<UniqueFd> Listen(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create a socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return ErrnoError("unable to bind 127.0.0.1:" + std::to_string(port));
  }
  if (::listen(fd.get(), 512) != 0) return ErrnoError("unable to listen");
  return fd;
}

Result<UniqueFd> Connect(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create a socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return ErrnoError("unable to connect to 127.0.0.1:" + std::to_string(port));
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool WriteFully(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

struct Chunk {
  int64_t due_ns;
  std::string data;
};

}  // namespace

struct Proxy::Impl {
  struct Conn {
    UniqueFd client, upstream;
    std::thread up, down;
    std::atomic<int> finished{0};
    std::atomic<bool> reset{false};
    std::atomic<bool> closing{false};
  };

  uint16_t port = 0;
  uint16_t target_port = 0;
  uint64_t seed = 0;
  mutable std::mutex mu;         // guards listener, conns, is_down
  mutable std::mutex toxics_mu;  // separate: pumps read toxics while Reap() joins them
  Toxics toxics[2];
  UniqueFd listener;
  UniqueFd wake;  // eventfd: wakes the accept thread (stop, down, up)
  bool is_down = false;
  std::atomic<bool> stopping{false};
  std::list<std::unique_ptr<Conn>> conns;
  std::thread acceptor;
  std::atomic<uint64_t> connections{0}, upstream_failures{0},
      bytes[2] = {0, 0}, delayed{0}, dropped{0}, resets{0}, closed_by_down{0};
  std::atomic<uint64_t> rng{0};

  Toxics Get(Direction d) {
    std::lock_guard<std::mutex> l(toxics_mu);
    return toxics[static_cast<int>(d)];
  }

  void Pump(Conn* c, Direction d) {
    int src = d == Direction::kUpstream ? c->client.get() : c->upstream.get();
    int dst = d == Direction::kUpstream ? c->upstream.get() : c->client.get();
    std::deque<Chunk> queue;
    int64_t last_due = 0;
    bool eof = false;
    char buf[65536];
    while (!stopping.load() && !c->closing.load()) {
      if (eof && queue.empty()) break;
      timespec ts{};
      timespec* tsp = nullptr;
      if (!queue.empty()) {
        int64_t wait = std::max<int64_t>(0, queue.front().due_ns - MonotonicNs());
        ts.tv_sec = wait / 1000000000;
        ts.tv_nsec = wait % 1000000000;
        tsp = &ts;
      }
      pollfd p{src, static_cast<short>(eof ? 0 : POLLIN), 0};
      int r = ::ppoll(&p, 1, tsp, nullptr);
      if (r < 0 && errno != EINTR) break;
      if (r > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !eof) {
        ssize_t n = ::recv(src, buf, sizeof buf, 0);
        if (n <= 0) {
          eof = true;
        } else {
          Toxics t = Get(d);
          if (t.reset) {
            // SO_LINGER 0: close sends RST to both peers.
            linger lg{1, 0};
            ::setsockopt(c->client.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            ::setsockopt(c->upstream.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            if (!c->reset.exchange(true)) resets.fetch_add(1);
            ::shutdown(c->client.get(), SHUT_RDWR);
            ::shutdown(c->upstream.get(), SHUT_RDWR);
            break;
          }
          if (t.blackhole) {
            dropped.fetch_add(static_cast<uint64_t>(n));
            continue;
          }
          int64_t now = MonotonicNs();
          int64_t due = now + t.latency_ns;
          if (t.jitter_ns > 0) {
            uint64_t x = internal::Mix(seed ^ rng.fetch_add(1));
            due += static_cast<int64_t>(x % static_cast<uint64_t>(t.jitter_ns + 1));
          }
          due = std::max(due, last_due);  // keep the byte order
          bool slowed =
              t.latency_ns > 0 || t.jitter_ns > 0 || t.bandwidth_bps > 0 || t.slice_bytes > 0;
          size_t slice = t.slice_bytes > 0 ? t.slice_bytes : static_cast<size_t>(n);
          for (size_t off = 0; off < static_cast<size_t>(n); off += slice) {
            size_t len = std::min(slice, static_cast<size_t>(n) - off);
            if (off > 0) due += t.slice_delay_ns;
            if (t.bandwidth_bps > 0) {
              due += static_cast<int64_t>(len * 1000000000ULL / t.bandwidth_bps);
            }
            queue.push_back({due, std::string(buf + off, len)});
          }
          last_due = due;
          if (slowed) delayed.fetch_add(static_cast<uint64_t>(n));
        }
      }
      int64_t now = MonotonicNs();
      bool failed = false;
      while (!queue.empty() && queue.front().due_ns <= now) {
        const Chunk& ch = queue.front();
        // Counted before the write so that a peer that has the bytes sees them counted.
        bytes[static_cast<int>(d)].fetch_add(ch.data.size());
        if (!WriteFully(dst, ch.data.data(), ch.data.size())) {
          failed = true;
          break;
        }
        queue.pop_front();
      }
      if (failed) break;
    }
    // Half-close forwards the EOF; the peer pump ends on its own EOF or error.
    ::shutdown(dst, SHUT_WR);
    if (c->finished.fetch_add(1) == 1) {
      ::shutdown(src, SHUT_RDWR);
    }
  }

  void Reap(bool all) {
    // Called with mu held.
    for (auto it = conns.begin(); it != conns.end();) {
      Conn* c = it->get();
      if (all || c->finished.load() == 2) {
        if (all) {
          c->closing.store(true);
          ::shutdown(c->client.get(), SHUT_RDWR);
          ::shutdown(c->upstream.get(), SHUT_RDWR);
        }
        if (c->up.joinable()) c->up.join();
        if (c->down.joinable()) c->down.join();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }

  void AcceptLoop() {
    while (!stopping.load()) {
      int lfd;
      {
        std::lock_guard<std::mutex> l(mu);
        lfd = listener.get();
        Reap(false);
      }
      pollfd p[2] = {{wake.get(), POLLIN, 0}, {lfd, POLLIN, 0}};
      int r = ::poll(p, lfd >= 0 ? 2 : 1, 200);
      if (r < 0 && errno != EINTR) break;
      if ((p[0].revents & POLLIN) != 0) {
        uint64_t v;
        (void)!::read(wake.get(), &v, sizeof v);
        continue;  // the listener may have changed
      }
      if (lfd < 0 || (p[1].revents & POLLIN) == 0) continue;
      UniqueFd client(::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) continue;
      int one = 1;
      ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto up = Connect(target_port);
      if (!up.ok()) {
        upstream_failures.fetch_add(1);
        continue;  // closing the client tells it the target is not there
      }
      auto c = std::make_unique<Conn>();
      c->client = std::move(client);
      c->upstream = std::move(*up);
      Conn* raw = c.get();
      std::lock_guard<std::mutex> l(mu);
      if (is_down || stopping.load()) continue;
      connections.fetch_add(1);
      c->up = std::thread([this, raw] { Pump(raw, Direction::kUpstream); });
      c->down = std::thread([this, raw] { Pump(raw, Direction::kDownstream); });
      conns.push_back(std::move(c));
    }
  }

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake.get(), &one, sizeof one);
  }
};

Proxy::Proxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Proxy>> Proxy::Start(uint16_t listen_port, uint16_t target_port,
                                            uint64_t seed) {
  auto impl = std::make_unique<Impl>();
  auto l = Listen(listen_port);
  if (!l.ok()) return l.error();
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(l->get(), reinterpret_cast<sockaddr*>(&a), &len);
  impl->port = ntohs(a.sin_port);
  impl->target_port = target_port;
  impl->seed = seed;
  impl->listener = std::move(*l);
  impl->wake.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->wake) return ErrnoError("unable to create an eventfd");
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<Proxy>(new Proxy(std::move(impl)));
}

Proxy::~Proxy() {
  impl_->stopping.store(true);
  ::shutdown(impl_->listener.get(), SHUT_RDWR);
  impl_->Wake();
  if (impl_->acceptor.joinable()) impl_->acceptor.join();
  std::lock_guard<std::mutex> l(impl_->mu);
  impl_->listener.Reset();
  impl_->Reap(true);
}

uint16_t Proxy::port() const { return impl_->port; }
uint16_t Proxy::target_port() const { return impl_->target_port; }

void Proxy::SetToxics(Direction direction, const Toxics& toxics) {
  std::lock_guard<std::mutex> l(impl_->toxics_mu);
  impl_->toxics[static_cast<int>(direction)] = toxics;
}

Toxics Proxy::GetToxics(Direction direction) const { return impl_->Get(direction); }

Result<void> Proxy::SetDown(bool down) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (down == impl_->is_down) return {};
  if (down) {
    // shutdown() stops listening at once (connects are refused) and wakes the accept thread's
    // poll, which would otherwise keep the socket alive until it returns.
    ::shutdown(impl_->listener.get(), SHUT_RDWR);
    impl_->listener.Reset();
    impl_->closed_by_down.fetch_add(impl_->conns.size());
    impl_->is_down = true;
    impl_->Reap(true);
  } else {
    auto lf = Listen(impl_->port);
    if (!lf.ok()) return lf.error();
    impl_->listener = std::move(*lf);
    impl_->is_down = false;
  }
  impl_->Wake();
  return {};
}

bool Proxy::down() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->is_down;
}

ProxyStats Proxy::Stats() const {
  ProxyStats s;
  s.connections = impl_->connections.load();
  s.upstream_failures = impl_->upstream_failures.load();
  s.bytes_up = impl_->bytes[0].load();
  s.bytes_down = impl_->bytes[1].load();
  s.bytes_delayed = impl_->delayed.load();
  s.bytes_dropped = impl_->dropped.load();
  s.resets = impl_->resets.load();
  s.closed_by_down = impl_->closed_by_down.load();
  return s;
}

}  // namespace duende::faults
