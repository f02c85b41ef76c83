#include "probes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"

namespace duende::harness::internal {
namespace {

int64_t MsLeft(int64_t deadline_ns) {
  int64_t left = (deadline_ns - framework::MonotonicNs()) / 1000000;
  return left < 0 ? 0 : left;
}

// Reads until a newline (or "\r\n\r\n" for http headers when `http`) or the deadline.
bool ReadReply(int fd, int64_t deadline_ns, bool http, std::string* out) {
  char buf[4096];
  while (true) {
    if (!http && out->find('\n') != std::string::npos) return true;
    if (http && out->find("\r\n") != std::string::npos) return true;
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(MsLeft(deadline_ns)));
    if (n <= 0) return false;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return !out->empty();
    out->append(buf, static_cast<size_t>(r));
  }
}

}  // namespace

int ConnectWithTimeout(const std::string& address, int timeout_ms, std::string* error) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    *error = "bad address '" + address + "' (expected host:port)";
    return -1;
  }
  std::string host = address.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  int port = std::atoi(address.c_str() + colon + 1);
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1 || port <= 0 || port > 65535) {
    *error = "bad address '" + address + "' (expected 127.0.0.1:PORT)";
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno != EINPROGRESS) {
    *error = std::string("connect: ") + std::strerror(errno);
    close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, timeout_ms) <= 0) {
    *error = "connect: timed out after " + std::to_string(timeout_ms) + "ms";
    close(fd);
    return -1;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    *error = std::string("connect: ") + std::strerror(err);
    close(fd);
    return -1;
  }
  return fd;
}

ProbeOutcome RunProbe(const ProbeSpec& probe) {
  const int64_t deadline = framework::MonotonicNs() + probe.timeout.count();
  const int timeout_ms = static_cast<int>(probe.timeout.count() / 1000000);
  if (probe.kind == ProbeSpec::Kind::kCommand) {
    framework::SpawnOptions o;
    o.argv = probe.command;
    o.stdout_fd = -1;
    o.stderr_fd = -1;
    o.parent_death_signal = SIGKILL;
    auto child = framework::Spawn(o);
    if (!child.ok()) return {false, child.error().Message()};
    pollfd p{child->pidfd.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(MsLeft(deadline))) <= 0) {
      (void)framework::SignalPidfd(child->pidfd.get(), SIGKILL);
      kill(-child->pid, SIGKILL);
      (void)framework::WaitExit(child->pidfd.get());
      return {false, "timed out after " + framework::FormatDuration(probe.timeout)};
    }
    auto st = framework::WaitExit(child->pidfd.get());
    if (!st.ok()) return {false, st.error().Message()};
    return {st->success(), st->ToString()};
  }
  std::string error;
  int fd = ConnectWithTimeout(probe.address, timeout_ms, &error);
  if (fd < 0) return {false, error};
  ProbeOutcome out{true, "connected"};
  if (probe.kind == ProbeSpec::Kind::kHttp || probe.kind == ProbeSpec::Kind::kRequest) {
    std::string req = probe.kind == ProbeSpec::Kind::kHttp
                          ? "GET " + probe.path + " HTTP/1.1\r\nHost: " + probe.address +
                                "\r\nConnection: close\r\n\r\n"
                          : probe.send + "\r\n";
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
      close(fd);
      return {false, std::string("write: ") + std::strerror(errno)};
    }
    std::string reply;
    if (!ReadReply(fd, deadline, probe.kind == ProbeSpec::Kind::kHttp, &reply)) {
      close(fd);
      return {false, reply.empty() ? "no reply within " + framework::FormatDuration(probe.timeout)
                                   : "incomplete reply '" + reply + "'"};
    }
    std::string line = reply.substr(0, reply.find_first_of("\r\n"));
    if (probe.kind == ProbeSpec::Kind::kHttp) {
      bool ok2xx = line.size() >= 12 && line.compare(0, 5, "HTTP/") == 0 && line[9] == '2';
      out = {ok2xx, line};
    } else {
      out = {true, "reply '" + line + "'"};
      if (!probe.expect.empty() && !std::regex_search(line, std::regex(probe.expect))) {
        out = {false, "reply '" + line + "' does not match /" + probe.expect + "/"};
      }
    }
  }
  close(fd);
  return out;
}

}  // namespace duende::harness::internal
