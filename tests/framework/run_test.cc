// Run(): the driver, exercised on real child processes (forked test daemons and kvd).
#include "duende/framework/run.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <fstream>
#include <thread>

#include "daemon_test_util.h"
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
  enum class Behavior { kGood, kIgnoresStop, kUnhealthy };
  explicit EchoDaemon(Behavior b = Behavior::kGood) : behavior_(b) {}

  std::string Name() const override { return "echo"; }
  Result<void> Init(const DaemonConfig& config) override {
    if (auto t = config.app["tag"].value<std::string>()) tag_ = *t;
    Say("init tag=" + tag_);
    return {};
  }
  ExitReason Run(DaemonContext& ctx) override {
    ctx.NotifyReady("tag " + tag_);
    Say("ready");
    if (behavior_ == Behavior::kIgnoresStop) {
      for (int i = 0; i < 300; ++i) std::this_thread::sleep_for(100ms);  // 30s at most
      return ExitReason::Stopped();
    }
    while (!ctx.WaitForShutdown(20ms)) {
    }
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
  Result<void> Shutdown(std::chrono::nanoseconds) override {
    Say("shutdown");
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

}  // namespace
}  // namespace duende::framework
