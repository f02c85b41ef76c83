#include "duende/adapters/oci_adapter.h"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "duende/adapters/oci_spec.h"
#include "duende/framework/command.h"
#include "duende/framework/health_channel.h"
#include "text_util.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::ErrnoError;
using framework::Error;
using framework::Result;
using framework::RunChecked;
using framework::RunCommand;

namespace {

bool UnderHostBind(const std::string& path, const std::vector<std::string>& binds) {
  for (const std::string& b : binds) {
    if (path == b || path.rfind(b + "/", 0) == 0) return true;
  }
  // The root's bin, lib, lib64 and sbin are links into its /usr.
  for (const char* l : {"/bin/", "/lib/", "/lib64/", "/sbin/"}) {
    if (path.rfind(l, 0) == 0) return true;
  }
  return false;
}

std::string DirOf(const std::string& file) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos || slash == 0 ? "" : file.substr(0, slash);
}

// What a container that sees only the host binds also needs to run `exe`: its directory and
// those of the shared libraries it loads from elsewhere (a build tree's), from ldd(1).
std::vector<std::string> ExtraDirsFor(const std::string& exe,
                                      const std::vector<std::string>& binds) {
  std::set<std::string> dirs;
  auto add = [&](const std::string& file) {
    std::string dir = DirOf(file);
    if (!dir.empty() && !UnderHostBind(dir, binds)) dirs.insert(dir);
  };
  add(exe);
  framework::CommandOptions co;
  co.timeout = std::chrono::seconds(10);
  auto ldd = RunCommand({"ldd", exe}, co);
  if (ldd.ok()) {
    // "\tlibduende_framework.so => /work/build/framework/libduende_framework.so (0x...)"
    std::istringstream in(ldd->out);
    std::string line;
    while (std::getline(in, line)) {
      size_t arrow = line.find("=> /");
      if (arrow == std::string::npos) continue;
      std::string path = line.substr(arrow + 3);
      add(path.substr(0, path.find(' ')));
    }
  }
  // A nested directory is covered by its parent's bind.
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    if (!out.empty() && d.rfind(out.back() + "/", 0) == 0) continue;
    out.push_back(d);
  }
  return out;
}

}  // namespace

OciAdapter::OciAdapter(DaemonConfig config, AdapterOptions options, std::string bundle_dir,
                       bool own_dir, std::string id)
    : config_(std::move(config)),
      options_(std::move(options)),
      bundle_dir_(std::move(bundle_dir)),
      own_dir_(own_dir),
      id_(std::move(id)) {}

Result<std::unique_ptr<OciAdapter>> OciAdapter::Create(const DaemonConfig& config,
                                                       const AdapterOptions& options) {
  auto runc = framework::FindExecutable(options.runc);
  if (!runc.ok()) return runc.error();
  std::string dir = options.oci_bundle_dir;
  bool own = false;
  if (dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-oci-" +
                       config.name + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) return ErrnoError("unable to create " + tmpl);
    dir = buf.data();
    own = true;
  }
  // The daemon runs the host's program: a program outside the host binds (a build tree's)
  // is bound read-only too, with the directories of its libraries.
  OciRenderOptions oci = options.render.oci;
  if (!config.command.empty() && config.command[0].rfind('/', 0) == 0) {
    for (auto& d : ExtraDirsFor(config.command[0], oci.host_binds)) oci.host_binds.push_back(d);
  }
  // So are the libraries it preloads (duende's fault shims: libfiu's, libfaketime's).
  for (const auto& [key, value] : config.env) {
    if (key != "LD_PRELOAD") continue;
    std::string list = value;  // ld.so takes spaces or colons between the libraries
    std::replace(list.begin(), list.end(), ':', ' ');
    std::istringstream libs(list);
    std::string lib;
    while (libs >> lib) {
      if (lib.rfind('/', 0) != 0) continue;
      for (auto& d : ExtraDirsFor(lib, oci.host_binds)) oci.host_binds.push_back(d);
    }
  }
  // kind = "daemon" probes: the supervisor hands `runc run` the daemon's health channel as
  // fd 3, and runc passes it on into the container (--preserve-fds 1) under the same number.
  using Kind = framework::ProbeConfig::Kind;
  const bool health_channel =
      config.health.liveness.kind == Kind::kDaemon || config.health.readiness.kind == Kind::kDaemon;
  DaemonConfig contained = config;
  if (health_channel) {
    contained.env.emplace_back(framework::kHealthFdEnv, std::to_string(framework::kHealthChildFd));
  }
  DUENDE_TRY(WriteOciBundle(dir, contained, oci));
  std::string id =
      options.oci_container_id.empty() ? "duende-" + config.name : options.oci_container_id;
  std::unique_ptr<OciAdapter> a(new OciAdapter(config, options, dir, own, id));

  // The supervised command: clear a container left by an earlier runc that died, then run
  // this one in the foreground. The limits, user and environment are in config.json.
  DaemonConfig service = config;
  using internal::ShellQuote;
  service.command = {"/bin/sh", "-c",
                     ShellQuote(*runc) + " delete --force " + ShellQuote(id) +
                         " >/dev/null 2>&1; exec " + ShellQuote(*runc) + " run " +
                         (health_channel ? "--preserve-fds 1 " : "") + "--bundle " +
                         ShellQuote(dir) + " " + ShellQuote(id)};
  service.env.clear();
  service.working_dir.clear();
  service.user.clear();
  service.group.clear();
  service.resources = framework::ResourceConfig{};
  framework::SupervisorOptions so;
  so.log_dir = options.log_dir;
  auto inner = NativeAdapter::Create(config, service, so);
  if (!inner.ok()) return inner.error();
  a->inner_ = std::move(*inner);
  return a;
}

OciAdapter::~OciAdapter() { (void)Remove(); }

Result<void> OciAdapter::Start() { return inner_->Start(); }

Result<void> OciAdapter::Stop() { return inner_->Stop(); }

Result<void> OciAdapter::Kill(int signal) {
  auto r = RunChecked({options_.runc, "kill", id_, std::to_string(signal)});
  if (!r.ok()) {
    return Error{std::make_error_code(std::errc::no_such_process), r.error().Message()};
  }
  return {};
}

pid_t OciAdapter::ContainerPid() {
  auto r = RunCommand({options_.runc, "state", id_});
  if (!r.ok() || !r->status.success()) return -1;
  auto j = nlohmann::json::parse(r->out, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "running") return -1;
  return j.value("pid", -1);
}

pid_t OciAdapter::DaemonPid() {
  const pid_t init = ContainerPid();
  if (init <= 0 || options_.render.oci.init.empty()) return init;
  // Behind an init (tini) the daemon is the init's child.
  std::ifstream in("/proc/" + std::to_string(init) + "/task/" + std::to_string(init) + "/children");
  long child = 0;
  if (in >> child && child > 0) return static_cast<pid_t>(child);
  return init;
}

Result<framework::ServiceStatus> OciAdapter::Status() {
  auto st = inner_->Status();
  if (!st.ok()) return st;
  if (st->pid > 0) st->pid = DaemonPid();
  return st;
}

void OciAdapter::Subscribe(EventCallback callback) {
  inner_->Subscribe([cb = std::move(callback)](const framework::ServiceEvent& ev) {
    framework::ServiceEvent e = ev;
    // runc (and tini) report a death by signal N as exit code 128+N.
    if (e.exit && !e.exit->signaled && e.exit->code > 128 && e.exit->code < 128 + 65) {
      e.detail = "container exit code " + std::to_string(e.exit->code);
      e.exit->signaled = true;
      e.exit->signal = e.exit->code - 128;
      e.exit->code = 0;
    }
    cb(e);
  });
}

Result<void> OciAdapter::Remove() {
  if (removed_) return {};
  removed_ = true;
  Result<void> stopped;
  if (inner_) {
    stopped = inner_->Stop();
    (void)inner_->Remove();
  }
  (void)RunCommand({options_.runc, "delete", "--force", id_});
  if (own_dir_) (void)RunCommand({"rm", "-rf", "--one-file-system", bundle_dir_});
  return stopped;
}

}  // namespace duende::adapters
