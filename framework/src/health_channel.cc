#include "duende/framework/health_channel.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace duende::framework {

Result<std::pair<UniqueFd, UniqueFd>> CreateHealthChannel() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError("unable to create the daemon health channel");
  }
  UniqueFd ours(sv[0]);
  UniqueFd theirs(sv[1]);
  int flags = ::fcntl(ours.get(), F_GETFL);
  if (flags < 0 || ::fcntl(ours.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return ErrnoError("unable to make the daemon health channel non-blocking");
  }
  return std::make_pair(std::move(ours), std::move(theirs));
}

std::string HealthRequest(uint64_t seq) { return "health " + std::to_string(seq); }

namespace {

bool ParseSeq(std::string_view text, uint64_t* seq) {
  if (text.empty() || text.size() > 20) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *seq);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<std::string> HealthReply(const std::string& request, const HealthReport& report) {
  constexpr std::string_view kVerb = "health ";
  uint64_t seq = 0;
  if (request.size() > kHealthRequestMax || request.rfind(kVerb, 0) != 0 ||
      !ParseSeq(std::string_view(request).substr(kVerb.size()), &seq)) {
    return std::nullopt;
  }
  std::string reply =
      std::to_string(seq) + " " + HealthStateName(report.state) + " " + report.ToString();
  if (reply.size() > kHealthReplyMax) reply.resize(kHealthReplyMax);
  return reply;
}

Result<HealthAnswer> ParseHealthReply(const std::string& reply) {
  if (reply.size() > kHealthReplyMax) {
    return MessageError("health reply of " + std::to_string(reply.size()) +
                        " bytes is over the limit of " + std::to_string(kHealthReplyMax));
  }
  size_t sp1 = reply.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : reply.find(' ', sp1 + 1);
  HealthAnswer a;
  if (sp2 == std::string::npos || !ParseSeq(std::string_view(reply).substr(0, sp1), &a.seq)) {
    return MessageError("malformed health reply (want \"<seq> <state> <text>\")");
  }
  std::string state = reply.substr(sp1 + 1, sp2 - sp1 - 1);
  if (state == "healthy") {
    a.state = HealthState::kHealthy;
  } else if (state == "degraded") {
    a.state = HealthState::kDegraded;
  } else if (state == "unhealthy") {
    a.state = HealthState::kUnhealthy;
  } else {
    return MessageError("health reply has unknown state '" + state.substr(0, 32) + "'");
  }
  a.text = reply.substr(sp2 + 1);
  return a;
}

Result<std::optional<UniqueFd>> TakeHealthChannelFromEnvironment() {
  const char* env = std::getenv(kHealthFdEnv);
  if (env == nullptr) return std::optional<UniqueFd>();
  std::string value = env;
  ::unsetenv(kHealthFdEnv);  // the daemon's own children must not think they own it
  uint64_t n = 0;
  if (!ParseSeq(value, &n) || n < 3 || n > 1 << 20) {
    return MessageError(std::string(kHealthFdEnv) + "='" + value.substr(0, 32) +
                        "' is not a descriptor number (3 or more)");
  }
  const int fd = static_cast<int>(n);
  const std::string what = std::string(kHealthFdEnv) + "=" + value;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return MessageError(what + " is not an open socket; ignoring it");
  }
  int domain = 0;
  int type = 0;
  socklen_t len = sizeof domain;
  ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
  len = sizeof type;
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  if (domain != AF_UNIX || type != SOCK_SEQPACKET) {
    return MessageError(what + " is not an AF_UNIX SOCK_SEQPACKET socket; ignoring it");
  }
  // Answers go only to a supervisor of root or our own user (the creator of the pair).
  ucred peer{};
  len = sizeof peer;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
      (peer.uid != 0 && peer.uid != ::geteuid())) {
    return MessageError(what + " belongs to uid " + std::to_string(peer.uid) +
                        ", neither root nor this process's user; ignoring it");
  }
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return ErrnoError("unable to mark " + what + " close-on-exec");
  }
  return std::optional<UniqueFd>(UniqueFd(fd));
}

namespace {

// One request read without blocking: nullopt when none is pending (`closed` set when the
// peer is gone); "" for an oversized request, which is dropped.

std::optional<std::string> ReadRequest(int fd, bool* closed) {
  char buf[kHealthRequestMax + 1];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n == 0) {
      *closed = true;
      return std::nullopt;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *closed = true;
      return std::nullopt;
    }
    // MSG_TRUNC reports the real length: an oversized request is read whole and dropped.
    if (static_cast<size_t>(n) > kHealthRequestMax) return std::string();
    return std::string(buf, static_cast<size_t>(n));
  }
}

void SendReply(int fd, const std::string& reply) {
  // Non-blocking: a supervisor that stopped reading must not stall the control thread.
  (void)::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

}  // namespace

bool AnswerHealthRequests(int fd, const std::function<HealthReport()>& report) {
  for (int i = 0; i < 16; ++i) {
    bool closed = false;
    auto request = ReadRequest(fd, &closed);
    if (closed) return false;
    if (!request) return true;
    if (auto reply = HealthReply(*request, report())) {
      SendReply(fd, *reply);
    }
  }
  return true;
}

}  // namespace duende::framework
