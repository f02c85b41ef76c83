#include "duende/faults/undo_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>

#include "duende/faults/control_files.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/command.h"
#include "duende/framework/io.h"
#include "duende/framework/private_dir.h"
#include "duende/framework/proc.h"
#include "duende/framework/process.h"
#include "proc_util.h"

namespace duende::faults {
namespace {

using framework::ErrnoError;
using framework::Result;

// Fields are tab-separated; '%', tab and newline inside a field are percent-escaped.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') {
      out += "%25";
    } else if (c == '\t') {
      out += "%09";
    } else if (c == '\n') {
      out += "%0A";
    } else {
      out += c;
    }
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict: a '%' needs two hex digits, and no field may hold a NUL (a path with one would
// name something else once passed to the kernel).
Result<std::string> Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) {
        return framework::MessageError("a '%' escape is cut short");
      }
      int hi = HexDigit(s[i + 1]);
      int lo = HexDigit(s[i + 2]);
      if (hi < 0 || lo < 0) return framework::MessageError("a '%' escape is not two hex digits");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return framework::MessageError("a field holds a NUL byte");
    out += c;
  }
  return out;
}

uint32_t Crc32(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (char ch : data) {
    crc ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

template <typename T>
std::optional<T> ParseNumber(std::string_view s) {
  T v{};
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

Result<void> WriteAll(int fd, const std::string& text) {
  auto r = framework::WriteAll(fd, text);
  if (!r.ok()) return ErrnoError("unable to write the undo journal", r.error().code.value());
  return {};
}

// A refusal: an entry that points outside duende's own roots. Its journal is kept.
framework::Error Refused(const std::string& what) {
  return framework::Error{std::error_code(EPERM, std::system_category()),
                          "refused: " + what + " (check it, then remove the journal by hand)",
                          true};
}

// A pid field: a positive number that fits pid_t.
std::optional<pid_t> PidArg(const std::string& s) {
  auto v = ParseNumber<int32_t>(s);
  if (!v || *v <= 0) return std::nullopt;
  return static_cast<pid_t>(*v);
}

// The pid and start time of an entry, or why it is refused: without a start time a pid
// that was recycled since could be anyone's process.
Result<std::pair<pid_t, uint64_t>> PidAndStart(const std::string& pid, const std::string& start) {
  auto p = PidArg(pid);
  auto st = ParseNumber<uint64_t>(start);
  if (!p || !st || *st == 0) {
    return Refused("pid '" + pid + "' with start time '" + start +
                   "': a pid is acted on only together with its start time");
  }
  return std::make_pair(*p, *st);
}

framework::CgroupVersion ToVersion(const std::string& v) {
  return v == "v2" ? framework::CgroupVersion::kV2 : framework::CgroupVersion::kV1;
}

bool StartsWithDuende(std::string_view name) { return name.rfind("duende-", 0) == 0; }

// Absolute, with no empty, "." or ".." component: the path the journal names is the path
// acted on.
bool CleanAbsolute(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.size() > 4096) return false;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string_view c(path.data() + pos, next - pos);
    if (c.empty() || c == "." || c == "..") return false;
    pos = next + 1;
  }
  return true;
}

// `path` is on a cgroup file system and is exactly the path the kernel resolves (no symbolic
// link anywhere on the way). False when it does not exist.
bool OnCgroupFs(const std::string& path) {
  if (!CleanAbsolute(path)) return false;
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr || path != real) return false;
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  return fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A cgroup directory duende made: named "duende-*" on a cgroup file system. One that is gone
// needs nothing (true), one elsewhere is refused.
Result<void> CheckOwnCgroup(const std::string& dir) {
  if (!CleanAbsolute(dir)) return Refused("cgroup " + dir + " is not a clean absolute path");
  if (!Exists(dir)) return {};
  if (!StartsWithDuende(dir.substr(dir.rfind('/') + 1)) || !OnCgroupFs(dir)) {
    return Refused("cgroup " + dir + " is not a duende-* group on a cgroup file system");
  }
  return {};
}

// The directory holding `path`'s last component, reached from "/" without following any
// symbolic link, and whether the way passed one of duende's own roots: a "duende-*"
// directory owned by us that nobody else can write, with every directory below it on the way
// owned by us and not writable by others either.
struct ParentDir {
  framework::UniqueFd fd;
  std::string leaf;
  bool in_own_root = false;
};

// Walks `rel` (components separated by '/', no leading '/') from `start`.
Result<ParentDir> WalkFrom(framework::UniqueFd start, const std::string& path,
                           const std::string& rel) {
  ParentDir out;
  out.fd = std::move(start);
  size_t pos = 0;
  while (true) {
    size_t next = rel.find('/', pos);
    if (next == std::string::npos) {
      out.leaf = rel.substr(pos);
      return out;
    }
    const std::string comp = rel.substr(pos, next - pos);
    framework::UniqueFd fd(
        ::openat(out.fd.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return Refused(path + ": " + comp +
                       " on the way is a symbolic link or not a directory (links are not "
                       "followed)");
      }
      return ErrnoError("unable to open " + comp + " on the way to " + path);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError("unable to stat " + comp);
    const bool private_dir = st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
    if (StartsWithDuende(comp) && private_dir) {
      out.in_own_root = true;
    } else if (!private_dir) {
      out.in_own_root = false;
    }
    out.fd = std::move(fd);
    pos = next + 1;
  }
}

Result<ParentDir> OpenParent(const std::string& path) {
  if (!CleanAbsolute(path)) return Refused(path + " is not a clean absolute path");
  framework::UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return ErrnoError("unable to open /");
  return WalkFrom(std::move(root), path, path.substr(1));
}

// Removes the directory `name` in `parent` and everything in it, never following a link.
Result<void> RemoveTreeAt(int parent, const std::string& name, int depth = 0) {
  if (depth > 64) return framework::MessageError("directory tree too deep at " + name);
  int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoError("unable to open " + name);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return ErrnoError("unable to read " + name);
  }
  Result<void> out;
  while (dirent* e = ::readdir(d)) {
    const std::string child = e->d_name;
    if (child == "." || child == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), child.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (auto r = RemoveTreeAt(::dirfd(d), child, depth + 1); !r.ok()) out = r;
    } else if (::unlinkat(::dirfd(d), child.c_str(), 0) != 0 && errno != ENOENT) {
      out = ErrnoError("unable to remove " + name + "/" + child);
    }
  }
  ::closedir(d);
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoError("unable to remove " + name);
  }
  return out;
}

// A path through "/proc/PID/root/..." (a target's own filesystem, e.g. a filler file in its
// private tmpfs): opened from that process's root only while PID is the process that START
// names; nullopt when PID is gone (and what it held with it). Anything else under /proc is
// refused.
Result<std::optional<ParentDir>> OpenThroughProc(const std::string& path, const std::string& pid,
                                                 const std::string& start) {
  if (!CleanAbsolute(path)) return Refused(path + " is not a clean absolute path");
  const size_t slash = path.find('/', 6);
  auto p = PidArg(path.substr(6, slash == std::string::npos ? slash : slash - 6));
  if (!p || slash == std::string::npos || path.compare(slash, 6, "/root/") != 0) {
    return Refused(path + ": only /proc/PID/root/... paths are accepted under /proc");
  }
  if (::kill(*p, 0) != 0 && errno == ESRCH) return std::optional<ParentDir>();
  if (pid != std::to_string(*p)) {
    return Refused(path + " is reached through /proc of a live process with no start time");
  }
  auto ps = PidAndStart(pid, start);
  if (!ps.ok()) return ps.error();
  if (!SameProcessAlive(*p, ps->second)) return std::optional<ParentDir>();
  framework::UniqueFd root(
      ::open(("/proc/" + pid + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  // Checked again after the open: the root opened is that of the process checked.
  if (!root || !SameProcessAlive(*p, ps->second)) return std::optional<ParentDir>();
  auto dir = WalkFrom(std::move(root), path, path.substr(slash + 6));
  if (!dir.ok()) return dir.error();
  return std::optional<ParentDir>(std::move(*dir));
}

// True when `path` is the mount point of a mount of our mount namespace.
bool IsMountPoint(const std::string& path) {
  auto info = framework::ReadSmallFile("/proc/self/mountinfo");
  if (!info.ok()) return false;
  std::istringstream in(*info);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, mount_point;
    f >> id >> parent >> devno >> root >> mount_point;
    if (mount_point == path) return true;  // octal escapes (\040) never match a clean path
  }
  return false;
}

// A node's network namespace ("duende-*", /run/netns/NAME) or a link of the nodes' network
// ("dn" + 8 hex digits + an index or "b", node_network.h): `ip netns delete` / `ip link
// delete`. Anything named otherwise is refused; one already gone is fine.
Result<void> UndoNodeResource(const std::string& type, const std::string& name) {
  const bool netns = type == "netns";
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  bool ours = false;
  if (netns) {
    ours = StartsWithDuende(name) && name.size() <= 200 &&
           name.find_first_of("/\0") == std::string::npos && name != "." && name != "..";
  } else {
    ours = name.size() >= 11 && name.size() <= 15 && name.compare(0, 2, "dn") == 0 &&
           std::all_of(name.begin() + 2, name.begin() + 10, hex) &&
           (name.substr(10) == "b" || std::all_of(name.begin() + 10, name.end(),
                                                  [](char c) { return c >= '0' && c <= '9'; }));
  }
  if (!ours) return Refused("deleting " + type + " " + name + ": not one of duende's nodes");
  if (!Exists(netns ? "/run/netns/" + name : "/sys/class/net/" + name)) return {};
  framework::CommandOptions co;
  co.timeout = std::chrono::seconds(10);
  auto r = framework::RunCommand(netns ? std::vector<std::string>{"ip", "netns", "delete", name}
                                       : std::vector<std::string>{"ip", "link", "delete", name},
                                 co);
  if (!r.ok()) return r.error();
  if ((r->status.signaled || r->status.code != 0) &&
      Exists(netns ? "/run/netns/" + name : "/sys/class/net/" + name)) {
    return framework::MessageError("unable to delete " + type + " " + name + ": " + r->err);
  }
  return {};
}

}  // namespace

std::string UndoAction::ToString() const {
  std::string out = type;
  for (const auto& a : args) out += " " + a;
  return out;
}

std::string DefaultJournalDir() {
  if (const char* d = std::getenv("DUENDE_JOURNAL_DIR"); d != nullptr && *d != '\0') return d;
  if (::geteuid() == 0 && ::access("/run", W_OK) == 0) return "/run/duende/journal";
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x != nullptr && x[0] == '/') {
    return std::string(x) + "/duende-journal";
  }
  return internal::TempDir() + "/duende-" + std::to_string(::geteuid()) + "/journal";
}

std::string FormatJournalLine(const JournalLine& line) {
  std::string body;
  switch (line.kind) {
    case JournalLine::Kind::kOwner:
      body = "owner\t" + std::to_string(line.owner_pid) + "\t" + std::to_string(line.owner_start);
      break;
    case JournalLine::Kind::kBegin:
      body = "+\t" + std::to_string(line.id) + "\t" + Escape(line.action.type);
      for (const auto& a : line.action.args) body += "\t" + Escape(a);
      break;
    case JournalLine::Kind::kDone:
      body = "-\t" + std::to_string(line.id);
      break;
  }
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", Crc32(body));
  return std::string(crc) + "\t" + body + "\n";
}

Result<JournalLine> ParseJournalLine(std::string_view line) {
  auto bad = [](const std::string& why) { return framework::MessageError(why); };
  if (line.size() < 10 || line[8] != '\t') return bad("no checksum (a torn line?)");
  uint32_t want = 0;
  for (size_t i = 0; i < 8; ++i) {
    int d = HexDigit(line[i]);
    if (d < 0) return bad("the checksum is not 8 hex digits");
    want = want * 16 + static_cast<uint32_t>(d);
  }
  const std::string_view body = line.substr(9);
  if (Crc32(body) != want) return bad("checksum mismatch (a torn or altered line)");
  std::vector<std::string> f;
  size_t pos = 0;
  while (true) {
    size_t tab = body.find('\t', pos);
    auto field = Unescape(body.substr(pos, tab == std::string_view::npos ? body.npos : tab - pos));
    if (!field.ok()) return field.error();
    f.push_back(std::move(*field));
    if (tab == std::string_view::npos) break;
    pos = tab + 1;
  }
  JournalLine out;
  if (f[0] == "owner") {
    if (f.size() != 3) return bad("an owner line needs a pid and a start time");
    auto pid = PidArg(f[1]);
    auto start = ParseNumber<uint64_t>(f[2]);
    if (!pid || !start) return bad("the owner's pid or start time is not a number in range");
    out.kind = JournalLine::Kind::kOwner;
    out.owner_pid = *pid;
    out.owner_start = *start;
    return out;
  }
  if (f[0] != "+" && f[0] != "-") return bad("unknown line kind '" + f[0] + "'");
  auto id = f.size() >= 2 ? ParseNumber<uint64_t>(f[1]) : std::nullopt;
  if (!id || *id == 0) return bad("an entry needs a positive id");
  out.id = *id;
  if (f[0] == "-") {
    if (f.size() != 2) return bad("a done line has only an id");
    out.kind = JournalLine::Kind::kDone;
    return out;
  }
  if (f.size() < 3 || f[2].empty()) return bad("an entry needs a type");
  out.kind = JournalLine::Kind::kBegin;
  out.action.type = f[2];
  out.action.args.assign(f.begin() + 3, f.end());
  return out;
}

uint64_t ProcessStartTime(pid_t pid) {
  auto info = framework::ReadProcessInfo(pid);
  return info.ok() ? info->start_time : 0;
}

bool SameProcessAlive(pid_t pid, uint64_t start) {
  if (pid <= 0) return false;
  char st = internal::ProcessState(pid);
  if (st == 0 || st == 'Z' || st == 'X') return false;
  return start == 0 || ProcessStartTime(pid) == start;
}

Result<std::unique_ptr<UndoJournal>> UndoJournal::Create(const std::string& dir) {
  DUENDE_TRY(framework::EnsurePrivateDir(dir));
  static std::atomic<int> counter{0};
  pid_t self = ::getpid();
  uint64_t start = ProcessStartTime(self);
  std::unique_ptr<UndoJournal> j(new UndoJournal());
  j->path_ = dir + "/" + std::to_string(self) + "-" + std::to_string(start) + "-" +
             std::to_string(counter.fetch_add(1)) + ".journal";
  // Made complete and locked under a name heals do not read, then renamed into place: a heal
  // never sees a journal without its owner line, nor an unlocked live one.
  const std::string tmp = j->path_ + ".new";
  int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoError("unable to create journal " + tmp);
  j->fd_.Reset(fd);
  // Held for the journal's life: the mark of a live run that holds in any pid namespace (a pid
  // and start time read from another namespace could name an unrelated live or dead process).
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError("unable to lock journal " + tmp, err);
  }
  JournalLine owner;
  owner.kind = JournalLine::Kind::kOwner;
  owner.owner_pid = self;
  owner.owner_start = start;
  auto w = WriteAll(fd, std::string(kJournalHeader) + "\n" + FormatJournalLine(owner));
  if (!w.ok() || ::rename(tmp.c_str(), j->path_.c_str()) != 0) {
    int err = w.ok() ? errno : w.error().code.value();
    ::unlink(tmp.c_str());
    return ErrnoError("unable to create journal " + j->path_, err);
  }
  // The name is durable before any entry is: fsync the directory.
  framework::UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) (void)::fsync(dfd.get());
  return j;
}

UndoJournal::~UndoJournal() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_.empty() && !path_.empty()) ::unlink(path_.c_str());
}

Result<uint64_t> UndoJournal::Begin(const UndoAction& action) {
  std::lock_guard<std::mutex> lock(mu_);
  JournalLine line;
  line.kind = JournalLine::Kind::kBegin;
  line.id = next_id_++;
  line.action = action;
  // One write(2) with O_APPEND, then fdatasync: before the caller creates the thing, the whole
  // line is on disk (a crash in between leaves at worst a torn line, which heals skip).
  DUENDE_TRY(WriteAll(fd_.get(), FormatJournalLine(line)));
  if (::fdatasync(fd_.get()) != 0) return ErrnoError("unable to sync the undo journal");
  pending_.emplace_back(line.id, action);
  return line.id;
}

void UndoJournal::Done(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it =
      std::find_if(pending_.begin(), pending_.end(), [&](const auto& p) { return p.first == id; });
  if (it == pending_.end()) return;
  pending_.erase(it);
  JournalLine line;
  line.kind = JournalLine::Kind::kDone;
  line.id = id;
  // Not synced: a lost done line only makes a heal repeat an undo that finds nothing left.
  (void)WriteAll(fd_.get(), FormatJournalLine(line));
}

std::vector<UndoAction> UndoJournal::Pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<UndoAction> out;
  for (const auto& p : pending_) out.push_back(p.second);
  return out;
}

namespace {

// Ticks since boot now, in the unit of /proc/PID/stat's start time.
uint64_t BootTicksNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  const auto hz = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  return static_cast<uint64_t>(ts.tv_sec) * hz +
         static_cast<uint64_t>(ts.tv_nsec) * hz / 1000000000u;
}

}  // namespace

uint64_t StoppedGroupStamp() { return BootTicksNow(); }

Result<void> Undo(const UndoAction& a) {
  const auto& g = a.args;
  auto need = [&](size_t n) -> Result<void> {
    if (g.size() < n) {
      return framework::MessageError("malformed journal entry '" + a.ToString() + "'");
    }
    return {};
  };
  if (a.type == "process") {
    DUENDE_TRY(need(2));
    auto ps = PidAndStart(g[0], g[1]);
    if (!ps.ok()) return ps.error();
    auto [pid, start] = *ps;
    if (SameProcessAlive(pid, start)) {
      auto pidfd = framework::OpenPidfd(pid);
      // Through the pidfd: the process checked above, not a pid reused in between.
      if (pidfd.ok()) {
        ::syscall(SYS_pidfd_send_signal, pidfd->get(), SIGKILL, nullptr, 0);
      }
      // Wait until it is really gone, so that "healed" means "nothing left".
      if (pidfd.ok() && !internal::WaitPidfdExit(pidfd->get(), 2000)) {
        return ErrnoError("process " + g[0] + " survived SIGKILL", ETIMEDOUT);
      }
    }
    return {};
  }
  if (a.type == "stopped") {
    DUENDE_TRY(need(2));
    auto ps = PidAndStart(g[0], g[1]);
    if (!ps.ok()) return ps.error();
    if (SameProcessAlive(ps->first, ps->second)) ::kill(ps->first, SIGCONT);
    return {};
  }
  if (a.type == "stopped-group") {
    DUENDE_TRY(need(2));
    auto ps = PidAndStart(g[0], g[1]);
    if (!ps.ok()) return ps.error();
    auto [pgid, stamp] = *ps;
    if (pgid <= 1) return Refused("process group " + g[0]);
    // Members that started after the pause belong to a later group of that number.
    for (const auto& p : framework::ListProcesses()) {
      if (p.pgid == pgid && p.start_time != 0 && p.start_time <= stamp) ::kill(p.pid, SIGCONT);
    }
    return {};
  }
  if (a.type == "cgroup") {
    DUENDE_TRY(need(2));
    Result<void> out;
    for (auto it = g.begin() + 1; it != g.end(); ++it) {
      DUENDE_TRY(CheckOwnCgroup(*it));
    }
    for (auto it = g.begin() + 1; it != g.end(); ++it) {
      if (it->empty() || !Exists(*it)) continue;
      auto r = framework::Cgroup::Open(ToVersion(g[0]), *it).Remove();
      if (!r.ok()) out = r;
    }
    return out;
  }
  if (a.type == "cgroup-borrow") {
    DUENDE_TRY(need(2));
    auto n64 = ParseNumber<uint32_t>(g[1]);
    if (!n64 || *n64 > 64)
      return framework::MessageError("malformed journal entry '" + a.ToString() + "'");
    const size_t n = *n64;
    DUENDE_TRY(need(2 + 2 * n));
    std::vector<std::string> dirs(g.begin() + 2, g.begin() + 2 + static_cast<long>(n));
    std::vector<std::string> back(g.begin() + 2 + static_cast<long>(n),
                                  g.begin() + 2 + 2 * static_cast<long>(n));
    for (size_t i = 0; i < n; ++i) {
      DUENDE_TRY(CheckOwnCgroup(dirs[i]));
      const std::string base = back[i].substr(back[i].rfind('/') + 1);
      if (Exists(dirs[i]) && (base != "cgroup.procs" || !OnCgroupFs(back[i]))) {
        return Refused("cgroup-borrow moves members to " + back[i] +
                       ", which is not a cgroup.procs file on a cgroup file system");
      }
    }
    // Borrowed members are the target's processes: move them back, never kill them.
    for (size_t i = 0; i < n; ++i) {
      auto procs = framework::ReadSmallFile(dirs[i] + "/cgroup.procs");
      if (!procs.ok()) continue;
      std::istringstream in(*procs);
      pid_t p = 0;
      while (in >> p) (void)framework::WriteSmallFile(back[i], std::to_string(p));
    }
    for (const auto& d : dirs) {
      if (::rmdir(d.c_str()) != 0 && errno != ENOENT) {
        return ErrnoError("unable to remove cgroup " + d);
      }
    }
    return {};
  }
  if (a.type == "write") {
    DUENDE_TRY(need(2));
    // A limit of a cgroup duende made, or a file in one of duende's own directories.
    const std::string parent = g[0].substr(0, g[0].rfind('/'));
    const bool own_cgroup_file =
        OnCgroupFs(g[0]) && StartsWithDuende(parent.substr(parent.rfind('/') + 1));
    if (!own_cgroup_file) {
      auto dir = OpenParent(g[0]);
      if (!dir.ok()) {
        if (dir.error().code.value() == ENOENT) return {};
        return dir.error();
      }
      if (!dir->in_own_root) {
        return Refused("write to " + g[0] +
                       ": neither a file of a duende-* cgroup nor in a duende-* directory of ours");
      }
      framework::UniqueFd fd(::openat(dir->fd.get(), dir->leaf.c_str(),
                                      O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
      if (!fd) return errno == ENOENT ? Result<void>{} : ErrnoError("unable to open " + g[0]);
      struct stat st {};
      if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
          st.st_nlink != 1) {
        return Refused("write to " + g[0] + ": not a regular file of ours with one link");
      }
      if (::ftruncate(fd.get(), 0) != 0) return ErrnoError("unable to truncate " + g[0]);
      return WriteAll(fd.get(), g[1]);
    }
    auto r = framework::WriteSmallFile(g[0], g[1]);
    if (!r.ok() && r.error().code.value() != ENOENT) return r;
    return {};
  }
  if (a.type == "clock-file") {
    // A target's clock file is written back as the target's uid (control_files.h), and only
    // while the process it belongs to still runs: nobody else reads it.
    DUENDE_TRY(need(4));
    auto ps = PidAndStart(g[2], g[3]);
    if (!ps.ok()) return ps.error();
    auto [pid, start] = *ps;
    if (!SameProcessAlive(pid, start)) return {};
    auto cred = ReadProcessCred(pid);
    if (!cred.ok()) return {};
    auto r = ReplaceControlFile(g[0], g[1], *cred);
    if (!r.ok() && r.error().code.value() != ENOENT) return r;
    return {};
  }
  if (a.type == "fifo-prefix") {
    DUENDE_TRY(need(1));
    auto dir = OpenParent(g[0]);
    if (!dir.ok()) return dir.error().code.value() == ENOENT ? Result<void>{} : dir.error();
    std::string base = dir->leaf;
    if (!dir->in_own_root && !StartsWithDuende(base)) {
      return Refused("libfiu FIFOs " + g[0] +
                     "-*: neither in a duende-* directory of ours nor named duende-*");
    }
    int rfd = ::openat(dir->fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* d = rfd < 0 ? nullptr : ::fdopendir(rfd);
    if (d == nullptr) {
      if (rfd >= 0) ::close(rfd);
      return ErrnoError("unable to read the directory of " + g[0]);
    }
    // PREFIX-<pid>.in / .out (FIFOs) and PREFIX-<pid>.fired (the shim's log).
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.rfind(base + "-", 0) != 0) continue;
      std::string rest = name.substr(base.size() + 1);
      size_t dot = rest.find('.');
      if (dot == 0 || dot == std::string::npos || !ParseNumber<uint32_t>(rest.substr(0, dot)))
        continue;
      std::string suffix = rest.substr(dot);
      struct stat st {};
      if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const bool fifo = (suffix == ".in" || suffix == ".out") && S_ISFIFO(st.st_mode);
      const bool log = suffix == ".fired" && S_ISREG(st.st_mode) && st.st_nlink == 1;
      if (fifo || log) (void)::unlinkat(::dirfd(d), name.c_str(), 0);
    }
    ::closedir(d);
    return {};
  }
  if (a.type == "fiu-point") {
    DUENDE_TRY(need(4));
    auto ps = PidAndStart(g[1], g[2]);
    if (!ps.ok()) return ps.error();
    if (SameProcessAlive(ps->first, ps->second)) {
      auto dir = OpenParent(g[0]);
      if (!dir.ok() || (!dir->in_own_root && !StartsWithDuende(dir->leaf))) {
        return Refused("libfiu FIFOs " + g[0] +
                       "-*: neither in a duende-* directory of ours nor named duende-*");
      }
      (void)FiuCommand(g[0], ps->first, "disable name=" + g[3], 1000);
    }
    return {};
  }
  if (a.type == "faketime-shm") {
    DUENDE_TRY(need(1));
    auto pid = PidArg(g[0]);
    if (!pid) return framework::MessageError("malformed journal entry '" + a.ToString() + "'");
    // Removed only once no process has that pid at all, so no live process loses its memory
    // (no start time is needed for that).
    if (!ProcessGone(*pid)) {
      return framework::MessageError("pid " + g[0] +
                                     " still runs: its libfaketime memory is removed once it is "
                                     "gone (run duende doctor again then)");
    }
    RemoveFaketimeShm(*pid);
    return {};
  }
  if (a.type == "dir") {
    DUENDE_TRY(need(1));
    // Only duende's own scratch directories (a run's $TMPDIR/duende-run-XXXXXX): named
    // duende-*, owned by us, reached without following a link.
    auto dir = OpenParent(g[0]);
    if (!dir.ok()) return dir.error().code.value() == ENOENT ? Result<void>{} : dir.error();
    struct stat st {};
    if (::fstatat(dir->fd.get(), dir->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno == ENOENT ? Result<void>{} : ErrnoError("unable to stat " + g[0]);
    }
    if (!StartsWithDuende(dir->leaf) || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) {
      return Refused("removing " + g[0] + ": not a duende-* directory of ours");
    }
    return RemoveTreeAt(dir->fd.get(), dir->leaf);
  }
  if (a.type == "rlimit") {
    DUENDE_TRY(need(5));
    auto ps = PidAndStart(g[0], g[1]);
    if (!ps.ok()) return ps.error();
    auto res = ParseNumber<int>(g[2]);
    auto soft = ParseNumber<uint64_t>(g[3]);
    auto hard = ParseNumber<uint64_t>(g[4]);
    if (!res || *res < 0 || *res >= RLIM_NLIMITS || !soft || !hard) {
      return framework::MessageError("malformed journal entry '" + a.ToString() + "'");
    }
    if (SameProcessAlive(ps->first, ps->second)) {
      rlimit lim{static_cast<rlim_t>(*soft), static_cast<rlim_t>(*hard)};
      if (::prlimit(ps->first, static_cast<__rlimit_resource>(*res), &lim, nullptr) != 0 &&
          errno != ESRCH) {
        return ErrnoError("unable to restore a limit of pid " + g[0]);
      }
    }
    return {};
  }
  if (a.type == "file") {
    DUENDE_TRY(need(1));
    std::optional<ParentDir> dir;
    if (g[0].rfind("/proc/", 0) == 0) {
      auto via = OpenThroughProc(g[0], g.size() > 1 ? g[1] : "", g.size() > 2 ? g[2] : "");
      if (!via.ok()) return via.error();
      if (!*via) return {};  // its process is gone, and the file with it
      dir = std::move(**via);
    } else {
      auto parent = OpenParent(g[0]);
      if (!parent.ok())
        return parent.error().code.value() == ENOENT ? Result<void>{} : parent.error();
      dir = std::move(*parent);
    }
    struct stat st {};
    if (::fstatat(dir->fd.get(), dir->leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
    std::string name = dir->leaf;
    if (!name.empty() && name[0] == '.') name.erase(0, 1);
    if (!dir->in_own_root && !(StartsWithDuende(name) && st.st_uid == ::geteuid())) {
      return Refused("file " + g[0] +
                     " is neither in a duende-* directory of ours nor a duende-* file of ours");
    }
    if (S_ISDIR(st.st_mode)) return Refused("file " + g[0] + " is a directory");
    if (::unlinkat(dir->fd.get(), dir->leaf.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoError("unable to remove " + g[0]);
    }
    return {};
  }
  if (a.type == "mount") {
    DUENDE_TRY(need(1));
    if (!IsMountPoint(g[0])) return {};
    auto dir = OpenParent(g[0]);
    if (!dir.ok()) return dir.error();
    if (!dir->in_own_root && !StartsWithDuende(dir->leaf)) {
      return Refused("unmounting " + g[0] + ": not in a duende-* directory of ours");
    }
    if (::umount2(g[0].c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL &&
        errno != ENOENT) {
      return ErrnoError("unable to unmount " + g[0]);
    }
    return {};
  }
  if (a.type == "oci-container") {
    DUENDE_TRY(need(1));
    // Only duende's own containers (ids "duende-*"); `runc delete --force` kills what runs in
    // it and removes its state and cgroups. A container already gone is fine.
    if (!StartsWithDuende(g[0]) || g[0].find('/') != std::string::npos) {
      return Refused("deleting container " + g[0] + ": not a duende-* container");
    }
    framework::CommandOptions co;
    co.timeout = std::chrono::seconds(10);
    auto r = framework::RunCommand({"runc", "delete", "--force", g[0]}, co);
    if (!r.ok() && r.error().code != std::errc::no_such_file_or_directory) return r.error();
    return {};
  }
  if (a.type == "netns" || a.type == "link") {
    DUENDE_TRY(need(1));
    return UndoNodeResource(a.type, g[0]);
  }
  if (a.type == "proxy") return {};
  return framework::MessageError("unknown journal entry type '" + a.type + "'");
}

namespace {

// The most a journal may hold (a run journals a few entries per fault).
constexpr size_t kMaxJournalBytes = 16u << 20;

std::optional<JournalContents> ReadJournalFile(int fd, const std::string& file,
                                               std::vector<std::string>* warnings) {
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      warnings->push_back(file + ": ignored: unable to read: " + std::strerror(errno));
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxJournalBytes) {
      warnings->push_back(file + ": ignored: larger than " + std::to_string(kMaxJournalBytes) +
                          " bytes");
      return std::nullopt;
    }
  }
  return ParseJournal(text, file, warnings);
}

}  // namespace

std::optional<JournalContents> ParseJournal(std::string_view text, const std::string& file,
                                            std::vector<std::string>* warnings) {
  size_t nl = text.find('\n');
  if (text.substr(0, nl) != kJournalHeader) {
    warnings->push_back(file + ": ignored: its first line is not \"" + kJournalHeader +
                        "\" (a journal of another duende version, or not a journal): check "
                        "what it names, then remove it");
    return std::nullopt;
  }
  JournalContents out;
  size_t pos = nl == std::string::npos ? text.size() : nl + 1;
  int line_no = 1;
  while (pos < text.size()) {
    ++line_no;
    size_t end = text.find('\n', pos);
    const bool torn = end == std::string::npos;
    std::string_view line(text.data() + pos, (torn ? text.size() : end) - pos);
    pos = torn ? text.size() : end + 1;
    auto parsed = ParseJournalLine(line);
    if (!parsed.ok() || torn) {
      warnings->push_back(
          file + ":" + std::to_string(line_no) + ": skipped: " +
          (parsed.ok() ? std::string("no newline (a torn line)") : parsed.error().Message()));
      continue;
    }
    switch (parsed->kind) {
      case JournalLine::Kind::kOwner:
        out.owner = parsed->owner_pid;
        out.owner_start = parsed->owner_start;
        break;
      case JournalLine::Kind::kBegin:
        out.pending[parsed->id] = parsed->action;
        break;
      case JournalLine::Kind::kDone:
        out.pending.erase(parsed->id);
        break;
    }
  }
  return out;
}

HealReport HealLeftovers(const std::string& dir) {
  HealReport report;
  if (::access(dir.c_str(), F_OK) != 0) return report;
  if (auto ok = framework::CheckPrivateDir(dir); !ok.ok()) {
    report.dir_refused = true;
    report.errors.push_back("journal " + ok.error().Message());
    return report;
  }
  framework::UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat dst {};
  if (!dfd || ::fstat(dfd.get(), &dst) != 0 || dst.st_uid != ::geteuid() ||
      (dst.st_mode & 077) != 0) {
    report.dir_refused = true;
    report.errors.push_back("journal directory " + dir + " changed while it was checked");
    return report;
  }
  std::vector<std::string> names;
  {
    int lfd = ::dup(dfd.get());
    DIR* d = lfd < 0 ? nullptr : ::fdopendir(lfd);
    if (d == nullptr) {
      if (lfd >= 0) ::close(lfd);
      report.errors.push_back("unable to read journal directory " + dir);
      return report;
    }
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 8 && n.compare(n.size() - 8, 8, ".journal") == 0) names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string file = dir + "/" + name;
    ++report.journals_seen;
    // A live run holds its journal's lock; taking it (without waiting) also keeps a second
    // healer off this journal while we undo it.
    framework::UniqueFd lock(
        ::openat(dfd.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!lock) {
      report.warnings.push_back(file + ": ignored: unable to open (" + std::strerror(errno) + ")");
      continue;
    }
    struct stat st {};
    if (::fstat(lock.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        (st.st_mode & 022) != 0 || st.st_nlink != 1) {
      report.warnings.push_back(file + ": ignored: not a regular file of uid " +
                                std::to_string(::geteuid()) + " (owner uid " +
                                std::to_string(st.st_uid) +
                                "); nothing it names was touched; remove it");
      continue;
    }
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;        // its run is alive
    if (::fstat(lock.get(), &st) != 0 || st.st_nlink == 0) continue;  // healed meanwhile
    auto journal = ReadJournalFile(lock.get(), file, &report.warnings);
    if (!journal) continue;
    // Journals of runs before the lock existed: a live owner by pid and start time.
    if (journal->owner > 0 && journal->owner_start != 0 &&
        SameProcessAlive(journal->owner, journal->owner_start)) {
      continue;
    }
    bool ok = true;
    for (auto it = journal->pending.rbegin(); it != journal->pending.rend(); ++it) {
      auto r = Undo(it->second);
      if (r.ok()) {
        report.actions.push_back("undid " + it->second.ToString());
      } else {
        ok = false;
        report.errors.push_back(file + ": " + it->second.ToString() + ": " + r.error().Message());
      }
    }
    if (ok) {
      ::unlinkat(dfd.get(), name.c_str(), 0);
      ++report.journals_healed;
    }
  }
  return report;
}

}  // namespace duende::faults
