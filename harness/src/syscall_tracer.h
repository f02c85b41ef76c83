// Records the system calls of scenario targets with strace (private to the harness).
//
// One strace per target process: `strace -f -ttt -T -p PID -o /proc/self/fd/3`, attached
// whenever the supervisor (or a platform) reports a new main pid, so a restarted target is
// followed from its next spawn on. Running the target *under* strace instead would put strace
// between the supervisor and the daemon: kill faults, readiness and exit statuses would all be
// strace's. The calls a process makes between its spawn and the attach (its exec and dynamic
// loading, a few milliseconds) are not recorded; everything after is.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::harness::internal {

/// Total bytes of raw trace kept per target; the rest is counted, not written.
inline constexpr uint64_t kTraceMaxBytes = 32ull << 20;

class SyscallTracer {
 public:
  struct Options {
    std::string strace;  ///< path of strace (resolved by the caller)
    std::string dir;     ///< where NAME.PID.strace files go (created, private)
    uint64_t max_bytes = kTraceMaxBytes;
  };
  /// One traced process.
  struct Trace {
    std::string target;
    pid_t pid = -1;  ///< the target process
    pid_t strace_pid = -1;
    std::string file;       ///< its raw trace
    uint64_t bytes = 0;     ///< written to `file`
    uint64_t dropped = 0;   ///< not written (the target's byte cap was reached)
    bool attached = false;  ///< strace said "Process PID attached"
    std::string error;      ///< why strace could not trace it ("" when it did)
  };
  /// Called from the tracer's thread when an attach fails (`trace.error`) or succeeds.
  using Notify = std::function<void(const Trace&)>;

  /// Starts the tracer's thread. Errors: creating the directory, eventfd.
  static framework::Result<std::unique_ptr<SyscallTracer>> Create(Options options, Notify on_attach,
                                                                  Notify on_error);
  ~SyscallTracer();

  /// CLOCK_REALTIME minus CLOCK_MONOTONIC (ns) when the tracer started: strace's -ttt time
  /// minus this is the event log's time.
  int64_t wall_minus_mono_ns() const { return offset_ns_; }

  /// Traces `pid` of `target` with these strace `-e trace=` entries (empty: every call).
  /// Thread-safe, returns at once (the tracer's thread spawns strace).
  void Attach(const std::string& target, pid_t pid, const std::vector<std::string>& syscalls);

  /// Ends every strace (SIGTERM: it detaches and exits; SIGKILL after 2 s), writes what is
  /// left of their output, joins the thread. Idempotent. Nothing of the tracer runs after.
  void Stop();

  /// Every process traced so far (call after Stop for final figures).
  std::vector<Trace> Traces();

 private:
  struct Live;
  explicit SyscallTracer(Options options);
  void Loop();
  void SpawnOne(const std::string& target, pid_t pid, const std::vector<std::string>& syscalls);
  void Drain(Live& l, bool until_eof);
  void Finish(Live& l);

  Options o_;
  Notify on_attach_, on_error_;
  int64_t offset_ns_ = 0;
  framework::UniqueFd wake_;
  std::thread thread_;
  std::mutex mu_;
  struct Request {
    std::string target;
    pid_t pid;
    std::vector<std::string> syscalls;
  };
  std::vector<Request> queue_;               // guarded by mu_
  bool stop_ = false;                        // guarded by mu_
  std::vector<std::unique_ptr<Live>> live_;  // the thread's
  std::vector<Trace> done_;                  // guarded by mu_
  std::map<std::string, uint64_t> bytes_;    // target -> bytes written (the thread's)
  bool stopped_ = false;
};

}  // namespace duende::harness::internal
