#include <filesystem>
#include <fstream>

#include "duende/framework/config.h"
#include "duende/framework/process.h"
#include "duende/framework/read_limits.h"
#include "duende/harness/fault_kinds.h"
#include "scenario_read.h"

namespace duende::harness::internal {

using framework::Diagnostics;
using framework::SourcePos;
using framework::TomlReader;

namespace {

// A target's [target.readiness] / [target.liveness]: the framework's probe table, whose
// strings may hold run variables and whose address defaults to the target's.
void ReadTargetProbe(TomlReader& r, framework::ProbeConfig* p, bool readiness,
                     const std::string& target_address, const std::vector<std::string>& files) {
  using K = framework::ProbeConfig::Kind;
  // The missing address is reported here, once, naming both places it may be written.
  framework::ReadProbeConfig(r, p, readiness, {.variables = true, .address_from_owner = true});
  if ((p->kind == K::kTcp || p->kind == K::kHttp) && target_address.empty() && !r.Has("address")) {
    r.Fail("address", "missing 'address' in " + r.where() +
                          " (add address = \"127.0.0.1:PORT\" here or to the target)");
  }
  CheckRunVariables(r, "address", p->address, files);
  CheckRunVariables(r, "command", p->command, files);
}

// "path/inside/run_dir": relative, without "." or ".." components.
bool SafeRelativePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part =
        path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == ".." || !ValidName(part)) return false;
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return true;
}

constexpr size_t kMaxTemplateBytes = 1 << 20;

// `where` names the table in messages ("[[target.file]] #1 of target nginx").
FileSpec ReadFile(TomlReader& r, const std::vector<std::string>& files, const std::string& where) {
  FileSpec f;
  f.pos = r.pos();
  f.name = r.String("name", true).value_or("");
  CheckName(r, "name", f.name);
  f.path = r.String("path").value_or("files/" + f.name);
  if (!SafeRelativePath(f.path)) {
    r.Fail("path", "'path' in " + where + " is \"" + f.path +
                       "\"; give a path inside the run directory such as \"nginx/nginx.conf\" "
                       "(relative, no '..', letters, digits, '_', '-', '.')");
  }
  auto inline_text = r.String("template");
  auto file = r.String("template_file");
  if (inline_text && file) {
    r.Fail("template_file", "give either 'template' or 'template_file' in " + where + ", not both");
  } else if (inline_text) {
    f.text = *inline_text;
    CheckRunVariables(r, "template", f.text, files, "", where);
  } else if (file) {
    namespace fs = std::filesystem;
    fs::path p(*file);
    if (p.is_relative()) p = fs::path(r.file()).parent_path() / p;
    f.template_file = p.lexically_normal().string();
    std::error_code ec;
    const bool exists = fs::is_regular_file(f.template_file, ec);
    // One bounded read: a file that grows after a size check cannot slip past the cap.
    auto text = exists ? framework::ReadFileLimited(f.template_file, kMaxTemplateBytes)
                       : framework::Result<std::string>(std::string());
    if (!exists) {
      r.Fail("template_file", "'template_file' in " + where + " is \"" + *file +
                                  "\", which does not exist (looked at " + f.template_file +
                                  "; the path is relative to the scenario file)");
    } else if (!text.ok() && text.error().code == std::errc::file_too_large) {
      r.Fail("template_file", "'template_file' " + f.template_file + " is larger than 1 MiB");
    } else if (!text.ok()) {
      r.Fail("template_file", "'template_file' in " + where + " is \"" + *file +
                                  "\", which cannot be read (" + f.template_file + ")");
    } else {
      f.text = std::move(*text);
      CheckRunVariables(r, "template_file", f.text, files, " (" + f.template_file + ")", where);
    }
  } else {
    r.Fail("template", "missing 'template' in " + where +
                           " (add template = \"\"\"...\"\"\" or template_file = \"name.conf\")");
  }
  if (const toml::node* m = r.Raw("mode")) {
    int64_t mode = -1;
    if (m->is_integer()) {
      mode = m->as_integer()->get();
    } else if (auto str = m->value<std::string>();
               str && !str->empty() && str->find_first_not_of("01234567") == std::string::npos &&
               str->size() <= 4) {
      mode = std::stol(*str, nullptr, 8);
    }
    if (mode < 0 || mode > 0777) {
      r.Fail("mode", "'mode' in " + where + " must be permission bits such as \"0644\" or 0o600");
    } else {
      f.mode = static_cast<uint32_t>(mode);
    }
  }
  r.Finish();
  return f;
}

}  // namespace

// The names of every [[target.file]] in the document (variables may name a file declared
// further down).
std::vector<std::string> DeclaredFiles(const toml::table& doc) {
  std::vector<std::string> names;
  const toml::array* targets = doc["target"].as_array();
  if (targets == nullptr) return names;
  for (const auto& t : *targets) {
    const toml::table* tt = t.as_table();
    const toml::array* files = tt == nullptr ? nullptr : (*tt)["file"].as_array();
    if (files == nullptr) continue;
    for (const auto& f : *files) {
      if (const toml::table* ft = f.as_table()) {
        if (auto n = (*ft)["name"].value<std::string>()) names.push_back(*n);
      }
    }
  }
  return names;
}

TargetSpec ReadTarget(TomlReader& r, const std::vector<std::string>& files) {
  TargetSpec t;
  t.pos = r.pos();
  t.command_pos = r.PosOf("command");
  t.name = r.String("name", true).value_or("");
  CheckName(r, "name", t.name);
  t.daemon.name = t.name;
  t.shell = r.Bool("shell").value_or(false);
  t.external = r.Bool("external").value_or(false);
  if (const toml::node* n = r.Raw("command")) {
    if (n->is_string()) {
      if (t.shell) {
        t.command = {"/bin/sh", "-c", *n->value<std::string>()};
      } else {
        r.Fail("command", "'command' in " + r.where() +
                              " must be an array such as [\"prog\", \"--flag\"] (a string is run "
                              "by a shell only with shell = true)");
      }
    } else {
      r.Accept("command");
    }
  }
  if (r.Has("command") && !r.table().get("command")->is_string()) {
    auto argv = r.StringArray("command");
    if (argv && argv->empty()) {
      r.Fail("command", "'command' in " + r.where() + " must not be empty");
    } else if (argv) {
      t.command = t.shell ? std::vector<std::string>{"/bin/sh", "-c", (*argv)[0]} : *argv;
      if (t.shell && argv->size() != 1) {
        r.Fail("command", "with shell = true, 'command' in " + r.where() +
                              " is one string (the shell command line)");
      }
    }
  } else if (!r.Has("command") && !t.external) {
    r.Fail("command", "missing required key 'command' in " + r.where() +
                          " (add command = [\"program\", \"args\"], or external = true)");
  }
  t.env = r.StringMap("env").value_or(std::vector<std::pair<std::string, std::string>>{});
  t.working_dir = r.String("working_dir").value_or("");
  t.fiu = r.Bool("fiu").value_or(false);
  t.clock = r.Bool("clock").value_or(false);
  ReadTargetTrace(r, &t);
  t.pid_file = r.String("pid_file").value_or("");
  t.address = r.String("address").value_or("");
  t.proxy = r.Bool("proxy").value_or(false);
  t.await_ready = r.Bool("await_ready").value_or(true);
  t.node = r.String("node").value_or("");  // checked against [[node]] by ReadNodes
  t.platform_pos = r.PosOf("platform");
  if (auto p = r.String("platform")) {
    t.platform = *p;
    if (std::string why = adapters::CannotRun(*p); !why.empty()) {
      r.Fail("platform", "target " + t.name + ": " + why);
    }
  }
  if (t.platform != "native") {
    auto traits = adapters::TraitsOf(
        adapters::ParsePlatform(t.platform).value_or(adapters::Platform::kNative));
    if (t.external) {
      r.Fail("external",
             "an external target is not started by duende, so it has no platform; "
             "remove platform = \"" +
                 t.platform + "\" or external = true");
    }
    for (const char* key : {"fiu", "clock"}) {
      if (r.Bool(key).value_or(false) && !traits.preload) {
        r.Fail(key, std::string(key) + " = true: platform " + t.platform +
                        " cannot load duende's preload shims into the daemon (no host libc "
                        "between it and its system calls); run the target on native, systemd "
                        "or oci");
      }
    }
    if (!t.pid_file.empty()) {
      r.Fail("pid_file", "pid_file: platform " + t.platform +
                             " reports the daemon's main process itself; remove pid_file");
    }
  }
  if (t.proxy && t.address.empty()) {
    r.Fail("proxy", "proxy = true needs the target's address = \"127.0.0.1:PORT\"");
  }
  if (t.external && t.pid_file.empty() && t.address.empty()) {
    r.Fail("external", "an external target needs pid_file = \"...\" or address = \"host:port\"");
  }
  if (t.external && t.clock) {
    r.Fail("clock", "clock = true needs duende to start the target; it cannot apply to external");
  }
  CheckTargetTrace(r, t);
  if (t.external && t.fiu) {
    r.Fail("fiu", "fiu = true needs duende to start the target; it cannot apply to external");
  }
  if (auto s = r.String("stop_signal")) {
    int sig = framework::ParseSignal(*s);
    if (sig == 0) {
      r.Fail("stop_signal", "'stop_signal' in " + r.where() + " is \"" + *s +
                                "\"; use a signal name such as \"SIGTERM\" or \"INT\"");
    } else {
      t.daemon.stop_signal = sig;
    }
  }
  t.daemon.shutdown_timeout = r.Duration("stop_timeout").value_or(std::chrono::seconds(2));
  // A scenario restarts crashed targets at once unless told otherwise: the interesting part is
  // what happens around the restart, not the default 100 ms wait.
  t.daemon.restart.policy = framework::RestartConfig::Policy::kAlways;
  t.daemon.restart.backoff.initial = std::chrono::milliseconds(10);
  t.daemon.restart.backoff.max = std::chrono::seconds(1);
  t.daemon.restart.start_limit_burst = 50;
  if (auto rr = r.Table("restart")) framework::ReadRestartConfig(*rr, &t.daemon.restart);
  if (auto rr = r.Table("readiness")) {
    ReadTargetProbe(*rr, &t.daemon.health.readiness, true, t.address, files);
  }
  if (auto rr = r.Table("liveness")) {
    ReadTargetProbe(*rr, &t.daemon.health.liveness, false, t.address, files);
  }
  if (std::string why = adapters::DaemonProbeProblem(t.platform, t.daemon); !why.empty()) {
    const bool live = t.daemon.health.liveness.kind == framework::ProbeConfig::Kind::kDaemon;
    if (auto rr = r.Table(live ? "liveness" : "readiness"))
      rr->Fail("kind", "target " + t.name + ": " + why);
  }
  if (auto rr = r.Table("resources")) framework::ReadResourceConfig(*rr, &t.daemon.resources);
  if (auto rr = r.Table("sandbox")) {
    if (t.external) {
      r.Fail("sandbox",
             "[target.sandbox] needs duende to start the target; it cannot apply to "
             "external");
    }
    framework::ReadSandboxConfig(*rr, &t.daemon.sandbox, {.variables = true});
    t.daemon.user = t.daemon.sandbox.user;
    t.daemon.group = t.daemon.sandbox.group;
    for (const auto& path : t.daemon.sandbox.read_only_paths) {
      CheckRunVariables(r, "sandbox", path, files);
    }
  }
  if (auto rr = r.Table("data_tmpfs")) {
    if (auto path = rr->String("path", /*required=*/true)) {
      t.data_tmpfs_path = *path;
      CheckRunVariables(*rr, "path", *path, files);
    }
    t.data_tmpfs_bytes = rr->ByteSize("size").value_or(16ull << 20);
    if (t.data_tmpfs_bytes < (1ull << 20)) {
      rr->Fail("size",
               "a data_tmpfs of less than 1MiB cannot hold a daemon's files; e.g. "
               "size = \"16MiB\"");
    }
    rr->Finish();
    if (t.external) {
      r.Fail("data_tmpfs",
             "[target.data_tmpfs] needs duende to start the target; it cannot apply to external");
    } else if (t.platform != "native") {
      r.Fail("data_tmpfs", "[target.data_tmpfs]: platform " + t.platform +
                               " mounts the daemon's filesystems itself; run the target on "
                               "native for a disk fault of mode \"full\"");
    }
  }
  for (auto& fr : r.TableArray("file")) {
    t.files.push_back(ReadFile(
        fr, files,
        "[[target.file]] #" + std::to_string(t.files.size() + 1) + " of target " + t.name));
  }
  CheckRunVariables(
      r, "command",
      t.shell && t.command.size() == 3 ? std::vector<std::string>{t.command[2]} : t.command, files);
  for (const auto& [k, v] : t.env) CheckRunVariables(r, "env", v, files);
  framework::CheckExecLimits(r, "command", "env", t.command, t.env);
  CheckRunVariables(r, "address", t.address, files);
  CheckRunVariables(r, "working_dir", t.working_dir, files);
  CheckRunVariables(r, "pid_file", t.pid_file, files);
  r.Finish();
  t.daemon.command = t.command;
  t.daemon.env = t.env;
  t.daemon.working_dir = t.working_dir;
  t.daemon.pid_file = t.pid_file;
  return t;
}

}  // namespace duende::harness::internal
