#include "control_socket.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/private_dir.h"

namespace duende::cli {
namespace {

using framework::ErrnoError;
using framework::Result;
using framework::UniqueFd;

// At most one line about refused connections per this long (an attacker can connect in a
// loop; the supervisor's stderr is often a log file).
constexpr int64_t kRefusalNoteEveryNs = 1'000'000'000;

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return framework::MessageError("control socket path is empty or too long (max " +
                                   std::to_string(sizeof addr.sun_path - 1) + " bytes): " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

std::string CheckControlPeer(int fd, const ControlAccess& access) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return std::string("unable to read the peer's credentials: ") + std::strerror(errno);
  }
  if (cred.uid == 0 || cred.uid == ::geteuid()) return "";
  if (access.group) {
    if (cred.gid == *access.group) return "";
    std::vector<gid_t> groups(64);
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    int r = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
    if (r != 0 && errno == ERANGE) {
      groups.resize(glen / sizeof(gid_t) + 1);
      glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
      r = ::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen);
    }
    if (r == 0) {
      for (size_t i = 0; i < glen / sizeof(gid_t); ++i) {
        if (groups[i] == *access.group) return "";
      }
    }
  }
  return "uid " + std::to_string(cred.uid) + " (pid " + std::to_string(cred.pid) +
         ") is neither root nor uid " + std::to_string(::geteuid()) +
         (access.group ? " and not in group " + std::to_string(*access.group) : std::string());
}

Result<UniqueFd> ListenControlSocket(const std::string& path, const ControlAccess& access,
                                     bool private_dir) {
  auto addr = Address(path);
  if (!addr.ok()) return addr.error();
  const std::string dir =
      path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (private_dir) {
    const mode_t group_bits = access.group ? S_IXGRP : 0;
    const std::string base = dir.substr(dir.rfind('/') + 1);
    if (base.rfind("duende", 0) == 0) {
      // A directory duende makes for itself (/run/duende, $TMPDIR/duende-<uid>): set its mode
      // for this run (0710 with the control group, else 0700 again), but only when it is a real
      // directory of ours; anything else is refused by the check below. A user's
      // XDG_RUNTIME_DIR keeps its mode (then set control_socket to a directory the group can
      // search).
      DUENDE_TRY(framework::EnsurePrivateDir(dir, S_IXGRP));
      if (access.group && ::chown(dir.c_str(), static_cast<uid_t>(-1), *access.group) != 0) {
        return ErrnoError("unable to give directory " + dir + " to the control group");
      }
      if (::chmod(dir.c_str(), access.group ? 0710 : 0700) != 0) {
        return ErrnoError("unable to set the mode of directory " + dir);
      }
    }
    DUENDE_TRY(framework::EnsurePrivateDir(dir, group_bits));
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create control socket");
  auto* sa = reinterpret_cast<const sockaddr*>(&*addr);
  // The socket file is made with no access for others from its first moment (bind honours
  // the umask; nothing else runs threads yet).
  const mode_t old_umask = ::umask(0177);
  int bound = ::bind(fd.get(), sa, sizeof *addr);
  int bind_errno = errno;
  if (bound != 0 && bind_errno == EADDRINUSE) {
    // A file exists: another supervisor's socket, one a killed supervisor left, or something
    // that is not ours at all (never removed).
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != ::geteuid()) {
      ::umask(old_umask);
      return ErrnoError(path + " exists and is not a socket of uid " + std::to_string(::geteuid()) +
                            "; refused to replace it (remove it, or choose another --socket)",
                        EEXIST);
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), sa, sizeof *addr) == 0) {
      ::umask(old_umask);
      return ErrnoError("another supervisor is listening on " + path, EADDRINUSE);
    }
    ::unlink(path.c_str());
    bound = ::bind(fd.get(), sa, sizeof *addr);
    bind_errno = errno;
  }
  ::umask(old_umask);
  if (bound != 0) return ErrnoError("unable to bind " + path, bind_errno);
  if (access.group) {
    if (::chown(path.c_str(), static_cast<uid_t>(-1), *access.group) != 0 ||
        ::chmod(path.c_str(), 0660) != 0) {
      return ErrnoError("unable to give " + path + " to the control group");
    }
  }
  if (::listen(fd.get(), 64) != 0) return ErrnoError("unable to listen on " + path);
  return fd;
}

ControlServer::ControlServer(framework::EventLoop* loop, UniqueFd listener, ControlAccess access,
                             std::chrono::nanoseconds timeout, Handler handler)
    : loop_(loop),
      listener_(std::move(listener)),
      access_(access),
      timeout_(timeout),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  for (auto& [fd, c] : conns_) {
    loop_->CancelTimer(c->timer);
    loop_->Unwatch(fd);
  }
  loop_->CancelTimer(resume_timer_);
  loop_->Unwatch(listener_.get());
}

Result<void> ControlServer::Start() {
  return loop_->Watch(listener_.get(), EPOLLIN, [this](uint32_t) { Accept(); });
}

void ControlServer::Pause() {
  // Out of descriptors: the pending connection stays queued and the listener stays readable,
  // so watching it now would wake the loop again at once, forever. Rest, then try again (or
  // sooner, when one of our connections closes).
  if (paused_) return;
  paused_ = true;
  loop_->Unwatch(listener_.get());
  resume_timer_ = loop_->AddTimer(
      framework::MonotonicNs() +
          std::chrono::duration_cast<std::chrono::nanoseconds>(kAcceptPause).count(),
      [this] {
        resume_timer_ = 0;
        paused_ = false;
        if (!Start().ok()) Pause();
      });
}

void ControlServer::Accept() {
  while (true) {
    int raw_fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (raw_fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) Pause();
      return;  // EAGAIN: all accepted
    }
    UniqueFd fd(raw_fd);
    if (std::string why = CheckControlPeer(raw_fd, access_); !why.empty()) {
      Refuse(std::move(fd), why);
      continue;
    }
    if (conns_.size() >= kMaxConnections) continue;  // closed: the client sees EOF
    auto conn = std::make_unique<Conn>();
    conn->fd = std::move(fd);
    Conn* c = conn.get();
    conns_[raw_fd] = std::move(conn);
    if (!loop_->Watch(raw_fd, EPOLLIN, [this, c](uint32_t ev) { OnConn(c, ev); }).ok()) {
      conns_.erase(raw_fd);
      continue;
    }
    c->timer = loop_->AddTimer(framework::MonotonicNs() + timeout_.count(), [this, c] {
      c->timer = 0;
      Close(c);
    });
  }
}

std::string ControlReplyLine(const nlohmann::json& reply) {
  return reply.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void ControlServer::Refuse(UniqueFd fd, const std::string& why) {
  ++refused_;
  nlohmann::json reply;
  reply["ok"] = false;
  reply["error"] = "permission denied: " + why;
  const std::string line = ControlReplyLine(reply);
  (void)::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  const int64_t now = framework::MonotonicNs();
  if (now - last_refusal_note_ns_ >= kRefusalNoteEveryNs) {
    std::cerr << "duende supervise: refused a control connection: " << why;
    if (refused_unreported_ > 0) std::cerr << " (and " << refused_unreported_ << " more before)";
    std::cerr << '\n';
    last_refusal_note_ns_ = now;
    refused_unreported_ = 0;
  } else {
    ++refused_unreported_;
  }
}

void ControlServer::Close(Conn* c) {
  const int fd = c->fd.get();
  loop_->CancelTimer(c->timer);
  loop_->Unwatch(fd);
  conns_.erase(fd);
  if (paused_) {
    // A descriptor is free again: accept the queued connections now.
    loop_->CancelTimer(resume_timer_);
    resume_timer_ = 0;
    paused_ = false;
    if (!Start().ok()) Pause();
  }
}

void ControlServer::OnConn(Conn* c, uint32_t events) {
  if (c->out.empty()) {
    char buf[1024];
    ssize_t n = ::read(c->fd.get(), buf, sizeof buf);
    if (n > 0) c->in.append(buf, static_cast<size_t>(n));
    size_t nl = c->in.find('\n');
    if (nl == std::string::npos) {
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || c->in.size() > kMaxRequest ||
          (events & (EPOLLHUP | EPOLLERR)) != 0) {
        Close(c);
      }
      return;
    }
    c->out = handler_(c->in.substr(0, nl));
  }
  ssize_t w = ::send(c->fd.get(), c->out.data(), c->out.size(), MSG_NOSIGNAL);
  if (w > 0) c->out.erase(0, static_cast<size_t>(w));
  if (c->out.empty() || (w < 0 && errno != EAGAIN && errno != EINTR)) {
    Close(c);
    return;
  }
  (void)loop_->Modify(c->fd.get(), EPOLLOUT);
}

std::string ControlPathProblem(const std::string& path) {
  auto addr = Address(path);
  return addr.ok() ? "" : addr.error().context;
}

Result<std::string> RequestControl(const std::string& path, const std::string& line,
                                   std::chrono::milliseconds timeout) {
  auto addr = Address(path);
  if (!addr.ok()) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create socket");
  const auto ms = std::max<int64_t>(1, timeout.count());
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    return ErrnoError("unable to connect to " + path +
                      " (is `duende supervise` or `duende run --control` running?)");
  }
  // Requests go only to a server run by root or by us, never to a socket someone else put at
  // that path.
  ucred peer{};
  socklen_t plen = sizeof peer;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0) {
    return ErrnoError("unable to read the credentials of " + path);
  }
  if (peer.uid != 0 && peer.uid != ::geteuid()) {
    return ErrnoError(path + " is served by uid " + std::to_string(peer.uid) + " (pid " +
                          std::to_string(peer.pid) + "), not by root or us; refused to talk to it",
                      EPERM);
  }
  std::string req = line + "\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    return ErrnoError("unable to send to " + path);
  }
  std::string reply;
  char buf[65536];
  ssize_t n = 0;
  while ((n = ::read(fd.get(), buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        return ErrnoError("no reply from " + path + " within " +
                              framework::FormatDuration(std::chrono::milliseconds(ms)),
                          ETIMEDOUT);
      }
      return ErrnoError("unable to read from " + path);
    }
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > kMaxControlReply) {
      return framework::MessageError("the reply from " + path + " is longer than " +
                                     std::to_string(kMaxControlReply) + " bytes");
    }
  }
  return reply;
}

}  // namespace duende::cli
