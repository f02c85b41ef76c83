// A private scratch directory for one test: mkdtemp(3) under $TMPDIR (else /tmp), mode 0700,
// so no other user can plant a file or symlink in it; removed with everything in it at the
// end of the scope.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace duende::testing {

class TempDir {
 public:
  /// `tag` names the directory for humans: $TMPDIR/duende-<tag>-XXXXXX. path() is "" when
  /// mkdtemp failed (a test then fails on the first file it cannot create).
  explicit TempDir(const std::string& tag = "test") {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-" + tag + "-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  /// path() + "/" + name.
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  /// Writes `text` to path()/name (creating parent directories; executable with `exec`) and
  /// returns its path.
  std::string Write(const std::string& name, const std::string& text, bool exec = false) const {
    const std::string p = *this / name;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path(), ec);
    std::ofstream(p, std::ios::trunc) << text;
    if (exec) ::chmod(p.c_str(), 0755);
    return p;
  }

 private:
  std::string path_;
};

}  // namespace duende::testing
