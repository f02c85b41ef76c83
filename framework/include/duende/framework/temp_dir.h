// Temporary files and directories that no other user can plant or read: duende runs as root
// next to other users, so nothing it creates may have a predictable name in a shared /tmp.
#pragma once

#include <string>

#include "duende/framework/result.h"

namespace duende::framework {

/// ${TMPDIR:-/tmp}: where temporary directories go.
std::string TempDir();

/// Creates a fresh private directory "TempDir()/PREFIX-XXXXXX" (mkdtemp: a name nobody could
/// guess, mode 0700, ours) and returns its path with symbolic links in TMPDIR resolved.
/// Errors: mkdtemp's errno (ENOENT for a missing TMPDIR, EACCES).
Result<std::string> MakePrivateTempDir(const std::string& prefix);

/// A MakePrivateTempDir directory removed (with its content) on destruction.
class PrivateTempDir {
 public:
  PrivateTempDir() = default;
  /// Errors as MakePrivateTempDir.
  static Result<PrivateTempDir> Make(const std::string& prefix);
  PrivateTempDir(PrivateTempDir&& other) noexcept;
  PrivateTempDir& operator=(PrivateTempDir&& other) noexcept;
  PrivateTempDir(const PrivateTempDir&) = delete;
  PrivateTempDir& operator=(const PrivateTempDir&) = delete;
  ~PrivateTempDir();

  const std::string& path() const { return path_; }
  /// Keeps the directory (it is no longer removed) and returns its path.
  std::string Release();

 private:
  std::string path_;
};

}  // namespace duende::framework
