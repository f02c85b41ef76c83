#include "preload.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "duende/framework/unique_fd.h"

namespace duende::faults::internal {
namespace {

// Reads `size` bytes at `offset`; false when the file is shorter.
bool ReadAt(int fd, uint64_t offset, void* out, size_t size) {
  return ::pread(fd, out, size, static_cast<off_t>(offset)) == static_cast<ssize_t>(size);
}

// The DT_NEEDED names of a 64-bit ELF file (empty for anything else). Reads only the headers
// and the two sections it needs: executables linking LLVM are hundreds of megabytes.
std::vector<std::string> NeededLibraries(const std::string& path) {
  std::vector<std::string> out;
  framework::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  Elf64_Ehdr eh;
  if (!fd || !ReadAt(fd.get(), 0, &eh, sizeof eh) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) {
    return out;
  }
  auto section = [&](size_t i, Elf64_Shdr* sh) {
    return i < eh.e_shnum && ReadAt(fd.get(), eh.e_shoff + i * sizeof(Elf64_Shdr), sh, sizeof *sh);
  };
  constexpr uint64_t kMaxSection = 16 << 20;  // .dynamic and .dynstr are kilobytes
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr dyn, str;
    if (!section(i, &dyn) || dyn.sh_type != SHT_DYNAMIC || !section(dyn.sh_link, &str) ||
        dyn.sh_size > kMaxSection || str.sh_size > kMaxSection) {
      continue;
    }
    std::vector<Elf64_Dyn> entries(dyn.sh_size / sizeof(Elf64_Dyn));
    std::string strings(str.sh_size, '\0');
    if (!ReadAt(fd.get(), dyn.sh_offset, entries.data(), entries.size() * sizeof(Elf64_Dyn)) ||
        !ReadAt(fd.get(), str.sh_offset, strings.data(), strings.size())) {
      continue;
    }
    for (const auto& d : entries) {
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED && d.d_un.d_val < strings.size()) {
        out.emplace_back(strings.c_str() + d.d_un.d_val);
      }
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find_first_of(" :", start);
    if (end == std::string::npos) end = list.size();
    if (end > start) out.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string SanitizerRuntimeOf(const std::string& program) {
  auto exe = framework::FindExecutable(program);
  if (!exe.ok()) return "";
  for (const auto& lib : NeededLibraries(*exe)) {
    if (lib.rfind("libasan.so", 0) != 0 && lib.rfind("libtsan.so", 0) != 0 &&
        lib.rfind("liblsan.so", 0) != 0) {
      continue;
    }
    for (const char* dir : {"/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/lib64/",
                            "/usr/lib64/", "/usr/local/lib/"}) {
      std::string path = dir + lib;
      if (::access(path.c_str(), R_OK) == 0) return path;
    }
  }
  return "";
}

void AddPreload(framework::SpawnOptions& options, const std::vector<std::string>& libs,
                bool front) {
  std::string current;
  bool overridden = false;
  for (const auto& e : options.env_overrides) {
    if (e.rfind("LD_PRELOAD=", 0) == 0) {
      current = e.substr(11);
      overridden = true;
    }
  }
  if (!overridden) {
    if (const char* env = std::getenv("LD_PRELOAD"); env != nullptr) current = env;
  }
  std::vector<std::string> list = Split(current);
  list.insert(front ? list.begin() : list.end(), libs.begin(), libs.end());
  if (!options.argv.empty()) {
    std::string runtime = SanitizerRuntimeOf(options.argv[0]);
    if (!runtime.empty()) {
      list.erase(std::remove(list.begin(), list.end(), runtime), list.end());
      list.insert(list.begin(), runtime);
    }
  }
  std::string joined;
  for (const auto& l : list) joined += (joined.empty() ? "" : " ") + l;
  std::erase_if(options.env_overrides,
                [](const std::string& e) { return e.rfind("LD_PRELOAD=", 0) == 0; });
  options.env_overrides.push_back("LD_PRELOAD=" + joined);
}

}  // namespace duende::faults::internal
