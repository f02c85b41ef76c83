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
