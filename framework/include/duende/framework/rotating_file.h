// RotatingFile: an append-only log file with size-based rotation (path -> path.1 ... path.N).
//
// Used for the daemon's own log ([log] file) and by the supervisor for per-service child logs.
// Writes go straight to the descriptor with write(2) (no userspace buffer), so a line written
// before a crash is in the file.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

class RotatingFile {
 public:
  /// Opens (creating, mode 0644, appending) `path`. When a Write() would grow the file past
  /// `max_bytes`, the file is rotated first: path.(N-1) -> path.N, ..., path -> path.1, and a
  /// fresh path is opened; at most `keep` rotated files are kept (keep = 0: the file is just
  /// truncated). `max_bytes` = 0 disables rotation.
  /// Errors: the errno of open(2) (ENOENT for a missing directory, EACCES, ...).
  static Result<RotatingFile> Open(const std::string& path, uint64_t max_bytes, uint32_t keep);

  RotatingFile(RotatingFile&& other) noexcept;
  RotatingFile& operator=(RotatingFile&& other) noexcept;
  RotatingFile(const RotatingFile&) = delete;
  RotatingFile& operator=(const RotatingFile&) = delete;
  ~RotatingFile() = default;

  /// Appends `data` (rotating first when needed; a single write larger than max_bytes goes
  /// into a fresh file whole). Thread-safe. Errors: the errno of write(2)/rename(2)/open(2).
  Result<void> Write(std::string_view data);

  /// Rotates now, regardless of size. Errors as for Write().
  Result<void> Rotate();

  /// The current descriptor (changes after a rotation). Writers that bypass Write() (e.g. a
  /// child's stdout dup'ed onto it) do not trigger rotation.
  int fd() const;

  /// Bytes in the current file as far as this object knows.
  uint64_t size() const;

  const std::string& path() const { return path_; }

 private:
  RotatingFile(std::string path, uint64_t max_bytes, uint32_t keep, UniqueFd fd, uint64_t size);
  Result<void> RotateLocked();

  std::string path_;
  uint64_t max_bytes_ = 0;
  uint32_t keep_ = 0;
  UniqueFd fd_;
  uint64_t size_ = 0;
  // Not moved with the object: a RotatingFile must not be moved while another thread writes.
  mutable std::mutex mu_;
};

}  // namespace duende::framework
