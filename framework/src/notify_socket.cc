#include "duende/framework/notify_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace duende::framework {
namespace {

// Fills `addr` for "@abstract" or "/path"; returns the address length, 0 when too long.
socklen_t MakeAddress(std::string_view address, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (address.empty() || address.size() >= sizeof addr->sun_path) return 0;
  std::memcpy(addr->sun_path, address.data(), address.size());
  if (address[0] == '@') addr->sun_path[0] = '\0';
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
}

}  // namespace

NotifyMessage ParseNotifyMessage(std::string_view datagram) {
  NotifyMessage m;
  while (!datagram.empty()) {
    size_t nl = datagram.find('\n');
    std::string_view line = datagram.substr(0, nl);
    datagram = nl == std::string_view::npos ? std::string_view() : datagram.substr(nl + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    std::string_view value = line.substr(eq + 1);
    if (key == "READY") {
      m.ready = value == "1";
    } else if (key == "STOPPING") {
      m.stopping = value == "1";
    } else if (key == "WATCHDOG") {
      m.watchdog = value == "1";
    } else if (key == "RELOADING") {
      m.reloading = value == "1";
    } else if (key == "STATUS") {
      m.status = std::string(value);
    } else if (key == "ERRNO" || key == "MAINPID") {
      int n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && p == value.data() + value.size()) {
        if (key == "ERRNO") {
          m.errno_value = n;
        } else {
          m.main_pid = static_cast<pid_t>(n);
        }
      }
    }
  }
  return m;
}

Result<NotifySocket> NotifySocket::Create(std::string_view tag) {
  static std::atomic<uint64_t> serial{0};
  std::string address = "@duende/" + std::to_string(::getpid()) + "/" +
                        std::to_string(serial.fetch_add(1)) + "/" + std::string(tag);
  if (address.size() > 100) address.resize(100);
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create notify socket");
  sockaddr_un addr;
  socklen_t len = MakeAddress(address, &addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return ErrnoError("unable to bind notify socket " + address);
  }
  // Every datagram then carries its sender's credentials, whether or not the sender sent any.
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    return ErrnoError("unable to set SO_PASSCRED on notify socket " + address);
  }
  return NotifySocket(std::move(fd), std::move(address));
}

std::vector<NotifyDatagram> NotifySocket::Drain() {
  std::vector<NotifyDatagram> out;
  char buf[kMaxDatagram];
  // Room for the credentials and a few passed descriptors (closed below: nobody may make the
  // supervisor hold its files open).
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred)) + CMSG_SPACE(16 * sizeof(int))];
  while (true) {
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: drained
    }
    NotifyDatagram d;
    d.truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        d.sender_pid = cred.pid;
        d.sender_uid = cred.uid;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int passed = -1;
          std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
          if (passed >= 0) ::close(passed);
        }
      }
    }
    d.message = ParseNotifyMessage(std::string_view(buf, static_cast<size_t>(n)));
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace duende::framework
