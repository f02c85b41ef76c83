// duende supervise FILE: a foreground process manager for the services of a services file,
// with a control socket for `duende ctl`. See docs/supervise.md.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/supervisor.h"
#include "verbs.h"

namespace duende::cli {
namespace {

using framework::Supervisor;
using framework::UniqueFd;
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
  if (st.next_start_ns) {
    j["next_start_in_s"] = static_cast<double>(*st.next_start_ns - now) / 1e9;
  }
  return j;
}

// One request line -> one JSON reply line.
std::string Handle(Supervisor& sup, const std::string& line) {
  std::string verb = line.substr(0, line.find(' '));
  std::string name = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
  json reply;
  const int64_t now = framework::MonotonicNs();
  if (verb == "status" && name.empty()) {
    reply["ok"] = true;
    reply["services"] = json::array();
    for (const auto& st : sup.StatusAll()) reply["services"].push_back(StatusJson(st, now));
    return reply.dump() + "\n";
  }
  framework::Result<void> r;
  if (verb == "status") {
    r = {};
  } else if (verb == "start") {
    r = sup.Start(name);
  } else if (verb == "stop") {
    r = sup.Stop(name);
  } else if (verb == "restart") {
    r = sup.Restart(name);
  } else {
    reply["ok"] = false;
    reply["usage"] = true;
    reply["error"] = "unknown request '" + verb + "'; use status, start, stop or restart";
    return reply.dump() + "\n";
  }
  auto st = sup.Status(name);
  if (!r.ok() || !st.ok()) {
    const auto& err = r.ok() ? st.error() : r.error();
    reply["ok"] = false;
    reply["usage"] = err.context.rfind("no service named", 0) == 0;
    reply["error"] = err.context;
    return reply.dump() + "\n";
  }
  reply["ok"] = true;
  reply["services"] = json::array({StatusJson(*st, now)});
  return reply.dump() + "\n";
}

// The control socket: one request line per connection, one reply, then close.
class ControlServer {
 public:
  ControlServer(Supervisor* sup, UniqueFd listener) : sup_(sup), listener_(std::move(listener)) {}

  framework::Result<void> Start() {
    return sup_->loop().Watch(listener_.get(), EPOLLIN, [this](uint32_t) { Accept(); });
  }

 private:
  struct Conn {
    UniqueFd fd;
    std::string in;
    std::string out;
  };

  void Accept() {
    while (true) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      auto conn = std::make_unique<Conn>();
      conn->fd.Reset(fd);
      Conn* raw = conn.get();
      conns_[fd] = std::move(conn);
      if (!sup_->loop().Watch(fd, EPOLLIN, [this, raw](uint32_t ev) { OnConn(raw, ev); }).ok()) {
        conns_.erase(fd);
      }
    }
  }

  void Close(Conn* c) {
    const int fd = c->fd.get();
    sup_->loop().Unwatch(fd);
    conns_.erase(fd);
  }

  void OnConn(Conn* c, uint32_t events) {
    if (c->out.empty()) {
      char buf[1024];
      ssize_t n = ::read(c->fd.get(), buf, sizeof buf);
      if (n > 0) c->in.append(buf, static_cast<size_t>(n));
      size_t nl = c->in.find('\n');
      if (nl == std::string::npos) {
        if (n == 0 || (n < 0 && errno != EAGAIN) || c->in.size() > 4096 ||
            (events & (EPOLLHUP | EPOLLERR)) != 0) {
          Close(c);
        }
        return;
      }
      c->out = Handle(*sup_, c->in.substr(0, nl));
    }
    ssize_t w = ::send(c->fd.get(), c->out.data(), c->out.size(), MSG_NOSIGNAL);
    if (w > 0) c->out.erase(0, static_cast<size_t>(w));
    if (c->out.empty() || (w < 0 && errno != EAGAIN)) {
      Close(c);
      return;
    }
    (void)sup_->loop().Modify(c->fd.get(), EPOLLOUT);
  }

  Supervisor* sup_;
  UniqueFd listener_;
  std::map<int, std::unique_ptr<Conn>> conns_;
};

framework::Result<UniqueFd> Listen(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return framework::MessageError("control socket path is too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return framework::ErrnoError("unable to create control socket");
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (::bind(fd.get(), sa, sizeof addr) != 0) {
    if (errno != EADDRINUSE) return framework::ErrnoError("unable to bind " + path);
    // A socket file exists: another supervisor, or one left by a killed supervisor.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), sa, sizeof addr) == 0) {
      return framework::ErrnoError("another supervisor is listening on " + path, EADDRINUSE);
    }
    ::unlink(path.c_str());
    if (::bind(fd.get(), sa, sizeof addr) != 0) {
      return framework::ErrnoError("unable to bind " + path);
    }
  }
  ::chmod(path.c_str(), 0600);
  if (::listen(fd.get(), 64) != 0) return framework::ErrnoError("unable to listen on " + path);
  return fd;
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

  auto loaded = framework::LoadServicesFile(file);
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
  if (sf.control_socket.empty()) sf.control_socket = framework::DefaultControlSocket();
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
  if (!quiet) {
    const int64_t t0 = framework::MonotonicNs();
    (*sup)->Subscribe([t0](const framework::ServiceEvent& e) {
      char ts[32];
      std::snprintf(ts, sizeof ts, "%10.3f", static_cast<double>(e.ts_ns - t0) / 1e9);
      std::cerr << "duende supervise: " << ts << " " << e.ToString() << '\n';
    });
  }
  for (const auto& c : sf.services) {
    if (auto r = (*sup)->Add(c); !r.ok()) {
      PrintError("service '" + c.name + "': " + r.error().Message());
      return framework::kExitEnvironment;
    }
  }
  auto listener = Listen(sf.control_socket);
  if (!listener.ok()) {
    PrintError(listener.error().Message());
    return framework::kExitEnvironment;
  }
  ControlServer control(sup->get(), std::move(*listener));
  if (auto r = control.Start(); !r.ok()) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  if (!quiet) {
    std::cerr << "duende supervise: " << sf.services.size() << " service(s) from " << file
              << "; control socket " << sf.control_socket << '\n';
  }
  if (sf.autostart) (*sup)->StartAll();
  auto r = (*sup)->Run();
  ::unlink(sf.control_socket.c_str());
  if (!r.ok()) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }
  if (!quiet) std::cerr << "duende supervise: all services stopped\n";
  return framework::kExitOk;
}

}  // namespace duende::cli
