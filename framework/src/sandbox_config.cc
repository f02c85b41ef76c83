#include "duende/framework/sandbox_config.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace duende::framework {
namespace {

std::string Upper(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Lower(std::string_view s) {
  std::string out;
  for (char c : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void FailAt(TomlReader& r, const toml::node& n, std::string message) {
  const auto& src = n.source();
  r.diagnostics()->Add(SourcePos{r.file(), src.begin.line, src.begin.column}, std::move(message));
}

std::string Suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best = DidYouMean(word, candidates);
  return best.empty() ? "" : "; did you mean '" + best + "'?";
}

// The string elements of the array at `key`, each with its node (for positions). A value that
// is not an array of strings is reported.
std::vector<std::pair<std::string, const toml::node*>> Strings(TomlReader& r, std::string_view key,
                                                               const std::string& example) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  const toml::node* n = r.Raw(key);
  if (n == nullptr) return out;
  const toml::array* a = n->as_array();
  if (a == nullptr) {
    r.Fail(key, "'" + std::string(key) + "' in " + r.where() +
                    " must be an array of strings such as " + example);
    return out;
  }
  for (const toml::node& e : *a) {
    if (auto s = e.value<std::string>(); s && e.is_string()) {
      out.emplace_back(*s, &e);
    } else {
      FailAt(r, e,
             "'" + std::string(key) + "' in " + r.where() +
                 " holds a value that is not a string; " + "write it like " + example);
    }
  }
  return out;
}

std::vector<std::string> SyscallNames() {
  std::vector<std::string> names;
  for (int nr = 0; nr < 1024; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == nullptr) continue;
    names.emplace_back(name);
    std::free(name);
  }
  return names;
}

std::vector<std::string> ErrnoNames() {
  std::vector<std::string> names;
  for (int e = 1; e < 134; ++e) {
    if (const char* n = strerrorname_np(e)) names.emplace_back(n);
  }
  return names;
}

// The entries of the directory above `path`, as full paths: what a mistyped path was likely
// meant to be.
std::vector<std::string> Siblings(const std::string& path) {
  std::vector<std::string> out;
  size_t slash = path.find_last_of('/', path.size() > 1 ? path.size() - 2 : 0);
  std::string dir = slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    out.push_back((dir == "/" ? "" : dir) + "/" + name);
    if (out.size() > 4096) break;
  }
  ::closedir(d);
  return out;
}

bool IsNumber(std::string_view s) {
  return !s.empty() && s.size() < 11 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

std::vector<std::string> UserNames() {
  std::vector<std::string> out;
  ::setpwent();
  while (passwd* pw = ::getpwent()) out.emplace_back(pw->pw_name);
  ::endpwent();
  return out;
}

std::vector<std::string> GroupNames() {
  std::vector<std::string> out;
  ::setgrent();
  while (group* gr = ::getgrent()) out.emplace_back(gr->gr_name);
  ::endgrent();
  return out;
}

void ReadSeccomp(TomlReader& r, SeccompConfig* out) {
  const bool has_allow = r.Has("allow");
  const bool has_deny = r.Has("deny");
  if (has_allow && has_deny) {
    r.Fail("deny",
           "[sandbox.seccomp] has both 'allow' and 'deny'; keep one (an allow-list "
           "refuses everything else, a deny-list allows everything else)");
  }
  const char* key = has_allow ? "allow" : "deny";
  if (has_allow || has_deny) {
    std::vector<std::string> known;
    std::vector<std::string> names;
    for (const auto& [name, node] : Strings(r, key, "[\"ptrace\", \"mount\"]")) {
      if (SyscallNumber(name) >= 0) {
        names.push_back(name);
        continue;
      }
      if (known.empty()) known = SyscallNames();
      FailAt(r, *node,
             "unknown system call '" + name + "' in '" + key + "' of [sandbox.seccomp]" +
                 Suggest(name, known) + " (names as strace prints them, for this architecture)");
    }
    if (has_allow && !has_deny) {
      out->mode = SeccompConfig::Mode::kAllow;
    } else if (has_deny && !has_allow) {
      out->mode = SeccompConfig::Mode::kDeny;
    }
    out->syscalls = names;
  }
  if (auto a = r.Enum("action", {"errno", "kill"})) {
    out->action = *a == "kill" ? SeccompConfig::Action::kKill : SeccompConfig::Action::kErrno;
  }
  if (auto e = r.String("errno")) {
    int v = ErrnoNumber(*e);
    if (v == 0) {
      r.Fail("errno", "unknown errno name '" + *e + "' in [sandbox.seccomp]" +
                          Suggest(Upper(*e), ErrnoNames()) + " (for example \"EPERM\")");
    } else {
      out->errno_value = v;
    }
    if (out->action == SeccompConfig::Action::kKill) {
      r.Fail("errno",
             "'errno' in [sandbox.seccomp] applies to action = \"errno\" only; remove "
             "it or set action = \"errno\"");
    }
  }
  if (out->mode == SeccompConfig::Mode::kNone && (r.Has("action") || r.Has("errno"))) {
    r.Fail("action",
           "[sandbox.seccomp] needs 'allow' or 'deny', a list of system calls, such "
           "as deny = [\"ptrace\", \"mount\"]");
  }
  r.Finish();
}

}  // namespace

bool SandboxConfig::confines() const {
  return no_new_privileges || capabilities.has_value() ||
         seccomp.mode != SeccompConfig::Mode::kNone || !read_only_paths.empty() || private_tmp ||
         network != Network::kHost;
}

std::vector<std::string> KnownCapabilityNames() {
  std::vector<std::string> out;
  const int bits = static_cast<int>(cap_max_bits());
  for (int i = 0; i < bits; ++i) out.push_back(CapabilityName(i));
  return out;
}

std::string CapabilityName(int cap) {
  char* name = cap_to_name(static_cast<cap_value_t>(cap));
  std::string out = name != nullptr ? Upper(name) : "CAP_" + std::to_string(cap);
  if (name != nullptr) cap_free(name);
  return out;
}

int CapabilityNumber(std::string_view name) {
  std::string lower = Lower(name);
  if (lower.rfind("cap_", 0) != 0) lower = "cap_" + lower;
  cap_value_t v = 0;
  if (cap_from_name(lower.c_str(), &v) != 0) return -1;
  if (v < 0 || v >= static_cast<cap_value_t>(cap_max_bits())) return -1;
  // libcap also accepts bare numbers; a config names capabilities.
  if (lower.size() > 4 && std::isdigit(static_cast<unsigned char>(lower[4])) != 0) return -1;
  return v;
}

int SyscallNumber(const std::string& name) {
  if (name.empty()) return -1;
  int nr = seccomp_syscall_resolve_name(name.c_str());
  return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

int ErrnoNumber(std::string_view name) {
  std::string upper = Upper(name);
  for (int e = 1; e < 134; ++e) {
    const char* n = strerrorname_np(e);
    if (n != nullptr && upper == n) return e;
  }
  return 0;
}

std::string ErrnoName(int value) {
  const char* n = strerrorname_np(value);
  return n != nullptr ? n : std::to_string(value);
}

void ReadSandboxConfig(TomlReader& r, SandboxConfig* out, const SandboxReadOptions& options) {
  if (auto b = r.Bool("no_new_privileges")) out->no_new_privileges = *b;
  if (r.Has("capabilities")) {
    std::vector<std::string> kept;
    std::vector<std::string> known;
    for (const auto& [name, node] :
         Strings(r, "capabilities", "[\"CAP_NET_BIND_SERVICE\"] (or [] to drop them all)")) {
      int cap = CapabilityNumber(name);
      if (cap >= 0) {
        std::string canonical = CapabilityName(cap);
        if (std::find(kept.begin(), kept.end(), canonical) == kept.end()) kept.push_back(canonical);
        continue;
      }
      if (known.empty()) known = KnownCapabilityNames();
      std::string upper = Upper(name);
      if (upper.rfind("CAP_", 0) != 0) upper = "CAP_" + upper;
      FailAt(r, *node,
             "unknown capability '" + name + "' in 'capabilities' of [sandbox]" +
                 Suggest(upper, known) + " (capabilities(7) lists them)");
    }
    out->capabilities = kept;
  }
  if (auto t = r.Table("seccomp")) ReadSeccomp(*t, &out->seccomp);
  if (r.Has("read_only_paths")) {
    std::vector<std::string> paths;
    for (const auto& [path, node] : Strings(r, "read_only_paths", "[\"/usr\", \"/etc\"]")) {
      // A run variable ("{run_dir}/data") stands for an absolute path; PrepareSandbox checks
      // what it expands to.
      const bool variable_first = options.variables && path.rfind('{', 0) == 0;
      if (path.empty() || (path[0] != '/' && !variable_first)) {
        FailAt(
            r, *node,
            "'read_only_paths' in [sandbox] holds \"" + path +
                "\"; each must be an absolute path such as \"/usr\"" +
                (options.variables ? " or start with a run variable such as \"{run_dir}\"" : ""));
        continue;
      }
      struct stat st {};
      if (!(options.variables && path.find('{') != std::string::npos) &&
          ::stat(path.c_str(), &st) != 0) {
        FailAt(r, *node,
               "read-only path \"" + path + "\" in [sandbox] does not exist (" +
                   std::strerror(errno) + "): create it or remove it from the list" +
                   Suggest(path, Siblings(path)));
        continue;
      }
      paths.push_back(path);
    }
    out->read_only_paths = paths;
  }
  if (auto b = r.Bool("private_tmp")) out->private_tmp = *b;
  if (auto n = r.Enum("network", {"host", "none"})) {
    out->network = *n == "none" ? SandboxConfig::Network::kNone : SandboxConfig::Network::kHost;
  }
  if (auto u = r.String("user")) {
    if (u->empty() || (!IsNumber(*u) && ::getpwnam(u->c_str()) == nullptr)) {
      r.Fail("user", "user '" + *u + "' in [sandbox] does not exist on this host" +
                         Suggest(*u, UserNames()) +
                         " (give an existing name, or a uid such as \"65534\")");
    } else {
      out->user = *u;
    }
  }
  if (auto g = r.String("group")) {
    if (g->empty() || (!IsNumber(*g) && ::getgrnam(g->c_str()) == nullptr)) {
      r.Fail("group", "group '" + *g + "' in [sandbox] does not exist on this host" +
                          Suggest(*g, GroupNames()) +
                          " (give an existing name, or a gid such as \"65534\")");
    } else {
      out->group = *g;
    }
  }
  r.Finish();
}

toml::table FormatSandboxConfig(const SandboxConfig& c) {
  toml::table t;
  t.insert("no_new_privileges", c.no_new_privileges);
  if (c.capabilities) {
    toml::array caps;
    for (const auto& cap : *c.capabilities) caps.push_back(cap);
    t.insert("capabilities", caps);
  }
  if (c.seccomp.mode != SeccompConfig::Mode::kNone) {
    toml::table s;
    toml::array calls;
    for (const auto& n : c.seccomp.syscalls) calls.push_back(n);
    s.insert(c.seccomp.mode == SeccompConfig::Mode::kAllow ? "allow" : "deny", calls);
    s.insert("action", c.seccomp.action == SeccompConfig::Action::kKill ? "kill" : "errno");
    if (c.seccomp.action == SeccompConfig::Action::kErrno) {
      s.insert("errno", ErrnoName(c.seccomp.errno_value));
    }
    t.insert("seccomp", s);
  }
  toml::array paths;
  for (const auto& p : c.read_only_paths) paths.push_back(p);
  t.insert("read_only_paths", paths);
  t.insert("private_tmp", c.private_tmp);
  t.insert("network", c.network == SandboxConfig::Network::kNone ? "none" : "host");
  if (!c.user.empty()) t.insert("user", c.user);
  if (!c.group.empty()) t.insert("group", c.group);
  return t;
}

}  // namespace duende::framework
