// PidFile: "this daemon runs as PID N", held for the life of the process.
//
// The file is created complete (written under a temporary name opened with O_EXCL, then
// link(2)ed into place, which fails like O_EXCL when the name exists) and stays flock()ed
// while the daemon runs. A second instance finds the lock held and refuses; a file whose
// owner died (the kernel dropped its lock) is stale and taken over.
#pragma once

#include <sys/types.h>

#include <string>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

class PidFile {
 public:
  /// Creates `path` holding this process's pid and locks it.
  /// Errors: EEXIST with "already running as pid N (path)" when a live instance holds the
  /// lock; the errno of open/link/write otherwise (ENOENT for a missing directory, EACCES).
  static Result<PidFile> Acquire(const std::string& path);

  /// The pid recorded in `path` (0 when unreadable or empty).
  static pid_t ReadPid(const std::string& path);

  /// The pid in a pid file written by someone else (a daemon that forks), checked as one must
  /// before acting on it: opened without following a symbolic link, a regular file of at most
  /// 64 bytes holding one decimal number in 2..4194304 (surrounding blanks allowed). Whether
  /// the pid is a process one may act on is the caller's to check. Errors: ENOENT (not written
  /// yet), ELOOP (a symbolic link), EINVAL (not a regular file, too long, not a pid).
  static Result<pid_t> ReadChecked(const std::string& path);

  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  /// Removes the file (while still holding the lock, so no one mistakes it for stale).
  ~PidFile();

  const std::string& path() const { return path_; }
  /// The pid of the dead owner whose stale file was taken over (0 when the file was new).
  pid_t stale_pid() const { return stale_pid_; }

 private:
  PidFile(std::string path, UniqueFd fd, pid_t stale_pid)
      : path_(std::move(path)), fd_(std::move(fd)), stale_pid_(stale_pid) {}
  void Release();

  std::string path_;
  UniqueFd fd_;
  pid_t stale_pid_ = 0;
};

}  // namespace duende::framework
