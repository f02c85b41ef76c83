// `duende top` end to end: against a real `duende supervise` whose service burns a known CPU
// share and holds known resident and locked memory (duende-fixture-burn), the figures are
// compared with /proc; the live view runs in a detached tmux session (capture-pane, send-keys,
// resize-window) and its own CPU cost is measured; a scenario run with `duende run --control`
// shows its load, faults and targets; bad input, a missing socket and a refused user get
// their exit codes.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "support/as_nobody.h"
#include "support/background.h"
#include "support/cli.h"
#include "support/files.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace duende {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::Background;
using testing::Eventually;
using testing::RunArgv;
using testing::TempDir;

constexpr uint64_t kMiB = 1024 * 1024;

// utime + stime of `pid` in seconds, from /proc/PID/stat; -1 when unreadable.
double ProcCpuSeconds(pid_t pid) {
  const std::string stat = testing::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A "Key:   N kB" line of /proc/PID/status in bytes; 0 when absent.
uint64_t ProcStatusBytes(pid_t pid, const std::string& key) {
  const std::string status = testing::ReadFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = status.find("\n" + key + ":");
  if (at == std::string::npos) return 0;
  return std::strtoull(status.c_str() + at + key.size() + 2, nullptr, 10) * 1024;
}

uint64_t ProcFds(pid_t pid) {
  uint64_t n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
  }
  return n;
}

// `duende supervise` of one service "burn" (duende-fixture-burn with `burn_args`), stopped
// with SIGTERM (so the service stops too) at the end of the scope.
class Supervised {
 public:
  Supervised(const TempDir& dir, const std::string& burn_args)
      : socket_(dir / "ctl.sock"),
        sup_({DUENDE_PATH, "supervise", "--socket", socket_,
              dir.Write("services.toml",
                        "[[service]]\nname = \"burn\"\ncommand = [\"" BURN_PATH "\", " + burn_args +
                            "]\n[service.restart.backoff]\ninitial = \"50ms\"\n"
                            "jitter = \"none\"\n")},
             dir / "sup.err") {}
  ~Supervised() {
    ::kill(sup_.pid(), SIGTERM);
    (void)sup_.Wait(20s);
  }
  const std::string& socket() const { return socket_; }
  std::string Stderr() const { return sup_.Stderr(); }

  /// The service's status object from `duende ctl status --json` (null when none).
  json Service() const {
    auto r = RunArgv({DUENDE_PATH, "ctl", "--socket", socket_, "status", "--json"});
    auto j = json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("services") || j["services"].empty()) return nullptr;
    return j["services"][0];
  }
  /// Waits until the service runs with its memory in place; its pid, or -1.
  pid_t WaitRunning(uint64_t min_rss) const {
    pid_t pid = -1;
    Eventually(
        [&] {
          json s = Service();
          if (s.is_null() || s["state"] != "running") return false;
          pid = s.value("pid", -1);
          return pid > 0 && ProcStatusBytes(pid, "VmRSS") >= min_rss;
        },
        20s);
    return pid;
  }

 private:
  std::string socket_;
  Background sup_;
};

TEST(TopCliTest, JsonAgreesWithProcUnderAKnownLoad) {
  TempDir dir("top-json");
  Supervised sup(dir, "\"--cpu\", \"0.4\", \"--rss\", \"64MiB\", \"--lock\", \"4MiB\"");
  const pid_t pid = sup.WaitRunning(64 * kMiB);
  ASSERT_GT(pid, 0) << sup.Stderr();
  std::this_thread::sleep_for(500ms);  // past the start, into the steady burn

  // /proc is read every 2 ms while top takes its two samples 3 s apart; top's reply says when
  // it sampled (CLOCK_MONOTONIC, the same clock here), so /proc's rate is taken over the same
  // window, from the readings nearest to its ends.
  std::vector<std::pair<int64_t, double>> readings;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) {
      readings.emplace_back(framework::MonotonicNs(), ProcCpuSeconds(pid));
      std::this_thread::sleep_for(2ms);
    }
  });
  auto r = RunArgv({DUENDE_PATH, "top", "--json", "--interval", "3s", "--socket", sup.socket()});
  done = true;
  reader.join();
  const uint64_t rss = ProcStatusBytes(pid, "VmRSS");
  const uint64_t lck = ProcStatusBytes(pid, "VmLck");
  const uint64_t fds = ProcFds(pid);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["kind"], "supervise");
  ASSERT_EQ(j["services"].size(), 1u) << r.out;
  const json& s = j["services"][0];
  EXPECT_EQ(s["name"], "burn");
  EXPECT_EQ(s["state"], "running");
  EXPECT_EQ(s["pid"], pid);
  EXPECT_EQ(s["restarts"], 0);
  EXPECT_EQ(s["processes"], 1);
  ASSERT_TRUE(s["cpu_percent"].is_number()) << r.out;

  const int64_t end_ns = j["sampled_ns"].get<int64_t>();
  const int64_t start_ns = end_ns - static_cast<int64_t>(j["window_s"].get<double>() * 1e9);
  auto nearest = [&](int64_t t) {
    auto best = readings.front();
    for (const auto& x : readings) {
      if (std::llabs(x.first - t) < std::llabs(best.first - t)) best = x;
    }
    return best;
  };
  const auto [t0, cpu0] = nearest(start_ns);
  const auto [t1, cpu1] = nearest(end_ns);
  const double proc_percent = 100 * (cpu1 - cpu0) / (static_cast<double>(t1 - t0) / 1e9);
  const double top_percent = s["cpu_percent"].get<double>();
  std::printf(
      "[ figures  ] CPU %%: top %.2f, /proc %.2f (fixture asks 40); RSS: top %llu, "
      "/proc %llu bytes\n",
      top_percent, proc_percent, s["rss_bytes"].get<unsigned long long>(),
      static_cast<unsigned long long>(rss));
  EXPECT_GT(proc_percent, 10) << "the fixture did not burn (a very busy machine?)";
  EXPECT_NEAR(top_percent, proc_percent, 0.05 * proc_percent);
  EXPECT_NEAR(s["rss_bytes"].get<double>(), static_cast<double>(rss),
              0.01 * static_cast<double>(rss));
  EXPECT_GE(s["rss_bytes"].get<uint64_t>(), 64 * kMiB);
  EXPECT_EQ(s["vmlck_bytes"].get<uint64_t>(), lck);
  EXPECT_EQ(lck, 4 * kMiB);
  EXPECT_EQ(s["fds"].get<uint64_t>(), fds);
  EXPECT_NEAR(s["cpu_seconds"].get<double>(), cpu1, 0.05) << "at the same moment";
}

TEST(TopCliTest, OncePrintsOneFrame) {
  TempDir dir("top-once");
  Supervised sup(dir, "\"--rss\", \"8MiB\"");
  const pid_t pid = sup.WaitRunning(8 * kMiB);
  ASSERT_GT(pid, 0) << sup.Stderr();
  auto r = RunArgv({DUENDE_PATH, "top", "--once", "--interval", "200ms", "--socket", sup.socket()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("duende top: supervise via " + sup.socket() + ", 1 service(s)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("NAME            STATE     PID      RESTARTS CPU%   RSS        FDS   "
                       "VMLCK     PROCS LAST EXIT / STATUS"),
            std::string::npos)
      << r.out;
  std::istringstream lines(r.out);
  std::string line;
  bool row = false;
  while (std::getline(lines, line)) {
    std::istringstream cells(line);
    std::string name, state, p, restarts;
    cells >> name >> state >> p >> restarts;
    if (name != "burn") continue;
    row = true;
    EXPECT_EQ(state, "running");
    EXPECT_EQ(p, std::to_string(pid));
    EXPECT_EQ(restarts, "0");
  }
  EXPECT_TRUE(row) << r.out;
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << "--once is plain text";
}

TEST(TopCliTest, BadInputMissingSocketAndRefusedUser) {
  TempDir dir("top-errors");
  auto bad = RunArgv({DUENDE_PATH, "top", "--once", "--interval", "5ms", "--socket", dir / "x"});
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--interval: "), std::string::npos) << bad.err;
  bad = RunArgv({DUENDE_PATH, "top", "--once", "--json", "--socket", dir / "x"});
  EXPECT_EQ(bad.code, 2) << bad.err;
  bad = RunArgv({DUENDE_PATH, "top", "--once", "--socket", std::string(200, 'a')});
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("too long"), std::string::npos) << bad.err;
  bad = RunArgv({DUENDE_PATH, "top", "--bogus"});
  EXPECT_EQ(bad.code, 2) << bad.err;

  auto missing = RunArgv({DUENDE_PATH, "top", "--once", "--socket", dir / "none.sock"});
  EXPECT_EQ(missing.code, 3) << missing.err;
  EXPECT_NE(missing.err.find("duende: error: unable to connect to " + dir / "none.sock"),
            std::string::npos)
      << missing.err;
  EXPECT_NE(missing.err.find("No such file or directory"), std::string::npos) << missing.err;

  Supervised sup(dir, "\"--rss\", \"1MiB\"");
  ASSERT_GT(sup.WaitRunning(1 * kMiB), 0) << sup.Stderr();
  // The live view needs a terminal; here stdin and stdout are pipes.
  auto no_tty = RunArgv({DUENDE_PATH, "top", "--socket", sup.socket()});
  EXPECT_EQ(no_tty.code, 2) << no_tty.err;
  EXPECT_NE(no_tty.err.find("needs a terminal"), std::string::npos) << no_tty.err;

  // nobody cannot reach root's socket (its directory is 0700): exit 3 naming why.
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  const std::string socket = sup.socket();
  const int code = testing::RunAsNobody([&] {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    const char* argv[] = {DUENDE_PATH, "top", "--once", "--socket", socket.c_str(), nullptr};
    ::execv(DUENDE_PATH, const_cast<char* const*>(argv));
    return 127;
  });
  ::close(out[1]);
  std::string err;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  EXPECT_EQ(code, 3) << err;
  EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
  EXPECT_EQ(sup.Service()["state"], "running") << "the supervisor was harmed";
}

// A tmux server of this test's own (its socket in the test's directory), killed at the end.
class Tmux {
 public:
  explicit Tmux(const TempDir& dir) : socket_(dir / "tmux.sock") {}
  ~Tmux() { (void)Run({"kill-server"}); }
  testing::CommandOutput Run(std::vector<std::string> args) const {
    std::vector<std::string> argv = {"tmux", "-S", socket_, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunArgv(argv);
  }
  /// Starts `command` in a detached session "top" of `width` x `height`, under a shell that
  /// then prints "command exited N" and waits, so the terminal it leaves can be read (tmux
  /// hides the cursor of a dead pane).
  bool Start(const std::string& command, int width, int height) const {
    auto r =
        Run({"new-session", "-d", "-s", "top", "-x", std::to_string(width), "-y",
             std::to_string(height), command + "; echo \"command exited $?\"; exec sleep 120"});
    return r.code == 0;
  }
  /// The pid of the command (the child of the pane's shell); -1 when none.
  pid_t CommandPid() const {
    const std::string shell = Format("#{pane_pid}");
    if (shell.empty()) return -1;
    const std::string children =
        testing::ReadFile("/proc/" + shell + "/task/" + shell + "/children");
    return children.empty() ? -1 : static_cast<pid_t>(std::stol(children));
  }
  /// The exit code the shell printed, -1 while the command runs.
  int ExitCode() const {
    const std::string screen = Screen();
    const size_t at = screen.find("command exited ");
    return at == std::string::npos ? -1 : std::atoi(screen.c_str() + at + 15);
  }
  std::string Screen() const { return Run({"capture-pane", "-p", "-t", "top"}).out; }
  std::string Format(const std::string& format) const {
    std::string out = Run({"display-message", "-p", "-t", "top", format}).out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

 private:
  std::string socket_;
};

// The cells of the row of `name` on `screen` ("" when there is none).
std::vector<std::string> Row(const std::string& screen, const std::string& name) {
  std::istringstream lines(screen);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream cells(line);
    std::vector<std::string> v;
    std::string c;
    while (cells >> c) v.push_back(c);
    if (!v.empty() && v[0] == name) return v;
  }
  return {};
}

bool TmuxWorks(const Tmux& t, std::string* why) {
  auto r = t.Run({"-V"});
  if (r.code != 0) {
    *why = "tmux is not installed (Debian package tmux; ci/deps.sh test profile): " + r.err;
    return false;
  }
  return true;
}

TEST(TopCliTest, LiveViewUnderTmuxFollowsRestartsAndCostsLittle) {
  TempDir dir("top-tmux");
  Tmux tmux(dir);
  if (std::string why; !TmuxWorks(tmux, &why)) GTEST_SKIP() << why;
  Supervised sup(dir, "\"--cpu\", \"0.1\", \"--rss\", \"16MiB\"");
  const pid_t pid = sup.WaitRunning(16 * kMiB);
  ASSERT_GT(pid, 0) << sup.Stderr();
  ASSERT_TRUE(tmux.Start(std::string(DUENDE_PATH) + " top --socket " + sup.socket(), 120, 30));
  ASSERT_TRUE(Eventually([&] { return Row(tmux.Screen(), "burn").size() >= 9; }, 10s))
      << tmux.Screen();
  EXPECT_EQ(tmux.Format("#{alternate_on}"), "1") << "the view uses the alternate screen";
  auto row = Row(tmux.Screen(), "burn");
  EXPECT_EQ(row[1], "running");
  EXPECT_EQ(row[2], std::to_string(pid));
  EXPECT_EQ(row[3], "0");

  // What the view itself costs: its CPU time over 6 s of refreshing once a second.
  const pid_t top = tmux.CommandPid();
  ASSERT_GT(top, 0);
  const double c0 = ProcCpuSeconds(top);
  const int64_t t0 = framework::MonotonicNs();
  std::this_thread::sleep_for(6s);
  const double c1 = ProcCpuSeconds(top);
  const double percent =
      100 * (c1 - c0) / (static_cast<double>(framework::MonotonicNs() - t0) / 1e9);
  std::printf("[ figures  ] duende top costs %.3f %% of a CPU (%.3f s over 6 s)\n", percent,
              c1 - c0);
  EXPECT_LT(percent, 1.0);

  // A SIGKILLed service is restarted: the view shows the new pid and the restart.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = Row(tmux.Screen(), "burn");
        return r.size() >= 4 && r[3] == "1" && r[1] == "running" && r[2] != std::to_string(pid);
      },
      10s))
      << tmux.Screen();

  ASSERT_EQ(tmux.Run({"send-keys", "-t", "top", "q"}).code, 0);
  ASSERT_TRUE(Eventually([&] { return tmux.ExitCode() >= 0; }, 5s)) << tmux.Screen();
  EXPECT_EQ(tmux.ExitCode(), 0);
  EXPECT_EQ(tmux.Format("#{alternate_on}"), "0") << "the terminal was not restored";
  EXPECT_EQ(tmux.Format("#{cursor_flag}"), "1") << "the cursor is still hidden";
}

TEST(TopCliTest, TmuxResizeRedrawsCtrlZAndSigtermRestoreTheTerminal) {
  TempDir dir("top-resize");
  Tmux tmux(dir);
  if (std::string why; !TmuxWorks(tmux, &why)) GTEST_SKIP() << why;
  Supervised sup(dir, "\"--rss\", \"1MiB\"");
  ASSERT_GT(sup.WaitRunning(1 * kMiB), 0) << sup.Stderr();
  // One refresh an hour: whatever changes on the screen now comes from the resize.
  ASSERT_TRUE(tmux.Start(std::string(DUENDE_PATH) + " top --interval 1h --socket " + sup.socket(),
                         100, 20));
  auto first_line = [&] {
    std::string s = tmux.Screen();
    return s.substr(0, s.find('\n'));
  };
  ASSERT_TRUE(Eventually([&] { return first_line().find("q quits") != std::string::npos; }, 10s))
      << tmux.Screen();
  // The right-aligned part ends at the last column.
  EXPECT_EQ(first_line().size(), 100u) << first_line();
  ASSERT_EQ(tmux.Run({"resize-window", "-t", "top", "-x", "150", "-y", "25"}).code, 0);
  EXPECT_TRUE(Eventually([&] { return first_line().size() == 150; }, 5s)) << tmux.Screen();
  EXPECT_FALSE(Row(tmux.Screen(), "burn").empty()) << tmux.Screen();
  ASSERT_EQ(tmux.Run({"resize-window", "-t", "top", "-x", "60", "-y", "25"}).code, 0);
  EXPECT_TRUE(Eventually(
      [&] {
        std::string s = tmux.Screen();
        return s.find("burn") != std::string::npos && s.find("LAST EXIT") == std::string::npos;
      },
      5s))
      << "lines are cut to 60 columns: " << tmux.Screen();

  const pid_t top = tmux.CommandPid();
  ASSERT_GT(top, 0);
  // Ctrl-Z gives the terminal back and stops top; SIGCONT (the shell's fg) brings the view back.
  ASSERT_EQ(tmux.Run({"send-keys", "-t", "top", "C-z"}).code, 0);
  auto state = [&] {
    const std::string stat = testing::ReadFile("/proc/" + std::to_string(top) + "/stat");
    const size_t close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
  };
  EXPECT_TRUE(Eventually([&] { return state() == 'T'; }, 5s)) << state();
  EXPECT_EQ(tmux.Format("#{alternate_on}"), "0") << "stopped with the terminal still taken";
  ASSERT_EQ(::kill(top, SIGCONT), 0);
  EXPECT_TRUE(Eventually(
      [&] { return tmux.Format("#{alternate_on}") == "1" && !Row(tmux.Screen(), "burn").empty(); },
      5s))
      << tmux.Screen();
  ASSERT_EQ(::kill(top, SIGTERM), 0);
  ASSERT_TRUE(Eventually([&] { return tmux.ExitCode() >= 0; }, 5s)) << tmux.Screen();
  EXPECT_EQ(tmux.ExitCode(), 130);
  EXPECT_EQ(tmux.Format("#{alternate_on}"), "0") << "the terminal was not restored";
  EXPECT_EQ(tmux.Format("#{cursor_flag}"), "1") << "the cursor is still hidden";
}

TEST(TopCliTest, ScenarioRunWithControlSocket) {
  TempDir dir("top-run");
  const std::string scenario = dir.Write("pause.toml", R"(
[scenario]
name = "top-pause"
duration = "6s"

[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"
[target.readiness]
kind = "notify"

[load]
rate = 200
timeout = "250ms"
request = "SET {key} {seq}"
expect = "OK"

[[fault]]
name = "freeze"
kind = "pause"
at = "1s"
duration = "2s"

[[fault]]
kind = "kill"
signal = "SIGKILL"
at = "3500ms"
)");
  const std::string socket = dir / "run.sock";
  Background run({DUENDE_PATH, "run", "-q", "--control", socket, scenario}, dir / "run.err");
  // The line comes once the socket listens.
  ASSERT_TRUE(Eventually(
      [&] {
        return run.Stderr().find("control socket " + socket + " (duende top --socket " + socket) !=
               std::string::npos;
      },
      20s))
      << run.Stderr();
  EXPECT_EQ(::access(socket.c_str(), F_OK), 0);
  {
    // A request that is not UTF-8 (cut mid-character where the reply quotes it) is refused
    // with a reply, and the run goes on (below): it once ended the run from inside.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    const std::string bad = std::string(63, 'x') + "\xc3\xa9\xff\xfe\n";
    ASSERT_EQ(::send(fd, bad.data(), bad.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bad.size()));
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[512];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ::close(fd);
    ASSERT_GT(n, 0) << run.Stderr();
    EXPECT_NE(std::string(buf, static_cast<size_t>(n)).find("answers only status"),
              std::string::npos);
  }
  auto top = [&] {
    auto r = RunArgv({DUENDE_PATH, "top", "--json", "--interval", "500ms", "--socket", socket});
    auto j = json::parse(r.out, nullptr, false);
    return r.code == 0 && !j.is_discarded() ? j : json(nullptr);
  };
  json paused;
  ASSERT_TRUE(Eventually(
      [&] {
        paused = top();
        return !paused.is_null() && paused["faults"].size() == 1;
      },
      15s))
      << run.Stderr();
  EXPECT_EQ(paused["kind"], "run");
  EXPECT_EQ(paused["scenario"], "top-pause");
  EXPECT_EQ(paused["faults"][0]["name"], "freeze");
  EXPECT_EQ(paused["faults"][0]["kind"], "pause");
  ASSERT_EQ(paused["targets"].size(), 1u) << paused.dump();
  const json& t = paused["targets"][0];
  EXPECT_EQ(t["name"], "kvd");
  EXPECT_GT(t["pid"].get<int>(), 0);
  EXPECT_GT(t["rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(t["fds"].get<uint64_t>(), 2u);
  EXPECT_EQ(t["processes"], 1);

  json after;
  ASSERT_TRUE(Eventually(
      [&] {
        after = top();
        return !after.is_null() && after["faults"].empty() && after["targets"].size() == 1 &&
               after["targets"][0]["restarts"] == 1 && after["targets"][0]["state"] == "running" &&
               after["requests_per_s"].is_number() && after["requests_per_s"] > 50;
      },
      15s))
      << after.dump() << run.Stderr();
  EXPECT_EQ(after["faults_injected"], 2);
  EXPECT_GT(after["requests"]["ok"].get<uint64_t>(), 100u);
  EXPECT_TRUE(after["p99_s"].is_number());
  auto st = run.Wait(30s);
  ASSERT_TRUE(st.has_value()) << run.Stderr();
  EXPECT_EQ(::access(socket.c_str(), F_OK), -1) << "the control socket was left behind";
}

TEST(TopCliTest, RunControlRefusesAFileThatIsNotItsSocket) {
  TempDir dir("top-run-bad");
  const std::string scenario =
      dir.Write("s.toml",
                "[scenario]\nname = \"x\"\nduration = \"1s\"\n"
                "[[target]]\nname = \"t\"\ncommand = [\"sleep\", \"30\"]\n");
  const std::string file = dir.Write("precious", "keep me\n");
  auto r = RunArgv({DUENDE_PATH, "run", "-q", "--control", file, scenario});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("--control: "), std::string::npos) << r.err;
  EXPECT_EQ(testing::ReadFile(file), "keep me\n");
  r = RunArgv({DUENDE_PATH, "run", "-q", "--control", std::string(200, 'a'), scenario});
  EXPECT_EQ(r.code, 2) << r.err;
}

}  // namespace
}  // namespace duende
