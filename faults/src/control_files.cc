#include "duende/faults/control_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>

#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/private_dir.h"
#include "duende/framework/temp_dir.h"
#include "proc_util.h"

namespace duende::faults {
namespace {

using framework::ErrnoError;
using framework::Result;
using framework::UniqueFd;

// Helpers that acted as another uid exit with an errno; this one says the drop itself failed.
constexpr int kDropFailed = 250;

bool IsUs(const ProcessCred& as) { return as.uid == ::geteuid() && as.gid == ::getegid(); }

int OpenHow(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  open_how how{};
  how.flags = flags;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

// "/proc/self/fd/N" into `buf` without allocating (helpers run after fork).
void ProcSelfFd(int fd, char (&buf)[40]) {
  const char prefix[] = "/proc/self/fd/";
  std::memcpy(buf, prefix, sizeof prefix);
  char digits[12];
  int n = 0;
  unsigned v = static_cast<unsigned>(fd);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  size_t at = sizeof prefix - 1;
  while (n > 0) buf[at++] = digits[--n];
  buf[at] = '\0';
}

// Checks an opened control file: its type, its owner, one link. 0 or the refusal's errno.
int CheckStat(const struct stat& st, mode_t type, uid_t owner) {
  // O_PATH|O_NOFOLLOW opens a final symbolic link itself rather than failing.
  if (S_ISLNK(st.st_mode)) return ELOOP;
  if ((st.st_mode & S_IFMT) != type) return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
  if (st.st_uid != owner) return EPERM;
  if (st.st_nlink != 1) return EMLINK;
  return 0;
}

// What a helper does, as the target: raw system calls only (it may run in a forked child of a
// threaded process). Returns 0 or an errno; `out` receives up to two descriptors to hand back.
struct Body {
  int (*fn)(void* arg, int out[2]);
  void* arg;
};

// Sends `err` and the descriptors in `fds` (those >= 0) over `sock`.
void SendResult(int sock, int err, const int fds[2]) {
  iovec iov{&err, sizeof err};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  int n = (fds[0] >= 0 ? 1 : 0) + (fds[1] >= 0 ? 1 : 0);
  if (err == 0 && n > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(static_cast<size_t>(n) * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(static_cast<size_t>(n) * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, static_cast<size_t>(n) * sizeof(int));
  }
  (void)::sendmsg(sock, &msg, MSG_NOSIGNAL);
}

// Runs `body` as `as`: inline when `as` is us; else in a forked child that keeps no descriptor
// but its socket and `keep_fd`, drops to as's groups, gid and uid (so the kernel checks every
// path step and permission as the target's), and hands back the result and descriptors.
Result<int> RunAs(const ProcessCred& as, Body body, UniqueFd out[2], int keep_fd = -1) {
  if (IsUs(as)) {
    int fds[2] = {-1, -1};
    int err = body.fn(body.arg, fds);
    out[0].Reset(fds[0]);
    out[1].Reset(fds[1]);
    return err;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    return ErrnoError("unable to create a socket pair");
  }
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::vector<int> keep = {theirs.get()};
  if (keep_fd >= 0) keep.push_back(keep_fd);
  std::sort(keep.begin(), keep.end());
  std::vector<gid_t> groups = as.groups;
  pid_t pid = ::fork();
  if (pid < 0) return ErrnoError("unable to fork a helper to act as uid " + std::to_string(as.uid));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Nothing of ours may reach a process that runs as the target's uid.
    unsigned lo = 3;
    for (int fd : keep) {
      if (static_cast<unsigned>(fd) < lo) continue;
      if (static_cast<unsigned>(fd) > lo) ::syscall(SYS_close_range, lo, fd - 1, 0U);
      lo = static_cast<unsigned>(fd) + 1;
    }
    ::syscall(SYS_close_range, lo, ~0U, 0U);
    int none[2] = {-1, -1};
    if (::syscall(SYS_setgroups, groups.size(), groups.data()) != 0 ||
        ::syscall(SYS_setresgid, as.gid, as.gid, as.gid) != 0 ||
        ::syscall(SYS_setresuid, as.uid, as.uid, as.uid) != 0) {
      SendResult(sv[1], kDropFailed, none);
      ::_exit(1);
    }
    int fds[2] = {-1, -1};
    int err = body.fn(body.arg, fds);
    SendResult(sv[1], err, fds);
    ::_exit(0);
  }
  theirs.Reset();
  int err = EIO;
  pollfd p{mine.get(), POLLIN, 0};
  if (::poll(&p, 1, 10000) > 0) {
    iovec iov{&err, sizeof err};
    alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(mine.get(), &msg, MSG_CMSG_CLOEXEC) == static_cast<ssize_t>(sizeof err)) {
      int i = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t k = 0; k < n; ++k) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
          if (i < 2) {
            out[i++].Reset(fd);
          } else {
            ::close(fd);
          }
        }
      }
    } else {
      err = EIO;
    }
  } else {
    ::kill(pid, SIGKILL);
    err = ETIMEDOUT;
  }
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (err == kDropFailed) {
    return framework::MessageError("unable to act as uid " + std::to_string(as.uid) + " gid " +
                                       std::to_string(as.gid) +
                                       " (only root can act as another user)",
                                   std::errc::operation_not_permitted);
  }
  return err;
}

const char* TypeName(ControlFileType t) {
  return t == ControlFileType::kFifo ? "a FIFO" : "a regular file";
}

mode_t TypeBits(ControlFileType t) { return t == ControlFileType::kFifo ? S_IFIFO : S_IFREG; }

// The reason a control file was refused, from a look at it (lstat, as us: it only reads).
std::string Refusal(const std::string& path, ControlFileType type, uid_t owner, int err) {
  struct stat st {};
  std::string what = "refusing " + path + ": ";
  if (err == ELOOP) {
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return what + "it is a symbolic link (a target's control file never is)";
    }
    return what +
           "a directory on its path is a symbolic link (a target's control file is "
           "opened only through real directories)";
  }
  if (err == EPERM) {
    if (::lstat(path.c_str(), &st) == 0) {
      return what + "it is owned by uid " + std::to_string(st.st_uid) +
             ", not by the target's uid " + std::to_string(owner);
    }
    return what + "not owned by the target's uid " + std::to_string(owner);
  }
  if (err == EMLINK) {
    return what + "it has " +
           (::lstat(path.c_str(), &st) == 0 ? std::to_string(st.st_nlink) : "several") +
           " links (a hard link could name another user's file)";
  }
  if (err == EINVAL || err == EISDIR) return what + "it is not " + TypeName(type);
  if (err == EACCES) {
    return what + "the target's uid " + std::to_string(owner) + " may not open it";
  }
  return "";
}

struct OpenArgs {
  const char* path;
  mode_t type;
  uid_t owner;
  int flags;
};

int OpenBody(void* a, int out[2]) {
  auto* args = static_cast<OpenArgs*>(a);
  int p = OpenHow(AT_FDCWD, args->path, O_PATH | O_NOFOLLOW | O_CLOEXEC,
                  RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (p < 0) return errno;
  struct stat st {};
  int err = ::fstat(p, &st) != 0 ? errno : CheckStat(st, args->type, args->owner);
  if (err == 0) {
    // Reopened through the checked descriptor: the same inode, whatever the path names now.
    char self[40];
    ProcSelfFd(p, self);
    int fd = ::open(self, args->flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat again {};
    if (fd < 0) {
      err = errno;
    } else if (::fstat(fd, &again) != 0 || again.st_ino != st.st_ino || again.st_dev != st.st_dev) {
      err = ESTALE;
      ::close(fd);
    } else {
      out[0] = fd;
    }
  }
  ::close(p);
  return err;
}

struct ReplaceArgs {
  const char* dir;
  const char* name;
  const char* tmp_name;
  const char* content;
  size_t size;
  uid_t owner;
};

int ReplaceBody(void* a, int[2]) {
  auto* args = static_cast<ReplaceArgs*>(a);
  int dir = OpenHow(AT_FDCWD, args->dir, O_PATH | O_DIRECTORY | O_CLOEXEC,
                    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  if (dir < 0) return errno;
  int err = 0;
  int old = OpenHow(dir, args->name, O_PATH | O_NOFOLLOW | O_CLOEXEC,
                    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  struct stat st {};
  if (old < 0) {
    err = errno;
  } else {
    err = ::fstat(old, &st) != 0 ? errno : CheckStat(st, S_IFREG, args->owner);
    ::close(old);
  }
  if (err == 0) {
    int fd =
        ::openat(dir, args->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      err = errno;
    } else {
      size_t done = 0;
      while (done < args->size && err == 0) {
        ssize_t n = ::write(fd, args->content + done, args->size - done);
        if (n > 0) {
          done += static_cast<size_t>(n);
        } else if (n < 0 && errno != EINTR) {
          err = errno;
        }
      }
      if (err == 0 && ::fchmod(fd, st.st_mode & 07777) != 0) err = errno;
      ::close(fd);
      // Renamed over: libfaketime must never read half a line.
      if (err == 0 && ::renameat(dir, args->tmp_name, dir, args->name) != 0) err = errno;
      if (err != 0) ::unlinkat(dir, args->tmp_name, 0);
    }
  }
  ::close(dir);
  return err;
}

struct CreateArgs {
  const char* root;  // "" = none
  const char* dir;
  const char* name;
};

int CreateBody(void* a, int out[2]) {
  auto* args = static_cast<CreateArgs*>(a);
  int dir;
  if (args->root[0] != '\0') {
    // The target's root (a magic link, followed on purpose), then its directory resolved as if
    // that were "/": its symbolic links cannot lead out of its own tree.
    int root = ::open(args->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return errno;
    const char* rel = args->dir;
    while (*rel == '/') ++rel;
    dir = OpenHow(root, *rel == '\0' ? "." : rel, O_PATH | O_DIRECTORY | O_CLOEXEC,
                  RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    ::close(root);
  } else {
    dir = OpenHow(AT_FDCWD, args->dir, O_PATH | O_DIRECTORY | O_CLOEXEC,
                  RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
  }
  if (dir < 0) return errno;
  int fd = ::openat(dir, args->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    ::close(dir);
    return err;
  }
  out[0] = fd;
  out[1] = dir;
  return 0;
}

std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t v = (uint64_t{rd()} << 32) ^ rd() ^ counter.fetch_add(1);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::vector<gid_t> ParseIds(const std::string& text) {
  std::vector<gid_t> out;
  std::istringstream in(text);
  unsigned long v;
  while (in >> v) out.push_back(static_cast<gid_t>(v));
  return out;
}

}  // namespace

Result<ProcessCred> ReadProcessCred(pid_t pid) {
  auto status = framework::ReadSmallFile("/proc/" + std::to_string(pid) + "/status");
  if (!status.ok()) return ErrnoError("no process with pid " + std::to_string(pid), ENOENT);
  ProcessCred c;
  bool uid = false, gid = false;
  std::istringstream in(*status);
  std::string line;
  while (std::getline(in, line)) {
    // "Uid:\treal\teffective\tsaved\tfs"
    if (line.rfind("Uid:", 0) == 0) {
      auto ids = ParseIds(line.substr(4));
      if (ids.size() >= 2) c.uid = ids[1], uid = true;
    } else if (line.rfind("Gid:", 0) == 0) {
      auto ids = ParseIds(line.substr(4));
      if (ids.size() >= 2) c.gid = ids[1], gid = true;
    } else if (line.rfind("Groups:", 0) == 0) {
      c.groups = ParseIds(line.substr(7));
    } else if (line.rfind("NSpid:", 0) == 0) {
      // "NSpid:\t41231\t2": the host's pid first, the innermost namespace's last.
      auto ids = ParseIds(line.substr(6));
      if (!ids.empty()) c.own_pid = static_cast<pid_t>(ids.back());
    }
  }
  if (!uid || !gid) {
    return framework::MessageError("unable to read the uid of pid " + std::to_string(pid));
  }
  return c;
}

ProcessCred OwnCred() {
  ProcessCred c{::geteuid(), ::getegid(), {}};
  int n = ::getgroups(0, nullptr);
  if (n > 0) {
    c.groups.resize(static_cast<size_t>(n));
    n = ::getgroups(n, c.groups.data());
    c.groups.resize(static_cast<size_t>(std::max(n, 0)));
  }
  return c;
}

Result<UniqueFd> OpenControlFile(const std::string& path, ControlFileType type,
                                 const ProcessCred& as, int flags) {
  if ((flags & (O_CREAT | O_TRUNC)) != 0) {
    return framework::MessageError("OpenControlFile never creates or truncates");
  }
  OpenArgs args{path.c_str(), TypeBits(type), as.uid, flags};
  UniqueFd out[2];
  auto err = RunAs(as, {OpenBody, &args}, out);
  if (!err.ok()) return err.error();
  if (*err != 0) {
    std::string why = Refusal(path, type, as.uid, *err);
    if (!why.empty()) return ErrnoError(why, *err == EISDIR ? EINVAL : *err);
    return ErrnoError("unable to open " + path, *err);
  }
  return std::move(out[0]);
}

Result<void> ReplaceControlFile(const std::string& path, const std::string& content,
                                const ProcessCred& as) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash + 1 == path.size()) {
    return framework::MessageError("a control file needs an absolute path, not '" + path + "'");
  }
  std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string name = path.substr(slash + 1);
  std::string tmp = "." + name + ".duende-" + RandomSuffix();
  ReplaceArgs args{dir.c_str(), name.c_str(), tmp.c_str(), content.data(), content.size(), as.uid};
  UniqueFd out[2];
  auto err = RunAs(as, {ReplaceBody, &args}, out);
  if (!err.ok()) return err.error();
  if (*err != 0) {
    std::string why = Refusal(path, ControlFileType::kRegular, as.uid, *err);
    if (!why.empty()) return ErrnoError(why, *err == EISDIR ? EINVAL : *err);
    return ErrnoError("unable to replace " + path, *err);
  }
  return {};
}

Result<CreatedFile> CreateControlFile(const std::string& root, const std::string& dir_path,
                                      const std::string& name, const ProcessCred& as) {
  if (name.empty() || name.find('/') != std::string::npos) {
    return framework::MessageError("'" + name + "' is not a file name");
  }
  CreateArgs args{root.c_str(), dir_path.c_str(), name.c_str()};
  UniqueFd out[2];
  auto err = RunAs(as, {CreateBody, &args}, out);
  if (!err.ok()) return err.error();
  std::string where = root + dir_path + "/" + name;
  if (*err == ELOOP) {
    return ErrnoError(
        "refusing to create " + where + ": a directory on its path is a symbolic link", ELOOP);
  }
  if (*err == EEXIST) {
    return ErrnoError("refusing to create " + where + ": it already exists (planted?)", EEXIST);
  }
  if (*err != 0) {
    return ErrnoError("unable to create " + where + " as uid " + std::to_string(as.uid), *err);
  }
  return CreatedFile{std::move(out[0]), std::move(out[1])};
}

Result<void> RemoveControlFile(int dir_fd, const std::string& name, const ProcessCred&) {
  // Through the directory descriptor opened at creation: only that name, in that directory.
  if (::unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoError("unable to remove " + name);
  }
  return {};
}

Result<std::string> ControlRecordDir() {
  std::string dir;
  if (const char* d = std::getenv("DUENDE_STATE_DIR"); d != nullptr && *d != '\0') {
    dir = std::string(d) + "/targets";
  } else if (::geteuid() == 0 && ::access("/run", W_OK) == 0) {
    dir = "/run/duende/targets";
  } else {
    dir = framework::TempDir() + "/duende-" + std::to_string(::geteuid()) + "/targets";
  }
  // Records name the files duende writes, so the directory is private (0700, ours), and its
  // parent (/run/duende, ${TMPDIR}/duende-UID, the state dir) is ours and writable by no one
  // else, or whoever owns it could swap `dir` for one of theirs.
  DUENDE_TRY(framework::EnsurePrivateDir(dir));
  DUENDE_TRY(framework::CheckPrivateDir(dir.substr(0, dir.rfind('/')),
                                        S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH));
  return dir;
}

Result<std::string> RecordControlFiles(pid_t pid, const ControlRecord& record) {
  auto dir = ControlRecordDir();
  if (!dir.ok()) return dir.error();
  uint64_t start = ProcessStartTime(pid);
  if (start == 0) return ErrnoError("no process with pid " + std::to_string(pid), ESRCH);
  std::string path = *dir + "/" + std::to_string(pid) + "-" + std::to_string(start);
  std::string tmp = path + ".new-" + RandomSuffix();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError("unable to create " + tmp);
  std::string text =
      "fiu-prefix\t" + record.fiu_prefix + "\nclock-file\t" + record.clock_file + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError("unable to write " + path, err);
  }
  return path;
}

std::optional<ControlRecord> FindControlFiles(pid_t pid) {
  auto dir = ControlRecordDir();
  if (!dir.ok()) return std::nullopt;
  uint64_t start = ProcessStartTime(pid);
  if (start == 0) return std::nullopt;
  std::string path = *dir + "/" + std::to_string(pid) + "-" + std::to_string(start);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
      st.st_size > 8192) {
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  if (::read(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return std::nullopt;
  }
  ControlRecord r;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    std::string key = line.substr(0, tab), value = line.substr(tab + 1);
    if (key == "fiu-prefix") r.fiu_prefix = value;
    if (key == "clock-file") r.clock_file = value;
  }
  return r;
}

void ForgetControlFiles(const std::string& record_path) {
  if (!record_path.empty()) ::unlink(record_path.c_str());
}

}  // namespace duende::faults
