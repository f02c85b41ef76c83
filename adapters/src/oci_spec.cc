#include "duende/adapters/oci_spec.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sandbox_render.h"
#include "text_util.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::ErrnoError;
using framework::MessageError;
using framework::Result;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr int64_t kCpuPeriodUs = 100000;

struct Ids {
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<Ids> ResolveIds(const DaemonConfig& c) {
  Ids ids;
  if (!c.user.empty()) {
    if (auto n = internal::ParseUint(c.user)) {
      ids.uid = static_cast<uid_t>(*n);
      ids.gid = ids.uid;
      if (passwd* pw = ::getpwuid(ids.uid)) ids.gid = pw->pw_gid;
    } else if (passwd* pw = ::getpwnam(c.user.c_str())) {
      ids.uid = pw->pw_uid;
      ids.gid = pw->pw_gid;
    } else {
      return MessageError("user '" + c.user +
                          "' does not exist on this host; an OCI bundle needs a numeric uid "
                          "(give user = \"1000\")");
    }
  }
  if (!c.group.empty()) {
    if (auto n = internal::ParseUint(c.group)) {
      ids.gid = static_cast<gid_t>(*n);
    } else if (group* gr = ::getgrnam(c.group.c_str())) {
      ids.gid = gr->gr_gid;
    } else {
      return MessageError("group '" + c.group +
                          "' does not exist on this host; an OCI bundle needs a numeric gid "
                          "(give group = \"1000\")");
    }
  }
  return ids;
}

bool Under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

json Rlimit(const char* type, uint64_t v) { return json{{"type", type}, {"hard", v}, {"soft", v}}; }

}  // namespace

std::vector<std::string> OciCapabilities(const DaemonConfig& config) {
  std::vector<std::string> caps = {
      "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
      "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
      "CAP_KILL",    "CAP_AUDIT_WRITE"};
  if (config.resources.lock_memory) caps.push_back("CAP_IPC_LOCK");
  return caps;
}

Result<Translation> TranslateForOci(const DaemonConfig& c, const OciRenderOptions& /*options*/) {
  auto ids = ResolveIds(c);
  if (!ids.ok()) return ids.error();
  DaemonConfig t = internal::Skeleton(c);
  t.env = c.env;
  t.working_dir = c.working_dir == "/" ? "" : c.working_dir;
  if (ids->uid != 0 || ids->gid != 0) {
    t.user = std::to_string(ids->uid);
    t.group = std::to_string(ids->gid);
  }
  const auto& r = c.resources;
  t.resources.memory_max = r.memory_max;
  if (r.cpu_quota) {
    t.resources.cpu_quota =
        static_cast<double>(std::llround(*r.cpu_quota * kCpuPeriodUs)) / kCpuPeriodUs;
  }
  t.resources.pids_max = r.pids_max;
  t.resources.open_files = r.open_files;
  t.resources.address_space = r.address_space;
  t.resources.processes = r.processes;
  t.resources.core_size = r.core_size;
  t.resources.lock_memory = r.lock_memory;
  t.resources.lock_memory_required = r.lock_memory_required;
  if (c.sandbox != framework::SandboxConfig{}) {
    // A container always gets a fresh /tmp and no_new_privileges; the account is numeric.
    t.sandbox = c.sandbox;
    t.sandbox.private_tmp = true;
    t.sandbox.no_new_privileges = true;
    if (!c.sandbox.user.empty()) t.sandbox.user = t.user;
    if (!c.sandbox.group.empty()) t.sandbox.group = t.group;
  }
  Translation out;
  out.config = std::move(t);
  return out;
}

Result<std::string> RenderOciConfig(const DaemonConfig& config, const OciRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  auto tr = TranslateForOci(config, options);
  if (!tr.ok()) return tr.error();
  const DaemonConfig& c = tr->config;
  auto ids = ResolveIds(config);  // resolved above already; cannot fail now

  json args = json::array();
  if (!options.init.empty()) {
    args.push_back(options.init);
    args.push_back("--");
  }
  for (const auto& a : c.command) args.push_back(a);
  json env = json::array();
  bool has_path = false;
  for (const auto& [k, v] : internal::PlatformEnv(c)) {
    has_path = has_path || k == "PATH";
    env.push_back(k + "=" + v);
  }
  if (!has_path) env.push_back(kDefaultPath);

  json caps = OciCapabilities(c);
  json rlimits = json::array();
  const auto& r = c.resources;
  if (r.open_files) rlimits.push_back(Rlimit("RLIMIT_NOFILE", *r.open_files));
  if (r.address_space) rlimits.push_back(Rlimit("RLIMIT_AS", *r.address_space));
  if (r.processes) rlimits.push_back(Rlimit("RLIMIT_NPROC", *r.processes));
  if (r.core_size) rlimits.push_back(Rlimit("RLIMIT_CORE", *r.core_size));
  if (r.lock_memory) {
    // RLIM_INFINITY as the runtime spec writes it.
    rlimits.push_back(Rlimit("RLIMIT_MEMLOCK", UINT64_MAX));
  }

  json process = {{"terminal", false},
                  {"user", {{"uid", ids->uid}, {"gid", ids->gid}}},
                  {"args", args},
                  {"env", env},
                  {"cwd", c.working_dir.empty() ? "/" : c.working_dir},
                  {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
                  {"rlimits", rlimits},
                  {"noNewPrivileges", true}};

  json mounts = json::array({
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/tmp"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "nodev", "mode=1777"}}},
  });
  // No /sys: sysfs cannot be mounted in a new mount namespace on this host's hybrid cgroups.
  for (const std::string& dir : options.host_binds) {
    mounts.push_back({{"destination", dir},
                      {"type", "bind"},
                      {"source", dir},
                      {"options", {"rbind", "ro", "nosuid", "nodev"}}});
  }
  for (const std::string& dir : options.writable_binds) {
    if (dir == c.working_dir) continue;  // bound below
    mounts.push_back(
        {{"destination", dir}, {"type", "bind"}, {"source", dir}, {"options", {"rbind", "rw"}}});
  }
  bool wd_bound = c.working_dir.empty() || c.working_dir == "/tmp";
  for (const std::string& dir : options.host_binds)
    wd_bound = wd_bound || Under(c.working_dir, dir);
  if (!wd_bound) {
    // The daemon's working directory is its data: shared with the host, writable.
    mounts.push_back({{"destination", c.working_dir},
                      {"type", "bind"},
                      {"source", c.working_dir},
                      {"options", {"rbind", "rw"}}});
  }

  json namespaces =
      json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  if (!options.host_network) namespaces.push_back({{"type", "network"}});
  json resources = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  if (r.memory_max) resources["memory"] = {{"limit", *r.memory_max}};
  if (r.cpu_quota) {
    resources["cpu"] = {{"quota", std::llround(*r.cpu_quota * kCpuPeriodUs)},
                        {"period", kCpuPeriodUs}};
  }
  if (r.pids_max) resources["pids"] = {{"limit", *r.pids_max}};

  json spec = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", options.rootfs}, {"readonly", true}}},
      {"hostname", c.name.substr(0, 63)},
      {"mounts", mounts},
      {"annotations",
       {{"org.duende.name", c.name}, {"org.duende.default-path", has_path ? "false" : "true"}}},
      {"linux",
       {{"namespaces", namespaces},
        {"resources", resources},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
  internal::AddOciSandbox(c.sandbox, ids->uid == 0, &spec);
  return spec.dump(2) + "\n";
}

Result<DaemonConfig> ParseOciConfig(std::string_view text, const OciRenderOptions& options) {
  json spec = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded() || !spec.is_object()) return MessageError("config.json is not JSON");
  try {
    DaemonConfig c;
    const json& p = spec.at("process");
    std::vector<std::string> args = p.at("args").get<std::vector<std::string>>();
    size_t skip = 0;
    if (!options.init.empty() && args.size() >= 2 && args[0] == options.init && args[1] == "--") {
      skip = 2;
    }
    c.command.assign(args.begin() + static_cast<std::ptrdiff_t>(skip), args.end());
    bool default_path = spec.value("/annotations/org.duende.default-path"_json_pointer,
                                   std::string("false")) == "true";
    for (const std::string& kv : p.at("env").get<std::vector<std::string>>()) {
      if (default_path && kv == kDefaultPath) continue;
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return MessageError("env entry without '=': " + kv);
      c.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    std::string cwd = p.value("cwd", std::string("/"));
    c.working_dir = cwd == "/" ? "" : cwd;
    auto uid = p.at("user").at("uid").get<uint64_t>();
    auto gid = p.at("user").at("gid").get<uint64_t>();
    if (uid != 0 || gid != 0) {
      c.user = std::to_string(uid);
      c.group = std::to_string(gid);
    }
    for (const json& rl : p.value("rlimits", json::array())) {
      std::string type = rl.at("type");
      uint64_t v = rl.at("hard");
      if (type == "RLIMIT_NOFILE") c.resources.open_files = v;
      if (type == "RLIMIT_AS") c.resources.address_space = v;
      if (type == "RLIMIT_NPROC") c.resources.processes = v;
      if (type == "RLIMIT_CORE") c.resources.core_size = v;
    }
    for (const json& cap : p.at("capabilities").at("bounding")) {
      if (cap == "CAP_IPC_LOCK") c.resources.lock_memory = true;
    }
    internal::TakeMlockEnv(&c);
    const json& res = spec.at("linux").at("resources");
    if (res.contains("memory")) c.resources.memory_max = res["memory"].at("limit").get<uint64_t>();
    if (res.contains("cpu")) {
      c.resources.cpu_quota = static_cast<double>(res["cpu"].at("quota").get<int64_t>()) /
                              static_cast<double>(res["cpu"].at("period").get<int64_t>());
    }
    if (res.contains("pids")) c.resources.pids_max = res["pids"].at("limit").get<uint64_t>();
    c.name = spec.at("annotations").at("org.duende.name").get<std::string>();
    internal::ReadOciSandbox(spec, &c.sandbox);
    return c;
  } catch (const json::exception& e) {
    return MessageError(std::string("config.json: ") + e.what());
  }
}

Result<void> WriteOciBundle(const std::string& dir, const DaemonConfig& config,
                            const OciRenderOptions& options) {
  auto text = RenderOciConfig(config, options);
  if (!text.ok()) return text.error();
  std::string root = options.rootfs.empty() || options.rootfs[0] != '/' ? dir + "/" + options.rootfs
                                                                        : options.rootfs;
  for (const std::string& d : {dir, root}) {
    if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoError("unable to create " + d);
    }
  }
  std::vector<std::string> points = {"/proc", "/dev", "/tmp"};
  for (const std::string& b : options.host_binds) points.push_back(b);
  if (!config.working_dir.empty()) points.push_back(config.working_dir);
  for (const std::string& p : points) {
    // mkdir -p of the mount point under the root.
    for (size_t pos = 1; pos <= p.size(); ++pos) {
      if (pos == p.size() || p[pos] == '/') {
        std::string path = root + p.substr(0, pos);
        if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
          return ErrnoError("unable to create " + path);
        }
      }
    }
  }
  for (const char* link : {"bin", "lib", "lib64", "sbin"}) {
    std::string path = root + "/" + link;
    if (::symlink((std::string("usr/") + link).c_str(), path.c_str()) != 0 && errno != EEXIST) {
      return ErrnoError("unable to create " + path);
    }
  }
  std::string file = dir + "/config.json";
  std::ofstream out(file, std::ios::trunc);
  out << *text;
  out.close();
  if (!out) return ErrnoError("unable to write " + file);
  return {};
}

}  // namespace duende::adapters
