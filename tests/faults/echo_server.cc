// Test program: a line echo server on 127.0.0.1 (epoll, one thread) for the proxy tests and
// benchmark. Prints "listening on 127.0.0.1:PORT".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

int main() {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l, 128) != 0) return 1;
  socklen_t len = sizeof a;
  ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = l;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
  epoll_event evs[64];
  char buf[65536];
  for (;;) {
    int n = ::epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == l) {
        int c = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        epoll_event ce{};
        ce.events = EPOLLIN;
        ce.data.fd = c;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        continue;
      }
      ssize_t r = ::read(fd, buf, sizeof buf);
      if (r <= 0) {
        ::close(fd);
        continue;
      }
      ssize_t off = 0;
      while (off < r) {
        ssize_t w = ::write(fd, buf + off, static_cast<size_t>(r - off));
        if (w <= 0) break;
        off += w;
      }
    }
  }
}
