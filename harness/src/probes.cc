#include "probes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "duende/framework/address.h"
#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/harness/load_history.h"
#include "duende/harness/load_protocol.h"

namespace duende::harness::internal {
namespace {

int64_t MsLeft(int64_t deadline_ns) {
  int64_t left = (deadline_ns - framework::MonotonicNs()) / 1000000;
  return left < 0 ? 0 : left;
}

// Reads one reply of `protocol` (framed by `framing`) into `reply`, until the deadline. An HTTP
// reply without a length ends at the close ("Connection: close" is sent).
enum class ReadResult { kOk, kTimeout, kClosed, kMalformed };
ReadResult ReadReply(int fd, int64_t deadline_ns, LoadProtocol protocol,
                     const ReplyFraming& framing, std::string* in, Reply* reply) {
  char buf[4096];
  while (true) {
    const int64_t used = ParseReply(protocol, framing, *in, reply);
    if (used > 0) return ReadResult::kOk;
    if (used < 0) return ReadResult::kMalformed;
    pollfd p{fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(MsLeft(deadline_ns)));
    if (n <= 0) return ReadResult::kTimeout;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return ReadResult::kClosed;
    in->append(buf, static_cast<size_t>(r));
  }
}

std::string Quoted(std::string_view s) { return "'" + PrintableText(s, 120) + "'"; }

// One request of a `request` or `http` probe, its reply judged like the load's: the whole reply
// text (tcp-line/redis) or body (http, after a 2xx status) must match `expect`.
ProbeOutcome Exchange(int fd, const ProbeSpec& probe, int64_t deadline) {
  const bool http = probe.kind == ProbeSpec::Kind::kHttp;
  RequestBuilder builder;
  std::string req;
  if (http) {
    builder.protocol = LoadProtocol::kHttp;
    req = "GET " + probe.path + " HTTP/1.1\r\nHost: " + probe.address +
          "\r\nConnection: close\r\n\r\n";
  } else {
    builder.protocol = probe.protocol == "redis" ? LoadProtocol::kRedis : LoadProtocol::kTcpLine;
    builder.framing.lines = probe.reply_lines;
    builder.framing.end_line = probe.reply_end;
    if (builder.protocol == LoadProtocol::kTcpLine) {
      req = probe.send + probe.terminator;  // sent as written
    } else {
      builder.body = RequestTemplate(probe.send);
      builder.Build(TemplateValues{}, &req);
    }
  }
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    return {false, std::string("write: ") + std::strerror(errno)};
  }
  std::string in;
  Reply reply;
  switch (ReadReply(fd, deadline, builder.protocol, builder.framing, &in, &reply)) {
    case ReadResult::kOk:
      break;
    case ReadResult::kTimeout:
      return {false, in.empty() ? "no reply within " + framework::FormatDuration(probe.timeout)
                                : "incomplete reply " + Quoted(in) + " after " +
                                      framework::FormatDuration(probe.timeout)};
    case ReadResult::kClosed:
      return {false, in.empty() ? std::string("connection closed without a reply")
                                : "connection closed after an incomplete reply " + Quoted(in)};
    case ReadResult::kMalformed:
      return {false, "malformed reply " + Quoted(in)};
  }
  if (http && !reply.protocol_ok) return {false, "HTTP " + std::to_string(reply.status)};
  if (!http && !reply.protocol_ok) return {false, "error reply " + Quoted(reply.text)};
  auto matcher = ReplyMatcher::Create(probe.expect);
  if (!matcher.ok()) return {false, matcher.error().Message()};
  const std::string what =
      http ? "HTTP " + std::to_string(reply.status) + ", body " + Quoted(reply.text)
           : "reply " + Quoted(reply.text);
  std::string group;
  bool captured = false;
  if (!matcher->Matches(reply.text, &group, &captured)) {
    return {false, what + " does not match " + Quoted(probe.expect) + " (the whole " +
                       (http ? "body" : "reply") + " must match)"};
  }
  // A long body says little in its first bytes: a capture group names the part that mattered
  // ("(?s).*(etcd_server_is_leader 1).*").
  if (http && captured)
    return {true, "HTTP " + std::to_string(reply.status) + ", matched " + Quoted(group)};
  return {true, http && probe.expect.empty() ? "HTTP " + std::to_string(reply.status) : what};
}

}  // namespace

int ConnectWithTimeout(const std::string& address, int timeout_ms, std::string* error) {
  auto sa = framework::Ipv4SocketAddress(address);
  if (!sa.ok()) {
    *error = "bad address '" + address + "' (expected 127.0.0.1:PORT)";
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  if (connect(fd, reinterpret_cast<const sockaddr*>(&*sa), sizeof(sockaddr_in)) != 0 &&
      errno != EINPROGRESS) {
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
    framework::CommandOptions o;
    o.timeout = probe.timeout;
    // The verdict is the exit status; the tail of the output is the evidence.
    o.max_capture = kMaxProbeOutput;
    auto r = framework::RunCommand(probe.command, o);
    if (!r.ok()) return {false, r.error().Message(), "", ""};
    auto tail = [](const std::string& text, size_t dropped) {
      return dropped == 0 ? text : "[" + std::to_string(dropped) + " bytes cut] " + text;
    };
    ProbeOutcome out{r->status.success(), r->status.ToString(), tail(r->out, r->out_dropped),
                     tail(r->err, r->err_dropped)};
    if (r->timed_out) {
      out.ok = false;
      out.detail = "timed out after " + framework::FormatDuration(probe.timeout);
    }
    return out;
  }
  std::string error;
  int fd = ConnectWithTimeout(probe.address, timeout_ms, &error);
  if (fd < 0) return {false, error};
  ProbeOutcome out{true, "connected"};
  if (probe.kind == ProbeSpec::Kind::kHttp || probe.kind == ProbeSpec::Kind::kRequest) {
    out = Exchange(fd, probe, deadline);
  }
  close(fd);
  return out;
}

}  // namespace duende::harness::internal
