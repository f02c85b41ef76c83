#include "duende/adapters/systemd_adapter.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include "duende/adapters/systemd_unit.h"
#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/framework/read_limits.h"
#include "text_util.h"

namespace duende::adapters {

using framework::CommandOptions;
using framework::DaemonConfig;
using framework::ErrnoError;
using framework::Error;
using framework::EventType;
using framework::MessageError;
using framework::Result;
using framework::RunChecked;
using framework::RunCommand;
using framework::ServiceEvent;
using framework::ServiceState;
using framework::UniqueFd;

namespace {

constexpr const char* kShowProperties =
    "ActiveState,SubState,Result,MainPID,NRestarts,ExecMainCode,ExecMainStatus,"
    "ExecMainExitTimestampMonotonic,RestartUSec";

std::optional<framework::ExitStatus> ExitOf(const SystemdUnitState& s) {
  if (s.exec_main_code == 0) return std::nullopt;
  framework::ExitStatus e;
  if (s.exec_main_code == CLD_EXITED) {
    e.code = s.exec_main_status;
  } else {
    e.signaled = true;
    e.signal = s.exec_main_status;
    e.core_dumped = s.exec_main_code == CLD_DUMPED;
  }
  return e;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

Result<void> MkdirP(const std::string& path) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos == path.size() || path[pos] == '/') {
      std::string p = path.substr(0, pos);
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("unable to create " + p);
      }
    }
  }
  return {};
}

// systemd keeps the first failure's Result (exit-code, signal) when the start limit then
// stops the restarts, so a failed unit whose last exit the policy would have restarted gave up
// because of the start limit.
bool GaveUp(const SystemdUnitState& s, const DaemonConfig& c) {
  if (s.active_state != "failed") return false;
  if (s.result == "start-limit-hit") return true;
  auto exit = ExitOf(s);
  if (!exit) return false;
  using Policy = framework::RestartConfig::Policy;
  if (c.restart.policy == Policy::kNever) return false;
  if (!exit->signaled) {
    for (int code : c.restart.prevent_exit_codes) {
      if (code == exit->code) return false;
    }
  }
  return c.restart.policy == Policy::kAlways || !exit->success();
}

}  // namespace

ServiceState SystemdUnitState::State(bool stop_requested) const {
  if (active_state == "active" || active_state == "reloading") return ServiceState::kRunning;
  if (active_state == "activating") {
    return sub_state == "auto-restart" ? ServiceState::kBackoff : ServiceState::kStarting;
  }
  if (active_state == "deactivating") return ServiceState::kStopping;
  if (active_state == "failed") return ServiceState::kFailed;
  return stop_requested || exec_main_code == 0 ? ServiceState::kStopped : ServiceState::kExited;
}

SystemdUnitState ParseSystemctlShow(const std::string& text) {
  SystemdUnitState s;
  std::istringstream in(text);
  std::string line;
  auto num = [](const std::string& v) -> uint64_t { return internal::ParseUint(v).value_or(0); };
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq);
    std::string v = line.substr(eq + 1);
    if (k == "ActiveState") s.active_state = v;
    if (k == "SubState") s.sub_state = v;
    if (k == "Result") s.result = v;
    if (k == "MainPID") s.main_pid = static_cast<pid_t>(num(v));
    if (k == "NRestarts") s.n_restarts = num(v);
    if (k == "ExecMainCode") s.exec_main_code = static_cast<int>(num(v));
    if (k == "ExecMainStatus") s.exec_main_status = static_cast<int>(num(v));
    if (k == "ExecMainExitTimestampMonotonic") s.exec_main_exit_us = num(v);
    if (k == "RestartUSec") {
      // "100ms", "1s", "1min 30s": systemd's formatted time span.
      s.restart_us = 0;
      std::istringstream parts(v);
      std::string part;
      while (parts >> part) {
        size_t digits = part.find_first_not_of("0123456789");
        auto n = internal::ParseUint(part.substr(0, digits));
        if (!n) break;
        std::string unit = digits == std::string::npos ? "us" : part.substr(digits);
        uint64_t scale = unit == "us"    ? 1
                         : unit == "ms"  ? 1000
                         : unit == "s"   ? 1'000'000
                         : unit == "min" ? 60'000'000
                         : unit == "h"   ? 3'600'000'000ull
                                         : 0;
        s.restart_us += *n * scale;
      }
    }
  }
  return s;
}

Result<std::unique_ptr<SystemdAdapter>> SystemdAdapter::Create(const DaemonConfig& config,
                                                               const AdapterOptions& options) {
  auto text = RenderSystemdUnit(config, options.render.systemd);
  if (!text.ok()) return text.error();
  std::string dir = options.systemd_unit_dir;
  if (dir.empty()) {
    if (options.systemd_user) {
      std::string runtime;
      for (const std::string& e : options.systemd_env) {
        if (e.rfind("XDG_RUNTIME_DIR=", 0) == 0) runtime = e.substr(16);
      }
      if (runtime.empty()) {
        if (const char* r = std::getenv("XDG_RUNTIME_DIR")) runtime = r;
      }
      if (runtime.empty()) {
        return MessageError(
            "XDG_RUNTIME_DIR is not set; the systemd user manager's unit directory is "
            "$XDG_RUNTIME_DIR/systemd/user (set it, or give a unit directory)");
      }
      dir = runtime + "/systemd/user";
    } else {
      dir = "/run/systemd/system";
    }
  }
  std::string path = dir + "/" + SystemdUnitName(config);
  if (!options.log_dir.empty()) {
    // The daemon's output in a file of the caller's (a private manager has no journal).
    const std::string service = "\n[Service]\n";
    const size_t at = text->find(service);
    if (at != std::string::npos) {
      text->insert(at + service.size(), "StandardOutput=append:" + options.log_dir + "/" +
                                            config.name + ".log\nStandardError=inherit\n");
    }
  }
  return std::unique_ptr<SystemdAdapter>(
      new SystemdAdapter(config, options, std::move(*text), std::move(path)));
}

SystemdAdapter::SystemdAdapter(DaemonConfig config, AdapterOptions options, std::string unit_text,
                               std::string unit_path)
    : config_(std::move(config)),
      options_(std::move(options)),
      unit_name_(SystemdUnitName(config_)),
      unit_text_(std::move(unit_text)),
      unit_path_(std::move(unit_path)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

SystemdAdapter::~SystemdAdapter() { (void)Remove(); }

Result<std::string> SystemdAdapter::Systemctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = options_.systemd_command_prefix;
  argv.push_back("systemctl");
  if (options_.systemd_user) argv.push_back("--user");
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions co;
  co.env_overrides = options_.systemd_env;
  co.timeout = config_.shutdown_timeout + std::chrono::seconds(20);
  auto r = RunChecked(argv, co);
  if (!r.ok()) return r.error();
  return std::move(r->out);
}

Result<SystemdUnitState> SystemdAdapter::Show() {
  auto out = Systemctl({"show", unit_name_, "-p", kShowProperties});
  if (!out.ok()) return out.error();
  return ParseSystemctlShow(*out);
}

Result<void> SystemdAdapter::Start() {
  auto dir = unit_path_.substr(0, unit_path_.rfind('/'));
  DUENDE_TRY(MkdirP(dir));
  if (!WriteFile(unit_path_, unit_text_)) return ErrnoError("unable to write " + unit_path_);
  installed_ = true;
  auto reload = Systemctl({"daemon-reload"});
  if (!reload.ok()) return reload.error();
  (void)Systemctl({"reset-failed", unit_name_});
  auto before = Show();
  if (!before.ok()) return before.error();
  {
    std::lock_guard<std::mutex> lock(mu_);
    prev_ = *before;
    exits_ = 0;  // a manual start resets NRestarts
  }
  stop_requested_ = false;
  if (!watcher_.joinable()) {
    quit_ = false;
    watcher_ = std::thread([this] { Watch(); });
  }
  auto start = Systemctl({"start", "--no-block", unit_name_});
  if (!start.ok()) return start.error();
  uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
  return {};
}

Result<void> SystemdAdapter::Stop() {
  if (!installed_) return {};
  stop_requested_ = true;
  auto r = Systemctl({"stop", unit_name_});
  uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
  if (!r.ok()) return r.error();
  return {};
}

Result<void> SystemdAdapter::Kill(int signal) {
  auto s = Show();
  if (!s.ok()) return s.error();
  if (s->main_pid <= 0) {
    return Error{std::make_error_code(std::errc::no_such_process),
                 unit_name_ + " has no main process (" + s->active_state + ")"};
  }
  auto r = Systemctl({"kill", "--kill-who=main", "-s", std::to_string(signal), unit_name_});
  if (!r.ok()) return r.error();
  return {};
}

Result<framework::ServiceStatus> SystemdAdapter::Status() {
  auto s = Show();
  if (!s.ok()) return s.error();
  framework::ServiceStatus st;
  st.name = config_.name;
  st.state = s->State(stop_requested_);
  st.pid = s->main_pid > 0 ? s->main_pid : -1;
  st.ready = s->active_state == "active";
  st.restarts = s->n_restarts;
  st.last_exit = ExitOf(*s);
  st.reason = GaveUp(*s, config_) ? "start-limit-hit" : s->result;
  return st;
}

void SystemdAdapter::Subscribe(EventCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.push_back(std::move(callback));
}

void SystemdAdapter::Emit(ServiceEvent ev) {
  ev.seq = ++seq_;
  ev.ts_ns = framework::MonotonicNs();
  ev.service = config_.name;
  for (const auto& cb : subscribers_) cb(ev);
}

// Turns the difference between two `systemctl show` snapshots into the supervisor's events.
// Called with mu_ held.
void SystemdAdapter::Observe(const SystemdUnitState& cur) {
  const SystemdUnitState prev = prev_;
  const bool stop = stop_requested_;
  auto state = cur.State(stop);
  bool exited = false;
  if (cur.exec_main_exit_us != prev.exec_main_exit_us && cur.exec_main_exit_us != 0) {
    ServiceEvent ev;
    ev.type = EventType::kExited;
    ev.state = state;
    ev.pid = prev.main_pid > 0 ? prev.main_pid : -1;
    ev.exit = ExitOf(cur);
    Emit(ev);
    exited = true;
  }
  // Restarts systemd made between two looks (the exit status of those is gone: systemd resets
  // it when the next process starts).
  // Every restart follows an exit: restarts beyond the exits seen were missed between looks.
  if (exited) ++exits_;
  for (; exits_ < cur.n_restarts; ++exits_) {
    ServiceEvent ev;
    ev.type = EventType::kExited;
    ev.state = state;
    ev.detail = "exit seen only as NRestarts=" + std::to_string(exits_ + 1);
    Emit(ev);
  }
  if (cur.sub_state == "auto-restart" && prev.sub_state != "auto-restart") {
    ServiceEvent ev;
    ev.type = EventType::kRestartScheduled;
    ev.state = ServiceState::kBackoff;
    ev.delay = std::chrono::microseconds(cur.restart_us);
    Emit(ev);
  }
  if (cur.main_pid > 0 && cur.main_pid != prev.main_pid) {
    ServiceEvent ev;
    ev.type = EventType::kSpawned;
    ev.state = state;
    ev.pid = cur.main_pid;
    ev.detail = "NRestarts=" + std::to_string(cur.n_restarts);
    Emit(ev);
  }
  if (cur.active_state == "active" &&
      (prev.active_state != "active" || cur.main_pid != prev.main_pid)) {
    ServiceEvent ev;
    ev.type = EventType::kReady;
    ev.state = ServiceState::kRunning;
    ev.pid = cur.main_pid;
    Emit(ev);
  }
  if (cur.active_state != prev.active_state || cur.result != prev.result) {
    if (cur.active_state == "failed") {
      ServiceEvent ev;
      ev.type = GaveUp(cur, config_) ? EventType::kGaveUp : EventType::kNotRestarting;
      ev.state = ServiceState::kFailed;
      ev.detail = "Result=" + cur.result;
      Emit(ev);
    } else if (cur.active_state == "inactive" && prev.active_state != "inactive") {
      ServiceEvent ev;
      ev.type = stop ? EventType::kStopped : EventType::kNotRestarting;
      ev.state = state;
      ev.detail = "Result=" + cur.result;
      Emit(ev);
    } else if (cur.active_state == "deactivating" && prev.active_state != "deactivating") {
      ServiceEvent ev;
      ev.type = EventType::kStopping;
      ev.state = ServiceState::kStopping;
      ev.pid = prev.main_pid;
      Emit(ev);
    }
  }
  prev_ = cur;
}

void SystemdAdapter::Watch() {
  UniqueFd pidfd;
  pid_t watched = 0;
  int fast_polls = 0;
  while (!quit_) {
    auto cur = Show();
    if (cur.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      Observe(*cur);
      if (cur->main_pid != watched) {
        watched = cur->main_pid;
        auto opened = watched > 0 ? framework::OpenPidfd(watched) : Result<UniqueFd>(UniqueFd());
        pidfd = opened.ok() ? std::move(*opened) : UniqueFd();
      }
      // While systemd is between states (restart pending, starting, stopping) look often.
      bool settling = cur->active_state == "activating" || cur->active_state == "deactivating" ||
                      (cur->active_state == "active" && cur->main_pid <= 0);
      if (settling) fast_polls = 50;
    }
    pollfd fds[2] = {{wake_.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    int timeout_ms = fast_polls > 0 ? 20 : static_cast<int>(options_.systemd_poll.count());
    if (fast_polls > 0) --fast_polls;
    int n = ::poll(fds, pidfd.valid() ? 2 : 1, timeout_ms);
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t v;
      (void)::read(wake_.get(), &v, sizeof(v));
      fast_polls = 50;
    }
    if (n > 0 && pidfd.valid() && (fds[1].revents & POLLIN) != 0) {
      // The main process died: systemd reacts within milliseconds; look closely.
      pidfd.Reset();
      fast_polls = 50;
    }
  }
}

void SystemdAdapter::StopWatcher() {
  if (!watcher_.joinable()) return;
  quit_ = true;
  uint64_t one = 1;
  (void)::write(wake_.get(), &one, sizeof(one));
  watcher_.join();
}

Result<void> SystemdAdapter::Remove() {
  if (!installed_) {
    StopWatcher();
    return {};
  }
  auto stopped = Stop();
  // Let the watcher see the final state before it ends.
  if (watcher_.joinable()) {
    for (int i = 0; i < 50; ++i) {
      auto s = Show();
      if (!s.ok() || s->active_state == "inactive" || s->active_state == "failed") break;
      ::usleep(20'000);
    }
    auto s = Show();
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      Observe(*s);
    }
  }
  StopWatcher();
  ::unlink(unit_path_.c_str());
  installed_ = false;
  (void)Systemctl({"reset-failed", unit_name_});
  auto reload = Systemctl({"daemon-reload"});
  if (!stopped.ok()) return stopped.error();
  if (!reload.ok()) return reload.error();
  return {};
}

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<SystemdUserManager>> SystemdUserManager::Start() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-systemd.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return ErrnoError("unable to create " + tmpl);
  std::unique_ptr<SystemdUserManager> m(new SystemdUserManager());
  m->runtime_dir_ = buf.data();
  ::chmod(m->runtime_dir_.c_str(), 0700);
  std::string log = m->runtime_dir_ + ".log";
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  UniqueFd log_guard(log_fd);

  framework::SpawnOptions so;
  so.argv = {"unshare",
             "-m",
             "--propagation",
             "private",
             "sh",
             "-c",
             "mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && "
             "exec /lib/systemd/systemd --user"};
  so.env_overrides = {"XDG_RUNTIME_DIR=" + m->runtime_dir_};
  so.stdout_fd = log_fd;
  so.stderr_fd = log_fd;
  so.parent_death_signal = SIGTERM;
  auto child = framework::Spawn(so);
  if (!child.ok()) return child.error();
  m->pid_ = child->pid;
  m->pidfd_ = std::move(child->pidfd);

  // Ready when `systemctl --user is-system-running` answers through the private socket.
  AdapterOptions probe;
  m->Configure(&probe);
  std::vector<std::string> argv = probe.systemd_command_prefix;
  argv.insert(argv.end(), {"systemctl", "--user", "is-system-running"});
  CommandOptions co;
  co.env_overrides = probe.systemd_env;
  co.timeout = std::chrono::seconds(5);
  const int64_t deadline = framework::MonotonicNs() + 10'000'000'000;
  std::string last;
  while (framework::MonotonicNs() < deadline) {
    auto exited = framework::TryReap(m->pidfd_.get());
    if (exited.ok() && exited->has_value()) {
      m->pid_ = -1;
      auto read = framework::ReadFileLimited(log, 64 << 10);
      const std::string text = read.ok() ? *read : "(its log is unreadable or past 64 KiB)";
      return MessageError("systemd --user exited at once (" + (*exited)->ToString() + "): " + text,
                          std::errc::operation_not_permitted);
    }
    struct stat st {};
    if (::stat((m->runtime_dir_ + "/systemd/private").c_str(), &st) == 0) {
      auto r = RunCommand(argv, co);
      if (r.ok()) {
        last = r->out + r->err;
        // running, degraded or starting: all mean the manager answers.
        if (last.find("running") != std::string::npos ||
            last.find("degraded") != std::string::npos ||
            last.find("starting") != std::string::npos) {
          ::unlink(log.c_str());
          return m;
        }
      }
    }
    ::usleep(20'000);
  }
  return Error{std::make_error_code(std::errc::timed_out),
               "systemd --user did not answer within 10s: " + last};
}

void SystemdUserManager::Configure(AdapterOptions* options) const {
  options->systemd_user = true;
  options->systemd_command_prefix = {"nsenter", "-t", std::to_string(pid_), "-m"};
  options->systemd_env = {"XDG_RUNTIME_DIR=" + runtime_dir_};
  options->systemd_unit_dir = runtime_dir_ + "/systemd/user";
}

std::vector<pid_t> SystemdUserManager::ProcessesInNamespace() const {
  std::vector<pid_t> pids;
  std::string ns = mnt_ns_;
  if (ns.empty() && pid_ > 0) {
    char link[256];
    std::string path = "/proc/" + std::to_string(pid_) + "/ns/mnt";
    ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
    if (n > 0) ns.assign(link, static_cast<size_t>(n));
  }
  if (ns.empty()) return pids;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return pids;
  while (dirent* e = ::readdir(d)) {
    auto pid = internal::ParseUint(e->d_name);
    if (!pid || static_cast<pid_t>(*pid) == pid_) continue;
    char link[256];
    std::string path = std::string("/proc/") + e->d_name + "/ns/mnt";
    ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
    if (n > 0 && std::string(link, static_cast<size_t>(n)) == ns) {
      pids.push_back(static_cast<pid_t>(*pid));
    }
  }
  ::closedir(d);
  return pids;
}

SystemdUserManager::~SystemdUserManager() {
  if (pid_ > 0) {
    char link[256];
    std::string path = "/proc/" + std::to_string(pid_) + "/ns/mnt";
    ssize_t n = ::readlink(path.c_str(), link, sizeof(link) - 1);
    if (n > 0) mnt_ns_.assign(link, static_cast<size_t>(n));
    // systemd --user stops its units on SIGTERM and exits.
    (void)framework::SignalPidfd(pidfd_.get(), SIGTERM);
    pollfd p = {pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) (void)framework::SignalPidfd(pidfd_.get(), SIGKILL);
    (void)framework::WaitExit(pidfd_.get());
    // Anything that outlived the manager in its namespace was started by it: end it, so the
    // namespace (and the tmpfs on /run/systemd in it) goes away.
    for (pid_t p2 : ProcessesInNamespace()) ::kill(p2, SIGKILL);
  }
  if (!runtime_dir_.empty()) {
    (void)RunCommand({"rm", "-rf", "--one-file-system", runtime_dir_});
  }
}

}  // namespace duende::adapters
