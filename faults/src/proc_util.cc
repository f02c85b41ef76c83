#include "proc_util.h"

#include <dirent.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "duende/framework/cgroup.h"
#include "duende/framework/proc.h"
#include "duende/framework/temp_dir.h"

namespace duende::faults::internal {
namespace {

// The fields after "(comm)" of /proc/PID/stat (comm may contain spaces and parentheses).
std::optional<std::vector<std::string>> StatFields(pid_t pid) {
  auto text = framework::ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return std::nullopt;
  auto close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(close + 1));
  std::vector<std::string> out;
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

}  // namespace

char ProcessState(pid_t pid) {
  auto info = framework::ReadProcessInfo(pid);
  return info.ok() ? info->state : 0;
}

std::optional<int64_t> StatField(pid_t pid, int index) {
  auto f = StatFields(pid);
  // Field 3 (state) is the first after "(comm)".
  size_t i = static_cast<size_t>(index - 3);
  if (!f || index < 3 || i >= f->size()) return std::nullopt;
  return std::strtoll((*f)[i].c_str(), nullptr, 10);
}

std::vector<pid_t> GroupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& p : framework::ListProcesses()) {
    if (p.pgid == pgid && p.state != 'Z') out.push_back(p.pid);
  }
  return out;
}

bool WaitPidfdExit(int pidfd, int timeout_ms) {
  pollfd p{pidfd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

std::optional<int> ZombieExitStatus(pid_t pid) {
  if (ProcessState(pid) != 'Z') return std::nullopt;
  auto v = StatField(pid, 52);
  if (!v) return std::nullopt;
  return static_cast<int>(*v);
}

uint64_t MemAvailableBytes() {
  auto text = framework::ReadSmallFile("/proc/meminfo");
  if (!text.ok()) return 0;
  auto pos = text->find("MemAvailable:");
  if (pos == std::string::npos) return 0;
  return std::strtoull(text->c_str() + pos + 13, nullptr, 10) * 1024;
}

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string TempDir() { return framework::TempDir(); }

}  // namespace duende::faults::internal
