// PrepareSandbox (before the fork: may allocate, read files, call libseccomp and libcap) and
// ApplySandbox* (in the vfork child: raw system calls on prepared data only).
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "duende/framework/sandbox.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {
namespace {

bool Under(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        std::isdigit(static_cast<unsigned char>(s[i + 1])) != 0) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<std::vector<std::string>> MountPoints() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return ErrnoError("unable to read /proc/self/mountinfo");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point) out.push_back(Unescape(point));
  }
  return out;
}

int CapLast() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = 0;
  if (in >> last && last > 0 && last < 64) return last;
  return CAP_LAST_CAP;
}

Result<std::vector<sock_filter>> CompileSeccomp(const SeccompConfig& s) {
  const uint32_t refuse = s.action == SeccompConfig::Action::kKill
                              ? SCMP_ACT_KILL_PROCESS
                              : SCMP_ACT_ERRNO(static_cast<uint16_t>(s.errno_value));
  const bool allow = s.mode == SeccompConfig::Mode::kAllow;
  scmp_filter_ctx ctx = seccomp_init(allow ? refuse : SCMP_ACT_ALLOW);
  if (ctx == nullptr) return MessageError("seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  std::vector<std::string> names = s.syscalls;
  if (allow) names.insert(names.end(), kSeccompAlwaysAllowed.begin(), kSeccompAlwaysAllowed.end());
  for (const auto& name : names) {
    int nr = SyscallNumber(name);
    if (nr < 0) {
      return MessageError("system call '" + name + "' is unknown on this host's architecture");
    }
    int rc = seccomp_rule_add(ctx, allow ? SCMP_ACT_ALLOW : refuse, nr, 0);
    if (rc != 0 && rc != -EEXIST) {
      return ErrnoError("seccomp_rule_add(" + name + ")", -rc);
    }
  }
  // libseccomp 2.5 exports to a descriptor only; a memfd keeps it off the file system.
  UniqueFd fd(::memfd_create("duende-seccomp", MFD_CLOEXEC));
  if (!fd) return ErrnoError("memfd_create");
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc != 0) {
    return ErrnoError("seccomp_export_bpf", -rc);
  }
  off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    return MessageError("seccomp_export_bpf wrote " + std::to_string(size) + " bytes");
  }
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(fd.get(), prog.data(), static_cast<size_t>(size), 0) != size) {
    return ErrnoError("reading the seccomp filter back");
  }
  return prog;
}

unsigned long MountFlagsOf(const std::string& path) {
  struct statvfs st {};
  unsigned long flags = 0;
  if (::statvfs(path.c_str(), &st) != 0) return flags;
  if ((st.f_flag & ST_NOSUID) != 0) flags |= MS_NOSUID;
  if ((st.f_flag & ST_NODEV) != 0) flags |= MS_NODEV;
  if ((st.f_flag & ST_NOEXEC) != 0) flags |= MS_NOEXEC;
  if ((st.f_flag & ST_NOATIME) != 0) flags |= MS_NOATIME;
  if ((st.f_flag & ST_NODIRATIME) != 0) flags |= MS_NODIRATIME;
  if ((st.f_flag & ST_RELATIME) != 0) flags |= MS_RELATIME;
  return flags;
}

}  // namespace

const char* SandboxStepName(SandboxStep step) {
  switch (step) {
    case SandboxStep::kNone:
      return "sandbox";
    case SandboxStep::kMountNamespace:
      return "sandbox: mount namespace";
    case SandboxStep::kReadOnly:
      return "sandbox: read-only bind mount";
    case SandboxStep::kPrivateTmp:
      return "sandbox: private /tmp";
    case SandboxStep::kNetwork:
      return "sandbox: network namespace";
    case SandboxStep::kBoundingSet:
      return "sandbox: capability bounding set";
    case SandboxStep::kKeepCaps:
      return "sandbox: prctl(PR_SET_KEEPCAPS)";
    case SandboxStep::kCapabilities:
      return "sandbox: capabilities";
    case SandboxStep::kNoNewPrivileges:
      return "sandbox: prctl(PR_SET_NO_NEW_PRIVS)";
    case SandboxStep::kSeccomp:
      return "sandbox: seccomp filter";
  }
  return "sandbox";
}

Result<PreparedSandbox> PrepareSandbox(const SandboxConfig& c, bool changes_uid) {
  PreparedSandbox p;
  p.changes_uid = changes_uid;
  p.cap_last = CapLast();
  if (!c.read_only_paths.empty()) {
    auto points = MountPoints();
    if (!points.ok()) return points.error();
    for (const auto& path : c.read_only_paths) {
      if (path.empty() || path[0] != '/') {
        return MessageError("read-only path \"" + path +
                            "\" in [sandbox] is not absolute (a run variable expanded to "
                            "a relative path?)");
      }
      p.read_only_binds.push_back(path);
      p.read_only_mounts.push_back({path, MountFlagsOf(path)});
      for (const auto& m : *points) {
        if (m != path && Under(m, path) &&
            std::none_of(p.read_only_mounts.begin(), p.read_only_mounts.end(),
                         [&](const auto& e) { return e.path == m; })) {
          p.read_only_mounts.push_back({m, MountFlagsOf(m)});
        }
      }
    }
  }
  if (c.private_tmp) {
    for (const char* dir : {"/tmp", "/var/tmp"}) {
      if (::access(dir, F_OK) == 0) p.private_tmp_dirs.emplace_back(dir);
    }
  }
  p.mount_namespace = !p.read_only_binds.empty() || !p.private_tmp_dirs.empty();
  p.network_namespace = c.network == SandboxConfig::Network::kNone;
  if (c.capabilities) {
    uint64_t kept = 0;
    for (const auto& name : *c.capabilities) {
      int cap = CapabilityNumber(name);
      if (cap < 0 || cap > p.cap_last) {
        return MessageError("capability '" + name + "' is unknown to this kernel");
      }
      kept |= uint64_t{1} << cap;
    }
    p.kept_caps = kept;
  }
  if (c.seccomp.mode != SeccompConfig::Mode::kNone) {
    auto prog = CompileSeccomp(c.seccomp);
    if (!prog.ok()) return prog.error();
    p.seccomp_filter = std::move(*prog);
  }
  // Loading a filter without no_new_privs needs CAP_SYS_ADMIN; systemd implies
  // NoNewPrivileges= in that case, and so do we.
  const bool keeps_sys_admin =
      p.kept_caps ? ((*p.kept_caps >> CAP_SYS_ADMIN) & 1) != 0 : !changes_uid;
  p.no_new_privileges = c.no_new_privileges || (!p.seccomp_filter.empty() && !keeps_sys_admin);
  return p;
}

// --- In the vfork child from here on: raw system calls only. ---

SandboxStep ApplySandboxBeforeIds(const PreparedSandbox& p) noexcept {
  if (p.mount_namespace) {
    if (unshare(CLONE_NEWNS) != 0) return SandboxStep::kMountNamespace;
    // A slave of the host's mounts: ours do not leak out, the host's still arrive.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) {
      return SandboxStep::kMountNamespace;
    }
    for (const auto& path : p.read_only_binds) {
      if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        return SandboxStep::kReadOnly;
      }
    }
    // Each mount keeps its nosuid/nodev/noexec flags: a bind remount sets all of them at once.
    for (const auto& m : p.read_only_mounts) {
      if (mount(nullptr, m.path.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | m.flags,
                nullptr) != 0) {
        return SandboxStep::kReadOnly;
      }
    }
    for (const auto& dir : p.private_tmp_dirs) {
      if (mount("tmpfs", dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
        return SandboxStep::kPrivateTmp;
      }
    }
  }
  if (p.network_namespace) {
    if (unshare(CLONE_NEWNET) != 0) return SandboxStep::kNetwork;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return SandboxStep::kNetwork;
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, "lo", 3);
    bool ok = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
    if (ok) {
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
      ok = ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
    }
    int err = errno;
    close(sock);
    if (!ok) {
      errno = err;
      return SandboxStep::kNetwork;
    }
  }
  if (p.kept_caps) {
    for (int cap = 0; cap <= p.cap_last; ++cap) {
      if (((*p.kept_caps >> cap) & 1) != 0) continue;
      if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return SandboxStep::kBoundingSet;
    }
    if (p.changes_uid && *p.kept_caps != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
      return SandboxStep::kKeepCaps;
    }
  }
  return SandboxStep::kNone;
}

SandboxStep ApplySandboxAfterIds(const PreparedSandbox& p) noexcept {
  if (p.kept_caps) {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    __user_cap_data_struct data[2] = {};
    const uint64_t kept = *p.kept_caps;
    for (int i = 0; i < 2; ++i) {
      const auto word = static_cast<uint32_t>(kept >> (32 * i));
      data[i].effective = word;
      data[i].permitted = word;
      data[i].inheritable = word;
    }
    if (syscall(SYS_capset, &header, data) != 0) return SandboxStep::kCapabilities;
    // Ambient capabilities survive the exec of a program without file capabilities when the
    // uid is not 0; for root the bounding set already decides what exec gives.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
      return SandboxStep::kCapabilities;
    }
    for (int cap = 0; cap <= p.cap_last; ++cap) {
      if (((kept >> cap) & 1) == 0) continue;
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
        return SandboxStep::kCapabilities;
      }
    }
  }
  if (p.no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return SandboxStep::kNoNewPrivileges;
  }
  if (!p.seccomp_filter.empty()) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(p.seccomp_filter.size());
    prog.filter = const_cast<sock_filter*>(p.seccomp_filter.data());
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
      return SandboxStep::kSeccomp;
    }
  }
  return SandboxStep::kNone;
}

}  // namespace duende::framework
