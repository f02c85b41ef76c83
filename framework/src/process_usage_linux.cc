// /proc/PID/stat, status, fd and limits, read into ProcessUsage.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "duende/framework/cgroup.h"
#include "duende/framework/proc.h"
#include "duende/framework/process_usage.h"

namespace duende::framework {
namespace {

std::string ProcDir(pid_t pid) {
  return pid == 0 ? std::string("/proc/self/") : "/proc/" + std::to_string(pid) + "/";
}

// The boot time (btime of /proc/stat) in seconds since the epoch; 0 when unreadable.
double BootTimeSeconds() {
  static const double boot = [] {
    auto text = ReadSmallFile("/proc/stat");
    if (!text.ok()) return 0.0;
    size_t at = text->find("\nbtime ");
    return at == std::string::npos ? 0.0 : std::strtod(text->c_str() + at + 7, nullptr);
  }();
  return boot;
}

// The soft "Max open files" of /proc/PID/limits; 0 when unreadable or unlimited.
uint64_t MaxFds(pid_t pid) {
  if (pid == 0) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
      return lim.rlim_cur;
    }
    return 0;
  }
  auto text = ReadSmallFile(ProcDir(pid) + "limits");
  if (!text.ok()) return 0;
  size_t at = text->find("Max open files");
  if (at == std::string::npos) return 0;
  return std::strtoull(text->c_str() + at + 14, nullptr, 10);
}

}  // namespace

Result<ProcessUsage> ReadProcessUsage(pid_t pid) {
  const std::string dir = ProcDir(pid);
  auto stat = ReadSmallFile(dir + "stat");
  if (!stat.ok()) return ErrnoError("no process " + std::to_string(pid), ESRCH);
  // Fields after "(comm)" start with field 3 (state); comm may hold spaces and parentheses.
  size_t close = stat->rfind(')');
  if (close == std::string::npos) return ErrnoError("unreadable " + dir + "stat", ESRCH);
  std::istringstream rest(stat->substr(close + 1));
  std::string field;
  uint64_t utime = 0, stime = 0, start_ticks = 0, vsize = 0;
  for (int i = 3; i <= 23 && rest >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 22) start_ticks = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 23) vsize = std::strtoull(field.c_str(), nullptr, 10);
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  ProcessUsage u;
  u.processes = 1;
  u.cpu_seconds = static_cast<double>(utime + stime) / ticks;
  u.start_time_seconds = BootTimeSeconds() + static_cast<double>(start_ticks) / ticks;
  u.virtual_bytes = vsize;
  // A zombie has no Vm* lines: its memory counts as 0.
  if (auto kb = ReadStatusKb(pid); kb.ok()) {
    auto get = [&](const char* key) {
      auto it = kb->find(key);
      return it == kb->end() ? uint64_t{0} : it->second * 1024;
    };
    u.resident_bytes = get("VmRSS");
    u.locked_bytes = get("VmLck");
  }
  if (auto fds = CountOpenFds(pid); fds.ok()) u.open_fds = static_cast<uint64_t>(*fds);
  u.max_fds = MaxFds(pid);
  return u;
}

ProcessUsage SumProcessUsage(const std::vector<pid_t>& pids) {
  ProcessUsage sum;
  for (pid_t pid : pids) {
    if (pid <= 0) continue;
    auto u = ReadProcessUsage(pid);
    if (!u.ok()) continue;
    if (sum.processes == 0) {
      sum.max_fds = u->max_fds;
      sum.start_time_seconds = u->start_time_seconds;
    }
    sum.processes += 1;
    sum.cpu_seconds += u->cpu_seconds;
    sum.resident_bytes += u->resident_bytes;
    sum.virtual_bytes += u->virtual_bytes;
    sum.locked_bytes += u->locked_bytes;
    sum.open_fds += u->open_fds;
  }
  return sum;
}

}  // namespace duende::framework
