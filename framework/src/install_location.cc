#include "duende/framework/install_location.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>

// The install layout relative to the prefix (GNUInstallDirs; set by framework/CMakeLists.txt).
#ifndef DUENDE_INSTALL_LIBDIR
#define DUENDE_INSTALL_LIBDIR "lib"
#endif
#ifndef DUENDE_INSTALL_LIBEXECDIR
#define DUENDE_INSTALL_LIBEXECDIR "libexec"
#endif

namespace duende::framework {
namespace {

namespace fs = std::filesystem;

std::string Subdir(RuntimeDir kind) {
  return std::string(kind == RuntimeDir::kLibrary ? DUENDE_INSTALL_LIBDIR
                                                  : DUENDE_INSTALL_LIBEXECDIR) +
         "/duende";
}

// PREFIX when the running executable is PREFIX/<anything>/<exe> (bin/) or
// PREFIX/libexec/duende/<exe>; "" when /proc/self/exe is unreadable.
std::vector<fs::path> SelfPrefixes() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec || !self.has_parent_path()) return {};
  const fs::path dir = self.parent_path();
  std::vector<fs::path> out = {dir.parent_path()};
  if (dir.filename() == "duende" && dir.parent_path().filename() == DUENDE_INSTALL_LIBEXECDIR) {
    out.push_back(dir.parent_path().parent_path());
  }
  return out;
}

bool IsDir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

}  // namespace

std::vector<std::string> RuntimeDirs(RuntimeDir kind) {
  std::vector<std::string> dirs;
  auto add = [&dirs](const fs::path& p) {
    std::string s = p.lexically_normal().string();
    if (!s.empty() && IsDir(p)) {
      for (const auto& d : dirs) {
        if (d == s) return;
      }
      dirs.push_back(std::move(s));
    }
  };
  for (const fs::path& prefix : SelfPrefixes()) add(prefix / Subdir(kind));
  if (duende_linked_runtime_dirs != nullptr) {
    const char* linked = duende_linked_runtime_dirs(kind == RuntimeDir::kLibrary ? 0 : 1);
    std::string_view rest = linked != nullptr ? linked : "";
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view one = rest.substr(0, nl);
      if (!one.empty() && one.front() == '/') add(fs::path(one));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
  return dirs;
}

std::string FindRuntimeFile(RuntimeDir kind, const std::string& name, int mode) {
  for (const auto& d : RuntimeDirs(kind)) {
    std::string p = d + "/" + name;
    if (::access(p.c_str(), mode) == 0) return p;
  }
  return "";
}

}  // namespace duende::framework
