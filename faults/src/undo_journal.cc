#include "duende/faults/undo_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/proc.h"
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

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      std::string hex = s.substr(i + 1, 2);
      out += static_cast<char>(std::strtol(hex.c_str(), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, '\t')) out.push_back(Unescape(field));
  return out;
}

Result<void> WriteAll(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("unable to write the undo journal");
    }
    off += static_cast<size_t>(n);
  }
  return {};
}

bool Writable(const std::string& dir) {
  ::mkdir(dir.c_str(), 0700);
  return ::access(dir.c_str(), W_OK) == 0;
}

pid_t ToPid(const std::string& s) {
  return static_cast<pid_t>(std::strtol(s.c_str(), nullptr, 10));
}
uint64_t ToU64(const std::string& s) { return std::strtoull(s.c_str(), nullptr, 10); }

framework::CgroupVersion ToVersion(const std::string& v) {
  return v == "v2" ? framework::CgroupVersion::kV2 : framework::CgroupVersion::kV1;
}

Result<void> RemoveDirs(const std::vector<std::string>& dirs, framework::CgroupVersion v) {
  Result<void> out;
  for (const auto& d : dirs) {
    if (d.empty()) continue;
    auto r = framework::Cgroup::Open(v, d).Remove();
    if (!r.ok()) out = r;
  }
  return out;
}

// A journal directory we may trust: a real directory (not a symbolic link) owned by us and
// writable by nobody else. Another user's /tmp/duende-journal would otherwise feed root's heal
// a recipe of its choosing ("dir PATH", "file PATH", "cgroup DIR": kill and remove).
Result<void> CheckJournalDir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return ErrnoError("unable to stat journal directory " + dir);
  if (!S_ISDIR(st.st_mode)) {
    return ErrnoError("journal directory " + dir + " is not a directory (refused)", ENOTDIR);
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return ErrnoError("journal directory " + dir + " is owned by uid " + std::to_string(st.st_uid) +
                          " or writable by others (refused: its "
                          "journals could name anything to kill or remove); remove it or set "
                          "DUENDE_JOURNAL_DIR to a private directory",
                      EPERM);
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
  if (::access("/run", W_OK) == 0 && Writable("/run/duende") && Writable("/run/duende/journal")) {
    return "/run/duende/journal";
  }
  return internal::TempDir() + "/duende-journal";
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
  // mkdir -p
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      std::string part = dir.substr(0, pos);
      if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
        return ErrnoError("unable to create journal directory " + part);
      }
    }
  }
  DUENDE_TRY(CheckJournalDir(dir));
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
  auto w = WriteAll(
      fd, "duende-journal 1\nowner\t" + std::to_string(self) + "\t" + std::to_string(start) + "\n");
  if (!w.ok() || ::rename(tmp.c_str(), j->path_.c_str()) != 0) {
    int err = w.ok() ? errno : w.error().code.value();
    ::unlink(tmp.c_str());
    return ErrnoError("unable to create journal " + j->path_, err);
  }
  return j;
}

UndoJournal::~UndoJournal() {
  std::lock_guard<std::mutex> lock(mu_);
  if (pending_.empty() && !path_.empty()) ::unlink(path_.c_str());
}

Result<uint64_t> UndoJournal::Begin(const UndoAction& action) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_id_++;
  std::string line = "+\t" + std::to_string(id) + "\t" + Escape(action.type);
  for (const auto& a : action.args) line += "\t" + Escape(a);
  line += "\n";
  // One write(2) with O_APPEND: a SIGKILL can not leave half a line.
  DUENDE_TRY(WriteAll(fd_.get(), line));
  pending_.emplace_back(id, action);
  return id;
}

void UndoJournal::Done(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it =
      std::find_if(pending_.begin(), pending_.end(), [&](const auto& p) { return p.first == id; });
  if (it == pending_.end()) return;
  pending_.erase(it);
  (void)WriteAll(fd_.get(), "-\t" + std::to_string(id) + "\n");
}

std::vector<UndoAction> UndoJournal::Pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<UndoAction> out;
  for (const auto& p : pending_) out.push_back(p.second);
  return out;
}

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
    pid_t pid = ToPid(g[0]);
    if (SameProcessAlive(pid, ToU64(g[1]))) {
      auto pidfd = internal::OpenPidfd(pid);
      ::kill(pid, SIGKILL);
      // Wait until it is really gone, so that "healed" means "nothing left".
      if (pidfd.ok() && !internal::WaitPidfdExit(pidfd->get(), 2000)) {
        return ErrnoError("process " + g[0] + " survived SIGKILL", ETIMEDOUT);
      }
    }
    return {};
  }
  if (a.type == "stopped") {
    DUENDE_TRY(need(2));
    pid_t pid = ToPid(g[0]);
    if (SameProcessAlive(pid, ToU64(g[1]))) ::kill(pid, SIGCONT);
    return {};
  }
  if (a.type == "stopped-group") {
    DUENDE_TRY(need(1));
    pid_t pgid = ToPid(g[0]);
    if (pgid > 1) ::kill(-pgid, SIGCONT);
    return {};
  }
  if (a.type == "cgroup") {
    DUENDE_TRY(need(2));
    return RemoveDirs({g.begin() + 1, g.end()}, ToVersion(g[0]));
  }
  if (a.type == "cgroup-borrow") {
    DUENDE_TRY(need(2));
    size_t n = ToU64(g[1]);
    DUENDE_TRY(need(2 + 2 * n));
    std::vector<std::string> dirs(g.begin() + 2, g.begin() + 2 + static_cast<long>(n));
    std::vector<std::string> back(g.begin() + 2 + static_cast<long>(n),
                                  g.begin() + 2 + 2 * static_cast<long>(n));
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
    auto r = framework::WriteSmallFile(g[0], g[1]);
    if (!r.ok() && r.error().code.value() != ENOENT) return r;
    return {};
  }
  if (a.type == "fifo-prefix") {
    DUENDE_TRY(need(1));
    RemoveFiuFifos(g[0]);
    return {};
  }
  if (a.type == "fiu-point") {
    DUENDE_TRY(need(4));
    pid_t pid = ToPid(g[1]);
    if (SameProcessAlive(pid, ToU64(g[2]))) {
      (void)FiuCommand(g[0], pid, "disable name=" + g[3], 1000);
    }
    return {};
  }
  if (a.type == "faketime-shm") {
    DUENDE_TRY(need(1));
    if (!ProcessGone(ToPid(g[0]))) {
      return framework::MessageError("pid " + g[0] +
                                     " still runs: its libfaketime memory is removed once it is "
                                     "gone (run duende doctor again then)");
    }
    RemoveFaketimeShm(ToPid(g[0]));
    return {};
  }
  if (a.type == "dir") {
    DUENDE_TRY(need(1));
    // Only duende's own scratch directories (a run's /tmp/duende-run-XXXXXX).
    std::string base = g[0].substr(g[0].rfind('/') + 1);
    if (base.rfind("duende-", 0) != 0) {
      return framework::MessageError("refusing to remove " + g[0] + ": not a duende directory");
    }
    std::error_code ec;
    std::filesystem::remove_all(g[0], ec);
    if (ec) return framework::MessageError("unable to remove " + g[0] + ": " + ec.message());
    return {};
  }
  if (a.type == "rlimit") {
    DUENDE_TRY(need(5));
    pid_t pid = ToPid(g[0]);
    if (SameProcessAlive(pid, ToU64(g[1]))) {
      rlimit lim{static_cast<rlim_t>(ToU64(g[3])), static_cast<rlim_t>(ToU64(g[4]))};
      if (::prlimit(pid, static_cast<__rlimit_resource>(std::atoi(g[2].c_str())), &lim, nullptr) !=
              0 &&
          errno != ESRCH) {
        return ErrnoError("unable to restore a limit of pid " + g[0]);
      }
    }
    return {};
  }
  if (a.type == "file") {
    DUENDE_TRY(need(1));
    if (::unlink(g[0].c_str()) != 0 && errno != ENOENT && errno != ESRCH) {
      return ErrnoError("unable to remove " + g[0]);
    }
    return {};
  }
  if (a.type == "mount") {
    DUENDE_TRY(need(1));
    if (::umount2(g[0].c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
      return ErrnoError("unable to unmount " + g[0]);
    }
    return {};
  }
  if (a.type == "proxy") return {};
  return framework::MessageError("unknown journal entry type '" + a.type + "'");
}

JournalContents ParseJournal(std::string_view text) {
  JournalContents out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    auto f = SplitTabs(line);
    if (f.empty()) continue;
    if (f[0] == "owner" && f.size() >= 3) {
      out.owner = ToPid(f[1]);
      out.owner_start = ToU64(f[2]);
    } else if (f[0] == "+" && f.size() >= 3 && !f[2].empty()) {  // a torn entry has no type
      out.pending[ToU64(f[1])] = UndoAction{f[2], {f.begin() + 3, f.end()}};
    } else if (f[0] == "-" && f.size() >= 2) {
      out.pending.erase(ToU64(f[1]));
    }
  }
  return out;
}

HealReport HealLeftovers(const std::string& dir) {
  HealReport report;
  if (::access(dir.c_str(), F_OK) != 0) return report;
  if (auto ok = CheckJournalDir(dir); !ok.ok()) {
    report.errors.push_back(ok.error().Message());
    return report;
  }
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return report;
  std::vector<std::string> files;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 8 && n.compare(n.size() - 8, 8, ".journal") == 0) files.push_back(dir + "/" + n);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    ++report.journals_seen;
    // A live run holds its journal's lock; taking it (without waiting) also keeps a second
    // healer off this journal while we undo it.
    framework::UniqueFd lock(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!lock) continue;
    struct stat st {};
    if (::fstat(lock.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
      report.errors.push_back(file + ": not a regular file of ours (refused)");
      continue;
    }
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) continue;        // its run is alive
    if (::fstat(lock.get(), &st) != 0 || st.st_nlink == 0) continue;  // healed meanwhile
    auto text = framework::ReadSmallFile(file);
    if (!text.ok()) continue;
    const JournalContents journal = ParseJournal(*text);
    // Journals of runs before the lock existed: a live owner by pid and start time.
    if (journal.owner > 0 && SameProcessAlive(journal.owner, journal.owner_start)) continue;
    bool ok = true;
    for (auto it = journal.pending.rbegin(); it != journal.pending.rend(); ++it) {
      auto r = Undo(it->second);
      if (r.ok()) {
        report.actions.push_back("undid " + it->second.ToString());
      } else {
        ok = false;
        report.errors.push_back(it->second.ToString() + ": " + r.error().Message());
      }
    }
    if (ok) {
      ::unlink(file.c_str());
      ++report.journals_healed;
    }
  }
  return report;
}

}  // namespace duende::faults
