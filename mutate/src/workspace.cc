#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/temp_dir.h"
#include "duende/framework/unique_fd.h"
#include "duende/mutate/compile_db.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/point_finder.h"
#include "duende/mutate/schemata.h"
#include "duende/mutate/test_runner.h"
#include "engine_internal.h"

namespace duende::mutate::internal {

// A test's log, for the tail of a failure message: only the last MiB is read (a test can
// print without end).
std::string ReadFile(const std::string& path) {
  constexpr std::streamoff kMaxTail = 1 << 20;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  in.seekg(size > kMaxTail ? size - kMaxTail : 0);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<void> WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return framework::ErrnoError("unable to write " + path);
  return {};
}

std::string Rel(const fs::path& p, const fs::path& base) {
  std::string r = fs::path(p).lexically_relative(base).string();
  return r.empty() || r.rfind("..", 0) == 0 ? p.string() : r;
}

Result<void> CopyTree(const fs::path& from, const fs::path& to, const std::set<fs::path>& skip) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return framework::ErrnoError("unable to create " + to.string(), ec.value());
  for (const auto& entry : fs::directory_iterator(from, ec)) {
    const fs::path& p = entry.path();
    std::string name = p.filename().string();
    if (name == ".git" || skip.count(p) > 0) continue;
    if (entry.is_symlink(ec)) {
      fs::copy_symlink(p, to / name, ec);
    } else if (entry.is_directory(ec)) {
      if (fs::exists(p / "CMakeCache.txt")) continue;  // somebody's build tree
      DUENDE_TRY(CopyTree(p, to / name, skip));
    } else if (entry.is_regular_file(ec)) {
      fs::copy_file(p, to / name, fs::copy_options::overwrite_existing, ec);
    }
    if (ec) return framework::ErrnoError("unable to copy " + p.string(), ec.value());
  }
  return {};
}

Result<void> Engine::PrepareCopy() {
  if (o_.work_dir.empty()) {
    RemoveStaleWorkDirs();
    // mkdtemp (0700) in ${TMPDIR:-/tmp}: a name nobody can plant first.
    auto dir = framework::MakePrivateTempDir("duende-mutate");
    if (!dir.ok()) return dir.error();
    work_ = *dir;
    temp_work_dir_ = true;
    // Held until this process ends, however it ends: a later run (or duende doctor) that can
    // take the lock knows the directory's owner is gone and removes it.
    owner_lock_.Reset(::open((work_ + "/.owner").c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!owner_lock_ || ::flock(owner_lock_.get(), LOCK_EX | LOCK_NB) != 0) {
      return framework::ErrnoError("unable to lock " + work_ + "/.owner");
    }
  } else {
    work_ = fs::absolute(o_.work_dir).string();
  }
  copy_ = work_ + "/src";
  std::error_code ec;
  fs::remove_all(copy_, ec);
  std::set<fs::path> skip = {fs::path(build_dir_), fs::path(work_)};
  DUENDE_TRY(CopyTree(run_.source_dir, copy_, skip));
  Log("copied " + run_.source_dir + " to " + copy_);
  return {};
}

std::string Engine::CopyOf(const std::string& file) const {
  return (fs::path(copy_) / Rel(file, run_.source_dir)).string();
}

}  // namespace duende::mutate::internal

namespace duende::mutate {

namespace fs = std::filesystem;

int RemoveStaleWorkDirs() {
  int removed = 0;
  glob_t g{};
  const std::string pattern = framework::TempDir() + "/duende-mutate-*";
  if (::glob(pattern.c_str(), GLOB_NOSORT | GLOB_ONLYDIR, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::string dir = g.gl_pathv[i];
      // Only our own real directories: another user's name in a shared /tmp is not ours to
      // remove, and its .owner could be a FIFO that blocks the open.
      struct stat own {};
      if (::lstat(dir.c_str(), &own) != 0 || !S_ISDIR(own.st_mode) || own.st_uid != ::geteuid()) {
        continue;
      }
      framework::UniqueFd lock(
          ::open((dir + "/.owner").c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      bool stale = false;
      if (lock) {
        stale = ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0;  // nobody holds it
      } else {
        // No lock file: a run from before the lock, or one in its first instant. Only an
        // old one is stale.
        struct stat st {};
        stale = ::stat(dir.c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime > 600;
      }
      if (!stale) continue;
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (!ec) ++removed;
    }
  }
  ::globfree(&g);
  return removed;
}

}  // namespace duende::mutate
