// The fault proxy's own overhead: round-trip latency p50/p99 through the proxy (no toxics) vs a
// direct connection to the same loopback echo server, open loop at 10,000 requests/s (two
// connections at 5,000/s each; latency counted from the scheduled send time, so a stall is
// not hidden). Prints the figures and the ratios proxied/direct measured in this run.
// Usage: faults_proxy_bench [seconds per mode, default 2]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "duende/faults/proxy.h"
#include "duende/framework/clock.h"
#include "duende/framework/process.h"

namespace {

using duende::framework::MonotonicNs;

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(3);
  }
  return fd;
}

// One connection, `rate` requests/s for `seconds`; appends latencies (ns) to `out`.
void Client(uint16_t port, int rate, double seconds, std::vector<int64_t>* out) {
  ::prctl(PR_SET_TIMERSLACK, 1UL);  // wake up on time, not 50us late
  int fd = Connect(port);
  const int64_t interval = 1000000000LL / rate;
  const int n = static_cast<int>(rate * seconds);
  const char msg[] = "ping 0123456789\n";
  char buf[64];
  int64_t start = MonotonicNs() + 10000000;
  for (int i = 0; i < n; ++i) {
    int64_t due = start + i * interval;
    if (MonotonicNs() < due) {
      timespec ts{static_cast<time_t>(due / 1000000000), static_cast<long>(due % 1000000000)};
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
      }
    }
    if (::send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL) != sizeof msg - 1) std::exit(4);
    size_t got = 0;
    while (got < sizeof msg - 1) {
      ssize_t r = ::recv(fd, buf, sizeof buf, 0);
      if (r <= 0) std::exit(5);
      got += static_cast<size_t>(r);
    }
    out->push_back(MonotonicNs() - due);
  }
  ::close(fd);
}

struct Figures {
  double p50_us, p99_us;
};

Figures Run(uint16_t port, double seconds) {
  std::vector<int64_t> a, b;
  std::thread t1(Client, port, 5000, seconds, &a);
  std::thread t2(Client, port, 5000, seconds, &b);
  t1.join();
  t2.join();
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end());
  return {static_cast<double>(a[a.size() / 2]) / 1000.0,
          static_cast<double>(a[a.size() * 99 / 100]) / 1000.0};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 3;
  duende::framework::SpawnOptions o;
  o.argv = {ECHO_SERVER_PATH};
  o.stdout_fd = fds[1];
  o.parent_death_signal = SIGKILL;
  auto child = duende::framework::Spawn(o);
  ::close(fds[1]);
  if (!child.ok()) {
    std::fprintf(stderr, "%s\n", child.error().Message().c_str());
    return 3;
  }
  char line[128] = {};
  ssize_t n = ::read(fds[0], line, sizeof line - 1);
  std::string s(line, n > 0 ? static_cast<size_t>(n) : 0);
  uint16_t port = static_cast<uint16_t>(std::atoi(s.substr(s.rfind(':') + 1).c_str()));
  auto proxy = duende::faults::Proxy::Start(0, port, 1);
  if (!proxy.ok()) return 3;

  (void)Run(port, 0.3);  // warm-up
  Figures direct = Run(port, seconds);
  Figures proxied = Run((*proxy)->port(), seconds);
  Figures direct2 = Run(port, seconds);  // the baseline again: drift shows here
  std::printf("faults proxy overhead, open loop 10000 req/s (2 connections), %.1fs per mode\n",
              seconds);
  std::printf("  direct    p50 %7.1fus  p99 %7.1fus   (again: p50 %.1fus p99 %.1fus)\n",
              direct.p50_us, direct.p99_us, direct2.p50_us, direct2.p99_us);
  std::printf("  proxied   p50 %7.1fus  p99 %7.1fus\n", proxied.p50_us, proxied.p99_us);
  std::printf("  added     p50 %+7.1fus  p99 %+7.1fus\n", proxied.p50_us - direct.p50_us,
              proxied.p99_us - direct.p99_us);
  std::printf("  ratio proxied/direct: p50 %.2fx  p99 %.2fx\n", proxied.p50_us / direct.p50_us,
              proxied.p99_us / direct.p99_us);
  (void)duende::framework::SignalPidfd(child->pidfd.get(), SIGKILL);
  (void)duende::framework::WaitExit(child->pidfd.get());
  return 0;
}
