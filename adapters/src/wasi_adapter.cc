#include "duende/adapters/wasi_adapter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "duende/framework/address.h"
#include "duende/framework/command.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/temp_dir.h"
#include "text_util.h"
#include "wasi_bridge.h"
#include "wasi_runner_js.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::ErrnoError;
using framework::Error;
using framework::MessageError;
using framework::Result;

namespace {

constexpr const char* kRunner = "duende-wasi-run.mjs";
constexpr int kMinNodeMajor = 20;

std::string Where(const DaemonConfig& c) {
  return c.source_file.empty() ? "config" : c.source_file;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Writes `text` to a new file `path` (O_EXCL, no symlink followed) with `mode`.
Result<void> WriteNewFile(const std::string& path, std::string_view text, mode_t mode) {
  framework::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) return ErrnoError("unable to create " + path);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("unable to write " + path);
    done += static_cast<size_t>(n);
  }
  return {};
}

// The uid/gid the runtime runs as (config.user/group), so that what the adapter makes for it
// can be given to it; nullopt when it runs as us. Errors: invalid_argument for an unknown name.
Result<std::optional<std::pair<uid_t, gid_t>>> RuntimeIds(const DaemonConfig& c) {
  if (c.user.empty()) return std::optional<std::pair<uid_t, gid_t>>();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(c.user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    return MessageError(Where(c) + ": user '" + c.user + "' does not exist here");
  }
  gid_t gid = pw.pw_gid;
  if (!c.group.empty()) {
    group gr{};
    group* g = nullptr;
    if (::getgrnam_r(c.group.c_str(), &gr, buf.data(), buf.size(), &g) != 0 || !g) {
      return MessageError(Where(c) + ": group '" + c.group + "' does not exist here");
    }
    gid = gr.gr_gid;
  }
  return std::optional<std::pair<uid_t, gid_t>>(std::make_pair(pw.pw_uid, gid));
}

}  // namespace

Result<std::string> CheckWasiRuntime(const std::string& node) {
  auto path = framework::FindExecutable(node);
  if (!path.ok()) {
    return Error{std::make_error_code(std::errc::no_such_file_or_directory),
                 "'" + node + "' not found: the wasi platform runs modules under Node.js " +
                     std::to_string(kMinNodeMajor) +
                     " or newer (node:wasi); install it (Debian package nodejs)"};
  }
  framework::CommandOptions o;
  o.timeout = std::chrono::seconds(10);
  auto r = framework::RunCommand({*path, "--version"}, o);
  std::string version = r.ok() ? r->out.substr(0, r->out.find('\n')) : "";
  int major = version.size() > 1 && version[0] == 'v' ? std::atoi(version.c_str() + 1) : 0;
  if (major < kMinNodeMajor) {
    return Error{std::make_error_code(std::errc::function_not_supported),
                 *path + " is Node.js " + (version.empty() ? "(unknown version)" : version) +
                     "; node:wasi with WASI preview 1 needs Node.js " +
                     std::to_string(kMinNodeMajor) + " or newer (Debian package nodejs)"};
  }
  return "node " + version + " (node:wasi, WASI preview 1)";
}

Result<std::string> CheckWasmToolchain() {
  // What Debian's packages install (platform.md "WebAssembly"); no --sysroot is needed.
  struct Piece {
    const char* path;
    const char* package;
  };
  static constexpr Piece kPieces[] = {
      {"/usr/bin/clang++-14", "clang-14"},
      {"/usr/bin/wasm-ld-14", "lld-14"},
      {"/usr/lib/wasm32-wasi/libc.a", "wasi-libc"},
      {"/usr/lib/wasm32-wasi/libc++.a", "libc++-14-dev-wasm32"},
      {"/usr/lib/wasm32-wasi/libc++abi.a", "libc++abi-14-dev-wasm32"},
      {"/usr/lib/llvm-14/lib/clang/14.0.6/lib/wasi/libclang_rt.builtins-wasm32.a",
       "libclang-rt-14-dev-wasm32"},
  };
  std::string missing;
  for (const Piece& p : kPieces) {
    if (!Exists(p.path)) missing += std::string(missing.empty() ? "" : " ") + p.package;
  }
  if (!missing.empty()) {
    return Error{std::make_error_code(std::errc::no_such_file_or_directory),
                 "the wasm32-wasi toolchain is incomplete: install the Debian packages " + missing};
  }
  return std::string("clang++-14 --target=wasm32-wasi (wasi-libc, libc++)");
}

std::string WasiAddressProblem(const DaemonConfig& config, const WasiRenderOptions& options,
                               sockaddr_in* out) {
  std::string address = options.address;
  for (const auto* p : {&config.health.readiness, &config.health.liveness}) {
    if (address.empty() && (p->kind == framework::ProbeConfig::Kind::kTcp ||
                            p->kind == framework::ProbeConfig::Kind::kHttp)) {
      address = p->address;
    }
  }
  if (address.empty()) {
    return "the wasi platform bridges a TCP address to the module's stdin/stdout; give the "
           "target's address (\"127.0.0.1:PORT\") or a tcp readiness probe with one";
  }
  auto sa = framework::Ipv4SocketAddress(address);
  if (!sa.ok()) return sa.error().context;
  if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
    return "the wasi bridge listens on loopback only; '" + address + "' is not 127.x.x.x";
  }
  if (out != nullptr) *out = *sa;
  return "";
}

Result<sockaddr_in> WasiAddress(const DaemonConfig& config, const WasiRenderOptions& options) {
  sockaddr_in sa{};
  if (std::string why = WasiAddressProblem(config, options, &sa); !why.empty()) {
    return MessageError(Where(config) + ": " + why);
  }
  return sa;
}

Result<std::vector<std::string>> WasiCommand(const DaemonConfig& config,
                                             const WasiRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  const std::string dir = options.run_dir;
  std::vector<std::string> argv = {options.node,
                                   // node:wasi is marked experimental; the warning says nothing
                                   // about the module.
                                   "--no-warnings", dir + "/" + kRunner, "--stdin", dir + "/in",
                                   "--stdout", dir + "/out", "--trap", dir + "/trap"};
  if (config.resources.memory_max) {
    uint64_t pages = *config.resources.memory_max / kWasmPageBytes;
    if (pages == 0 || pages > 65536) {
      return MessageError(Where(config) +
                          ": memory_max = " + std::to_string(*config.resources.memory_max) +
                          " is the module's linear memory on the wasi platform: give 64 KiB to "
                          "4 GiB (it is rounded down to 64 KiB pages)");
    }
    argv.insert(argv.end(), {"--memory-max-pages", std::to_string(pages)});
  }
  std::vector<std::string> dirs = options.dirs;
  if (dirs.empty() && !config.working_dir.empty()) {
    dirs.push_back(config.working_dir + "=" + config.working_dir);
  }
  for (const std::string& d : dirs) {
    size_t eq = d.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 == d.size()) {
      return MessageError(Where(config) + ": preopen '" + d +
                          "' is not GUEST=HOST (e.g. /data=/var/lib/kvd)");
    }
    argv.insert(argv.end(), {"--dir", d});
  }
  for (const auto& [k, v] : config.env) argv.insert(argv.end(), {"--env", k + "=" + v});
  argv.push_back("--");
  argv.insert(argv.end(), config.command.begin(), config.command.end());
  return argv;
}

Result<std::string> RenderWasiInvocation(const DaemonConfig& config,
                                         const WasiRenderOptions& options) {
  auto argv = WasiCommand(config, options);
  if (!argv.ok()) return argv.error();
  auto address = WasiAddress(config, options);
  char host[INET_ADDRSTRLEN] = "?";
  if (address.ok()) ::inet_ntop(AF_INET, &address->sin_addr, host, sizeof host);
  std::string out = "# " + config.name +
                    " on the wasi platform: a WASI preview 1 module under Node's node:wasi\n";
  out += "# (Node 20+). duende writes the runner into " + options.run_dir +
         " (a private directory),\n";
  out += address.ok()
             ? "# bridges " + std::string(host) + ":" + std::to_string(ntohs(address->sin_port)) +
                   " to the module's stdin/stdout (FIFOs in, out), "
             : "# bridges the target's address (none given) to its stdin/stdout, ";
  out += "and restarts it\n# with the config's [restart] policy. A trap exits " +
         std::to_string(kWasiTrapExitCode) + " with its message in " + options.run_dir + "/trap.\n";
  std::string line;
  for (const std::string& a : *argv) {
    if (!line.empty()) line += ' ';
    line += a.rfind("$RUN_DIR", 0) == 0 ? "\"" + a + "\"" : internal::ShellQuote(a);
  }
  return out + line + "\n";
}

Translation TranslateForWasi(const DaemonConfig& config) {
  // The native supervisor runs the runtime: everything but what a module cannot do applies.
  Translation t;
  t.config = config;
  auto& r = t.config.resources;
  if (r.memory_max) r.memory_max = *r.memory_max / kWasmPageBytes * kWasmPageBytes;
  r.address_space.reset();  // V8 reserves far more address space than a module uses
  r.lock_memory = false;    // a module cannot mlockall()
  r.lock_memory_required = false;
  r.lock_on_fault = false;
  t.config.pid_file.clear();  // the runtime's pid is the service's
  return t;
}

WasiAdapter::WasiAdapter(DaemonConfig config, std::string run_dir)
    : config_(std::move(config)), run_dir_(std::move(run_dir)) {}

Result<std::unique_ptr<WasiAdapter>> WasiAdapter::Create(const DaemonConfig& config,
                                                         const AdapterOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  WasiRenderOptions wo = options.render.wasi;
  auto runtime = CheckWasiRuntime(wo.node);
  if (!runtime.ok()) return runtime.error();
  if (!Exists(config.command[0])) {
    return Error{std::make_error_code(std::errc::no_such_file_or_directory),
                 Where(config) + ": the module " + config.command[0] + " does not exist"};
  }
  auto address = WasiAddress(config, wo);
  if (!address.ok()) return address.error();
  auto ids = RuntimeIds(config);
  if (!ids.ok()) return ids.error();
  // The runtime preopens the working directory: it must exist before the first start (a
  // native daemon would create its data directory itself). Only the last component is made,
  // private to the daemon's user.
  if (!config.working_dir.empty()) {
    if (::mkdir(config.working_dir.c_str(), 0700) == 0) {
      if (*ids && ::chown(config.working_dir.c_str(), (*ids)->first, (*ids)->second) != 0) {
        return ErrnoError("unable to give " + config.working_dir + " to " + config.user);
      }
    } else if (errno != EEXIST) {
      return ErrnoError(Where(config) + ": unable to create working_dir " + config.working_dir);
    }
  }
  auto dir = framework::MakePrivateTempDir("duende-wasi-" + config.name);
  if (!dir.ok()) return dir.error();
  std::unique_ptr<WasiAdapter> a(new WasiAdapter(config, *dir));
  wo.run_dir = *dir;
  auto argv = WasiCommand(config, wo);
  if (!argv.ok()) return argv.error();
  a->command_ = *argv;
  DUENDE_TRY(WriteNewFile(*dir + "/" + kRunner, internal::kWasiRunnerJs, 0600));
  for (const char* fifo : {"/in", "/out"}) {
    if (::mkfifo((*dir + fifo).c_str(), 0600) != 0) return ErrnoError("mkfifo " + *dir + fifo);
  }
  if (*ids) {
    // The runtime runs as the daemon's user: the directory becomes its (still 0700: nobody
    // else may write the module's stdin or replace the runner).
    for (const std::string& path : {*dir, *dir + "/" + kRunner, *dir + "/in", *dir + "/out"}) {
      if (::lchown(path.c_str(), (*ids)->first, (*ids)->second) != 0) {
        return ErrnoError("unable to give " + path + " to " + config.user);
      }
    }
  }
  auto bridge = internal::WasiBridge::Create(*address, *dir + "/in", *dir + "/out");
  if (!bridge.ok()) return bridge.error();
  a->bridge_ = std::move(*bridge);

  DaemonConfig service = TranslateForWasi(config).config;
  service.command = *argv;
  service.env.clear();                   // the module's environment is given to it by --env
  service.resources.memory_max.reset();  // the module's limit, not the runtime's cgroup
  if (service.health.readiness.kind == framework::ProbeConfig::Kind::kNone) {
    // Ready when the module is: the bridge's address opens after its banner. Without this the
    // supervisor would call the runtime ready at spawn, before node has even loaded it.
    char host[INET_ADDRSTRLEN] = "127.0.0.1";
    ::inet_ntop(AF_INET, &address->sin_addr, host, sizeof host);
    service.health.readiness.kind = framework::ProbeConfig::Kind::kTcp;
    service.health.readiness.address =
        std::string(host) + ":" + std::to_string(ntohs(address->sin_port));
    service.health.readiness.interval = std::chrono::milliseconds(10);
    service.health.readiness.timeout = std::chrono::milliseconds(500);
  }
  auto inner = NativeAdapter::Create(config, service);
  if (!inner.ok()) return inner.error();
  a->inner_ = std::move(*inner);
  a->inner_->Subscribe([p = a.get()](const framework::ServiceEvent& ev) { p->OnEvent(ev); });
  return a;
}

WasiAdapter::~WasiAdapter() { (void)Remove(); }

void WasiAdapter::OnEvent(const framework::ServiceEvent& ev) {
  framework::ServiceEvent e = ev;
  if (e.type == framework::EventType::kExited) {
    // Before the supervisor can start the next instance: none of this one's requests or
    // replies may reach it.
    bridge_->ModuleExited();
    if (e.exit && !e.exit->signaled && e.exit->code == kWasiTrapExitCode) {
      std::string path = run_dir_ + "/trap";
      auto text = framework::ReadFileLimited(path, framework::kMaxSmallFileBytes);
      if (text.ok() && !text->empty()) {
        std::string msg = *text;
        while (!msg.empty() && msg.back() == '\n') msg.pop_back();
        e.detail = "wasm " + msg;
        ::unlink(path.c_str());
      }
    }
  }
  std::vector<EventCallback> callbacks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!e.detail.empty() && e.detail.rfind("wasm trap: ", 0) == 0) last_trap_ = e.detail;
    callbacks = callbacks_;
  }
  for (const auto& cb : callbacks) cb(e);
}

Result<void> WasiAdapter::Start() { return inner_->Start(); }

Result<void> WasiAdapter::Stop() { return inner_->Stop(); }

Result<void> WasiAdapter::Kill(int signal) { return inner_->Kill(signal); }

Result<framework::ServiceStatus> WasiAdapter::Status() { return inner_->Status(); }

void WasiAdapter::Subscribe(EventCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  callbacks_.push_back(std::move(callback));
}

std::string WasiAdapter::LastTrap() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_trap_;
}

bool WasiAdapter::Listening() { return bridge_ && bridge_->listening(); }

Result<void> WasiAdapter::Remove() {
  if (removed_) return {};
  removed_ = true;
  Result<void> stopped;
  if (inner_) {
    stopped = inner_->Stop();
    (void)inner_->Remove();
  }
  bridge_.reset();
  (void)framework::RunCommand({"rm", "-rf", "--one-file-system", run_dir_});
  return stopped;
}

}  // namespace duende::adapters
