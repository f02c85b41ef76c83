// duende supervise FILE: a foreground process manager for the services of a services file,
// with a control socket for `duende ctl`. See docs/supervise.md.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.h"
#include "control_socket.h"
#include "duende/adapters/adapter.h"
#include "duende/adapters/systemd_adapter.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/supervisor.h"
#include "status_reply.h"
#include "supervise_metrics.h"
#include "verbs.h"

namespace duende::cli {
namespace {

using framework::Supervisor;
using nlohmann::json;

json StatusJson(const framework::ServiceStatus& st, int64_t now) {
  json j;
  j["name"] = st.name;
  j["state"] = framework::StateName(st.state);
  j["pid"] = st.pid;
  j["pgid"] = st.pgid;
  j["ready"] = st.ready;
  j["restarts"] = st.restarts;
  j["attempt"] = st.attempt;
  j["spawns"] = st.spawns;
  j["since_s"] = static_cast<double>(now - st.since_ns) / 1e9;
  if (st.last_exit) {
    json e;
    e["signaled"] = st.last_exit->signaled;
    e["code"] = st.last_exit->code;
    e["signal"] = st.last_exit->signal;
    e["text"] = st.last_exit->ToString();
    j["last_exit"] = e;
  } else {
    j["last_exit"] = nullptr;
  }
  j["reason"] = st.reason;
  j["status"] = st.status_text;
  j["notify_dropped"] = st.notify_dropped;
  if (st.next_start_ns) {
    j["next_start_in_s"] = static_cast<double>(*st.next_start_ns - now) / 1e9;
  }
  return j;
}

// One service on another platform (`platform = "systemd"`, ...): run by the platform through
// its adapter, which restarts it by the platform's own policy.
struct PlatformService {
  std::unique_ptr<adapters::Adapter> adapter;
  // The time of its last event (the platform's status has none).
  std::shared_ptr<std::atomic<int64_t>> since = std::make_shared<std::atomic<int64_t>>(0);
};

json PlatformStatusJson(framework::ServiceStatus st, const PlatformService& p, int64_t now) {
  st.since_ns = p.since->load();
  json j = StatusJson(st, now);
  j["platform"] = adapters::PlatformName(p.adapter->platform());
  return j;
}

using PlatformServices = std::map<std::string, PlatformService>;

// One request line -> one JSON reply line.
std::string Handle(Supervisor& sup, const ServiceEventTally& tally, PlatformServices& platforms,
                   const std::string& line) {
  std::string verb = line.substr(0, line.find(' '));
  std::string name = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
  json reply;
  const int64_t now = framework::MonotonicNs();
  if (verb == "status" && name.empty()) {
    reply["ok"] = true;
    reply["kind"] = "supervise";
    reply["services"] = json::array();
    // What each service's processes cost now, for `duende top` (status_reply.h).
    for (const auto& sample : SampleServices(sup, tally)) {
      json j = StatusJson(sample.status, now);
      j["usage"] = UsageJson(sample.usage);
      reply["services"].push_back(std::move(j));
    }
    for (const auto& [n, p] : platforms) {
      auto st = p.adapter->Status();
      if (!st.ok()) continue;
      json j = PlatformStatusJson(*st, p, now);
      if (st->pid > 0) j["usage"] = UsageJson(framework::SumProcessUsage({st->pid}));
      reply["services"].push_back(std::move(j));
    }
    auto self = framework::ReadProcessUsage(0);
    reply["supervisor"] = {{"pid", ::getpid()},
                           {"usage", UsageJson(self.ok() ? *self : framework::ProcessUsage{})}};
    reply[kSampledNsKey] = framework::MonotonicNs();
    return ControlReplyLine(reply);
  }
  auto on_platform = platforms.find(name);
  adapters::Adapter* a =
      on_platform == platforms.end() ? nullptr : on_platform->second.adapter.get();
  framework::Result<void> r;
  if (verb == "status") {
    r = {};
  } else if (verb == "start") {
    r = a != nullptr ? a->Start() : sup.Start(name);
  } else if (verb == "stop") {
    r = a != nullptr ? a->Stop() : sup.Stop(name);
  } else if (verb == "restart") {
    if (a != nullptr) {
      r = a->Stop();
      if (r.ok()) r = a->Start();
    } else {
      r = sup.Restart(name);
    }
  } else {
    reply["ok"] = false;
    reply["usage"] = true;
    reply["error"] = "unknown request '" + verb + "'; use status, start, stop or restart";
    return ControlReplyLine(reply);
  }
  auto st = a != nullptr ? a->Status() : sup.Status(name);
  if (!r.ok() || !st.ok()) {
    const auto& err = r.ok() ? st.error() : r.error();
    reply["ok"] = false;
    reply["usage"] = err.context.rfind("no service named", 0) == 0;
    reply["error"] = err.context;
    return ControlReplyLine(reply);
  }
  reply["ok"] = true;
  reply["services"] = json::array(
      {a != nullptr ? PlatformStatusJson(*st, on_platform->second, now) : StatusJson(*st, now)});
  return ControlReplyLine(reply);
}

// Makes the adapters of the services that name a platform. systemd: the system manager when
// systemd is PID 1, else a private user manager (`manager`) this process owns.
framework::Result<PlatformServices> MakePlatformServices(
    const framework::ServicesFile& sf, std::unique_ptr<adapters::SystemdUserManager>* manager) {
  PlatformServices out;
  for (size_t i = 0; i < sf.services.size(); ++i) {
    if (sf.platforms[i].empty()) continue;
    const auto platform = adapters::ParsePlatform(sf.platforms[i]);
    if (!platform) return framework::MessageError(adapters::CannotRun(sf.platforms[i]));
    adapters::AdapterOptions options;
    options.log_dir = sf.options.log_dir;
    if (*platform == adapters::Platform::kSystemd) {
      adapters::DetectOptions detect;
      detect.use_environment = false;
      if (adapters::DetectPlatform(detect).platform == adapters::Platform::kSystemd) {
        options.systemd_user = false;
      } else {
        if (!*manager) {
          auto m = adapters::SystemdUserManager::Start();
          if (!m.ok()) {
            return framework::Error{
                m.error().code,
                "service '" + sf.services[i].name +
                    "': systemd is not PID 1 here and a private user manager did not start: " +
                    m.error().Message()};
          }
          *manager = std::move(m).value();
        }
        (*manager)->Configure(&options);
      }
    }
    auto a = adapters::MakeAdapter(*platform, sf.services[i], options);
    if (!a.ok()) {
      return framework::MessageError("service '" + sf.services[i].name + "' (platform " +
                                     sf.platforms[i] + "): " + a.error().Message());
    }
    PlatformService p;
    p.adapter = std::move(a).value();
    p.adapter->Subscribe(
        [since = p.since](const framework::ServiceEvent& e) { since->store(e.ts_ns); });
    out.emplace(sf.services[i].name, std::move(p));
  }
  return out;
}

}  // namespace

int SuperviseMain(int argc, char** argv) {
  // Blocked before anything else (and before any thread exists) so that the supervisor reads
  // them from its signalfd: SIGTERM/SIGINT stop everything, SIGCHLD reaps orphans.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  CLI::App app(
      "Run the services of a services file in the foreground and keep them running "
      "(restart with backoff, health checks, graceful stop). SIGTERM or SIGINT stops them all.",
      "supervise");
  std::string file;
  std::string socket_path;
  bool quiet = false;
  app.add_option("services", file, "services file (TOML: [supervisor] + [[service]] tables)")
      ->required();
  app.add_option("--socket", socket_path, "control socket path (overrides control_socket)");
  AddQuietFlag(app, &quiet, "the service events on stderr");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  auto loaded = framework::LoadServicesFile(file, adapters::CannotRunService);
  if (!loaded.ok()) {
    if (loaded.error().code == std::errc::invalid_argument) {
      std::cerr << loaded.error().context << '\n';
    } else {
      PrintError("unable to read " + file + ": " + loaded.error().code.message());
    }
    return framework::kExitUsage;
  }
  framework::ServicesFile& sf = *loaded;
  if (!socket_path.empty()) sf.control_socket = socket_path;
  // The default path lies in a directory duende makes private and checks; a path given by
  // the user is used as given (its directory is the user's choice).
  const bool default_socket = sf.control_socket.empty();
  if (default_socket) sf.control_socket = framework::DefaultControlSocket();
  sf.options.handle_signals = true;
  if (!sf.options.log_dir.empty() && ::mkdir(sf.options.log_dir.c_str(), 0755) != 0 &&
      errno != EEXIST) {
    PrintError("unable to create log_dir " + sf.options.log_dir + ": " + std::strerror(errno));
    return framework::kExitEnvironment;
  }
  auto sup = Supervisor::Create(sf.options);
  if (!sup.ok()) {
    PrintError(sup.error().Message());
    return framework::kExitEnvironment;
  }
  std::unique_ptr<adapters::SystemdUserManager> manager;
  auto made = MakePlatformServices(sf, &manager);
  if (!made.ok()) {
    PrintError(made.error().Message());
    return framework::kExitEnvironment;
  }
  PlatformServices platforms = std::move(made).value();
  if (!quiet) {
    const int64_t t0 = framework::MonotonicNs();
    auto print = [t0](const framework::ServiceEvent& e) {
      char ts[32];
      std::snprintf(ts, sizeof ts, "%10.3f", static_cast<double>(e.ts_ns - t0) / 1e9);
      std::cerr << "duende supervise: " << ts << " " << e.ToString() << '\n';
    };
    (*sup)->Subscribe(print);
    for (auto& [n, p] : platforms) p.adapter->Subscribe(print);
  }
  for (const auto& c : sf.services) {
    if (platforms.count(c.name) != 0) continue;
    if (auto r = (*sup)->Add(c); !r.ok()) {
      PrintError("service '" + c.name + "': " + r.error().Message());
      return framework::kExitEnvironment;
    }
  }
  // Before the control socket and any start, so a port in use leaves nothing behind.
  ServiceEventTally tally(**sup);
  std::unique_ptr<framework::MetricsEndpoint> metrics;
  if (!sf.metrics.listen.empty()) {
    auto ep = StartSupervisorMetrics(**sup, tally, sf.metrics);
    if (!ep.ok()) {
      PrintError(ep.error().Message());
      return ep.error().code == std::errc::invalid_argument ? framework::kExitUsage
                                                            : framework::kExitEnvironment;
    }
    metrics = std::move(ep).value();
  }
  const ControlAccess access{sf.control_group};
  auto listener = ListenControlSocket(sf.control_socket, access, default_socket);
  if (!listener.ok()) {
    PrintError(listener.error().Message());
    return framework::kExitEnvironment;
  }
  Supervisor* raw = sup->get();
  ControlServer control(&raw->loop(), std::move(*listener), access, sf.control_timeout,
                        [raw, &tally, &platforms](const std::string& line) {
                          return Handle(*raw, tally, platforms, line);
                        });
  if (auto r = control.Start(); !r.ok()) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  if (!quiet) {
    std::cerr << "duende supervise: " << sf.services.size() << " service(s) from " << file
              << "; control socket " << sf.control_socket << '\n';
    if (metrics) std::cerr << "duende supervise: metrics on " << metrics->url() << '\n';
  }
  if (sf.autostart) {
    (*sup)->StartAll();
    for (auto& [n, p] : platforms) {
      if (auto started = p.adapter->Start(); !started.ok()) {
        PrintError("service '" + n + "': " + started.error().Message());
      }
    }
  }
  auto r = (*sup)->Run();
  metrics.reset();
  // SIGTERM/SIGINT ended the loop: the platforms' services are stopped and their units or
  // containers removed, then the private manager (if any) stops.
  for (auto& [n, p] : platforms) (void)p.adapter->Remove();
  platforms.clear();
  manager.reset();
  ::unlink(sf.control_socket.c_str());
  if (!r.ok()) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  if (!quiet) std::cerr << "duende supervise: all services stopped\n";
  return framework::kExitOk;
}

}  // namespace duende::cli
