#include "duende/framework/notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "duende/framework/clock.h"

namespace duende::framework {

Result<Notifier> Notifier::FromEnvironment(bool unset) {
  Notifier n;
  const char* socket_env = std::getenv("NOTIFY_SOCKET");
  std::string address = socket_env != nullptr ? socket_env : "";
  const char* usec_env = std::getenv("WATCHDOG_USEC");
  const char* pid_env = std::getenv("WATCHDOG_PID");
  if (usec_env != nullptr) {
    bool for_us = pid_env == nullptr || std::strtol(pid_env, nullptr, 10) == ::getpid();
    long long usec = std::strtoll(usec_env, nullptr, 10);
    if (for_us && usec > 0) n.watchdog_usec_ = std::chrono::microseconds(usec);
  }
  if (unset) {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  if (address.empty()) {
    n.watchdog_usec_ = std::chrono::microseconds(0);
    return n;
  }
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if ((address[0] != '/' && address[0] != '@') || address.size() >= sizeof sun.sun_path) {
    return ErrnoError("NOTIFY_SOCKET=" + address + " is not a usable socket address", EINVAL);
  }
  std::memcpy(sun.sun_path, address.data(), address.size());
  if (address[0] == '@') sun.sun_path[0] = '\0';  // abstract namespace
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("unable to create the notify socket");
  // connect() fixes the peer so each Send() is one send(); a manager that is not there yet
  // is tolerated (Send() then reports the error).
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sun), len) != 0 && errno != ENOENT &&
      errno != ECONNREFUSED) {
    return ErrnoError("unable to connect to NOTIFY_SOCKET " + address);
  }
  n.fd_ = std::move(fd);
  n.address_ = address;
  return n;
}

Notifier::Notifier(Notifier&& other) noexcept
    : fd_(std::move(other.fd_)),
      address_(std::move(other.address_)),
      watchdog_usec_(other.watchdog_usec_) {}

Notifier& Notifier::operator=(Notifier&& other) noexcept {
  if (this != &other) {
    fd_ = std::move(other.fd_);
    address_ = std::move(other.address_);
    watchdog_usec_ = other.watchdog_usec_;
  }
  return *this;
}

Result<void> Notifier::Send(std::string_view state) {
  if (!fd_) return {};
  std::lock_guard lock(mu_);
  ssize_t n = ::send(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL);
  if (n < 0 && (errno == ENOTCONN || errno == EDESTADDRREQ)) {
    // The socket did not exist at start: retry the connect once now.
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, address_.data(), address_.size());
    if (address_[0] == '@') sun.sun_path[0] = '\0';
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&sun), len) == 0) {
      n = ::send(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL);
    }
  }
  if (n < 0) return ErrnoError("unable to notify " + address_);
  return {};
}

Result<void> Notifier::Ready(std::string_view status) {
  std::string msg = "READY=1";
  if (!status.empty()) msg += "\nSTATUS=" + std::string(status);
  return Send(msg);
}

Result<void> Notifier::Reloading() {
  return Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(MonotonicNs() / 1000));
}

Result<void> Notifier::Stopping() { return Send("STOPPING=1"); }

Result<void> Notifier::Watchdog() { return Send("WATCHDOG=1"); }

Result<void> Notifier::Status(std::string_view status) {
  return Send("STATUS=" + std::string(status));
}

}  // namespace duende::framework
