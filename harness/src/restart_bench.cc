#include "duende/harness/restart_bench.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "duende/adapters/adapter.h"
#include "duende/adapters/native_adapter.h"
#include "duende/adapters/platform.h"
#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/supervisor.h"
#include "duende/framework/temp_dir.h"

extern char** environ;

namespace duende::harness {

namespace fw = framework;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

LatencySummary Summarize(const std::vector<double>& ms) {
  LatencySummary s;
  s.count = ms.size();
  if (ms.empty()) return s;
  s.median_ms = Percentile(ms, 0.5);
  s.p99_ms = Percentile(ms, 0.99);
  s.max_ms = *std::max_element(ms.begin(), ms.end());
  return s;
}

BareParent::BareParent(std::vector<std::string> argv, std::vector<std::string> env)
    : argv_(std::move(argv)), env_(std::move(env)) {}

BareParent::~BareParent() { Stop(); }

fw::Result<void> BareParent::Start() {
  if (argv_.empty() || argv_[0].empty()) {
    return fw::MessageError("the bare parent has no program to run", std::errc::invalid_argument);
  }
  thread_ = std::thread([this] { Loop(); });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return started_ || spawn_error_ != 0; });
  if (spawn_error_ != 0) {
    lock.unlock();
    Stop();
    return fw::ErrnoError("posix_spawn " + argv_[0], spawn_error_);
  }
  return {};
}

void BareParent::Stop() {
  stop_ = true;
  if (pid_t p = pid_.load(); p > 0) ::kill(p, SIGKILL);
  if (thread_.joinable()) thread_.join();
}

std::optional<BareParent::Restart> BareParent::WaitRestart(pid_t old_pid, int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<Restart> found;
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
    for (const auto& r : restarts_) {
      if (r.old_pid == old_pid && r.pid > 0) found = r;
    }
    return found.has_value() || spawn_error_ != 0;
  });
  return found;
}

void BareParent::Loop() {
  std::vector<std::string> args = argv_;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment is built once: nothing but posix_spawn and the pidfd happens per restart.
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool overridden = false;
    for (const auto& o : env_) {
      size_t eq = o.find('=');
      if (eq != std::string::npos && kv.substr(0, eq + 1) == std::string_view(o).substr(0, eq + 1))
        overridden = true;
    }
    if (!overridden) env_store.emplace_back(kv);
  }
  for (const auto& o : env_) env_store.push_back(o);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  // The children's output goes nowhere (it would mix with the benchmark's report).
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  struct ActionsGuard {
    posix_spawn_file_actions_t* a;
    ~ActionsGuard() { posix_spawn_file_actions_destroy(a); }
  } guard{&actions};
  Restart pending;  // the exit that the next spawn answers
  while (!stop_) {
    pid_t pid = 0;
    const int64_t spawn_ns = fw::MonotonicNs();
    int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (rc != 0) {
        spawn_error_ = rc;
      } else {
        pid_ = pid;
        if (pending.old_pid > 0) {
          pending.spawned_ns = spawn_ns;
          pending.pid = pid;
          restarts_.push_back(pending);
        }
        started_ = true;
      }
    }
    cv_.notify_all();
    if (rc != 0) return;
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
    if (pidfd >= 0) {
      pollfd p{pidfd, POLLIN, 0};
      while (::poll(&p, 1, -1) < 0) {
      }
    }
    pending = Restart{};
    pending.old_pid = pid;
    pending.exited_ns = fw::MonotonicNs();
    ::waitpid(pid, nullptr, 0);
    if (pidfd >= 0) ::close(pidfd);
    pid_ = -1;
  }
}

namespace {

// The adapter's events, kept for the measuring thread.
class EventLog {
 public:
  void Add(const fw::ServiceEvent& e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
    }
    cv_.notify_all();
  }
  /// Waits for the first event at index >= *from of one of `types`; moves *from past it.
  std::optional<fw::ServiceEvent> Next(size_t* from, std::initializer_list<fw::EventType> types,
                                       int64_t deadline_ns) {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      for (; *from < events_.size(); ++*from) {
        const auto& e = events_[*from];
        if (e.type == fw::EventType::kGaveUp || e.type == fw::EventType::kNotRestarting) {
          stopped_ = e;
        }
        if (std::find(types.begin(), types.end(), e.type) != types.end()) return events_[(*from)++];
      }
      if (stopped_) return std::nullopt;
      const int64_t now = fw::MonotonicNs();
      if (now >= deadline_ns) return std::nullopt;
      cv_.wait_for(lock, std::chrono::nanoseconds(deadline_ns - now));
    }
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }
  std::optional<fw::ServiceEvent> stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<fw::ServiceEvent> events_;
  std::optional<fw::ServiceEvent> stopped_;
};

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

fw::Error NoRestart(const std::string& what, int kill, EventLog& log) {
  auto stopped = log.stopped();
  return fw::MessageError(
      "kill " + std::to_string(kill) + ": " + what +
          (stopped ? " (" + stopped->ToString() + ")"
                   : " in time (a restart policy that stays down, a start limit, or a daemon "
                     "that does not become ready: see [restart] in docs/config.md)"),
      std::errc::timed_out);
}

}  // namespace

fw::Result<RestartBenchResult> RunRestartBench(const fw::DaemonConfig& config,
                                               const RestartBenchOptions& options) {
  if (config.command.empty() || config.command[0].empty()) {
    return fw::MessageError(config.name + ": the config has no command to run",
                            std::errc::invalid_argument);
  }
  auto platform = adapters::ParsePlatform(options.platform);
  if (!platform) {
    return fw::MessageError(
        "--platform \"" + options.platform + "\" is not one of " + adapters::PlatformNames(),
        std::errc::invalid_argument);
  }
  if (std::string why = adapters::CannotRun(options.platform); !why.empty()) {
    return fw::MessageError(why, std::errc::invalid_argument);
  }
  RestartBenchResult out;
  out.daemon = config.name;
  out.platform = options.platform;
  const int64_t timeout_ns = int64_t{options.restart_timeout_ms} * 1000000;

  // The daemon's output goes to NAME.log in a private directory, not into the report; kept
  // (and named) when the benchmark fails.
  std::string tmpl = fw::TempDir() + "/duende-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return fw::ErrnoError("mkdtemp " + tmpl);
  const std::string log_dir = tmpl;
  auto fail = [&log_dir](fw::Error e) {
    e.context +=
        (e.context.empty() ? "" : "; ") + std::string("the daemon's output is in ") + log_dir;
    return e;
  };
  {
    fw::Result<std::unique_ptr<adapters::Adapter>> made = fw::Error{};
    if (*platform == adapters::Platform::kNative) {
      fw::SupervisorOptions so;
      so.log_dir = log_dir;
      auto native = adapters::NativeAdapter::Create(config, config, so);
      if (native.ok()) {
        made = std::unique_ptr<adapters::Adapter>(std::move(native).value());
      } else {
        made = native.error();
      }
    } else {
      adapters::AdapterOptions ao;
      ao.log_dir = log_dir;
      made = adapters::MakeAdapter(*platform, config, ao);
    }
    if (!made.ok()) return fail(made.error());
    std::unique_ptr<adapters::Adapter> adapter = std::move(made).value();
    EventLog log;
    adapter->Subscribe([&log](const fw::ServiceEvent& e) { log.Add(e); });
    if (auto started = adapter->Start(); !started.ok()) return fail(started.error());
    size_t cursor = 0;
    auto cleanup = [&] {
      (void)adapter->Stop();
      (void)adapter->Remove();
    };
    if (!log.Next(&cursor, {fw::EventType::kReady}, fw::MonotonicNs() + timeout_ns)) {
      cleanup();
      return fail(NoRestart("the daemon did not become ready", 0, log));
    }
    for (int k = 1; k <= options.kills; ++k) {
      // A short pause, so that each kill hits a daemon that is up and idle.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      cursor = log.size();
      const int64_t t0 = fw::MonotonicNs();
      if (auto killed = adapter->Kill(SIGKILL); !killed.ok()) {
        cleanup();
        return fail(killed.error());
      }
      const int64_t deadline = t0 + timeout_ns;
      auto exited = log.Next(&cursor, {fw::EventType::kExited}, deadline);
      if (!exited) {
        cleanup();
        return fail(NoRestart("no exit seen", k, log));
      }
      std::optional<fw::ServiceEvent> scheduled;
      auto next =
          log.Next(&cursor, {fw::EventType::kRestartScheduled, fw::EventType::kSpawned}, deadline);
      if (next && next->type == fw::EventType::kRestartScheduled) {
        scheduled = next;
        next = log.Next(&cursor, {fw::EventType::kSpawned}, deadline);
      }
      if (!next) {
        cleanup();
        return fail(NoRestart("no restart", k, log));
      }
      const fw::ServiceEvent spawned = *next;
      auto ready = log.Next(&cursor, {fw::EventType::kReady}, deadline);
      if (!ready) {
        cleanup();
        return fail(NoRestart("the restarted daemon did not become ready", k, log));
      }
      out.kill_to_exit_ms.push_back(Ms(exited->ts_ns - t0));
      out.kill_to_spawn_ms.push_back(Ms(spawned.ts_ns - t0));
      out.kill_to_ready_ms.push_back(Ms(ready->ts_ns - t0));
      if (scheduled) {
        out.backoff_delay_ms.push_back(Ms(scheduled->delay.count()));
        out.backoff_error_ms.push_back(
            Ms(spawned.ts_ns - (scheduled->ts_ns + scheduled->delay.count())));
      }
      ++out.kills;
    }
    cleanup();
  }

  // The floor, in the same run: the same argv restarted by nothing but posix_spawn + pidfd.
  std::vector<std::string> env;
  for (const auto& [k, v] : config.env) env.push_back(k + "=" + v);
  std::vector<std::string> argv = config.command;
  if (argv[0].find('/') == std::string::npos) {
    auto found = fw::FindExecutable(argv[0]);
    if (!found.ok()) return fail(found.error());
    argv[0] = *found;
  }
  BareParent bare(argv, env);
  if (auto started = bare.Start(); !started.ok()) return started.error();
  for (int k = 1; k <= options.kills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const pid_t old = bare.pid();
    const int64_t t0 = fw::MonotonicNs();
    if (old <= 0 || ::kill(old, SIGKILL) != 0) break;
    auto r = bare.WaitRestart(old, options.restart_timeout_ms);
    if (!r) break;
    out.bare_kill_to_exit_ms.push_back(Ms(r->exited_ns - t0));
    out.bare_kill_to_spawn_ms.push_back(Ms(r->spawned_ns - t0));
  }
  bare.Stop();
  std::error_code ec;
  std::filesystem::remove_all(log_dir, ec);
  return out;
}

}  // namespace duende::harness
