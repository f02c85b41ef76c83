#include "duende/framework/run.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/health_channel.h"
#include "duende/framework/log.h"
#include "duende/framework/metrics_endpoint.h"
#include "duende/framework/mlock.h"
#include "duende/framework/notify.h"
#include "duende/framework/pid_file.h"
#include "duende/framework/process.h"

namespace duende::framework {
namespace {

using std::chrono::nanoseconds;

struct Options {
  std::string config_path;
  bool check_config = false;
  bool help = false;
  std::vector<std::string> rest;  // for Daemon::ParseArgs
};

Result<Options> ParseDriverArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config") {
      if (i + 1 >= argc) return MessageError("--config needs a file: --config FILE");
      o.config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      o.config_path = a.substr(9);
    } else if (a == "--check-config") {
      o.check_config = true;
    } else if (a == "--help" || a == "-h") {
      o.help = true;
    } else {
      o.rest.push_back(a);
    }
  }
  if (o.config_path.empty() && std::any_of(argv + 1, argv + argc, [](const char* s) {
        return std::string(s) == "--config=";
      })) {
    return MessageError("--config needs a file: --config FILE");
  }
  return o;
}

void PrintErr(const std::string& name, const std::string& message) {
  std::string line = name + ": error: " + message + "\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

// The message of an error; validation errors carry everything in the context.
std::string Describe(const Error& e) {
  if (e.code == std::errc::invalid_argument) return e.context;
  return e.Message();
}

Result<UniqueFd> MakeTimerFd() {
  UniqueFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!fd) return ErrnoError("unable to create a timerfd");
  return fd;
}

void ArmTimer(int fd, nanoseconds first, nanoseconds interval) {
  itimerspec spec{};
  auto to_ts = [](nanoseconds d) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
    return ts;
  };
  spec.it_value = to_ts(first.count() > 0 ? first : nanoseconds(1));
  spec.it_interval = to_ts(interval);
  ::timerfd_settime(fd, 0, &spec, nullptr);
}

// Everything the control thread and the main thread share.
class Driver {
 public:
  Driver(Daemon& daemon, std::string name, std::string config_path)
      : daemon_(daemon), name_(std::move(name)), config_path_(std::move(config_path)) {}

  int Main(DaemonConfig config, const sigset_t& signals);

 private:
  void ControlLoop();
  void OnSignal(const signalfd_siginfo& info);
  void Reload();
  void OnDeadline();
  void OnWatchdog();
  void LogHealthAndMetrics();
  // Ends the process from the main thread's side; returns the exit code to return.
  int Finish(int code);

  Daemon& daemon_;
  std::string name_;
  std::string config_path_;
  Notifier notifier_;
  std::unique_ptr<DaemonContext> context_;
  std::optional<PidFile> pid_file_;
  std::unique_ptr<MetricsEndpoint> metrics_;  // [metrics] listen: serves /metrics
  UniqueFd signal_fd_;
  UniqueFd stop_fd_;      // eventfd: tells the control thread to end
  UniqueFd deadline_fd_;  // timerfd: shutdown_timeout after the stop signal
  UniqueFd watchdog_fd_;  // timerfd: WATCHDOG=1 every WATCHDOG_USEC/2
  UniqueFd health_fd_;    // DUENDE_HEALTH_FD: the supervisor's kind = "daemon" probes
  std::atomic<int64_t> shutdown_timeout_ns_{0};
  std::atomic<int64_t> stop_requested_ns_{0};
  std::atomic<bool> stopping_sent_{false};
  std::mutex finish_mu_;  // the main thread's exit vs. the deadline's forced exit
  bool finished_ = false;
};

void Driver::ControlLoop() {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) {
    LogError("unable to create the control epoll; signals will not be handled");
    return;
  }
  for (int fd : {signal_fd_.get(), stop_fd_.get(), deadline_fd_.get(), watchdog_fd_.get(),
                 health_fd_.get()}) {
    if (fd < 0) continue;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
  }
  while (true) {
    epoll_event events[5];
    int n = ::epoll_wait(ep.get(), events, 5, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("control loop: epoll_wait failed; signals will not be handled");
      return;
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == stop_fd_.get()) return;
      if (fd == signal_fd_.get()) {
        signalfd_siginfo info{};
        while (::read(fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          OnSignal(info);
        }
      } else if (fd == deadline_fd_.get()) {
        uint64_t ticks = 0;
        if (::read(fd, &ticks, sizeof ticks) > 0) OnDeadline();
      } else if (fd == watchdog_fd_.get()) {
        uint64_t ticks = 0;
        if (::read(fd, &ticks, sizeof ticks) > 0) OnWatchdog();
      } else if (fd == health_fd_.get()) {
        if (!AnswerHealthRequests(fd, [this] { return daemon_.HealthCheck(); })) {
          ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr);  // the supervisor is gone
        }
      }
    }
  }
}

void Driver::OnSignal(const signalfd_siginfo& info) {
  int sig = static_cast<int>(info.ssi_signo);
  switch (sig) {
    case SIGTERM:
    case SIGINT: {
      if (context_->ShouldShutdown()) {
        LogInfo("got " + SignalName(sig) + " while stopping; still stopping");
        return;
      }
      nanoseconds timeout(shutdown_timeout_ns_.load());
      LogInfo("got " + SignalName(sig) + " from pid " + std::to_string(info.ssi_pid) +
              "; stopping (shutdown_timeout " + FormatDuration(timeout) + ")");
      stop_requested_ns_.store(MonotonicNs());
      if (!stopping_sent_.exchange(true)) [[maybe_unused]]
        auto r = notifier_.Stopping();
      ArmTimer(deadline_fd_.get(), timeout, nanoseconds(0));
      context_->RequestShutdown();
      return;
    }
    case SIGHUP:
      Reload();
      return;
    case SIGUSR1:
      LogHealthAndMetrics();
      return;
    default:
      return;
  }
}

void Driver::Reload() {
  if (config_path_.empty()) {
    LogWarn("got SIGHUP but no --config file was given; nothing to reload");
    return;
  }
  LogInfo("got SIGHUP; reloading " + config_path_);
  auto next = LoadDaemonConfig(config_path_);
  Result<void> env = next.ok() ? ApplyEnvOverrides(next.value()) : Result<void>();
  if (!next.ok() || !env.ok()) {
    std::string why = Describe(next.ok() ? env.error() : next.error());
    // One log line per problem, so each keeps its file:line:col.
    size_t start = 0;
    while (start <= why.size()) {
      size_t end = why.find('\n', start);
      if (end == std::string::npos) end = why.size();
      LogError("reload failed: " + why.substr(start, end - start));
      start = end + 1;
    }
    LogError("reload failed; keeping the current config (fix " + config_path_ +
             " and send SIGHUP again)");
    [[maybe_unused]] auto r = notifier_.Status("reload failed: " + why.substr(0, why.find('\n')));
    return;
  }
  shutdown_timeout_ns_.store(next->shutdown_timeout.count());
  context_->OfferReload(std::move(next.value()));
}

void Driver::OnDeadline() {
  std::lock_guard lock(finish_mu_);
  if (finished_) return;
  nanoseconds timeout(shutdown_timeout_ns_.load());
  LogError("did not stop within shutdown_timeout (" + FormatDuration(timeout) +
           "); exiting now with code 1");
  pid_file_.reset();
  ::_exit(kExitFailed);
}

void Driver::OnWatchdog() {
  HealthReport health = daemon_.HealthCheck();
  if (health.state == HealthState::kUnhealthy) {
    LogWarn("health check unhealthy: " + health.ToString() + "; not sending WATCHDOG=1");
    return;
  }
  if (auto r = notifier_.Watchdog(); !r.ok()) LogWarn(r.error().Message());
}

void Driver::LogHealthAndMetrics() {
  int64_t start = MonotonicNs();
  HealthReport health = daemon_.HealthCheck();
  if (health.latency.count() == 0) health.latency = nanoseconds(MonotonicNs() - start);
  LogInfo("health: " + health.ToString());
  LogInfo("metrics: " + daemon_.Metrics().ToJson());
}

int Driver::Finish(int code) {
  std::lock_guard lock(finish_mu_);
  finished_ = true;
  pid_file_.reset();
  return code;
}

int Driver::Main(DaemonConfig config, const sigset_t& signals) {
  signal_fd_.Reset(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  stop_fd_.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  auto deadline = MakeTimerFd();
  auto watchdog = MakeTimerFd();
  if (!signal_fd_ || !stop_fd_ || !deadline.ok() || !watchdog.ok()) {
    LogError("unable to set up signal handling: " + std::string(std::strerror(errno)));
    return kExitEnvironment;
  }
  deadline_fd_ = std::move(deadline.value());
  watchdog_fd_ = std::move(watchdog.value());
  shutdown_timeout_ns_.store(config.shutdown_timeout.count());

  if (!config.pid_file.empty()) {
    auto pid = PidFile::Acquire(config.pid_file);
    if (!pid.ok()) {
      LogError(pid.error().Message());
      return kExitEnvironment;
    }
    if (pid->stale_pid() != 0) {
      LogWarn("took over stale pid file " + config.pid_file + " of pid " +
              std::to_string(pid->stale_pid()) + " (no longer running)");
    }
    pid_file_.emplace(std::move(pid.value()));
  }

  MlockStatus mlock;
  if (config.resources.lock_memory) {
    mlock = LockMemory(MlockOptions{config.resources.lock_on_fault});
    if (mlock.state == MlockStatus::State::kLocked) {
      LogInfo("memory " + mlock.ToString());
    } else if (config.resources.lock_memory_required) {
      LogError("lock_memory_required: " + MlockRemedy(mlock.error));
      return Finish(kExitEnvironment);
    } else {
      LogWarn("running without locked memory: " + MlockRemedy(mlock.error));
    }
  }

  auto notifier = Notifier::FromEnvironment();
  if (notifier.ok()) {
    notifier_ = std::move(notifier.value());
  } else {
    LogWarn(notifier.error().Message() + "; not notifying the service manager");
  }
  if (notifier_.watchdog_interval().count() > 0) {
    nanoseconds every = notifier_.watchdog_interval();
    ArmTimer(watchdog_fd_.get(), every, every);
  }

  if (auto health = TakeHealthChannelFromEnvironment(); !health.ok()) {
    LogWarn(health.error().Message() + "; the supervisor's health probes will not be answered");
  } else if (*health) {
    health_fd_ = std::move(**health);
  }

  auto context = DaemonContext::Create(daemon_, config, &notifier_);
  if (!context.ok()) {
    LogError(context.error().Message());
    return Finish(kExitEnvironment);
  }
  context_ = std::move(context.value());
  context_->set_mlock_status(mlock);
  std::thread control([this] { ControlLoop(); });
  auto stop_control = [&] {
    ::eventfd_write(stop_fd_.get(), 1);
    control.join();
  };

  int code = kExitOk;
  if (auto init = daemon_.Init(config); !init.ok()) {
    bool bad_config = init.error().code == std::errc::invalid_argument;
    std::string why = Describe(init.error());
    if (bad_config) {
      PrintErr(name_, "invalid config:\n" + why);
    } else {
      LogError("init failed: " + why);
    }
    stop_control();
    return Finish(bad_config ? kExitUsage : kExitFailed);
  }
  if (!config.metrics.listen.empty()) {
    // After Init, so a scrape never asks a daemon that is not set up; its threads inherit
    // the blocked signals.
    auto ep = StartDaemonMetrics(daemon_, config.metrics);
    if (!ep.ok()) {
      PrintErr(name_, ep.error().Message());
      (void)daemon_.Shutdown(config.shutdown_timeout);
      stop_control();
      return Finish(ep.error().code == std::errc::invalid_argument ? kExitUsage : kExitEnvironment);
    }
    metrics_ = std::move(ep).value();
    LogInfo("metrics on " + metrics_->url());
  }
  ExitReason reason = ExitReason::Stopped();
  if (!context_->ShouldShutdown()) reason = daemon_.Run(*context_);
  if (!stopping_sent_.exchange(true)) [[maybe_unused]]
    auto r = notifier_.Stopping();
  switch (reason.kind) {
    case ExitReason::Kind::kStopped:
    case ExitReason::Kind::kCompleted:
      LogInfo(reason.message);
      break;
    case ExitReason::Kind::kFailed:
      LogError("failed: " + reason.message);
      code = reason.exit_code == 0 ? kExitFailed : reason.exit_code;
      break;
  }
  // Shutdown gets what is left of shutdown_timeout since the stop signal (all of it when the
  // daemon stopped on its own).
  nanoseconds budget(shutdown_timeout_ns_.load());
  if (int64_t since = stop_requested_ns_.load(); since != 0) {
    budget -= nanoseconds(MonotonicNs() - since);
    if (budget.count() < 0) budget = nanoseconds(0);
  } else {
    ArmTimer(deadline_fd_.get(), budget, nanoseconds(0));
  }
  if (auto s = daemon_.Shutdown(budget); !s.ok()) {
    LogError("shutdown: " + s.error().Message());
    if (code == kExitOk) code = kExitFailed;
  }
  metrics_.reset();
  stop_control();
  LogInfo("exiting with code " + std::to_string(code));
  return Finish(code);
}

}  // namespace

int Run(Daemon& daemon, int argc, char** argv) {
  std::string name = daemon.Name();
  auto options = ParseDriverArgs(argc, argv);
  if (!options.ok()) {
    PrintErr(name, Describe(options.error()));
    return kExitUsage;
  }
  if (options->help) {
    std::string usage = "usage: " + name +
                        " [--config FILE] [--check-config] [options]\n"
                        "  --config FILE    TOML config (docs/config.md)\n"
                        "  --check-config   validate the config and exit (0 valid, 2 invalid)\n" +
                        daemon.Usage();
    std::fputs(usage.c_str(), stdout);
    return kExitOk;
  }
  if (auto parsed = daemon.ParseArgs(options->rest); !parsed.ok()) {
    PrintErr(name, Describe(parsed.error()) + " (see --help)");
    return kExitUsage;
  }

  DaemonConfig config;
  if (!options->config_path.empty()) {
    auto loaded = LoadDaemonConfig(options->config_path);
    if (!loaded.ok()) {
      if (loaded.error().code == std::errc::invalid_argument) {
        PrintErr(name, "invalid config (fix it and start again):\n" + loaded.error().context);
      } else {
        PrintErr(name, loaded.error().Message());
      }
      return kExitUsage;
    }
    config = std::move(loaded.value());
  }
  if (auto env = ApplyEnvOverrides(config); !env.ok()) {
    PrintErr(name, Describe(env.error()));
    return kExitUsage;
  }
  if (config.name.empty()) config.name = name;
  if (options->check_config) {
    std::printf("%s: config OK%s\n", name.c_str(),
                options->config_path.empty() ? "" : (": " + options->config_path).c_str());
    return kExitOk;
  }
  if (auto log = ConfigureLog(config.name, config.log); !log.ok()) {
    PrintErr(name, log.error().Message());
    return kExitEnvironment;
  }

  // Signals arrive through a signalfd in the control thread: block them before any thread
  // exists so every thread inherits the mask. SIGPIPE is ignored so a closed peer is an
  // EPIPE, not a death.
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&signals, sig);
  sigset_t old;
  ::pthread_sigmask(SIG_BLOCK, &signals, &old);

  Driver driver(daemon, config.name, options->config_path);
  int code = driver.Main(std::move(config), signals);
  return code;
}

}  // namespace duende::framework
