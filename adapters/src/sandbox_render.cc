#include "sandbox_render.h"

#include <sstream>

#include "text_util.h"

namespace duende::adapters::internal {

using framework::MessageError;
using framework::Result;
using framework::SandboxConfig;
using framework::SeccompConfig;
using json = nlohmann::ordered_json;

namespace {

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::vector<std::string> Words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

const char* NativeArch() {
#if defined(__x86_64__)
  return "SCMP_ARCH_X86_64";
#elif defined(__aarch64__)
  return "SCMP_ARCH_AARCH64";
#else
  return "";
#endif
}

}  // namespace

std::string SystemdSandboxLines(const SandboxConfig& s) {
  std::ostringstream u;
  if (s.no_new_privileges) u << "NoNewPrivileges=yes\n";
  if (s.capabilities) {
    // An empty CapabilityBoundingSet= is the empty set; AmbientCapabilities= hands the kept
    // ones to a non-root User= across the exec (root gets them from the bounding set).
    u << "CapabilityBoundingSet=" << Join(*s.capabilities) << '\n';
    if (!s.capabilities->empty()) u << "AmbientCapabilities=" << Join(*s.capabilities) << '\n';
  }
  if (s.seccomp.mode != SeccompConfig::Mode::kNone) {
    u << "SystemCallFilter=" << (s.seccomp.mode == SeccompConfig::Mode::kDeny ? "~" : "")
      << Join(s.seccomp.syscalls) << '\n';
    // Without SystemCallErrorNumber= systemd kills the process with SIGSYS, as action = "kill".
    if (s.seccomp.action == SeccompConfig::Action::kErrno) {
      u << "SystemCallErrorNumber=" << framework::ErrnoName(s.seccomp.errno_value) << '\n';
    }
  }
  std::vector<std::string> ro;
  for (const auto& p : s.read_only_paths) {
    if (p == "/") {
      u << "ProtectSystem=strict\n";
    } else {
      ro.push_back(p);
    }
  }
  if (!ro.empty()) u << "ReadOnlyPaths=" << Join(ro) << '\n';
  if (s.private_tmp) u << "PrivateTmp=yes\n";
  if (s.network == SandboxConfig::Network::kNone) u << "PrivateNetwork=yes\n";
  return u.str();
}

Result<bool> ReadSystemdSandboxKey(const std::string& key, const std::string& value,
                                   SandboxConfig* s) {
  auto yes = [&]() -> Result<bool> {
    if (value == "yes" || value == "true") return true;
    if (value == "no" || value == "false") return false;
    return MessageError("bad boolean for " + key + "=: " + value);
  };
  if (key == "NoNewPrivileges") {
    auto b = yes();
    if (!b.ok()) return b.error();
    s->no_new_privileges = *b;
  } else if (key == "CapabilityBoundingSet") {
    s->capabilities = Words(value);
  } else if (key == "AmbientCapabilities") {
    // Written beside CapabilityBoundingSet= with the same set.
  } else if (key == "SystemCallFilter") {
    const bool deny = !value.empty() && value[0] == '~';
    s->seccomp.mode = deny ? SeccompConfig::Mode::kDeny : SeccompConfig::Mode::kAllow;
    s->seccomp.syscalls = Words(deny ? value.substr(1) : value);
    if (s->seccomp.errno_value == 0) s->seccomp.errno_value = EPERM;
    // Until a SystemCallErrorNumber= says otherwise.
    s->seccomp.action = SeccompConfig::Action::kKill;
  } else if (key == "SystemCallErrorNumber") {
    int e = framework::ErrnoNumber(value);
    if (e == 0) return MessageError("unknown errno name in SystemCallErrorNumber=: " + value);
    s->seccomp.action = SeccompConfig::Action::kErrno;
    s->seccomp.errno_value = e;
  } else if (key == "ProtectSystem") {
    if (value != "strict") return MessageError("ProtectSystem= other than strict: " + value);
    s->read_only_paths.insert(s->read_only_paths.begin(), "/");
  } else if (key == "ReadOnlyPaths") {
    for (const auto& p : Words(value)) s->read_only_paths.push_back(p);
  } else if (key == "PrivateTmp") {
    auto b = yes();
    if (!b.ok()) return b.error();
    s->private_tmp = *b;
  } else if (key == "PrivateNetwork") {
    auto b = yes();
    if (!b.ok()) return b.error();
    s->network = *b ? SandboxConfig::Network::kNone : SandboxConfig::Network::kHost;
  } else {
    return false;
  }
  return true;
}

void AddOciSandbox(const SandboxConfig& s, bool host_user_is_root, json* spec) {
  if (s == SandboxConfig{}) return;
  json& process = (*spec)["process"];
  json& linux = (*spec)["linux"];
  (*spec)["annotations"]["org.duende.sandbox"] = "true";
  if (s.no_new_privileges) process["noNewPrivileges"] = true;
  if (s.capabilities) {
    json caps = *s.capabilities;
    json& c = process["capabilities"];
    c = {{"bounding", caps}, {"effective", caps}, {"permitted", caps}};
    if (!host_user_is_root) {
      c["inheritable"] = caps;
      c["ambient"] = caps;
    }
    (*spec)["annotations"]["org.duende.sandbox.capabilities"] = "kept";
  }
  if (s.seccomp.mode != SeccompConfig::Mode::kNone) {
    const bool kill = s.seccomp.action == SeccompConfig::Action::kKill;
    const char* refuse = kill ? "SCMP_ACT_KILL_PROCESS" : "SCMP_ACT_ERRNO";
    const bool allow = s.seccomp.mode == SeccompConfig::Mode::kAllow;
    json seccomp = {{"defaultAction", allow ? refuse : "SCMP_ACT_ALLOW"}};
    if (allow && !kill) seccomp["defaultErrnoRet"] = s.seccomp.errno_value;
    if (*NativeArch() != '\0') seccomp["architectures"] = json::array({NativeArch()});
    std::vector<std::string> names = s.seccomp.syscalls;
    json rule = {{"names", names}, {"action", allow ? "SCMP_ACT_ALLOW" : refuse}};
    if (!allow && !kill) rule["errnoRet"] = s.seccomp.errno_value;
    json rules = json::array({rule});
    if (allow) {
      rules.push_back({{"names", framework::kSeccompAlwaysAllowed}, {"action", "SCMP_ACT_ALLOW"}});
    }
    seccomp["syscalls"] = rules;
    linux["seccomp"] = seccomp;
  }
  for (const auto& p : s.read_only_paths) linux["readonlyPaths"].push_back(p);
  if (!s.read_only_paths.empty()) {
    (*spec)["annotations"]["org.duende.sandbox.read-only-paths"] =
        std::to_string(s.read_only_paths.size());
  }
  if (s.network == SandboxConfig::Network::kNone) {
    bool has = false;
    for (const auto& ns : linux["namespaces"]) has = has || ns.value("type", "") == "network";
    if (!has) linux["namespaces"].push_back({{"type", "network"}});
    (*spec)["annotations"]["org.duende.sandbox.network"] = "none";
  }
}

void ReadOciSandbox(const json& spec, SandboxConfig* s) {
  const json& ann = spec.value("annotations", json::object());
  if (ann.value("org.duende.sandbox", "") != "true") return;
  const json& process = spec.at("process");
  const json& linux = spec.at("linux");
  // An OCI container always has a fresh /tmp and no_new_privileges (RenderOciConfig).
  s->private_tmp = true;
  s->no_new_privileges = process.value("noNewPrivileges", false);
  if (ann.value("org.duende.sandbox.capabilities", "") == "kept") {
    s->capabilities = process.at("capabilities").at("bounding").get<std::vector<std::string>>();
  }
  if (linux.contains("seccomp")) {
    const json& sc = linux["seccomp"];
    const bool allow = sc.value("defaultAction", "") != "SCMP_ACT_ALLOW";
    s->seccomp.mode = allow ? SeccompConfig::Mode::kAllow : SeccompConfig::Mode::kDeny;
    const json& rule = sc.at("syscalls").at(0);
    s->seccomp.syscalls = rule.at("names").get<std::vector<std::string>>();
    const std::string refuse = allow ? sc.value("defaultAction", "") : rule.value("action", "");
    s->seccomp.action = refuse == "SCMP_ACT_KILL_PROCESS" ? SeccompConfig::Action::kKill
                                                          : SeccompConfig::Action::kErrno;
    if (s->seccomp.action == SeccompConfig::Action::kErrno) {
      s->seccomp.errno_value =
          allow ? sc.value("defaultErrnoRet", EPERM) : rule.value("errnoRet", EPERM);
    }
  }
  const size_t ro = std::stoul(ann.value("org.duende.sandbox.read-only-paths", "0"));
  const auto paths = linux.value("readonlyPaths", std::vector<std::string>{});
  for (size_t i = paths.size() >= ro ? paths.size() - ro : 0; i < paths.size(); ++i) {
    s->read_only_paths.push_back(paths[i]);
  }
  for (const auto& ns : linux.value("namespaces", json::array())) {
    if (ns.value("type", "") == "network" && !ns.contains("path") &&
        ann.value("org.duende.sandbox.network", "") == "none") {
      s->network = SandboxConfig::Network::kNone;
    }
  }
}

}  // namespace duende::adapters::internal
