#include "duende/framework/probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

#include "duende/framework/address.h"
#include "duende/framework/clock.h"
#include "duende/framework/health_channel.h"

namespace duende::framework {

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& address) {
  auto hp = SplitHostPort(address);
  if (!hp) {
    return MessageError("probe address '" + address +
                        "' must be host:port with a port in 1-65535, e.g. 127.0.0.1:8080");
  }
  if (hp->host == "localhost") hp->host = "127.0.0.1";
  in_addr a{};
  if (::inet_pton(AF_INET, hp->host.c_str(), &a) != 1) {
    return MessageError("probe address '" + address + "' must use an IPv4 address");
  }
  return std::make_pair(hp->host, hp->port);
}

namespace {

constexpr char kNotAFrameworkDaemon[] =
    "; kind = \"daemon\" needs a program built on duende::framework (Run()) -- for other "
    "programs use kind = \"tcp\", \"http\" or \"command\"";

constexpr char kClosedChannel[] = "the program closed its health channel (fd 3, DUENDE_HEALTH_FD)";

// Sequence numbers of daemon probes, unique in this process so a late reply to an earlier
// probe is never taken for the current one.
std::atomic<uint64_t> next_health_seq{1};

}  // namespace

ProbeRun::ProbeRun(EventLoop* loop, const ProbeConfig& config, Done done)
    : loop_(loop), config_(config), done_(std::move(done)) {}

Result<std::unique_ptr<ProbeRun>> ProbeRun::Start(EventLoop* loop, const ProbeConfig& config,
                                                  Done done, int health_fd) {
  std::unique_ptr<ProbeRun> run(new ProbeRun(loop, config, std::move(done)));
  switch (config.kind) {
    case ProbeConfig::Kind::kTcp:
    case ProbeConfig::Kind::kHttp:
      DUENDE_TRY(run->StartTcp());
      break;
    case ProbeConfig::Kind::kCommand:
      DUENDE_TRY(run->StartCommand());
      break;
    case ProbeConfig::Kind::kDaemon:
      DUENDE_TRY(run->StartDaemon(health_fd));
      break;
    default:
      return MessageError("probe kind has no attempt to run");
  }
  ProbeRun* raw = run.get();
  const int64_t timeout = config.timeout.count() > 0 ? config.timeout.count() : 1000000000;
  raw->timeout_timer_ = loop->AddTimer(MonotonicNs() + timeout, [raw] {
    raw->timeout_timer_ = 0;
    std::string why = "timed out after " + FormatDuration(raw->config_.timeout);
    if (raw->config_.kind == ProbeConfig::Kind::kDaemon) {
      why += " with no report on the health channel (fd 3, DUENDE_HEALTH_FD)";
      why += kNotAFrameworkDaemon;
    }
    raw->Finish(false, why);
  });
  return run;
}

namespace {

// The other members of a probe's process group were the leader's children. Once the leader is
// reaped they belong to this process when it is a child subreaper (as a Supervisor usually is),
// and the group was sent SIGKILL, so they are about to be zombies that nothing else would reap:
// reap them here, waiting at most 100 ms for the kill to land. Not a subreaper: they went to
// init, and waitid finds none of ours in the group at once.
void ReapGroupMembers(pid_t pgid) {
  const int64_t give_up = MonotonicNs() + 100'000'000;
  while (true) {
    siginfo_t info{};
    if (::waitid(P_PGID, static_cast<id_t>(pgid), &info, WEXITED | WNOHANG) != 0) return;
    if (info.si_pid != 0) continue;  // reaped one; look again
    if (MonotonicNs() >= give_up) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

ProbeRun::~ProbeRun() { Cleanup(); }

void ProbeRun::Cleanup() {
  if (timeout_timer_ != 0) {
    loop_->CancelTimer(timeout_timer_);
    timeout_timer_ = 0;
  }
  if (immediate_timer_ != 0) {
    loop_->CancelTimer(immediate_timer_);
    immediate_timer_ = 0;
  }
  if (sock_) {
    loop_->Unwatch(sock_.get());
    sock_.Reset();
  }
  if (health_fd_ >= 0) {
    loop_->Unwatch(health_fd_);
    health_fd_ = -1;
  }
  if (child_.pidfd) {
    loop_->Unwatch(child_.pidfd.get());
    // The probe runs in its own process group: take the whole group down, then reap.
    ::kill(-child_.pid, SIGKILL);
    (void)WaitExit(child_.pidfd.get());
    ReapGroupMembers(child_.pid);
    child_.pidfd.Reset();
    child_.pid = -1;
  }
}

void ProbeRun::Finish(bool healthy, std::string detail) {
  if (finished_) return;
  finished_ = true;
  Cleanup();
  // `done` may destroy this ProbeRun: nothing of *this is touched after the call.
  Done done = std::move(done_);
  ProbeResult result{healthy, std::move(detail)};
  done(result);
}

Result<void> ProbeRun::StartTcp() {
  auto hp = ParseHostPort(config_.address);
  if (!hp.ok()) return hp.error();
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(hp->second);
  ::inet_pton(AF_INET, hp->first.c_str(), &sa.sin_addr);
  sock_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!sock_) return ErrnoError("unable to create probe socket");
  int rc = ::connect(sock_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (rc != 0 && errno != EINPROGRESS) {
    // Refused at once (loopback): report through the loop like every other result.
    // (A cancellable timer, not Post(): this object may be destroyed first.)
    int err = errno;
    sock_.Reset();
    immediate_timer_ = loop_->AddTimer(0, [this, err] {
      immediate_timer_ = 0;
      Finish(false, std::string("connect: ") + std::strerror(err));
    });
    return {};
  }
  return loop_->Watch(sock_.get(), EPOLLOUT, [this](uint32_t ev) { OnSocket(ev); });
}

void ProbeRun::OnSocket(uint32_t events) {
  if (!request_sent_) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(sock_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (events & EPOLLERR) != 0) {
      Finish(false, std::string("connect: ") + std::strerror(err != 0 ? err : ECONNREFUSED));
      return;
    }
    if (config_.kind == ProbeConfig::Kind::kTcp) {
      Finish(true, "connected");
      return;
    }
    std::string req = "GET " + config_.http_path + " HTTP/1.0\r\nHost: " + config_.address +
                      "\r\nUser-Agent: duende-probe\r\nConnection: close\r\n\r\n";
    if (::send(sock_.get(), req.data(), req.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(req.size())) {
      Finish(false, std::string("send: ") + std::strerror(errno));
      return;
    }
    request_sent_ = true;
    (void)loop_->Modify(sock_.get(), EPOLLIN | EPOLLRDHUP);
    return;
  }
  char buf[512];
  ssize_t n = ::recv(sock_.get(), buf, sizeof buf, 0);
  if (n > 0) response_.append(buf, static_cast<size_t>(n));
  size_t eol = response_.find("\r\n");
  if (eol == std::string::npos && n > 0 && response_.size() < 4096) return;
  // "HTTP/1.1 200 OK"
  std::string line = response_.substr(0, eol);
  size_t sp = line.find(' ');
  int code = 0;
  if (line.rfind("HTTP/", 0) == 0 && sp != std::string::npos && line.size() >= sp + 4) {
    std::from_chars(line.data() + sp + 1, line.data() + sp + 4, code);
  }
  if (code == 0) {
    Finish(false, n < 0 ? std::string("recv: ") + std::strerror(errno) : "no HTTP status line");
    return;
  }
  Finish(code >= 200 && code < 300, "HTTP " + std::to_string(code));
}

Result<void> ProbeRun::StartCommand() {
  SpawnOptions o;
  o.argv = config_.command;
  o.new_process_group = true;
  o.parent_death_signal = SIGKILL;
  o.stdout_fd = -1;
  o.stderr_fd = -1;
  auto child = Spawn(o);
  if (!child.ok()) return child.error();
  child_ = std::move(*child);
  return loop_->Watch(child_.pidfd.get(), EPOLLIN, [this](uint32_t) { OnCommandExit(); });
}

void ProbeRun::OnCommandExit() {
  // While the leader is an unreaped zombie its group id cannot be recycled: take down any
  // helper the command left behind in its group, then reap.
  ::kill(-child_.pid, SIGKILL);
  auto status = TryReap(child_.pidfd.get());
  if (status.ok() && !status->has_value()) return;  // spurious
  loop_->Unwatch(child_.pidfd.get());
  ReapGroupMembers(child_.pid);
  child_.pidfd.Reset();
  child_.pid = -1;
  if (!status.ok()) {
    Finish(false, status.error().Message());
    return;
  }
  Finish((*status)->success(), (*status)->ToString());
}

Result<void> ProbeRun::StartDaemon(int health_fd) {
  if (health_fd < 0) return MessageError("kind = \"daemon\" probe without a health channel");
  health_seq_ = next_health_seq.fetch_add(1);
  const std::string request = HealthRequest(health_seq_);
  if (::send(health_fd, request.data(), request.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    const int err = errno;
    // EAGAIN: earlier requests were never read. Either way the answer is a clear failure,
    // reported through the loop like every other result.
    immediate_timer_ = loop_->AddTimer(0, [this, err] {
      immediate_timer_ = 0;
      Finish(false, (err == EPIPE || err == ECONNRESET
                         ? std::string(kClosedChannel)
                         : std::string("health request not taken: ") + std::strerror(err)) +
                        kNotAFrameworkDaemon);
    });
    return {};
  }
  health_fd_ = health_fd;
  return loop_->Watch(health_fd_, EPOLLIN | EPOLLRDHUP, [this](uint32_t) { OnHealthReply(); });
}

void ProbeRun::OnHealthReply() {
  char buf[kHealthReplyMax + 1];
  while (true) {
    ssize_t n = ::recv(health_fd_, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // wait for ours
    if (n <= 0) {
      Finish(false, std::string(kClosedChannel) + kNotAFrameworkDaemon);
      return;
    }
    auto answer = ParseHealthReply(std::string(buf, std::min(sizeof buf, static_cast<size_t>(n))));
    if (!answer.ok()) {
      Finish(false, answer.error().Message());
      return;
    }
    if (answer->seq != health_seq_) continue;  // the late answer to an earlier probe
    Finish(answer->state != HealthState::kUnhealthy, "daemon health: " + answer->text);
    return;
  }
}

}  // namespace duende::framework
