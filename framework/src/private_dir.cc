#include "duende/framework/private_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace duende::framework {
namespace {

// A refusal carries its errno for callers but reads whole on its own.
Error Refusal(std::string message, int err) {
  return Error{std::error_code(err, std::system_category()), std::move(message), true};
}

}  // namespace

Result<void> CheckPrivateDir(const std::string& dir, mode_t group_bits) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return ErrnoError("unable to stat directory " + dir);
  if (!S_ISDIR(st.st_mode)) {
    return Refusal(dir + " is not a directory (" +
                       (S_ISLNK(st.st_mode) ? "a symbolic link" : "another file type") +
                       "); refused: remove it",
                   ENOTDIR);
  }
  const mode_t perms = st.st_mode & 07777;
  if (st.st_uid != ::geteuid() || (perms & 077 & ~group_bits) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(perms));
    return Refusal("directory " + dir + " is owned by uid " + std::to_string(st.st_uid) +
                       " with mode " + mode + "; refused: it must be owned by uid " +
                       std::to_string(::geteuid()) + " with mode 0700 (remove it, or point " +
                       "duende to a private directory)",
                   EPERM);
  }
  return {};
}

Result<void> EnsurePrivateDir(const std::string& dir, mode_t group_bits) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos == dir.size() || dir[pos] == '/') {
      const std::string part = dir.substr(0, pos);
      if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
        return ErrnoError("unable to create directory " + part);
      }
    }
  }
  return CheckPrivateDir(dir, group_bits);
}

}  // namespace duende::framework
