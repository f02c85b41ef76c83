// Linux cgroup v1/v2 helper. Only file reads and writes under /sys/fs/cgroup.
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <sstream>
#include <thread>

#include "duende/framework/cgroup.h"
#include "duende/framework/read_limits.h"

namespace duende::framework {
namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// "key value" lines (memory.events, memory.oom_control, cpu.stat, pids.events).
uint64_t KeyedValue(const std::string& text, std::string_view key) {
  std::istringstream in(text);
  std::string k;
  uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// A number file; "max" (v2) and v1's huge "unlimited" values read as 0.
uint64_t NumberFile(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return 0;
  if (text->rfind("max", 0) == 0) return 0;
  uint64_t v = std::strtoull(text->c_str(), nullptr, 10);
  if (v >= (uint64_t{1} << 62)) return 0;  // v1 writes PAGE_COUNTER_MAX for "unlimited"
  return v;
}

std::string Join(const std::string& dir, const std::string& file) { return dir + "/" + file; }

// The path of `pid`'s group in the hierarchy that carries `controller` ("" = v2 line "0::").
Result<std::string> OwnPath(pid_t pid, const std::string& controller) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text.ok()) return text.error();
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    // "4:memory:/init.scope", "1:cpu,cpuacct:/x", "0::/user.slice"
    auto c1 = line.find(':');
    auto c2 = line.find(':', c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    std::string ctrls = line.substr(c1 + 1, c2 - c1 - 1);
    std::string path = line.substr(c2 + 1);
    if (controller.empty()) {
      if (ctrls.empty()) return path;
      continue;
    }
    std::istringstream cs(ctrls);
    std::string c;
    while (std::getline(cs, c, ',')) {
      if (c == controller) return path;
    }
  }
  return ErrnoError("no cgroup of controller '" + controller + "' for pid " + std::to_string(pid),
                    ENOENT);
}

std::string Normalize(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

Result<void> MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoError("unable to create cgroup " + dir);
  }
  return {};
}

}  // namespace

Result<std::string> ReadSmallFile(const std::string& path) {
  return ReadFileLimited(path, kMaxSmallFileBytes);
}

Result<void> WriteSmallFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("unable to open " + path);
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoError("unable to write '" + text + "' to " + path, err);
  return {};
}

CgroupVersion DetectCgroupVersion() {
  struct statfs fs {};
  if (::statfs(kCgroupRoot, &fs) != 0) return CgroupVersion::kNone;
  if (fs.f_type == CGROUP2_SUPER_MAGIC) return CgroupVersion::kV2;
  if (IsDir(std::string(kCgroupRoot) + "/memory") || IsDir(std::string(kCgroupRoot) + "/pids")) {
    return CgroupVersion::kV1;
  }
  return CgroupVersion::kNone;
}

Result<std::string> CgroupDirOf(pid_t pid, const std::string& controller) {
  CgroupVersion v = DetectCgroupVersion();
  if (v == CgroupVersion::kNone) return ErrnoError("no cgroup hierarchy mounted", ENOENT);
  if (v == CgroupVersion::kV2) {
    auto p = OwnPath(pid, "");
    if (!p.ok()) return p.error();
    return Normalize(std::string(kCgroupRoot) + *p);
  }
  std::string mount = std::string(kCgroupRoot) + "/" + controller;
  if (!IsDir(mount)) return ErrnoError("cgroup v1 controller not mounted: " + mount, ENOENT);
  auto p = OwnPath(pid, controller);
  if (!p.ok()) return p.error();
  return Normalize(mount + *p);
}

namespace {

// True when whitespace-separated `text` has `word` (cgroup.controllers).
bool HasWord(const std::string& text, std::string_view word) {
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    if (w == word) return true;
  }
  return false;
}

// True when the group lists a process (or cannot be read: then it is not ours to change).
bool HasProcesses(const std::string& dir) {
  auto procs = ReadSmallFile(Join(dir, "cgroup.procs"));
  return !procs.ok() || procs->find_first_not_of(" \n") != std::string::npos;
}

// The v2 group under which `self`'s new groups go: its own, or the nearest ancestor that
// accepts `controllers` in cgroup.subtree_control (written on the way).
Result<std::string> V2Parent(pid_t self, CgroupControllers controllers) {
  auto own = CgroupDirOf(self, "");
  if (!own.ok()) return own.error();
  std::string enable;
  if (controllers.memory) enable += "+memory ";
  if (controllers.pids) enable += "+pids ";
  if (controllers.cpu) enable += "+cpu ";
  // A v2 group with processes cannot delegate controllers to children ("no internal
  // processes"); walk up until a group without processes accepts them (the real root, which
  // has no cgroup.type file, always does; a cgroup namespace's root is an ordinary group).
  // The check comes first because the kernel refuses only domain controllers there (EBUSY):
  // it accepts the threaded ones (cpu, pids), and the group becomes a thread root whose new
  // children refuse processes (EOPNOTSUPP).
  std::string parent = *own;
  while (!enable.empty()) {
    bool top = parent == kCgroupRoot;
    if ((top && !Exists(Join(parent, "cgroup.type"))) || !HasProcesses(parent)) {
      if (WriteSmallFile(Join(parent, "cgroup.subtree_control"), enable).ok()) break;
    }
    if (top) break;
    parent = parent.substr(0, parent.rfind('/'));
  }
  return parent;
}

}  // namespace

Result<std::string> Cgroup::PlannedDir(const std::string& name, const std::string& controller,
                                       CgroupControllers controllers) {
  CgroupVersion v = DetectCgroupVersion();
  if (v == CgroupVersion::kNone) {
    return ErrnoError("unable to plan cgroup " + name + ": no cgroup hierarchy mounted", ENOENT);
  }
  auto parent = v == CgroupVersion::kV2 ? V2Parent(::getpid(), controllers)
                                        : CgroupDirOf(::getpid(), controller);
  if (!parent.ok()) return parent.error();
  return Join(*parent, name);
}

Result<Cgroup> Cgroup::Create(const std::string& name, CgroupControllers controllers) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    return MessageError("invalid cgroup name '" + name + "' (one path component)");
  }
  Cgroup g;
  g.version_ = DetectCgroupVersion();
  pid_t self = ::getpid();
  if (g.version_ == CgroupVersion::kNone) {
    return ErrnoError("unable to create cgroup " + name + ": no cgroup hierarchy mounted", ENOENT);
  }
  if (g.version_ == CgroupVersion::kV2) {
    auto parent = V2Parent(self, controllers);
    if (!parent.ok()) return parent.error();
    std::string dir = Join(*parent, name);
    DUENDE_TRY(MakeDir(dir));
    // No ancestor could delegate (a container's populated namespace root, no write access up
    // the tree): say so now rather than with a missing memory.max later.
    std::string missing;
    auto have = ReadSmallFile(Join(dir, "cgroup.controllers"));
    for (auto [want, c] :
         {std::pair{controllers.memory, "memory"}, std::pair{controllers.pids, "pids"},
          std::pair{controllers.cpu, "cpu"}}) {
      if (want && (!have.ok() || !HasWord(*have, c))) missing += std::string(" ") + c;
    }
    if (!missing.empty()) {
      (void)::rmdir(dir.c_str());
      return ErrnoError("cgroup " + dir + " lacks controllers" + missing + ": " + *parent +
                            " cannot delegate them (a v2 group delegates only while its "
                            "processes live in child groups; move them into a leaf first)",
                        EOPNOTSUPP);
    }
    g.memory_dir_ = g.pids_dir_ = g.cpu_dir_ = dir;
    return g;
  }
  auto make = [&](const char* controller, std::string* out) -> Result<void> {
    auto base = CgroupDirOf(self, controller);
    if (!base.ok()) return base.error();
    std::string dir = Join(*base, name);
    DUENDE_TRY(MakeDir(dir));
    *out = dir;
    return {};
  };
  Result<void> r;
  if (controllers.memory) r = make("memory", &g.memory_dir_);
  if (r.ok() && controllers.pids) r = make("pids", &g.pids_dir_);
  if (r.ok() && controllers.cpu) r = make("cpu", &g.cpu_dir_);
  if (!r.ok()) {
    (void)g.Remove();
    return r.error();
  }
  return g;
}

Result<Cgroup> Cgroup::CreateForTracking(const std::string& name) {
  CgroupVersion v = DetectCgroupVersion();
  if (v == CgroupVersion::kV2) return Create(name, {false, false, false});
  Result<Cgroup> last = ErrnoError("unable to create cgroup " + name +
                                       ": no cgroup v1 hierarchy "
                                       "(pids, memory or cpu) is mounted",
                                   ENOENT);
  for (CgroupControllers c :
       {CgroupControllers{false, true, false}, CgroupControllers{true, false, false},
        CgroupControllers{false, false, true}}) {
    last = Create(name, c);
    if (last.ok()) return last;
  }
  return last;
}

std::string Cgroup::Describe() const {
  auto dirs = Dirs();
  std::string out = version_ == CgroupVersion::kV2 ? "cgroup v2" : "cgroup v1";
  for (const auto& d : dirs) out += " " + d;
  return out;
}

bool Cgroup::Contains(pid_t pid) const {
  auto members = Members();
  return members.ok() && std::find(members->begin(), members->end(), pid) != members->end();
}

Cgroup Cgroup::Open(CgroupVersion version, std::string memory_dir, std::string pids_dir,
                    std::string cpu_dir) {
  Cgroup g;
  g.version_ = version;
  g.memory_dir_ = std::move(memory_dir);
  if (version == CgroupVersion::kV2) {
    g.pids_dir_ = g.cpu_dir_ = g.memory_dir_;
  } else {
    g.pids_dir_ = std::move(pids_dir);
    g.cpu_dir_ = std::move(cpu_dir);
  }
  return g;
}

std::vector<std::string> Cgroup::Dirs() const {
  std::vector<std::string> out;
  for (const std::string* d : {&memory_dir_, &pids_dir_, &cpu_dir_}) {
    if (!d->empty() && std::find(out.begin(), out.end(), *d) == out.end()) out.push_back(*d);
  }
  return out;
}

std::vector<std::string> Cgroup::ProcsFiles() const {
  std::vector<std::string> out;
  for (const auto& d : Dirs()) out.push_back(Join(d, "cgroup.procs"));
  return out;
}

Result<void> Cgroup::SetMemoryLimit(uint64_t bytes) {
  if (memory_dir_.empty()) return ErrnoError("no memory controller in this cgroup", ENOENT);
  if (version_ == CgroupVersion::kV2) {
    return WriteSmallFile(Join(memory_dir_, "memory.max"),
                          bytes == 0 ? "max" : std::to_string(bytes));
  }
  return WriteSmallFile(Join(memory_dir_, "memory.limit_in_bytes"),
                        bytes == 0 ? "-1" : std::to_string(bytes));
}

Result<void> Cgroup::SetPidsLimit(uint64_t max) {
  if (pids_dir_.empty()) return ErrnoError("no pids controller in this cgroup", ENOENT);
  return WriteSmallFile(Join(pids_dir_, "pids.max"), max == 0 ? "max" : std::to_string(max));
}

Result<void> Cgroup::SetCpuQuota(uint64_t quota_us, uint64_t period_us) {
  if (cpu_dir_.empty()) return ErrnoError("no cpu controller in this cgroup", ENOENT);
  if (version_ == CgroupVersion::kV2) {
    return WriteSmallFile(Join(cpu_dir_, "cpu.max"),
                          (quota_us == 0 ? std::string("max") : std::to_string(quota_us)) + " " +
                              std::to_string(period_us));
  }
  DUENDE_TRY(WriteSmallFile(Join(cpu_dir_, "cpu.cfs_period_us"), std::to_string(period_us)));
  return WriteSmallFile(Join(cpu_dir_, "cpu.cfs_quota_us"),
                        quota_us == 0 ? "-1" : std::to_string(quota_us));
}

Result<void> Cgroup::MoveChargeOnJoin() {
  if (version_ != CgroupVersion::kV1 || memory_dir_.empty()) return {};
  return WriteSmallFile(Join(memory_dir_, "memory.move_charge_at_immigrate"), "3");
}

Result<void> Cgroup::AddProcess(pid_t pid) {
  for (const auto& f : ProcsFiles()) DUENDE_TRY(WriteSmallFile(f, std::to_string(pid)));
  return {};
}

Result<std::vector<pid_t>> Cgroup::Members() const {
  auto dirs = Dirs();
  if (dirs.empty()) return ErrnoError("cgroup has no directory", ENOENT);
  Result<std::string> text = ReadSmallFile(Join(dirs.front(), "cgroup.procs"));
  if (!text.ok()) return text.error();
  std::vector<pid_t> out;
  std::istringstream in(*text);
  pid_t p = 0;
  while (in >> p) out.push_back(p);
  return out;
}

Result<CgroupStats> Cgroup::Stats() const {
  CgroupStats s;
  bool any = false;
  if (!memory_dir_.empty() && IsDir(memory_dir_)) {
    any = true;
    if (version_ == CgroupVersion::kV2) {
      s.memory_current = NumberFile(Join(memory_dir_, "memory.current"));
      s.memory_peak = NumberFile(Join(memory_dir_, "memory.peak"));
      s.memory_limit = NumberFile(Join(memory_dir_, "memory.max"));
      if (auto ev = ReadSmallFile(Join(memory_dir_, "memory.events")); ev.ok()) {
        s.oom_kills = KeyedValue(*ev, "oom_kill");
        s.oom_events = KeyedValue(*ev, "oom");
        s.memory_failcnt = KeyedValue(*ev, "max");
      }
    } else {
      s.memory_current = NumberFile(Join(memory_dir_, "memory.usage_in_bytes"));
      s.memory_peak = NumberFile(Join(memory_dir_, "memory.max_usage_in_bytes"));
      s.memory_limit = NumberFile(Join(memory_dir_, "memory.limit_in_bytes"));
      s.memory_failcnt = NumberFile(Join(memory_dir_, "memory.failcnt"));
      if (auto oc = ReadSmallFile(Join(memory_dir_, "memory.oom_control")); oc.ok()) {
        s.oom_kills = KeyedValue(*oc, "oom_kill");
        s.oom_events = KeyedValue(*oc, "under_oom");
      }
    }
  }
  if (!pids_dir_.empty() && IsDir(pids_dir_)) {
    any = true;
    s.pids_current = NumberFile(Join(pids_dir_, "pids.current"));
    if (auto ev = ReadSmallFile(Join(pids_dir_, "pids.events")); ev.ok()) {
      s.pids_denied = KeyedValue(*ev, "max");
    }
  }
  if (!cpu_dir_.empty() && IsDir(cpu_dir_)) {
    any = true;
    if (auto st = ReadSmallFile(Join(cpu_dir_, "cpu.stat")); st.ok()) {
      s.cpu_nr_throttled = KeyedValue(*st, "nr_throttled");
      if (version_ == CgroupVersion::kV2) {
        s.cpu_throttled_ns = KeyedValue(*st, "throttled_usec") * 1000;
        s.cpu_usage_ns = KeyedValue(*st, "usage_usec") * 1000;
      } else {
        s.cpu_throttled_ns = KeyedValue(*st, "throttled_time");
        s.cpu_usage_ns = NumberFile(Join(cpu_dir_, "cpuacct.usage"));
      }
    }
  }
  if (!any) return ErrnoError("cgroup directories are gone", ENOENT);
  return s;
}

Result<int> Cgroup::KillAll(int timeout_ms) {
  auto dirs = Dirs();
  if (dirs.empty()) return 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int sent = 0;
  if (version_ == CgroupVersion::kV2 && Exists(Join(dirs.front(), "cgroup.kill"))) {
    (void)WriteSmallFile(Join(dirs.front(), "cgroup.kill"), "1");
  }
  while (true) {
    bool any = false;
    for (const auto& d : dirs) {
      auto text = ReadSmallFile(Join(d, "cgroup.procs"));
      if (!text.ok()) continue;
      std::istringstream in(*text);
      pid_t p = 0;
      while (in >> p) {
        any = true;
        if (::kill(p, SIGKILL) == 0) ++sent;
      }
    }
    if (!any) return sent;
    if (std::chrono::steady_clock::now() > deadline) {
      return ErrnoError("cgroup " + dirs.front() + " still has members", ETIMEDOUT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Result<void> Cgroup::Remove() {
  auto killed = KillAll();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (const auto& d : Dirs()) {
    // A killed member leaves the group once the kernel has torn it down; until then rmdir
    // says EBUSY.
    while (::rmdir(d.c_str()) != 0) {
      if (errno == ENOENT) break;
      if (errno != EBUSY || std::chrono::steady_clock::now() > deadline) {
        return ErrnoError("unable to remove cgroup " + d);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (!killed.ok()) return killed.error();
  return {};
}

}  // namespace duende::framework
