// Probe: one health check (TCP connect, HTTP GET, command) run asynchronously on an EventLoop.
//
// A ProbeRun is one attempt: it reports healthy/unhealthy exactly once through its callback,
// within the probe's timeout. Destroying it cancels the attempt (sockets closed, a command's
// process group killed and reaped). The Supervisor decides how often to probe and what a
// failure means (readiness: keep trying until the grace period; liveness: N in a row).
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "duende/framework/config.h"
#include "duende/framework/event_loop.h"
#include "duende/framework/process.h"

namespace duende::framework {

struct ProbeResult {
  bool healthy = false;
  /// What was seen: "connected", "HTTP 503", "connect: Connection refused", "timed out after
  /// 1s", "exited with code 1".
  std::string detail;
};

class ProbeRun {
 public:
  using Done = std::function<void(const ProbeResult&)>;

  /// Starts one attempt of `config` (kind tcp, http, command or daemon). `done` runs once on
  /// the loop thread, never from inside Start() and never after the ProbeRun is destroyed.
  /// A daemon probe asks over `health_fd`, the supervisor's end of the child's health channel
  /// (health_channel.h; borrowed, not closed).
  /// Errors: invalid address, no health channel, or the socket/spawn could not be created
  /// (ENOENT for a missing command, EMFILE) -- callers count those as failed attempts.
  static Result<std::unique_ptr<ProbeRun>> Start(EventLoop* loop, const ProbeConfig& config,
                                                 Done done, int health_fd = -1);

  ProbeRun(const ProbeRun&) = delete;
  ProbeRun& operator=(const ProbeRun&) = delete;
  ~ProbeRun();

  /// The command probe's pid (-1 for network probes or once finished).
  pid_t pid() const { return child_.pid; }

 private:
  ProbeRun(EventLoop* loop, const ProbeConfig& config, Done done);
  Result<void> StartTcp();
  Result<void> StartCommand();
  Result<void> StartDaemon(int health_fd);
  void OnHealthReply();
  void OnSocket(uint32_t events);
  void OnCommandExit();
  void Finish(bool healthy, std::string detail);
  void Cleanup();

  EventLoop* loop_;
  ProbeConfig config_;
  Done done_;
  UniqueFd sock_;
  int health_fd_ = -1;  // borrowed: the supervisor's end of the health channel
  uint64_t health_seq_ = 0;
  bool request_sent_ = false;
  std::string response_;
  Child child_;
  EventLoop::TimerId timeout_timer_ = 0;
  EventLoop::TimerId immediate_timer_ = 0;
  bool finished_ = false;
};

/// Parses "host:port" (IPv4 dotted quad or "localhost") for tcp/http probes.
/// Errors: invalid_argument with the reason.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& address);

}  // namespace duende::framework
