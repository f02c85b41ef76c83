// Proc: what /proc says about processes and their TCP listeners (Linux).
//
// Used to track a service's processes (who is in which process group, session), to find who
// holds a port (/proc/net/tcp and tcp6 give the socket inode of each listener; /proc/PID/fd
// links name the inodes a process holds), and to check that a listener a probe reached belongs
// to the service it probes. Everything here reads only; nothing trusts a number it read without
// reading the process again (a pid can be recycled between two reads: callers compare
// start_time where it matters).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"

namespace duende::framework {

/// One process, from /proc/PID/stat (and /proc/PID/exe for `exe`).
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  char state = '?';         ///< 'R', 'S', 'Z', ...
  std::string comm;         ///< the kernel's short name ("nginx")
  uint64_t start_time = 0;  ///< clock ticks since boot (field 22): tells a recycled pid apart
};

/// Reads one process. Errors: ENOENT (ESRCH) when it is gone.
Result<ProcessInfo> ReadProcessInfo(pid_t pid);

/// Every process this /proc shows (unreadable ones skipped).
std::vector<ProcessInfo> ListProcesses();

/// The "Key:   N kB" lines of /proc/PID/status (pid 0: this process), in kB by key ("VmRSS",
/// "VmLck", ...). A zombie has no Vm* lines. Errors: ENOENT when the process is gone.
Result<std::map<std::string, uint64_t, std::less<>>> ReadStatusKb(pid_t pid);

/// One "Key:" value of /proc/PID/status in kB (pid 0: this process). Errors: ENOENT when the
/// process is gone, ENODATA when the line is absent (a zombie's VmRSS).
Result<uint64_t> StatusKb(pid_t pid, std::string_view key);

/// Number of open descriptors of `pid` (entries of /proc/PID/fd). Errors: ENOENT when gone,
/// EACCES without permission.
Result<int> CountOpenFds(pid_t pid);

/// The program of `pid` (the /proc/PID/exe link), or "" when unreadable.
std::string ProcessExe(pid_t pid);

/// "nginx (pid 123, /usr/sbin/nginx)" for messages; "pid 123" when it is gone.
std::string DescribeProcess(pid_t pid);

/// A TCP socket in LISTEN state, from /proc/net/tcp or /proc/net/tcp6 (this network namespace).
struct TcpListener {
  uint64_t inode = 0;
  std::string address;  ///< "127.0.0.1:8080", "[::]:8080", "0.0.0.0:8080"
  uint16_t port = 0;
};

/// Listeners on `port` (any address, v4 and v6).
std::vector<TcpListener> TcpListenersOnPort(uint16_t port);

/// The socket inodes `pid` holds open (its /proc/PID/fd links "socket:[N]"); empty when gone
/// or not readable.
std::set<uint64_t> SocketInodes(pid_t pid);

/// Which processes hold any of `inodes`: scans `among` when it is not empty, else every process.
/// Returns the holders in pid order.
std::vector<pid_t> SocketHolders(const std::set<uint64_t>& inodes,
                                 const std::vector<pid_t>& among = {});

/// Why a connection to `address` ("host:port") would not reach a listener held by one of
/// `members`: "" when it would, or when no listener on that port is visible in this network
/// namespace (a remote address). `whose` names the owner in the message ("service kvd").
/// Example: "127.0.0.1:8080 answers, but its listener belongs to nginx (pid 4242,
/// /usr/sbin/nginx), not to service kvd".
std::string ListenerNotHeldBy(const std::string& address, const std::vector<pid_t>& members,
                              const std::string& whose);

/// Who listens on `port`: "" when nobody does, else "127.0.0.1:8080 (nginx (pid 4242,
/// /usr/sbin/nginx))", listeners joined by ", "; a listener whose holder is not visible says
/// "held by a process not visible here".
std::string PortListeners(uint16_t port);

}  // namespace duende::framework
