// HealthChannel: the private line over which a supervisor asks a framework daemon for its
// HealthCheck() (liveness or readiness probes of kind = "daemon").
//
// The supervisor creates an AF_UNIX SOCK_SEQPACKET socketpair per spawn and hands one end to
// the child as fd 3 (kHealthChildFd), naming it in DUENDE_HEALTH_FD. No path exists in the
// file system, so no other user can reach the channel; the daemon takes the fd out of its
// environment, marks it close-on-exec (its own children never see it) and answers from the
// driver's control thread. Each request carries a sequence number that its reply repeats, so
// a reply that arrives after its probe timed out is recognised and dropped.
//
//   request:  "health <seq>"                  (at most kHealthRequestMax bytes)
//   reply:    "<seq> <state> <report text>"   (at most kHealthReplyMax bytes; state is
//             healthy, degraded or unhealthy)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "duende/framework/health.h"
#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

inline constexpr char kHealthFdEnv[] = "DUENDE_HEALTH_FD";
inline constexpr int kHealthChildFd = 3;
inline constexpr size_t kHealthRequestMax = 64;
inline constexpr size_t kHealthReplyMax = 1024;

/// The supervisor's end (non-blocking) and the child's end (blocking), both close-on-exec;
/// pass the child's end with SpawnOptions::pass_fds = {{fd, kHealthChildFd}}.
/// Errors: the errno of socketpair().
Result<std::pair<UniqueFd, UniqueFd>> CreateHealthChannel();

std::string HealthRequest(uint64_t seq);
/// The reply to `request` (nullopt when it is not a health request), at most kHealthReplyMax.
std::optional<std::string> HealthReply(const std::string& request, const HealthReport& report);

struct HealthAnswer {
  uint64_t seq = 0;
  HealthState state = HealthState::kHealthy;
  std::string text;  ///< the daemon's HealthReport::ToString()
};
/// Parses a reply. Errors: invalid_argument naming what is wrong with it.
Result<HealthAnswer> ParseHealthReply(const std::string& reply);

/// The daemon's side: takes the channel named by DUENDE_HEALTH_FD (and removes the variable).
/// nullopt when the variable is unset. Errors: the variable names something other than an
/// inherited AF_UNIX SOCK_SEQPACKET socket created by root or this process's own user.
Result<std::optional<UniqueFd>> TakeHealthChannelFromEnvironment();

/// Answers the pending requests (at most 16, so a flood cannot hold the caller) on the
/// daemon's end `fd` with `report()`; returns false once the supervisor's end is closed.
bool AnswerHealthRequests(int fd, const std::function<HealthReport()>& report);

}  // namespace duende::framework
