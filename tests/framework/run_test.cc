// Run(): the driver, exercised on real child processes (forked test daemons and kvd).
#include "duende/framework/run.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_test_util.h"
#include "duende/framework/health_channel.h"
#include "duende/framework/pid_file.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;
using testing_util::Proc;
using testing_util::ReadFile;
using testing_util::TempDir;

// A daemon that says what happens to it on stdout (one line per event).
class EchoDaemon : public Daemon {
 public:
  enum class Behavior {
    kGood,
    kIgnoresStop,
    kUnhealthy,
    kSlowStop,          // returns 200ms after the stop request
    kCompletes,         // Run() returns Completed("all done here") at once
    kFails,             // Run() returns Failed("broke", 7)
    kFailsWithoutCode,  // Run() returns Failed("broke", 0)
    kShutdownFails,     // stops well, Shutdown() fails
    kFailsAndShutdownFails,
    kInitBadConfig,  // Init() rejects the config (invalid_argument)
    kInitFails,      // Init() fails otherwise
  };
  explicit EchoDaemon(Behavior b = Behavior::kGood) : behavior_(b) {}

  std::string Name() const override { return "echo"; }
  Result<void> Init(const DaemonConfig& config) override {
    if (auto t = config.app["tag"].value<std::string>()) tag_ = *t;
    Say("init tag=" + tag_);
    if (behavior_ == Behavior::kInitBadConfig) return MessageError("echo.toml:1:1: bad tag");
    if (behavior_ == Behavior::kInitFails) return ErrnoError("cannot open the store", EACCES);
    return {};
  }
  ExitReason Run(DaemonContext& ctx) override {
    Say("mlock " + ctx.mlock_status().ToString());
    ctx.NotifyReady("tag " + tag_);
    Say("ready");
    switch (behavior_) {
      case Behavior::kCompletes:
        return ExitReason::Completed("all done here");
      case Behavior::kFails:
      case Behavior::kFailsAndShutdownFails:
        return ExitReason::Failed("broke", 7);
      case Behavior::kFailsWithoutCode:
        return ExitReason::Failed("broke", 0);
      default:
        break;
    }
    if (behavior_ == Behavior::kIgnoresStop) {
      for (int i = 0; i < 300; ++i) std::this_thread::sleep_for(100ms);  // 30s at most
      return ExitReason::Stopped();
    }
    while (!ctx.WaitForShutdown(20ms)) {
    }
    if (behavior_ == Behavior::kSlowStop) std::this_thread::sleep_for(200ms);
    Say("run returns");
    return ExitReason::Stopped();
  }
  Result<void> Reload(const DaemonConfig& config) override {
    tag_ = config.app["tag"].value_or(std::string("?"));
    Say("reloaded tag=" + tag_);
    return {};
  }
  HealthReport HealthCheck() override {
    HealthReport r;
    if (behavior_ == Behavior::kUnhealthy) r.Add({"core", HealthState::kUnhealthy, "stuck", {}});
    return r;
  }
  Result<void> Shutdown(std::chrono::nanoseconds budget) override {
    Say("shutdown budget_ns=" + std::to_string(budget.count()));
    if (behavior_ == Behavior::kShutdownFails || behavior_ == Behavior::kFailsAndShutdownFails) {
      return ErrnoError("flushing the store", EIO);
    }
    return {};
  }

 private:
  static void Say(const std::string& s) {
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  }
  Behavior behavior_;
  std::string tag_ = "none";
};

int RunEcho(EchoDaemon::Behavior b, std::vector<std::string> args) {
  EchoDaemon d(b);
  args.insert(args.begin(), "echo");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return Run(d, static_cast<int>(args.size()), argv.data());
}

Proc ForkEcho(const TempDir& dir, std::vector<std::string> args,
              EchoDaemon::Behavior b = EchoDaemon::Behavior::kGood,
              std::vector<std::pair<std::string, std::string>> env = {}) {
  return Proc::Fork([b, args] { return RunEcho(b, args); }, dir / "stderr", env);
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(RunTest, BadConfigExitsTwoWithPositionAndFixAndRunsNothing) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "name = \"echo\"\nshutdown_timout = \"1s\"\n[resources]\nlock_memory = \"yes\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg});
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, kExitUsage);
  std::string err = p.Stderr();
  EXPECT_NE(err.find(cfg + ":2:1: unknown key 'shutdown_timout'; did you mean 'shutdown_timeout'?"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find(cfg + ":4:15: 'lock_memory' in [resources] must be true or false"),
            std::string::npos)
      << err;
  EXPECT_FALSE(p.WaitLine("init", 100ms)) << "Init ran despite a bad config";
}

TEST(RunTest, MissingConfigFileAndBadOptionExitTwo) {
  TempDir dir;
  Proc a = ForkEcho(dir, {"--config", dir / "nope.toml"});
  ASSERT_TRUE(a.Wait(10s));
  EXPECT_EQ(a.Wait(0ms)->code, kExitUsage);
  EXPECT_NE(a.Stderr().find("nope.toml: No such file or directory"), std::string::npos)
      << a.Stderr();
  Proc b = ForkEcho(dir, {"--frobnicate"});
  ASSERT_TRUE(b.Wait(10s));
  EXPECT_EQ(b.Wait(0ms)->code, kExitUsage);
  EXPECT_NE(b.Stderr().find("echo: error: unknown option '--frobnicate'"), std::string::npos)
      << b.Stderr();
}

TEST(RunTest, CheckConfigValidatesWithoutRunning) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "name = \"echo\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg, "--check-config"});
  ASSERT_TRUE(p.Wait(10s));
  EXPECT_EQ(p.Wait(0ms)->code, 0);
  EXPECT_TRUE(p.WaitLine("echo: config OK", 1s));
  EXPECT_FALSE(p.WaitLine("init", 100ms));
}

TEST(RunTest, SigtermStopsGracefullyWithinShutdownTimeout) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "shutdown_timeout = \"5s\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg});
  ASSERT_TRUE(p.WaitLine("ready"));
  int64_t start = MonotonicNs();
  p.Kill(SIGTERM);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  auto took = std::chrono::nanoseconds(MonotonicNs() - start);
  EXPECT_EQ(status->code, 0) << status->ToString() << "\n" << p.Stderr();
  EXPECT_LT(took, 5s) << "the stop must finish inside shutdown_timeout";
  // The whole graceful path ran, in order.
  EXPECT_TRUE(p.WaitLine("run returns", 1s));
  EXPECT_TRUE(p.WaitLine("shutdown", 1s));
  EXPECT_NE(p.Stderr().find("got SIGTERM"), std::string::npos) << p.Stderr();
}

TEST(RunTest, StopThatOverrunsShutdownTimeoutIsCutShortWithExitOne) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  std::string pid_file = dir / "echo.pid";
  WriteFile(cfg, "shutdown_timeout = \"300ms\"\npid_file = \"" + pid_file + "\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg}, EchoDaemon::Behavior::kIgnoresStop);
  ASSERT_TRUE(p.WaitLine("ready"));
  ASSERT_TRUE(std::filesystem::exists(pid_file));
  int64_t start = MonotonicNs();
  p.Kill(SIGINT);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  auto took = std::chrono::nanoseconds(MonotonicNs() - start);
  EXPECT_EQ(status->code, kExitFailed) << status->ToString();
  EXPECT_GE(took, 300ms) << "it was cut before shutdown_timeout";
  EXPECT_LT(took, 5s) << "the daemon's own 30s loop ran instead of the timeout";
  EXPECT_NE(p.Stderr().find("did not stop within shutdown_timeout (300.0ms)"), std::string::npos)
      << p.Stderr();
  EXPECT_FALSE(std::filesystem::exists(pid_file)) << "pid file left behind";
}

TEST(RunTest, SighupReloadsAndABadFileKeepsTheOldConfig) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "[app]\ntag = \"one\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg});
  ASSERT_TRUE(p.WaitLine("init tag=one"));
  ASSERT_TRUE(p.WaitLine("ready"));

  WriteFile(cfg, "[app]\ntag = \"two\"\n");
  p.Kill(SIGHUP);
  EXPECT_TRUE(p.WaitLine("reloaded tag=two", 5s));

  // A bad file: reported with its position, not applied, the daemon keeps running.
  WriteFile(cfg, "shutdown_timeout = \"never\"\n[app]\ntag = \"bad\"\n");
  p.Kill(SIGHUP);
  std::string err;
  for (int i = 0; i < 100 && err.find("keeping the current config") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    err = p.Stderr();
  }
  EXPECT_NE(
      err.find("reload failed: " + cfg + ":1:20: 'shutdown_timeout' must be a duration such as"),
      std::string::npos)
      << err;
  EXPECT_FALSE(p.WaitLine("reloaded tag=bad", 300ms));
  EXPECT_TRUE(p.running());

  // The daemon still works and still reloads.
  WriteFile(cfg, "[app]\ntag = \"three\"\n");
  p.Kill(SIGHUP);
  EXPECT_TRUE(p.WaitLine("reloaded tag=three", 5s));
  p.Kill(SIGTERM);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0);
}

// A datagram socket playing systemd's part.
class NotifyListener {
 public:
  explicit NotifyListener(const std::string& path) : path_(path) {
    fd_.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun), 0);
  }
  /// Next datagram, or "" after `timeout`.
  std::string Next(std::chrono::milliseconds timeout = 5s) {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return "";
    char buf[4096];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  /// Skips datagrams until one starts with `prefix`; returns it ("" on timeout).
  std::string Until(const std::string& prefix, std::chrono::milliseconds timeout = 5s) {
    int64_t deadline = MonotonicNs() + std::chrono::nanoseconds(timeout).count();
    while (MonotonicNs() < deadline) {
      std::string m = Next(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::nanoseconds(deadline - MonotonicNs())));
      if (m.rfind(prefix, 0) == 0) return m;
    }
    return "";
  }

 private:
  std::string path_;
  UniqueFd fd_;
};

TEST(RunTest, SpeaksSdNotifyReadyWatchdogReloadingStopping) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "[app]\ntag = \"one\"\n");
  NotifyListener manager(dir / "notify.sock");
  Proc p = ForkEcho(dir, {"--config", cfg}, EchoDaemon::Behavior::kGood,
                    {{"NOTIFY_SOCKET", dir / "notify.sock"}, {"WATCHDOG_USEC", "100000"}});
  EXPECT_EQ(manager.Until("READY=1"), "READY=1\nSTATUS=tag one");
  // WATCHDOG_USEC=100ms: pings every 50ms; count them over 500ms.
  int pings = 0;
  int64_t end = MonotonicNs() + 500'000'000;
  while (MonotonicNs() < end) {
    if (manager.Next(100ms) == "WATCHDOG=1") ++pings;
  }
  EXPECT_GE(pings, 3);   // 10 expected; a loaded machine may delay a few
  EXPECT_LE(pings, 15);  // not a busy loop
  WriteFile(cfg, "[app]\ntag = \"two\"\n");
  p.Kill(SIGHUP);
  EXPECT_EQ(manager.Until("RELOADING=1").rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u);
  EXPECT_EQ(manager.Until("READY=1"), "READY=1\nSTATUS=reloaded");
  p.Kill(SIGTERM);
  EXPECT_EQ(manager.Until("STOPPING=1"), "STOPPING=1");
  ASSERT_TRUE(p.Wait(10s));
}

TEST(RunTest, UnhealthyDaemonGetsNoWatchdogPings) {
  TempDir dir;
  NotifyListener manager(dir / "notify.sock");
  Proc p = ForkEcho(dir, {}, EchoDaemon::Behavior::kUnhealthy,
                    {{"NOTIFY_SOCKET", dir / "notify.sock"}, {"WATCHDOG_USEC", "100000"}});
  EXPECT_EQ(manager.Until("READY=1"), "READY=1\nSTATUS=tag none");
  EXPECT_EQ(manager.Until("WATCHDOG=1", 500ms), "") << "an unhealthy daemon was vouched for";
  EXPECT_NE(p.Stderr().find("health check unhealthy: unhealthy (core: unhealthy: stuck)"),
            std::string::npos)
      << p.Stderr();
  p.Kill(SIGTERM);
  ASSERT_TRUE(p.Wait(10s));
}

TEST(RunTest, LogsToARotatingFileInsteadOfStderr) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  std::string log = dir / "echo.log";
  WriteFile(cfg, "[log]\nfile = \"" + log + "\"\nmax_bytes = \"1KiB\"\nkeep = 2\n");
  Proc p = ForkEcho(dir, {"--config", cfg});
  ASSERT_TRUE(p.WaitLine("ready"));
  for (int i = 0; i < 20; ++i) {
    p.Kill(SIGUSR1);  // each logs a health and a metrics line
    std::this_thread::sleep_for(10ms);
  }
  p.Kill(SIGTERM);
  ASSERT_TRUE(p.Wait(10s));
  EXPECT_EQ(p.Stderr(), "");
  std::string all = ReadFile(log + ".1") + ReadFile(log);
  EXPECT_NE(all.find("echo["), std::string::npos);
  EXPECT_NE(all.find("exiting with code 0"), std::string::npos) << all;
  EXPECT_TRUE(std::filesystem::exists(log + ".1"));
  EXPECT_LE(std::filesystem::file_size(log), 1024u);
  EXPECT_FALSE(std::filesystem::exists(log + ".3"));
}

/// Waits until the child's stderr contains `text`.
bool WaitStderr(const Proc& p, const std::string& text, std::chrono::milliseconds timeout = 5s) {
  const int64_t deadline = MonotonicNs() + std::chrono::nanoseconds(timeout).count();
  while (p.Stderr().find(text) == std::string::npos) {
    if (MonotonicNs() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

/// The budget Shutdown() was given, from its "shutdown budget_ns=N" line (-1 if none).
int64_t ShutdownBudgetNs(Proc& p) {
  auto line = p.WaitLine("shutdown budget_ns=", 10s);
  if (!line) return -1;
  return std::stoll(line->substr(std::strlen("shutdown budget_ns=")));
}

TEST(RunTest, DriverOptionsWithoutTheirValueOrForHelp) {
  TempDir dir;
  for (const char* args : {"--config", "--config="}) {
    Proc p = ForkEcho(dir, {args});
    auto status = p.Wait(10s);
    ASSERT_TRUE(status) << args;
    EXPECT_EQ(status->code, kExitUsage) << args;
    EXPECT_EQ(p.Stderr(), "echo: error: --config needs a file: --config FILE\n") << args;
  }
  for (const char* args : {"-h", "--help"}) {
    Proc p = ForkEcho(dir, {args});
    EXPECT_TRUE(p.WaitLine("usage: echo [--config FILE] [--check-config] [options]", 5s)) << args;
    auto status = p.Wait(10s);
    ASSERT_TRUE(status) << args;
    EXPECT_EQ(status->code, kExitOk) << args;
    EXPECT_FALSE(p.WaitLine("init", 100ms)) << args << ": the daemon ran";
  }
}

TEST(RunTest, BadEnvironmentOverrideExitsTwoAndUnopenableLogExitsThree) {
  TempDir dir;
  Proc env = ForkEcho(dir, {}, EchoDaemon::Behavior::kGood, {{"DUENDE_MLOCK", "maybe"}});
  auto status = env.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, kExitUsage);
  EXPECT_NE(env.Stderr().find("DUENDE_MLOCK"), std::string::npos) << env.Stderr();
  EXPECT_FALSE(env.WaitLine("init", 100ms));

  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "[log]\nfile = \"" + (dir / "missing/echo.log") + "\"\n");
  Proc log = ForkEcho(dir, {"--config", cfg});
  status = log.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, kExitEnvironment) << log.Stderr();
  EXPECT_NE(log.Stderr().find("echo.log"), std::string::npos) << log.Stderr();
  EXPECT_FALSE(log.WaitLine("init", 100ms));
}

TEST(RunTest, NoDescriptorsForSignalHandlingOrTheContextExitsThree) {
  // Room for exactly three new descriptors (signalfd, eventfd, the deadline timerfd): the
  // watchdog timerfd is the one that fails. With four, the daemon context's eventfd fails.
  struct Case {
    rlim_t limit;
    std::string says;
  };
  for (const Case& c : {Case{6, "unable to set up signal handling: Too many open files"},
                        Case{7, "unable to create an eventfd: Too many open files"}}) {
    TempDir dir;
    Proc p = Proc::Fork(
        [limit = c.limit] {
          ::close_range(3, ~0U, 0);
          ::unsetenv("NOTIFY_SOCKET");
          ::unsetenv(kHealthFdEnv);
          rlimit lim{limit, limit};
          if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 99;
          return RunEcho(EchoDaemon::Behavior::kGood, {});
        },
        dir / "stderr");
    auto status = p.Wait(10s);
    ASSERT_TRUE(status) << c.says;
    EXPECT_EQ(status->code, kExitEnvironment) << p.Stderr();
    EXPECT_NE(p.Stderr().find(c.says), std::string::npos) << p.Stderr();
    EXPECT_FALSE(p.WaitLine("init", 100ms));
  }
}

TEST(RunTest, ExitCodesOfFailedInitRunAndShutdown) {
  using B = EchoDaemon::Behavior;
  struct Case {
    B behavior;
    int code;
    std::string says;
  };
  for (const Case& c :
       {Case{B::kFails, 7, "failed: broke"},
        Case{B::kFailsWithoutCode, kExitFailed, "failed: broke"},
        Case{B::kShutdownFails, kExitFailed, "shutdown: flushing the store: Input/output error"},
        Case{B::kFailsAndShutdownFails, 7, "shutdown: flushing the store"},
        Case{B::kInitBadConfig, kExitUsage,
             "echo: error: invalid config:\necho.toml:1:1: bad tag\n"},
        Case{B::kInitFails, kExitFailed,
             "init failed: cannot open the store: Permission denied"}}) {
    SCOPED_TRACE(c.says);
    TempDir dir;
    Proc p = ForkEcho(dir, {}, c.behavior);
    if (c.behavior == B::kShutdownFails) {
      ASSERT_TRUE(p.WaitLine("ready"));
      p.Kill(SIGTERM);
    }
    auto status = p.Wait(10s);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, c.code) << p.Stderr();
    EXPECT_NE(p.Stderr().find(c.says), std::string::npos) << p.Stderr();
    if (c.behavior == B::kInitBadConfig || c.behavior == B::kInitFails) {
      EXPECT_FALSE(p.WaitLine("ready", 100ms)) << "Run() was called after a failed Init()";
    } else {
      EXPECT_NE(p.Stderr().find("exiting with code " + std::to_string(c.code)), std::string::npos)
          << p.Stderr();
    }
  }
}

TEST(RunTest, ShutdownGetsWhatIsLeftOfShutdownTimeoutAfterTheStopSignal) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "shutdown_timeout = \"5s\"\n");
  NotifyListener manager(dir / "notify.sock");
  Proc p = ForkEcho(dir, {"--config", cfg}, EchoDaemon::Behavior::kSlowStop,
                    {{"NOTIFY_SOCKET", dir / "notify.sock"}});
  ASSERT_TRUE(p.WaitLine("ready"));
  p.Kill(SIGTERM);
  // Run() took 200ms after the signal: Shutdown() gets at most 4.8s, and some of it.
  const int64_t budget = ShutdownBudgetNs(p);
  EXPECT_GT(budget, 0);
  EXPECT_LE(budget, 4'800'000'000);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0) << p.Stderr();
  // STOPPING=1 went out once, although both the signal and the end of Run() lead to it.
  int stopping = 0;
  for (std::string m = manager.Next(1s); !m.empty(); m = manager.Next(200ms)) {
    if (m == "STOPPING=1") ++stopping;
  }
  EXPECT_EQ(stopping, 1);
}

TEST(RunTest, DaemonThatCompletesOnItsOwnGetsAllOfShutdownTimeout) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "shutdown_timeout = \"5s\"\n");
  NotifyListener manager(dir / "notify.sock");
  Proc p = ForkEcho(dir, {"--config", cfg}, EchoDaemon::Behavior::kCompletes,
                    {{"NOTIFY_SOCKET", dir / "notify.sock"}});
  EXPECT_EQ(ShutdownBudgetNs(p), 5'000'000'000);
  EXPECT_EQ(manager.Until("STOPPING=1"), "STOPPING=1");
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0) << p.Stderr();
  EXPECT_NE(p.Stderr().find("info: all done here"), std::string::npos) << p.Stderr();
}

TEST(RunTest, SighupWithoutAConfigFileIsIgnoredWithAWarning) {
  TempDir dir;
  Proc p = ForkEcho(dir, {});
  ASSERT_TRUE(p.WaitLine("ready"));
  p.Kill(SIGHUP);
  EXPECT_TRUE(WaitStderr(p, "got SIGHUP but no --config file was given; nothing to reload"))
      << p.Stderr();
  EXPECT_FALSE(p.WaitLine("reloaded", 200ms));
  EXPECT_TRUE(p.running());
  p.Kill(SIGTERM);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 0);
}

TEST(RunTest, ReloadErrorsAreLoggedOneLineEach) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "[app]\ntag = \"one\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg});
  ASSERT_TRUE(p.WaitLine("ready"));
  WriteFile(cfg, "shutdown_timeout = \"never\"\nstop_signal = \"SIGNOPE\"\nbogus = 1\n");
  p.Kill(SIGHUP);
  ASSERT_TRUE(WaitStderr(p, "keeping the current config")) << p.Stderr();
  std::istringstream lines(p.Stderr());
  int errors = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("reload failed: " + cfg + ":") == std::string::npos) continue;
    ++errors;
    // Each line holds one problem: no escaped newline joins a second one to it.
    EXPECT_EQ(line.find("\\n"), std::string::npos) << line;
  }
  EXPECT_EQ(errors, 3) << p.Stderr();
}

TEST(RunTest, ReloadedShutdownTimeoutIsTheOneInForce) {
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "shutdown_timeout = \"60s\"\n");
  Proc p = ForkEcho(dir, {"--config", cfg}, EchoDaemon::Behavior::kIgnoresStop);
  ASSERT_TRUE(p.WaitLine("ready"));
  WriteFile(cfg, "shutdown_timeout = \"300ms\"\n");
  p.Kill(SIGHUP);
  // The control thread handles signals one after the other: SIGTERM comes after the reload.
  ASSERT_TRUE(WaitStderr(p, "got SIGHUP; reloading")) << p.Stderr();
  p.Kill(SIGTERM);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status) << "the 60s of the old config were in force";
  EXPECT_EQ(status->code, kExitFailed);
  EXPECT_NE(p.Stderr().find("did not stop within shutdown_timeout (300.0ms)"), std::string::npos)
      << p.Stderr();
}

TEST(RunTest, StalePidFileIsTakenOverWithAWarning) {
  TempDir dir;
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  std::string cfg = dir / "echo.toml";
  std::string pid_file = dir / "echo.pid";
  WriteFile(cfg, "pid_file = \"" + pid_file + "\"\n");
  WriteFile(pid_file, std::to_string(dead) + "\n");
  {
    Proc p = ForkEcho(dir, {"--config", cfg});
    ASSERT_TRUE(p.WaitLine("ready"));
    EXPECT_NE(p.Stderr().find("took over stale pid file " + pid_file + " of pid " +
                              std::to_string(dead) + " (no longer running)"),
              std::string::npos)
        << p.Stderr();
    EXPECT_EQ(ReadFile(pid_file), std::to_string(p.pid()) + "\n");
    p.Kill(SIGTERM);
    ASSERT_TRUE(p.Wait(10s));
  }
  EXPECT_FALSE(std::filesystem::exists(pid_file));
  // Without a stale file there is nothing to warn about.
  Proc fresh = ForkEcho(dir, {"--config", cfg});
  ASSERT_TRUE(fresh.WaitLine("ready"));
  EXPECT_EQ(fresh.Stderr().find("took over"), std::string::npos) << fresh.Stderr();
}

TEST(RunTest, Sigusr1LogsHealthWithTheMeasuredLatency) {
  TempDir dir;
  Proc p = ForkEcho(dir, {});
  ASSERT_TRUE(p.WaitLine("ready"));
  p.Kill(SIGUSR1);
  ASSERT_TRUE(WaitStderr(p, "metrics: ")) << p.Stderr();
  const std::string err = p.Stderr();
  const std::string key = "health: healthy in ";
  size_t at = err.find(key);
  ASSERT_NE(at, std::string::npos) << err;
  const std::string latency = err.substr(at + key.size(), err.find('\n', at) - at - key.size());
  // HealthCheck() left the latency at 0: the driver measured the call, which takes well under
  // a second and more than nothing.
  EXPECT_NE(latency, "0ns");
  const bool small_unit =
      latency.size() > 2 &&
      (latency.ends_with("ns") || latency.ends_with("us") || latency.ends_with("ms"));
  EXPECT_TRUE(small_unit) << latency;
}

TEST(RunTest, DaemonSeesTheMlockStatusOfItsStart) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs CAP_IPC_LOCK (root) to lock memory";
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "[resources]\nlock_memory = true\n");
  Proc p = ForkEcho(dir, {"--config", cfg});
  auto line = p.WaitLine("mlock ");
  ASSERT_TRUE(line);
  EXPECT_EQ(line->rfind("mlock locked", 0), 0u) << *line;
}

TEST(RunTest, AnswersTheSupervisorsHealthRequestsOnTheInheritedChannel) {
  TempDir dir;
  auto channel = CreateHealthChannel();
  ASSERT_TRUE(channel.ok()) << channel.error().Message();
  auto& [supervisor_end, child_end] = channel.value();
  Proc p = ForkEcho(dir, {}, EchoDaemon::Behavior::kUnhealthy,
                    {{kHealthFdEnv, std::to_string(child_end.get())}});
  ASSERT_TRUE(p.WaitLine("ready"));
  // Every request is answered, not just the first.
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    const std::string request = HealthRequest(seq);
    ASSERT_EQ(::send(supervisor_end.get(), request.data(), request.size(), 0),
              static_cast<ssize_t>(request.size()));
    pollfd pfd{supervisor_end.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 5000), 1) << "no reply to request " << seq;
    char buf[kHealthReplyMax];
    ssize_t n = ::recv(supervisor_end.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    auto answer = ParseHealthReply(std::string(buf, static_cast<size_t>(n)));
    ASSERT_TRUE(answer.ok()) << answer.error().Message();
    EXPECT_EQ(answer->seq, seq);
    EXPECT_EQ(answer->state, HealthState::kUnhealthy);
    EXPECT_NE(answer->text.find("core: unhealthy: stuck"), std::string::npos) << answer->text;
  }
  p.Kill(SIGTERM);
  ASSERT_TRUE(p.Wait(10s));
}

TEST(RunTest, WatchdogPingsThatSucceedLogNoWarning) {
  TempDir dir;
  NotifyListener manager(dir / "notify.sock");
  Proc p = ForkEcho(dir, {}, EchoDaemon::Behavior::kGood,
                    {{"NOTIFY_SOCKET", dir / "notify.sock"}, {"WATCHDOG_USEC", "100000"}});
  ASSERT_EQ(manager.Until("WATCHDOG=1"), "WATCHDOG=1");
  ASSERT_EQ(manager.Until("WATCHDOG=1"), "WATCHDOG=1");
  p.Kill(SIGTERM);
  ASSERT_TRUE(p.Wait(10s));
  EXPECT_EQ(p.Stderr().find("warn"), std::string::npos) << p.Stderr();
}

TEST(RunTest, NoWatchdogPingsWhenTheManagerAsksForNone) {
  TempDir dir;
  NotifyListener manager(dir / "notify.sock");
  Proc p = ForkEcho(dir, {}, EchoDaemon::Behavior::kGood, {{"NOTIFY_SOCKET", dir / "notify.sock"}});
  EXPECT_EQ(manager.Until("READY=1"), "READY=1\nSTATUS=tag none");
  EXPECT_EQ(manager.Until("WATCHDOG=1", 500ms), "") << "pinged without WATCHDOG_USEC";
  p.Kill(SIGTERM);
  ASSERT_TRUE(p.Wait(10s));
}

TEST(RunTest, StopsOnSigtermWhenStartedWithStdinClosed) {
  // Started with fd 0 closed (as some init scripts do), the signalfd becomes fd 0: it must
  // still be watched.
  TempDir dir;
  Proc p = Proc::Fork(
      [] {
        ::close(STDIN_FILENO);
        return RunEcho(EchoDaemon::Behavior::kGood, {});
      },
      dir / "stderr");
  ASSERT_TRUE(p.WaitLine("ready"));
  p.Kill(SIGTERM);
  auto status = p.Wait(10s);
  ASSERT_TRUE(status) << "SIGTERM was not handled";
  EXPECT_EQ(status->code, 0) << p.Stderr();
}

TEST(RunTest, RequiredMemoryLockThatFailsExitsThreeWithTheRemedy) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop CAP_IPC_LOCK in the child";
  TempDir dir;
  std::string cfg = dir / "echo.toml";
  WriteFile(cfg, "[resources]\nlock_memory = true\nlock_memory_required = true\n");
  Proc p = Proc::Fork(
      [cfg] {
        // Without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0, mlockall() fails.
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
        if (::syscall(SYS_capget, &header, data) != 0) return 98;
        data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
        data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
        if (::syscall(SYS_capset, &header, data) != 0) return 98;
        rlimit lim{0, 0};
        if (::setrlimit(RLIMIT_MEMLOCK, &lim) != 0) return 99;
        return RunEcho(EchoDaemon::Behavior::kGood, {"--config", cfg});
      },
      dir / "stderr");
  auto status = p.Wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, kExitEnvironment) << p.Stderr();
  EXPECT_NE(p.Stderr().find("lock_memory_required: mlockall failed"), std::string::npos)
      << p.Stderr();
  EXPECT_FALSE(p.WaitLine("init", 100ms)) << "Init ran although the memory lock was required";
}

}  // namespace
}  // namespace duende::framework
