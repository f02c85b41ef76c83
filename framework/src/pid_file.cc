#include "duende/framework/pid_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace duende::framework {
namespace {

// True when `fd` is still the file named `path` (not unlinked or replaced meanwhile).
bool StillNamed(int fd, const std::string& path) {
  struct stat a {};
  struct stat b {};
  return ::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

pid_t ReadPidFd(int fd) {
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  return static_cast<pid_t>(std::strtol(buf, nullptr, 10));
}

}  // namespace

pid_t PidFile::ReadPid(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  return ReadPidFd(fd.get());
}

Result<pid_t> PidFile::ReadChecked(const std::string& path) {
  // O_NONBLOCK: a FIFO planted under the name must not block us; O_NOFOLLOW: a symbolic link
  // could point anywhere (ELOOP).
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    if (errno == ELOOP) return ErrnoError("pid file " + path + " is a symbolic link (refused)");
    return ErrnoError("unable to open pid file " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("unable to stat pid file " + path);
  if (!S_ISREG(st.st_mode)) {
    return ErrnoError("pid file " + path + " is not a regular file (refused)", EINVAL);
  }
  char buf[65] = {};
  ssize_t n = ::pread(fd.get(), buf, sizeof buf, 0);
  if (n < 0) return ErrnoError("unable to read pid file " + path);
  if (n == sizeof buf) return ErrnoError("pid file " + path + " is too long for a pid", EINVAL);
  std::string text(buf, static_cast<size_t>(n));
  size_t b = text.find_first_not_of(" \t\n");
  size_t e = text.find_last_not_of(" \t\n");
  std::string digits = b == std::string::npos ? "" : text.substr(b, e - b + 1);
  if (digits.empty()) return ErrnoError("pid file " + path + " is empty (not written yet)", ENOENT);
  if (digits.size() > 7 || digits.find_first_not_of("0123456789") != std::string::npos) {
    return ErrnoError("pid file " + path + " does not hold a pid ('" + digits + "')", EINVAL);
  }
  long pid = std::strtol(digits.c_str(), nullptr, 10);
  if (pid < 2 || pid > 4194304) {
    return ErrnoError("pid file " + path + " holds " + digits + ", not a valid pid", EINVAL);
  }
  return static_cast<pid_t>(pid);
}

Result<PidFile> PidFile::Acquire(const std::string& path) {
  const std::string content = std::to_string(::getpid()) + "\n";
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());  // a leftover of an earlier process that had our pid
  UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError("unable to create pid file " + tmp);
  struct Cleanup {
    const std::string& tmp;
    ~Cleanup() { ::unlink(tmp.c_str()); }
  } cleanup{tmp};
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return ErrnoError("unable to lock " + tmp);
  if (::pwrite(fd.get(), content.data(), content.size(), 0) !=
      static_cast<ssize_t>(content.size())) {
    return ErrnoError("unable to write pid file " + tmp);
  }
  // A few rounds: each lost race means someone else changed the file under us; look again.
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (::link(tmp.c_str(), path.c_str()) == 0) return PidFile(path, std::move(fd), 0);
    if (errno != EEXIST) return ErrnoError("unable to create pid file " + path);
    UniqueFd old(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!old) {
      if (errno == ENOENT) continue;  // removed meanwhile: try to link again
      return ErrnoError("unable to open pid file " + path);
    }
    if (::flock(old.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return ErrnoError("unable to lock pid file " + path);
      pid_t owner = ReadPidFd(old.get());
      return ErrnoError(
          "already running as pid " + std::to_string(owner) + " (pid file " + path + " is locked)",
          EEXIST);
    }
    // Unlocked: its owner is gone. It must still be the file at `path`, else it was removed
    // or replaced between our open and our lock.
    if (!StillNamed(old.get(), path)) continue;
    pid_t stale = ReadPidFd(old.get());
    // Holding the stale file's lock, replace it atomically by ours (complete and locked).
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      return ErrnoError("unable to replace stale pid file " + path);
    }
    return PidFile(path, std::move(fd), stale);
  }
  return ErrnoError("unable to take pid file " + path + ": it keeps changing", EAGAIN);
}

PidFile::PidFile(PidFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::move(other.fd_)),
      stale_pid_(std::exchange(other.stale_pid_, 0)) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
    stale_pid_ = std::exchange(other.stale_pid_, 0);
  }
  return *this;
}

PidFile::~PidFile() { Release(); }

void PidFile::Release() {
  if (!fd_) return;
  // Only remove the name if it is still ours (an operator may have replaced it).
  if (StillNamed(fd_.get(), path_)) ::unlink(path_.c_str());
  fd_.Reset();
}

}  // namespace duende::framework
