#include "preload.h"

#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace duende::faults::internal {
namespace {

// The DT_NEEDED names of a 64-bit little-endian ELF file (empty for anything else).
std::vector<std::string> NeededLibraries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string elf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> out;
  if (elf.size() < sizeof(Elf64_Ehdr) || std::memcmp(elf.data(), ELFMAG, SELFMAG) != 0 ||
      elf[EI_CLASS] != ELFCLASS64) {
    return out;
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data(), sizeof eh);
  auto section = [&](size_t i, Elf64_Shdr* sh) {
    size_t off = eh.e_shoff + i * sizeof(Elf64_Shdr);
    if (i >= eh.e_shnum || off + sizeof(Elf64_Shdr) > elf.size()) return false;
    std::memcpy(sh, elf.data() + off, sizeof *sh);
    return sh->sh_offset + sh->sh_size <= elf.size();
  };
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr dyn, str;
    if (!section(i, &dyn) || dyn.sh_type != SHT_DYNAMIC || !section(dyn.sh_link, &str)) continue;
    for (size_t off = dyn.sh_offset; off + sizeof(Elf64_Dyn) <= dyn.sh_offset + dyn.sh_size;
         off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, elf.data() + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED && d.d_un.d_val < str.sh_size) {
        out.emplace_back(elf.c_str() + str.sh_offset + d.d_un.d_val);
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
