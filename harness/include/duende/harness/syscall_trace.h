// Syscall traces of scenario targets: reading strace's output (`-f -ttt -T`, one file per
// traced process) and the figures the report shows from it: a per-syscall summary and, per
// fault window, the calls that failed or were slow with what the same thread called next.
// The runner records these as trace.* events (model/events.h); reporters only render them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::harness {

/// One completed system call as strace printed it.
struct SyscallRecord {
  pid_t tid = 0;         ///< the thread (strace -f prefixes each line with it)
  int64_t start_ns = 0;  ///< CLOCK_MONOTONIC (strace's wall time minus the recorded offset)
  int64_t dur_ns = -1;   ///< time spent in the call (-T); -1 when strace printed none
  std::string name;      ///< "fsync"
  std::string args;      ///< the argument text, cut to kMaxArgsChars
  std::string ret;       ///< "-1", "5", "?" (no return: exit, killed)
  std::string err;       ///< "ENOSPC" when the call failed, else ""
};

/// Argument text kept per call (strace prints strings cut to 32 characters already).
inline constexpr size_t kMaxArgsChars = 120;

/// Reads strace lines of one process tree in order, joining `<unfinished ...>` with its
/// `<... NAME resumed>` line. `wall_minus_mono_ns` converts strace's `-ttt` (CLOCK_REALTIME
/// seconds.micros) to the event log's CLOCK_MONOTONIC.
class StraceParser {
 public:
  explicit StraceParser(int64_t wall_minus_mono_ns) : offset_ns_(wall_minus_mono_ns) {}
  /// One line (without '\n'); a completed call when the line finishes one. Signals, exits and
  /// strace's own messages yield nothing.
  std::optional<SyscallRecord> Feed(std::string_view line);

 private:
  struct Pending {
    int64_t start_ns = 0;
    std::string name;
    std::string args;
  };
  int64_t offset_ns_;
  std::map<pid_t, Pending> pending_;
};

/// True for calls that block by design (epoll_wait, poll, accept, futex, nanosleep, ...):
/// their time is waiting, not slowness, so they are never "slow".
bool IsWaitingSyscall(std::string_view name);

/// A strace `-e trace=` entry the scenario may name: a system call this kernel architecture
/// knows (libseccomp's table) or one of strace's classes (%file, %network, %desc, ...).
bool IsTraceableSyscall(const std::string& name);

/// Per-syscall figures over `calls`, most frequent first, at most `limit` rows:
/// [{"name","count","errors","p50_us","p99_us","total_us","errnos":{"ENOSPC":3}}].
nlohmann::json SummarizeSyscalls(const std::vector<SyscallRecord>& calls, size_t limit = 30);

/// The notable calls inside [start_ns, end_ns]: failed ones (ret -1 with an errno, EAGAIN
/// excluded: a non-blocking socket's normal answer) and slow ones (dur >= slow_ns, waiting
/// calls excluded), each with the next `next_n` calls of the same thread. At most `limit`
/// entries, failures first: {"failed","slow","calls":[{...,"next":[...]}]}.
nlohmann::json WindowCalls(const std::vector<SyscallRecord>& calls, int64_t start_ns,
                           int64_t end_ns, int64_t slow_ns, size_t next_n = 5, size_t limit = 20);

/// One call as JSON: {"tid","t_ns","name","args","ret","errno","dur_us"}.
nlohmann::json CallToJson(const SyscallRecord& c);

}  // namespace duende::harness
