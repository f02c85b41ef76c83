// Supervisor with real processes (duende-fixture-stamp and sh). Each test runs the
// supervisor's loop on its own thread, as the chaos harness does, and drives it from the
// test thread.
#include "duende/framework/supervisor.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/pid_file.h"
#include "duende/framework/proc.h"
#include "duende/framework/temp_dir.h"
#include "support/as_nobody.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
constexpr int64_t kMs = 1000000;

// Collects events. Predicates run under its lock: they must not call the Supervisor (its loop
// thread may be waiting for this lock to deliver an event).
class Recorder {
 public:
  void Add(const ServiceEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }
  using Pred = std::function<bool(const std::vector<ServiceEvent>&)>;
  bool WaitFor(const Pred& pred, milliseconds timeout = milliseconds(10000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
  }
  bool WaitCount(EventType type, size_t n, milliseconds timeout = milliseconds(10000)) {
    return WaitFor([&](const auto& ev) { return Count(ev, type) >= n; }, timeout);
  }
  std::vector<ServiceEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  static size_t Count(const std::vector<ServiceEvent>& ev, EventType type) {
    return static_cast<size_t>(
        std::count_if(ev.begin(), ev.end(), [&](const ServiceEvent& e) { return e.type == type; }));
  }
  std::vector<ServiceEvent> Of(EventType type) {
    std::vector<ServiceEvent> out;
    for (auto& e : Events()) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ServiceEvent> events_;
};

// Zombie children of this process (state Z, PPid = us).
std::vector<pid_t> OurZombies() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  const pid_t me = getpid();
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    size_t rp = line.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(line.substr(rp + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (state == 'Z' && ppid == me) out.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  return out;
}

DaemonConfig Service(const std::string& name, std::vector<std::string> args) {
  DaemonConfig c;
  c.name = name;
  c.command = {STAMP_PATH};
  for (auto& a : args) c.command.push_back(a);
  c.shutdown_timeout = seconds(2);
  c.restart.policy = RestartConfig::Policy::kOnFailure;
  c.restart.backoff.jitter = BackoffConfig::Jitter::kNone;
  c.restart.backoff.initial = milliseconds(10);
  c.restart.backoff.max = seconds(1);
  c.restart.start_limit_burst = 100;
  return c;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override { Begin(SupervisorOptions{}); }
  void Begin(SupervisorOptions o) {
    o.seed = 20261127;
    auto s = Supervisor::Create(o);
    ASSERT_TRUE(s.ok()) << s.error().Message();
    sup_ = std::move(*s);
    sup_->Subscribe([this](const ServiceEvent& e) { rec_.Add(e); });
    thread_ = std::thread([this] { ASSERT_TRUE(sup_->Run().ok()); });
  }
  void TearDown() override { End(); }
  void End() {
    if (!sup_) return;
    sup_->Shutdown();
    thread_.join();
    sup_.reset();
    auto z = OurZombies();
    std::string zs;
    for (pid_t p : z) {
      std::ifstream f("/proc/" + std::to_string(p) + "/stat");
      std::string line;
      std::getline(f, line);
      zs += line + "\n";
    }
    EXPECT_TRUE(z.empty()) << zs;
  }

  std::unique_ptr<Supervisor> sup_;
  Recorder rec_;
  std::thread thread_;
};

TEST_F(SupervisorTest, CrashIsRestartedWithTheConfiguredDelaySequence) {
  DaemonConfig c = Service("crasher", {"--exit", "1"});
  c.restart.backoff.initial = milliseconds(40);
  c.restart.backoff.multiplier = 2;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kRestartScheduled, 4));
  ASSERT_TRUE(sup_->Stop("crasher").ok());
  auto ev = rec_.Events();
  std::vector<int64_t> delays;
  int64_t scheduled_at = -1;
  int64_t delay = 0;
  for (auto& e : ev) {
    if (e.type == EventType::kRestartScheduled && delays.size() < 4) {
      delays.push_back(e.delay.count() / kMs);
      scheduled_at = e.ts_ns;
      delay = e.delay.count();
    }
    if (e.type == EventType::kSpawned && scheduled_at >= 0) {
      // The new child is not spawned before its delay is over. The event is stamped just
      // after the timer was armed: allow that gap (0.5 ms seen under ASan).
      EXPECT_GE(e.ts_ns - scheduled_at, delay - 2 * kMs);
      scheduled_at = -1;
    }
    if (e.type == EventType::kExited) {
      ASSERT_TRUE(e.exit.has_value());
      EXPECT_EQ(e.exit->code, 1);
      EXPECT_GT(e.pid, 0);
    }
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{40, 80, 160, 320}));
}

TEST_F(SupervisorTest, CrashLoopGivesUpAfterTheStartLimit) {
  DaemonConfig c = Service("loop", {"--exit", "3"});
  c.restart.start_limit_burst = 3;
  c.restart.start_limit_interval = seconds(10);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kGaveUp, 1));
  auto st = sup_->Status("loop");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, ServiceState::kFailed);
  EXPECT_EQ(st->spawns, 3u);
  EXPECT_NE(st->reason.find("start limit hit: 3 starts within 10.00s"), std::string::npos)
      << st->reason;
  EXPECT_EQ(st->pid, -1);
  // Terminal: nothing else happens.
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(sup_->Status("loop")->spawns, 3u);
}

TEST_F(SupervisorTest, SigtermIgnoringChildIsKilledAfterTheTimeout) {
  DaemonConfig c = Service("stubborn", {"--ignore-term", "--notify"});
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  c.shutdown_timeout = milliseconds(300);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));  // SIGTERM is ignored from here on
  const pid_t pid = sup_->Status("stubborn")->pid;
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(sup_->Stop("stubborn").ok());
  ASSERT_TRUE(sup_->Stop("stubborn").ok());  // a double stop is a no-op
  ASSERT_TRUE(rec_.WaitCount(EventType::kStopped, 1));
  auto stopping = rec_.Of(EventType::kStopping);
  auto killed = rec_.Of(EventType::kKilled);
  auto exited = rec_.Of(EventType::kExited);
  ASSERT_EQ(stopping.size(), 1u);
  ASSERT_EQ(killed.size(), 1u);
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_GE(killed[0].ts_ns - stopping[0].ts_ns, 300 * kMs);
  EXPECT_TRUE(exited[0].exit->signaled);
  EXPECT_EQ(exited[0].exit->signal, SIGKILL);
  EXPECT_EQ(::kill(pid, 0), -1);  // really gone (and reaped)
  EXPECT_EQ(sup_->Status("stubborn")->state, ServiceState::kStopped);
}

TEST_F(SupervisorTest, StopReachesAStoppedChildThroughSigcont) {
  ASSERT_TRUE(sup_->Add(Service("frozen", {}), true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  const pid_t pid = sup_->Status("frozen")->pid;
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  ASSERT_TRUE(sup_->Stop("frozen").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kStopped, 1));
  EXPECT_EQ(rec_.Of(EventType::kKilled).size(), 0u);  // SIGTERM worked, no SIGKILL needed
  EXPECT_EQ(rec_.Of(EventType::kExited)[0].exit->signal, SIGTERM);
}

TEST_F(SupervisorTest, FailingLivenessProbeRestartsTheChild) {
  DaemonConfig c = Service("sick", {});
  c.health.liveness.kind = ProbeConfig::Kind::kCommand;
  c.health.liveness.command = {"sh", "-c", "exit 1"};
  c.health.liveness.interval = milliseconds(30);
  c.health.liveness.timeout = seconds(1);
  c.health.liveness.failure_threshold = 3;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  ASSERT_TRUE(rec_.WaitCount(EventType::kSpawned, 2));
  auto hf = rec_.Of(EventType::kHealthFailed);
  EXPECT_NE(hf[0].detail.find("liveness probe failed 3 times in a row: exited with code 1"),
            std::string::npos)
      << hf[0].detail;
  auto ex = rec_.Of(EventType::kExited);
  ASSERT_GE(ex.size(), 1u);
  EXPECT_EQ(ex[0].exit->signal, SIGTERM);  // stopped by us, then restarted
}

TEST_F(SupervisorTest, PassingTcpReadinessAndLivenessKeepItRunning) {
  // A real listener in this process: the probes connect to it.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(lfd, 64), 0);
  socklen_t len = sizeof sa;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  const std::string addr = "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
  DaemonConfig c = Service("web", {});
  c.health.readiness.kind = ProbeConfig::Kind::kTcp;
  c.health.readiness.address = addr;
  c.health.readiness.interval = milliseconds(20);
  c.health.liveness = c.health.readiness;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(rec_.Of(EventType::kHealthFailed).size(), 0u);
  ::close(lfd);  // now every connect is refused
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  EXPECT_NE(rec_.Of(EventType::kHealthFailed)[0].detail.find("Connection refused"),
            std::string::npos);
}

TEST_F(SupervisorTest, NotifyReadinessStatusAndDyingBeforeReady) {
  DaemonConfig c = Service("notifier", {"--notify"});
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  auto st = sup_->Status("notifier");
  EXPECT_EQ(st->state, ServiceState::kRunning);
  EXPECT_EQ(st->status_text, "stamped");
  // Exits with 0 before READY=1: a failed start, restarted even under on-failure.
  DaemonConfig d = Service("early", {"--exit", "0"});
  d.health.readiness.kind = ProbeConfig::Kind::kNotify;
  ASSERT_TRUE(sup_->Add(d, true).ok());
  ASSERT_TRUE(rec_.WaitFor([](const auto& ev) {
    return std::any_of(ev.begin(), ev.end(), [](const ServiceEvent& e) {
      return e.service == "early" && e.type == EventType::kRestartScheduled &&
             e.detail.find("exited before ready") != std::string::npos;
    });
  }));
}

// The value of `key` in the environment of `pid` ("" when absent).
std::string EnvironOf(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/environ");
  std::string entry;
  while (std::getline(f, entry, '\0')) {
    if (entry.rfind(key + "=", 0) == 0) return entry.substr(key.size() + 1);
  }
  return "";
}

// Sends each of `messages` as one datagram to the abstract NOTIFY_SOCKET `address`; returns
// how many were sent. Plain syscalls only: it also runs in a forked child.
int SendNotify(const sockaddr_un& addr, socklen_t len, const std::vector<std::string>& messages) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  int sent = 0;
  for (const auto& m : messages) {
    if (::sendto(fd, m.data(), m.size(), 0, reinterpret_cast<const sockaddr*>(&addr), len) ==
        static_cast<ssize_t>(m.size())) {
      ++sent;
    }
  }
  ::close(fd);
  return sent;
}

// The abstract NOTIFY_SOCKET address in the environment of `pid` (waited for up to 1 s: the
// child may still be between its spawn and its exec).
struct NotifyAddress {
  std::string text;  // "@duende/..."; "" when none
  sockaddr_un addr{};
  socklen_t len = 0;
};
NotifyAddress NotifyAddressOf(pid_t pid) {
  NotifyAddress out;
  for (int i = 0; i < 200 && out.text.empty(); ++i) {
    out.text = EnvironOf(pid, "NOTIFY_SOCKET");
    if (out.text.empty()) std::this_thread::sleep_for(milliseconds(5));
  }
  out.addr.sun_family = AF_UNIX;
  if (out.text.empty() || out.text.size() >= sizeof out.addr.sun_path) return out;
  std::memcpy(out.addr.sun_path, out.text.data(), out.text.size());
  out.addr.sun_path[0] = '\0';
  out.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + out.text.size());
  return out;
}

// NotifyAccess: anyone can reach the abstract notify address, but only datagrams from the
// service's own processes count. `nobody` (and root from outside the service) sending READY=1,
// MAINPID= and WATCHDOG=1 change nothing and are counted; the service's own READY=1, sent by
// a process of its group that is not the main one, still makes it ready.
TEST_F(SupervisorTest, NotifyFromOutsideTheServiceIsDroppedAndCounted) {
  const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string t =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-notify-test-XXXXXX";
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back('\0');
    return std::string(::mkdtemp(buf.data()));
  }();
  const std::string fifo = dir + "/go";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  DaemonConfig c;
  c.name = "guarded";
  // The main process is sh; READY=1 comes later from its child (same process group), which
  // stays alive: a sender gone before its datagram is read cannot be told from a stranger
  // (as with systemd).
  c.command = {"/bin/sh", "-c", "read x < \"$0\"; \"$1\" --notify", fifo, STAMP_PATH};
  c.shutdown_timeout = seconds(2);
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kSpawned, 1));
  const pid_t pid = sup_->Status("guarded")->pid;
  ASSERT_GT(pid, 0);
  const NotifyAddress to = NotifyAddressOf(pid);
  ASSERT_EQ(to.text.rfind("@duende/", 0), 0u) << to.text;
  const std::vector<std::string> attack = {"READY=1\nSTATUS=owned by nobody", "MAINPID=1",
                                           "WATCHDOG=1", "STOPPING=1"};
  EXPECT_EQ(testing::RunAsNobody([&] { return SendNotify(to.addr, to.len, attack); }), 4);
  // Root, but not one of the service's processes: dropped as well.
  EXPECT_EQ(SendNotify(to.addr, to.len, {"READY=1"}), 1);
  ServiceStatus st;
  for (int i = 0; i < 1000; ++i) {
    st = *sup_->Status("guarded");
    if (st.notify_dropped >= 5) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(st.notify_dropped, 5u);
  EXPECT_EQ(st.state, ServiceState::kStarting);
  EXPECT_FALSE(st.ready);
  EXPECT_EQ(st.pid, pid);
  EXPECT_EQ(st.status_text, "");
  EXPECT_EQ(rec_.Of(EventType::kReady).size(), 0u);
  EXPECT_EQ(rec_.Of(EventType::kStatus).size(), 0u);
  // Now the service itself says READY=1.
  std::ofstream(fifo) << "go\n";
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  st = *sup_->Status("guarded");
  EXPECT_EQ(st.state, ServiceState::kRunning);
  EXPECT_EQ(st.status_text, "stamped");
  EXPECT_EQ(st.notify_dropped, 5u);
  EXPECT_EQ(st.pid, pid);
  ::unlink(fifo.c_str());
  ::rmdir(dir.c_str());
}

TEST_F(SupervisorTest, MissedWatchdogRestartsAndPingsKeepItAlive) {
  DaemonConfig quiet = Service("quiet", {"--notify"});
  quiet.health.readiness.kind = ProbeConfig::Kind::kNotify;
  quiet.health.watchdog = milliseconds(150);
  DaemonConfig pinging = Service("pinging", {"--notify", "--ping", "30"});
  pinging.health = quiet.health;
  ASSERT_TRUE(sup_->Add(quiet, true).ok());
  ASSERT_TRUE(sup_->Add(pinging, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  std::this_thread::sleep_for(milliseconds(300));
  for (auto& e : rec_.Of(EventType::kHealthFailed)) {
    EXPECT_EQ(e.service, "quiet");
    EXPECT_NE(e.detail.find("no WATCHDOG=1 within 150.0ms"), std::string::npos) << e.detail;
  }
  EXPECT_EQ(sup_->Status("pinging")->spawns, 1u);
}

TEST_F(SupervisorTest, PreventedExitCodeIsNotRestarted) {
  ASSERT_TRUE(sup_->Add(Service("badconfig", {"--exit", "78"}), true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kNotRestarting, 1));
  auto st = sup_->Status("badconfig");
  EXPECT_EQ(st->state, ServiceState::kExited);
  EXPECT_EQ(st->last_exit->code, 78);
}

TEST_F(SupervisorTest, HundredServicesAllRunning) {
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(sup_->Add(Service("svc" + std::to_string(i), {}), true).ok());
  }
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 100));
  std::set<pid_t> pids;
  for (const auto& st : sup_->StatusAll()) {
    EXPECT_EQ(st.state, ServiceState::kRunning) << st.name;
    EXPECT_EQ(::kill(st.pid, 0), 0) << st.name;
    EXPECT_EQ(::getpgid(st.pid), st.pgid);
    pids.insert(st.pid);
  }
  EXPECT_EQ(pids.size(), 100u);
  sup_->Shutdown();
  thread_.join();
  for (pid_t p : pids) EXPECT_EQ(::kill(p, 0), -1);
  EXPECT_EQ(rec_.Of(EventType::kStopped).size(), 100u);
  sup_.reset();
}

TEST_F(SupervisorTest, AnIdleSupervisorDoesNotWakeUp) {
  // No fixed tick: with every child running and nothing due, epoll_wait never returns.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(sup_->Add(Service("idle" + std::to_string(i), {}), true).ok());
  }
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 20));
  std::this_thread::sleep_for(milliseconds(50));
  const uint64_t before = sup_->wakeups();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(sup_->wakeups(), before);
}

TEST_F(SupervisorTest, NoZombiesAfterAThousandShortLivedChildren) {
  DaemonConfig c = Service("blink", {"--exit", "0"});
  c.restart.policy = RestartConfig::Policy::kAlways;
  c.restart.backoff.initial = milliseconds(0);
  c.restart.start_limit_burst = 0;  // no limit
  // Every 100th child also leaves an orphan behind, which we (the subreaper) must reap.
  DaemonConfig o = Service("orphaner", {"--orphan", "1000", "--exit", "0"});
  o.restart = c.restart;
  o.restart.backoff.initial = milliseconds(10);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(sup_->Add(o, true).ok());
  ASSERT_TRUE(rec_.WaitFor(
      [&](const auto& ev) {
        return std::count_if(ev.begin(), ev.end(), [](const ServiceEvent& e) {
                 return e.service == "blink" && e.type == EventType::kSpawned;
               }) >= 1000;
      },
      milliseconds(60000)));
  sup_->Shutdown();
  thread_.join();
  EXPECT_GE(sup_->Status("blink")->spawns, 1000u);
  EXPECT_GE(sup_->orphans_reaped(), 1u);
  EXPECT_TRUE(OurZombies().empty());
  sup_.reset();
}

TEST_F(SupervisorTest, ChildOutputGoesToARotatingLogFile) {
  End();
  char dir[] = "/tmp/duende-sup-log-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  SupervisorOptions o;
  o.log_dir = dir;
  o.log_max_bytes = 1 << 20;
  Begin(o);
  DaemonConfig c = Service("talker", {"--print", "hello from the child", "--exit", "0"});
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kNotRestarting, 1));
  std::ifstream f(std::string(dir) + "/talker.log");
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), "hello from the child\nhello from the child\n");
  End();
  std::remove((std::string(dir) + "/talker.log").c_str());
  ::rmdir(dir);
}

TEST_F(SupervisorTest, CommandsFromAnotherThreadAndUnknownNames) {
  EXPECT_FALSE(sup_->Start("nope").ok());
  EXPECT_EQ(sup_->Status("nope").error().context, "no service named 'nope'");
  ASSERT_TRUE(sup_->Add(Service("a", {})).ok());
  EXPECT_FALSE(sup_->Add(Service("a", {})).ok());
  EXPECT_EQ(sup_->Status("a")->state, ServiceState::kStopped);
  ASSERT_TRUE(sup_->Start("a").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  const pid_t first = sup_->Status("a")->pid;
  ASSERT_TRUE(sup_->Restart("a").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 2));
  EXPECT_NE(sup_->Status("a")->pid, first);
  EXPECT_EQ(sup_->Status("a")->attempt, 0u);  // a manual restart is not a failure
}

// The core's bad-on-purpose daemon (it uses the framework's own sd_notify client).
DaemonConfig Misbehave(const std::string& name, const std::string& mode) {
  DaemonConfig c = Service(name, {});
  c.command = {MISBEHAVE_PATH, "--mode", mode, "--max-lifetime", "60s"};
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  return c;
}

TEST_F(SupervisorTest, MisbehaveSlowReadyPastTheGracePeriodIsRestarted) {
  DaemonConfig c = Misbehave("slow", "slow-ready=5s");
  c.health.readiness.grace_period = milliseconds(200);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kRestartScheduled, 1));
  auto hf = rec_.Of(EventType::kHealthFailed);
  ASSERT_EQ(hf.size(), 1u);
  EXPECT_EQ(hf[0].detail, "not ready within 200.0ms");
  EXPECT_EQ(rec_.Of(EventType::kReady).size(), 0u);
}

TEST_F(SupervisorTest, MisbehaveCrashAfterReadyIsRestartedAndReadyAgain) {
  ASSERT_TRUE(sup_->Add(Misbehave("crashy", "crash-after=100ms"), true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 2));
  auto ex = rec_.Of(EventType::kExited);
  ASSERT_GE(ex.size(), 1u);
  EXPECT_EQ(ex[0].exit->code, 1);
  EXPECT_EQ(rec_.Of(EventType::kRestartScheduled)[0].detail, "exited with code 1");
}

TEST_F(SupervisorTest, MisbehaveIgnoringSigtermIsKilled) {
  DaemonConfig c = Misbehave("deaf", "ignore-sigterm");
  c.shutdown_timeout = milliseconds(200);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  ASSERT_TRUE(sup_->Stop("deaf").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kStopped, 1));
  EXPECT_EQ(rec_.Of(EventType::kKilled).size(), 1u);
  EXPECT_EQ(rec_.Of(EventType::kExited)[0].exit->signal, SIGKILL);
}

TEST_F(SupervisorTest, MemoryLimitFromResourcesIsEnforcedByTheKernel) {
  // A cgroup per service with memory_max: a child leaking past it is OOM-killed (SIGKILL)
  // by the kernel, and restarted.
  DaemonConfig c = Misbehave("leaky", "leak=400MiB");
  c.command.push_back("--leak-cap");
  c.command.push_back("200MiB");
  c.resources.memory_max = 48ull << 20;
  c.restart.start_limit_burst = 2;
  auto added = sup_->Add(c, true);
  if (!added.ok()) GTEST_SKIP() << "no cgroup here: " << added.error().Message();
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  const pid_t pid = sup_->Status("leaky")->pid;
  std::ifstream cg("/proc/" + std::to_string(pid) + "/cgroup");
  std::string all((std::istreambuf_iterator<char>(cg)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("duende-" + std::to_string(::getpid()) + "-leaky"), std::string::npos) << all;
  ASSERT_TRUE(rec_.WaitCount(EventType::kExited, 1));
  auto ex = rec_.Of(EventType::kExited)[0];
  EXPECT_TRUE(ex.exit->signaled);
  EXPECT_EQ(ex.exit->signal, SIGKILL);  // the OOM killer, not us: nobody asked for a stop
  EXPECT_EQ(rec_.Of(EventType::kStopping).size(), 0u);
}

TEST_F(SupervisorTest, ChildrenGetTheirOwnLimitsNotTheSupervisorsRaisedOnes) {
  DaemonConfig c = Service("limited", {});
  c.resources.open_files = 77;
  c.resources.core_size = 0;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  std::ifstream limits("/proc/" + std::to_string(sup_->Status("limited")->pid) + "/limits");
  std::string all((std::istreambuf_iterator<char>(limits)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("Max open files            77                   77"), std::string::npos)
      << all;
  EXPECT_NE(all.find("Max core file size        0                    0"), std::string::npos);
}

TEST_F(SupervisorTest, SpawnFailureThatMayHealIsAFailedStart) {
  DaemonConfig c = Service("nouser", {});
  c.user = "duende-no-such-user";  // a user may be created later: retried up to the limit
  c.restart.start_limit_burst = 2;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kGaveUp, 1));
  auto sf = rec_.Of(EventType::kSpawnFailed);
  ASSERT_EQ(sf.size(), 2u);
  EXPECT_NE(sf[0].detail.find("no user 'duende-no-such-user'"), std::string::npos);
}

// A spawn that cannot heal (missing program, not executable, argv+env past the kernel's limits)
// stops at the first attempt, with the reason, instead of looping until the start limit.
TEST_F(SupervisorTest, PermanentSpawnFailureGivesUpAtTheFirstAttempt) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-spawn-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  ASSERT_NE(::mkdtemp(buf.data()), nullptr);
  const std::string dir = buf.data();
  const std::string plain = dir + "/not-executable";
  std::ofstream(plain) << "#!/bin/sh\nexit 0\n";
  ASSERT_EQ(::chmod(plain.c_str(), 0644), 0);
  struct Case {
    std::string name;
    std::vector<std::string> command;
    std::vector<std::pair<std::string, std::string>> env;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"missing",
       {"/nonexistent/duende-binary"},
       {},
       "unable to spawn /nonexistent/duende-binary: execve: No such file or directory"},
      {"noexec", {plain}, {}, "unable to spawn " + plain + ": execve: Permission denied"},
      {"toobig",
       {STAMP_PATH},
       {{"BIG", std::string(1 << 20, 'x')}},
       std::string("unable to spawn ") + STAMP_PATH + ": execve: Argument list too long"},
  };
  for (const auto& k : cases) {
    DaemonConfig c = Service(k.name, {});
    c.command = k.command;
    c.env = k.env;
    c.restart.start_limit_burst = 50;
    ASSERT_TRUE(sup_->Add(c, true).ok()) << k.name;
  }
  ASSERT_TRUE(rec_.WaitCount(EventType::kGaveUp, cases.size()));
  // Give a wrongly scheduled restart time to happen before counting.
  std::this_thread::sleep_for(milliseconds(300));
  for (const auto& k : cases) {
    size_t failed = 0, restarts = 0;
    std::string gave_up;
    for (const auto& e : rec_.Events()) {
      if (e.service != k.name) continue;
      if (e.type == EventType::kSpawnFailed) {
        ++failed;
        EXPECT_EQ(e.detail, k.message);
      }
      if (e.type == EventType::kGaveUp) gave_up = e.detail;
      if (e.type == EventType::kRestartScheduled) ++restarts;
    }
    EXPECT_EQ(failed, 1u) << k.name;
    EXPECT_EQ(restarts, 0u) << k.name;
    EXPECT_NE(gave_up.find("spawn failed: " + k.message + "; not retrying"), std::string::npos)
        << gave_up;
    EXPECT_EQ(sup_->Status(k.name)->state, ServiceState::kFailed) << k.name;
  }
  std::filesystem::remove_all(dir);
}

// --- Tracking: a cgroup per service, pid_file for daemons that fork, own listener.

bool Alive(pid_t pid) {
  auto p = ReadProcessInfo(pid);
  return p.ok() && p->state != 'Z';
}

bool WaitGone(pid_t pid, milliseconds timeout = milliseconds(3000)) {
  const int64_t deadline = MonotonicNs() + timeout.count() * kMs;
  while (Alive(pid)) {
    if (MonotonicNs() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// A listening loopback socket held by this test process.
struct TestListener {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  uint16_t port = 0;
  TestListener() {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(fd, 512) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      port = ntohs(sa.sin_port);
    }
  }
  ~TestListener() {
    if (fd >= 0) ::close(fd);
  }
};

// A loopback port nobody listens on now (bound, then closed).
uint16_t FreePort() {
  TestListener l;
  return l.port;
}

// Skips without a cgroup, saying why; as root a cgroup must work here (platform.md), so the
// test fails instead.
#define DUENDE_REQUIRE_CGROUP(name)                      \
  do {                                                   \
    const std::string why = NoCgroupReason(name);        \
    if (!why.empty() && ::geteuid() == 0) FAIL() << why; \
    if (!why.empty()) GTEST_SKIP() << why;               \
  } while (0)

class TrackingTest : public SupervisorTest {
 protected:
  void SetUp() override {}
  void BeginTracking(const std::string& prefix = "") {
    SupervisorOptions o;
    o.cgroup_per_service = true;
    o.cgroup_prefix = prefix;
    o.probes_need_own_listener = true;
    Begin(o);
  }
  // Skips unless `name` is tracked by a cgroup here.
  // "" when service `name` is tracked by a cgroup of its own, else why not.
  std::string NoCgroupReason(const std::string& name) {
    auto st = sup_->Status(name);
    if (!st.ok()) return st.error().Message();
    return st->tracked_by_cgroup ? "" : "no cgroup here: " + st->tracking;
  }
  std::string dir_ = [] {
    char t[] = "/tmp/duende-sup-tracking-XXXXXX";
    return std::string(::mkdtemp(t));
  }();
  ~TrackingTest() override { std::system(("rm -rf " + dir_).c_str()); }
};

TEST_F(TrackingTest, ACgroupPerServiceStopsAProcessThatCalledSetsid) {
  BeginTracking();
  DaemonConfig c = Service("escaper", {});
  c.command = {"/bin/sh", "-c", "setsid sleep 300 & exec sleep 300"};
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("escaper");
  EXPECT_EQ(sup_->Status("escaper")->tracking.rfind("cgroup v", 0), 0u);
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  // Wait until the background sleep has called setsid() (it left the main process's session).
  const pid_t main = sup_->Status("escaper")->pid;
  pid_t escaped = -1;
  for (int i = 0; i < 400 && escaped < 0; ++i) {
    auto members = sup_->Members("escaper");
    ASSERT_TRUE(members.ok());
    const std::vector<pid_t> list = *members;
    for (pid_t m : list) {
      auto info = ReadProcessInfo(m);
      if (m != main && info.ok() && info->sid == m && info->comm == "sleep") escaped = m;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_GT(escaped, 0) << "no member left the session";
  ASSERT_TRUE(sup_->Stop("escaper").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kStopped, 1));
  // The stop signal reached the process outside the main process's group too.
  EXPECT_TRUE(WaitGone(escaped)) << "pid " << escaped << " outlived the stop";
}

TEST_F(TrackingTest, WithoutACgroupItSaysWhyAndUsesTheProcessGroup) {
  BeginTracking("no/such/");  // not one path component: no group can be made
  DaemonConfig c = Service("plain", {});
  ASSERT_TRUE(sup_->Add(c, true).ok());
  auto st = sup_->Status("plain");
  EXPECT_FALSE(st->tracked_by_cgroup);
  EXPECT_NE(st->tracking.find("process group (no cgroup: invalid cgroup name"), std::string::npos)
      << st->tracking;
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  EXPECT_EQ(*sup_->Members("plain"), std::vector<pid_t>{sup_->Status("plain")->pid});
}

TEST_F(TrackingTest, PidFileNamesTheDaemonThatForkedAndAKillRestartsIt) {
  BeginTracking();
  const uint16_t port = FreePort();
  DaemonConfig c = Service("forking", {});
  const std::string pid_file = dir_ + "/d.pid";
  c.command = {FORKING_PATH,       "--port", std::to_string(port), "--pid-file", pid_file,
               "--pid-file-delay", "50"};
  c.pid_file = pid_file;
  c.restart.policy = RestartConfig::Policy::kAlways;
  c.health.readiness.kind = ProbeConfig::Kind::kTcp;
  c.health.readiness.address = "127.0.0.1:" + std::to_string(port);
  c.health.readiness.interval = milliseconds(20);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kMainPid, 1));
  const pid_t launcher = rec_.Of(EventType::kSpawned)[0].pid;
  const pid_t daemon = rec_.Of(EventType::kMainPid)[0].pid;
  EXPECT_NE(daemon, launcher);
  EXPECT_EQ(PidFile::ReadPid(pid_file), daemon);
  EXPECT_EQ(sup_->Status("forking")->pid, daemon);
  EXPECT_NE(ReadProcessInfo(daemon)->sid, launcher);  // it left the started process's session
  // The daemon (not the process started) is the main process: its SIGKILL is an exit, its
  // workers are killed with it, and the restart names a new daemon.
  std::vector<pid_t> first = *sup_->Members("forking");
  EXPECT_GE(first.size(), 3u);  // master and two workers
  ASSERT_EQ(::kill(daemon, SIGKILL), 0);
  ASSERT_TRUE(rec_.WaitCount(EventType::kMainPid, 2));
  auto exited = rec_.Of(EventType::kExited);
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ(exited[0].pid, daemon);
  EXPECT_EQ(exited[0].exit->signal, SIGKILL);
  for (pid_t p : first) EXPECT_TRUE(WaitGone(p)) << "pid " << p << " of the killed daemon";
  const pid_t second = rec_.Of(EventType::kMainPid)[1].pid;
  EXPECT_NE(second, daemon);
  EXPECT_TRUE(Alive(second));
}

TEST_F(TrackingTest, APidFileNamingAProcessOutsideTheServiceIsRefused) {
  BeginTracking();
  DaemonConfig c = Service("liar", {});
  const std::string pid_file = dir_ + "/liar.pid";
  // Leaves a process running (so it did fork) and names this test process as its daemon.
  c.command = {"/bin/sh", "-c",
               "sleep 30 </dev/null >/dev/null 2>&1 & echo " + std::to_string(::getpid()) + " > " +
                   pid_file};
  c.pid_file = pid_file;
  c.restart.policy = RestartConfig::Policy::kNever;
  c.health.readiness.kind = ProbeConfig::Kind::kCommand;
  c.health.readiness.command = {"/bin/false"};
  c.health.readiness.grace_period = milliseconds(600);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("liar");
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  const auto hf = rec_.Of(EventType::kHealthFailed)[0];
  EXPECT_NE(hf.detail.find("not a process of service liar"), std::string::npos) << hf.detail;
  EXPECT_NE(hf.detail.find("pid " + std::to_string(::getpid())), std::string::npos) << hf.detail;
  EXPECT_EQ(rec_.Of(EventType::kMainPid).size(), 0u);
  EXPECT_EQ(::kill(::getpid(), 0), 0);  // and we are still here
}

TEST_F(TrackingTest, ReadinessCountsOnlyTheServicesOwnListener) {
  BeginTracking();
  TestListener other;  // held by this test, not by the service
  DaemonConfig c = Service("idle", {});
  c.health.readiness.kind = ProbeConfig::Kind::kTcp;
  c.health.readiness.address = "127.0.0.1:" + std::to_string(other.port);
  c.health.readiness.interval = milliseconds(20);
  c.health.readiness.grace_period = milliseconds(400);
  c.restart.policy = RestartConfig::Policy::kNever;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  EXPECT_EQ(rec_.Of(EventType::kReady).size(), 0u);
  // The control: the same probe without the ownership rule passes on our listener.
  End();
  Begin(SupervisorOptions{});
  ASSERT_TRUE(sup_->Add(c, true).ok());
  EXPECT_TRUE(rec_.WaitCount(EventType::kReady, 1));
}

TEST_F(TrackingTest, ADaemonThatForksWithoutPidFileIsReportedWithTheRemedy) {
  BeginTracking();
  const uint16_t port = FreePort();
  DaemonConfig c = Service("daemonizer", {});
  c.command = {FORKING_PATH, "--port", std::to_string(port)};
  c.restart.policy = RestartConfig::Policy::kNever;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("daemonizer");
  ASSERT_TRUE(rec_.WaitCount(EventType::kExited, 1));
  auto ex = rec_.Of(EventType::kExited)[0];
  EXPECT_TRUE(ex.exit->success());
  ASSERT_FALSE(ex.left_running.empty());
  EXPECT_NE(ex.detail.find("Set pid_file"), std::string::npos) << ex.detail;
  for (pid_t p : ex.left_running) EXPECT_TRUE(WaitGone(p)) << "pid " << p;
}

// --- What a user of the supervisor sees of each child: its environment, limits, ids.

// A private directory under $TMPDIR (or /tmp), removed with the object.
struct TempDir {
  std::string path = [] {
    std::string t = duende::framework::TempDir() + "/duende-sup-more-XXXXXX";
    return ::mkdtemp(t.data()) != nullptr ? t : std::string();
  }();
  ~TempDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  // Writes an executable shell script `name` and returns its path.
  std::string Script(const std::string& name, const std::string& body) const {
    const std::string p = path + "/" + name;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    ::chmod(p.c_str(), 0700);
    return p;
  }
  // Lines in file `name` ("" when it does not exist).
  size_t Lines(const std::string& name) const {
    std::ifstream f(path + "/" + name);
    return static_cast<size_t>(
        std::count(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>(), '\n'));
  }
  std::string Read(const std::string& name) const {
    std::ifstream f(path + "/" + name);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
};

TEST_F(SupervisorTest, TheEnvironmentNamesTheWatchdogAndTheHealthChannelOnlyWhenConfigured) {
  DaemonConfig wd = Service("wd", {});
  wd.health.watchdog = seconds(30);
  DaemonConfig plain = Service("plain", {});
  DaemonConfig ready = Service("daemon-ready", {});
  ready.health.readiness.kind = ProbeConfig::Kind::kDaemon;
  ready.health.readiness.grace_period = seconds(60);
  DaemonConfig live = Service("daemon-live", {});
  live.health.liveness.kind = ProbeConfig::Kind::kDaemon;
  live.health.liveness.interval = seconds(60);
  for (const auto& c : {wd, plain, ready, live}) ASSERT_TRUE(sup_->Add(c, true).ok()) << c.name;
  ASSERT_TRUE(rec_.WaitCount(EventType::kSpawned, 4));
  auto env = [&](const std::string& name, const std::string& key) {
    return EnvironOf(sup_->Status(name)->pid, key);
  };
  EXPECT_EQ(env("wd", "WATCHDOG_USEC"), "30000000");
  EXPECT_EQ(env("wd", "DUENDE_SERVICE"), "wd");
  EXPECT_EQ(env("plain", "DUENDE_SERVICE"), "plain");
  EXPECT_EQ(env("plain", "WATCHDOG_USEC"), "");
  EXPECT_EQ(env("plain", "DUENDE_HEALTH_FD"), "");
  // The notify socket exists for readiness "notify" or a watchdog only.
  EXPECT_EQ(env("plain", "NOTIFY_SOCKET"), "");
  EXPECT_EQ(env("wd", "NOTIFY_SOCKET").rfind("@duende/", 0), 0u);
  EXPECT_EQ(env("wd", "DUENDE_HEALTH_FD"), "");
  EXPECT_EQ(env("daemon-ready", "DUENDE_HEALTH_FD"), "3");
  EXPECT_EQ(env("daemon-live", "DUENDE_HEALTH_FD"), "3");
}

// "Max open files" of process `pid`: {soft, hard} as /proc shows them.
std::pair<std::string, std::string> OpenFilesLimit(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream rest(line.substr(std::strlen("Max open files")));
    std::string soft, hard;
    rest >> soft >> hard;
    return {soft, hard};
  }
  return {};
}

// The supervisor raises its own descriptor limit to the hard one; a child without open_files
// gets the limit the supervisor started with.
TEST_F(SupervisorTest, ChildrenGetTheDescriptorLimitTheSupervisorStartedWith) {
  End();
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  if (saved.rlim_max <= 256) GTEST_SKIP() << "hard RLIMIT_NOFILE is only " << saved.rlim_max;
  rlimit low = saved;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  Begin(SupervisorOptions{});
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, saved.rlim_max);
  ASSERT_TRUE(sup_->Add(Service("inherits", {}), true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  const auto limit = OpenFilesLimit(sup_->Status("inherits")->pid);
  EXPECT_EQ(limit.first, "256");
  EXPECT_EQ(limit.second,
            saved.rlim_max == RLIM_INFINITY ? "unlimited" : std::to_string(saved.rlim_max));
  End();
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

// The Gid: line of /proc/PID/status (real, effective, saved, fs).
std::string GidLine(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Gid:", 0) == 0) return line;
  }
  return "";
}

TEST_F(SupervisorTest, GroupRunsTheChildInThatGroupAndAMissingOneFailsTheSpawn) {
  const group* g = ::getgrgid(65534);
  if (g == nullptr) GTEST_SKIP() << "no group 65534 on this machine";
  DaemonConfig c = Service("grouped", {});
  c.group = g->gr_name;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  EXPECT_EQ(GidLine(sup_->Status("grouped")->pid), "Gid:\t65534\t65534\t65534\t65534");
  DaemonConfig missing = Service("nogroup", {});
  missing.group = "duende-no-such-group";
  missing.restart.start_limit_burst = 1;
  ASSERT_TRUE(sup_->Add(missing, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kSpawnFailed, 1));
  EXPECT_EQ(rec_.Of(EventType::kSpawnFailed)[0].detail,
            std::string("unable to spawn ") + STAMP_PATH + ": no group 'duende-no-such-group'");
}

// A new child starts without the STATUS= text of the one before it.
TEST_F(SupervisorTest, StatusTextBelongsToTheChildThatSentIt) {
  DaemonConfig c = Service("restarting", {"--notify", "--exit", "1", "--after", "100"});
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  std::mutex mu;
  std::vector<std::string> at_spawn;
  // Runs on the loop thread, where Status() runs inline.
  sup_->Subscribe([&](const ServiceEvent& e) {
    if (e.type != EventType::kSpawned) return;
    const std::string text = sup_->Status(e.service)->status_text;
    std::lock_guard<std::mutex> lock(mu);
    at_spawn.push_back(text);
  });
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 2));
  EXPECT_EQ(sup_->Status("restarting")->status_text, "stamped");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(at_spawn.size(), 2u);
  for (const auto& t : at_spawn) EXPECT_EQ(t, "");
}

// READY=1 counts only for readiness kind "notify"; another kind is judged by its own probe.
TEST_F(SupervisorTest, ReadyFromTheChildIsIgnoredWhenReadinessIsAProbe) {
  DaemonConfig c = Service("probed", {"--notify"});
  c.health.watchdog = seconds(30);  // the notify socket exists for WATCHDOG=1
  c.health.readiness.kind = ProbeConfig::Kind::kCommand;
  c.health.readiness.command = {"/bin/false"};
  c.health.readiness.interval = milliseconds(100);
  c.health.readiness.grace_period = seconds(60);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kStatus, 1));  // its READY=1 came with the STATUS=
  std::this_thread::sleep_for(milliseconds(100));
  auto st = sup_->Status("probed");
  EXPECT_EQ(st->status_text, "stamped");
  EXPECT_EQ(st->state, ServiceState::kStarting);
  EXPECT_EQ(rec_.Of(EventType::kReady).size(), 0u);
}

// --- Probes run once per interval: a failing readiness probe is retried, a liveness probe
// counts failures one interval apart.

TEST_F(SupervisorTest, ProbesRunOncePerInterval) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  DaemonConfig c = Service("paced", {});
  c.health.readiness.kind = ProbeConfig::Kind::kCommand;
  // Shell builtins only: a probe killed by the stop leaves no child of its own behind.
  c.health.readiness.command = {"/bin/sh", "-c", "echo x >> \"$0/ready.count\"; test -e \"$0/go\"",
                                dir.path};
  c.health.readiness.interval = milliseconds(100);
  c.health.readiness.grace_period = seconds(60);
  c.health.liveness.kind = ProbeConfig::Kind::kCommand;
  c.health.liveness.command = {"/bin/sh", "-c", "echo x >> \"$0/live.count\"", dir.path};
  c.health.liveness.interval = milliseconds(100);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(rec_.Of(EventType::kReady).size(), 0u);
  std::ofstream(dir.path + "/go").put('\n');
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));  // a failed probe was tried again
  std::this_thread::sleep_for(milliseconds(600));
  for (int i = 0; i < 1000 && dir.Lines("live.count") == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(sup_->Stop("paced").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kStopped, 1));
  const int64_t spawned = rec_.Of(EventType::kSpawned)[0].ts_ns;
  const int64_t ready = rec_.Of(EventType::kReady)[0].ts_ns;
  const int64_t stopping = rec_.Of(EventType::kStopping)[0].ts_ns;
  // Each probe starts at least an interval after the previous one ended: at most one per
  // interval (the first readiness probe at once), however slow the machine.
  const size_t ready_runs = dir.Lines("ready.count");
  const size_t live_runs = dir.Lines("live.count");
  EXPECT_GE(ready_runs, 2u);
  EXPECT_LE(ready_runs, static_cast<size_t>((ready - spawned) / (100 * kMs)) + 1);
  EXPECT_GE(live_runs, 1u);
  EXPECT_LE(live_runs, static_cast<size_t>((stopping - ready) / (100 * kMs)));
}

TEST_F(SupervisorTest, LivenessFailuresAreCountedOneIntervalApart) {
  DaemonConfig c = Service("flaky", {});
  c.health.liveness.kind = ProbeConfig::Kind::kCommand;
  c.health.liveness.command = {"/bin/false"};
  c.health.liveness.interval = milliseconds(250);
  c.health.liveness.failure_threshold = 3;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  const int64_t ready = rec_.Of(EventType::kReady)[0].ts_ns;
  const int64_t failed = rec_.Of(EventType::kHealthFailed)[0].ts_ns;
  // The first probe an interval after ready, then two more an interval apart each.
  EXPECT_GE(failed - ready, 3 * 250 * kMs);
}

// A stopped service leaves nothing due: its kill deadline and probe timer are cancelled, so
// the loop sleeps (no wake-ups) until the next command.
TEST_F(SupervisorTest, AStoppedServiceLeavesNoTimerBehind) {
  DaemonConfig c = Service("tidy", {});
  c.shutdown_timeout = milliseconds(600);
  c.health.liveness.kind = ProbeConfig::Kind::kCommand;
  c.health.liveness.command = {"/bin/true"};
  c.health.liveness.interval = milliseconds(300);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  ASSERT_TRUE(sup_->Stop("tidy").ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kStopped, 1));
  std::this_thread::sleep_for(milliseconds(100));
  const uint64_t before = sup_->wakeups();
  std::this_thread::sleep_for(milliseconds(1200));
  EXPECT_EQ(sup_->wakeups(), before);
  EXPECT_EQ(rec_.Of(EventType::kKilled).size(), 0u);
}

// --- The stop signal reaches every process of the service, and Members() lists them.

// A service of two processes in `dir`: main.sh starts member.sh (through `launch`, e.g.
// "setsid ") and waits for it, also once it got the stop signal; member.sh writes "up" to
// member.up once its trap is set and "term" to member.log when SIGTERM reaches it.
DaemonConfig FamilyService(const TempDir& dir, const std::string& name, const std::string& launch) {
  dir.Script("member.sh",
             "trap 'echo term >> \"$(dirname \"$0\")/member.log\"; exit 0' TERM\n"
             "echo up > \"$(dirname \"$0\")/member.up\"\n"
             "while :; do sleep 0.05; done\n");
  DaemonConfig c = Service(name, {});
  c.command = {dir.Script("main.sh", "trap 'wait; exit 0' TERM\n" + launch +
                                         "\"$(dirname \"$0\")/member.sh\" &\nwait\n")};
  c.shutdown_timeout = seconds(5);
  return c;
}

// Waits until the member of FamilyService(dir, name) is up, stops the service and expects the
// member to have seen SIGTERM: the main process ended by itself, nothing needed SIGKILL.
void ExpectTheStopReachesTheMember(Supervisor& sup, Recorder& rec, const TempDir& dir,
                                   const std::string& name) {
  for (int i = 0; i < 400 && dir.Read("member.up").empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(dir.Read("member.up"), "up\n");  // its trap is set
  ASSERT_TRUE(sup.Stop(name).ok());
  ASSERT_TRUE(rec.WaitCount(EventType::kStopped, 1));
  EXPECT_EQ(dir.Read("member.log"), "term\n");
  EXPECT_EQ(rec.Of(EventType::kKilled).size(), 0u);
  EXPECT_EQ(rec.Of(EventType::kExited)[0].exit->code, 0);
}

TEST_F(SupervisorTest, TheStopSignalReachesTheWholeProcessGroup) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  ASSERT_TRUE(sup_->Add(FamilyService(dir, "family", ""), true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  const pid_t main = sup_->Status("family")->pid;
  std::vector<pid_t> members;
  for (int i = 0; i < 400 && members.size() < 2; ++i) {
    members = *sup_->Members("family");
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_GE(members.size(), 2u);  // sh, the member's sh (and its sleep)
  EXPECT_NE(std::find(members.begin(), members.end(), main), members.end());
  for (pid_t m : members) {  // (a short-lived sleep may be gone already)
    const pid_t pgid = ::getpgid(m);
    EXPECT_TRUE(pgid == main || pgid == -1) << m << " is in group " << pgid;
  }
  ExpectTheStopReachesTheMember(*sup_, rec_, dir, "family");
}

// The file `v1_name` (cgroup v1) or `v2_name` (v2) of the `controller` group process `pid` is
// in, without its newline; "" when there is none.
std::string CgroupFileOf(pid_t pid, const std::string& controller, const std::string& v1_name,
                         const std::string& v2_name) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  std::string path;
  while (std::getline(f, line)) {
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string group = line.substr(b + 1);
    std::stringstream list(controllers);
    std::string one;
    while (std::getline(list, one, ',')) {
      if (one == controller) path = "/sys/fs/cgroup/" + controllers + group + "/" + v1_name;
    }
    if (controllers.empty() && path.empty()) {
      const std::string v2 = "/sys/fs/cgroup" + group + "/" + v2_name;
      if (::access(v2.c_str(), F_OK) == 0) path = v2;
    }
  }
  std::ifstream value(path);
  std::string out;
  std::getline(value, out);
  return out;
}

// Each [resources] limit is written to the service's own cgroup, and only that one.
TEST_F(SupervisorTest, ResourceLimitsAreWrittenToTheServicesCgroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "making cgroups needs root";
  DaemonConfig pids = Service("pids", {});
  pids.resources.pids_max = 64;
  DaemonConfig cpu = Service("cpu", {});
  cpu.resources.cpu_quota = 0.5;
  DaemonConfig mem = Service("mem", {});
  mem.resources.memory_max = 64ull << 20;
  for (const auto& c : {pids, cpu, mem}) {
    auto added = sup_->Add(c, true);
    ASSERT_TRUE(added.ok()) << c.name << ": " << added.error().Message();
    EXPECT_TRUE(sup_->Status(c.name)->tracked_by_cgroup) << c.name;
  }
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 3));
  EXPECT_EQ(CgroupFileOf(sup_->Status("pids")->pid, "pids", "pids.max", "pids.max"), "64");
  const std::string quota =
      CgroupFileOf(sup_->Status("cpu")->pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
  EXPECT_TRUE(quota == "50000" || quota == "50000 100000") << quota;
  const std::string memory =
      CgroupFileOf(sup_->Status("mem")->pid, "memory", "memory.limit_in_bytes", "memory.max");
  EXPECT_EQ(memory, std::to_string(64ull << 20));
}

// Children of the main process that it never waited for: zombies with that parent.
std::vector<pid_t> ZombieChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& p : ListProcesses()) {
    if (p.ppid == parent && p.state == 'Z') out.push_back(p.pid);
  }
  return out;
}

// Without Run(): the destructor kills the running child's group and reaps what it leaves, the
// main process and the zombies it never waited for (they are ours once it is gone).
TEST(SupervisorLifetimeTest, DestroyingTheSupervisorKillsAndReapsItsChildren) {
  SupervisorOptions o;
  o.seed = 7;
  auto sup = Supervisor::Create(o);
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  DaemonConfig c = Service("left", {});
  c.command = {"/bin/sh", "-c", "/bin/true & exec sleep 300"};
  ASSERT_TRUE((*sup)->Add(c, true).ok());
  const pid_t main = (*sup)->Status("left")->pid;
  ASSERT_GT(main, 0);
  std::vector<pid_t> zombies;
  for (int i = 0; i < 1000 && zombies.empty(); ++i) {
    zombies = ZombieChildrenOf(main);
    if (zombies.empty()) std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(zombies.size(), 1u);
  sup->reset();
  EXPECT_EQ(::kill(main, 0), -1);
  EXPECT_EQ(::kill(zombies[0], 0), -1) << "pid " << zombies[0] << " was left a zombie";
  ::waitpid(zombies[0], nullptr, WNOHANG);
}

// A dedicated process (handle_signals): SIGCHLD reaps orphans the services left (here one in
// a session of its own, reparented to us), SIGTERM stops every service and ends Run().
TEST(SupervisorSignalsTest, SigchldReapsOrphansAndSigtermShutsDown) {
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, sig);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    SupervisorOptions o;
    o.handle_signals = true;
    o.seed = 7;
    auto sup = Supervisor::Create(o);
    if (!sup.ok()) ::_exit(10);
    DaemonConfig c = Service("orphaner", {});
    c.command = {"/bin/sh", "-c", "(setsid /bin/true &); exec sleep 300"};
    if (!(*sup)->Add(c, true).ok()) ::_exit(11);
    // Tells the test once the orphan was reaped (or that it was not within 10 s).
    const int64_t give_up = MonotonicNs() + 10000 * kMs;
    std::function<void()> poll = [&] {
      if ((*sup)->orphans_reaped() >= 1 || MonotonicNs() > give_up) {
        const char said = (*sup)->orphans_reaped() >= 1 ? 'r' : 'x';
        if (::write(report[1], &said, 1) != 1) ::_exit(12);
        return;
      }
      (*sup)->loop().AddTimer(MonotonicNs() + 10 * kMs, poll);
    };
    poll();
    if (!(*sup)->Run().ok()) ::_exit(13);
    if ((*sup)->Status("orphaner")->state != ServiceState::kStopped) ::_exit(14);
    ::_exit(0);
  }
  ::close(report[1]);
  char got = 0;
  const bool reported = ::read(report[0], &got, 1) == 1;
  ::close(report[0]);
  EXPECT_TRUE(reported);
  EXPECT_EQ(got, 'r') << "the orphan was not reaped";
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 2000 && done == 0; ++i) {
    done = ::waitpid(child, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(milliseconds(5));
  }
  if (done == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "SIGTERM did not end the supervisor within 10 s";
  }
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// With a cgroup: a process of the service outside its process group (setsid) may say READY=1;
// a process outside the cgroup may not.
TEST_F(TrackingTest, NotifyFromAMemberOutsideTheGroupCountsAStrangersDoesNot) {
  BeginTracking();
  const std::string fifo = dir_ + "/go";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  DaemonConfig c;
  c.name = "sessions";
  c.command = {"/bin/sh", "-c", "read x < \"$0\"; setsid \"$1\" --notify & wait", fifo, STAMP_PATH};
  c.shutdown_timeout = seconds(2);
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("sessions");
  ASSERT_TRUE(rec_.WaitCount(EventType::kSpawned, 1));
  const pid_t pid = sup_->Status("sessions")->pid;
  const NotifyAddress to = NotifyAddressOf(pid);
  ASSERT_EQ(to.text.rfind("@duende/", 0), 0u) << to.text;
  EXPECT_EQ(SendNotify(to.addr, to.len, {"READY=1"}), 1);
  for (int i = 0; i < 1000 && sup_->Status("sessions")->notify_dropped < 1; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(sup_->Status("sessions")->notify_dropped, 1u);
  EXPECT_EQ(sup_->Status("sessions")->state, ServiceState::kStarting);
  std::ofstream(fifo) << "go\n";
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  EXPECT_EQ(sup_->Status("sessions")->notify_dropped, 1u);
  EXPECT_EQ(sup_->Status("sessions")->status_text, "stamped");
}

// With a cgroup, a member that left the main process's group (setsid) gets the stop signal
// too, one by one.
TEST_F(TrackingTest, TheStopSignalReachesAMemberInASessionOfItsOwn) {
  BeginTracking();
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  ASSERT_TRUE(sup_->Add(FamilyService(dir, "sessions", "setsid "), true).ok());
  DUENDE_REQUIRE_CGROUP("sessions");
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  ExpectTheStopReachesTheMember(*sup_, rec_, dir, "sessions");
}

// --- Subscriptions, the state's start time, seeds, the reason shown.

TEST(SupervisorSubscriptionTest, AnUnsubscribedCallbackSeesNoMoreEvents) {
  SupervisorOptions o;
  o.seed = 7;
  auto sup = Supervisor::Create(o);
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  int first = 0, second = 0;
  const auto a = (*sup)->Subscribe([&](const ServiceEvent&) { ++first; });
  const auto b = (*sup)->Subscribe([&](const ServiceEvent&) { ++second; });
  EXPECT_NE(a, b);
  (*sup)->Unsubscribe(a);
  // Without Run() the commands run here, inline: the spawn's events arrive before Add returns.
  ASSERT_TRUE((*sup)->Add(Service("once", {}), true).ok());
  EXPECT_EQ(first, 0);
  EXPECT_GE(second, 1);
}

// since_ns is when the current state began: a STATUS= message while starting does not move it.
TEST_F(SupervisorTest, SinceIsWhenTheCurrentStateBegan) {
  DaemonConfig c = Service("since", {"--notify"});
  c.health.readiness.kind = ProbeConfig::Kind::kNotify;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  ASSERT_EQ(rec_.Of(EventType::kStatus).size(), 1u);
  EXPECT_EQ(sup_->Status("since")->since_ns, rec_.Of(EventType::kReady)[0].ts_ns);
}

// With a seed the jittered delays are the same on every run (a failure can be replayed).
TEST_F(SupervisorTest, ASeedMakesTheJitteredDelaysReproducible) {
  DaemonConfig c = Service("jittery", {"--exit", "1"});
  c.restart.backoff.jitter = BackoffConfig::Jitter::kFull;
  c.restart.backoff.initial = seconds(100);  // never due during the test
  c.restart.backoff.max = seconds(100);
  std::vector<int64_t> delays;
  for (int run = 0; run < 2; ++run) {
    End();
    Begin(SupervisorOptions{});  // the same seed every time
    ASSERT_TRUE(sup_->Add(c, true).ok());
    ASSERT_TRUE(rec_.WaitCount(EventType::kRestartScheduled, delays.size() + 1));
    delays.push_back(rec_.Of(EventType::kRestartScheduled)[delays.size()].delay.count());
  }
  EXPECT_EQ(delays[0], delays[1]);
  EXPECT_NE(delays[0], seconds(100).count());  // it was jittered
}

// Once restarted after a health failure the service shows that failure as its reason.
TEST_F(SupervisorTest, ARestartedServiceShowsTheHealthFailureAsItsReason) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  DaemonConfig c = Service("recovered", {});
  c.health.liveness.kind = ProbeConfig::Kind::kCommand;
  c.health.liveness.command = {"/bin/sh", "-c", "test -e \"$0\"", dir.path + "/healed"};
  c.health.liveness.interval = milliseconds(30);
  c.health.liveness.failure_threshold = 1;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kHealthFailed, 1));
  std::ofstream(dir.path + "/healed").put('\n');
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 2));
  auto st = sup_->Status("recovered");
  EXPECT_EQ(st->state, ServiceState::kRunning);
  EXPECT_EQ(st->reason.rfind("liveness probe failed 1 times in a row", 0), 0u) << st->reason;
}

// --- How an exit is judged: only a start that exited 0 leaving processes behind daemonized.

// Process group tracking: what the main process left in its group is killed, and an exit is
// just an exit.
TEST_F(SupervisorTest, AnExitLeavingAGroupMemberIsNotADaemonizingStart) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  DaemonConfig c = Service("leaver", {});
  c.command = {"/bin/sh", "-c", "sleep 300 & echo $! > \"$0\"; exit 0", dir.path + "/left.pid"};
  c.restart.policy = RestartConfig::Policy::kNever;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kExited, 1));
  const auto ex = rec_.Of(EventType::kExited)[0];
  EXPECT_TRUE(ex.exit->success());
  EXPECT_TRUE(ex.left_running.empty());
  EXPECT_EQ(ex.detail.find("pid_file"), std::string::npos) << ex.detail;
  // The member was killed and, an orphan of ours by then, reaped while the loop runs on.
  std::ifstream f(dir.path + "/left.pid");
  pid_t left = -1;
  f >> left;
  ASSERT_GT(left, 0);
  bool reaped = false;
  for (int i = 0; i < 600 && !reaped; ++i) {
    reaped = ::kill(left, 0) == -1;
    if (!reaped) std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_TRUE(reaped) << "pid " << left << " is still there (a zombie of ours?)";
}

// A start script for the tracking tests below: starts `sleep 300` in a session of its own,
// waits until its pid is in `pid_path`, and exits with `code`.
std::vector<std::string> LeaveASessionAndExit(const std::string& pid_path, int code) {
  return {"/bin/sh", "-c",
          "setsid /bin/sh -c 'echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; exec sleep 300' \"$0\" "
          "& while [ ! -e \"$0\" ]; do sleep 0.01; done; exit " +
              std::to_string(code),
          pid_path};
}

pid_t PidIn(const std::string& path) {
  std::ifstream f(path);
  pid_t pid = -1;
  f >> pid;
  return pid;
}

// A failed start is a failure, whatever it left running (which is killed): not a daemon that
// forked, with or without pid_file.
TEST_F(TrackingTest, AFailedStartIsNotADaemonizingOneWhateverItLeft) {
  BeginTracking();
  DaemonConfig c = Service("failing", {});
  c.command = LeaveASessionAndExit(dir_ + "/left.pid", 3);
  c.restart.policy = RestartConfig::Policy::kNever;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("failing");
  DaemonConfig p = c;
  p.name = "failing-pidfile";
  p.command = LeaveASessionAndExit(dir_ + "/left2.pid", 3);
  p.pid_file = dir_ + "/never-written.pid";
  ASSERT_TRUE(sup_->Add(p, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kExited, 2, milliseconds(5000)));
  for (const auto& ex : rec_.Of(EventType::kExited)) {
    EXPECT_EQ(ex.exit->code, 3) << ex.service;
    EXPECT_TRUE(ex.left_running.empty()) << ex.service;
    EXPECT_EQ(ex.detail.find("pid_file"), std::string::npos) << ex.service << ": " << ex.detail;
  }
  EXPECT_EQ(rec_.Of(EventType::kMainPid).size(), 0u);
  // What the failed start left in a session of its own did not outlive it.
  for (const char* f : {"/left.pid", "/left2.pid"}) {
    const pid_t left = PidIn(dir_ + f);
    ASSERT_GT(left, 0) << f;
    EXPECT_TRUE(WaitGone(left)) << "pid " << left << " outlived the failed start";
  }
}

// The pid file of an adopted daemon that ended is removed (the next start must not read its
// stale pid), unless it names another process by then.
TEST_F(TrackingTest, TheEndedDaemonsPidFileGoesUnlessItNamesAnother) {
  BeginTracking();
  for (const bool rewritten : {false, true}) {
    const std::string name = rewritten ? "rewritten" : "plain";
    const std::string pid_file = dir_ + "/" + name + ".pid";
    DaemonConfig c = Service(name, {});
    const uint16_t port = FreePort();
    c.command = {FORKING_PATH, "--port", std::to_string(port), "--pid-file", pid_file};
    c.pid_file = pid_file;
    c.restart.policy = RestartConfig::Policy::kNever;
    ASSERT_TRUE(sup_->Add(c, true).ok());
    DUENDE_REQUIRE_CGROUP(name);
    ASSERT_TRUE(rec_.WaitFor([&](const auto& ev) {
      return std::any_of(ev.begin(), ev.end(), [&](const ServiceEvent& e) {
        return e.service == name && e.type == EventType::kMainPid;
      });
    }));
    const pid_t daemon = sup_->Status(name)->pid;
    if (rewritten) std::ofstream(pid_file) << ::getpid() << "\n";
    ASSERT_EQ(::kill(daemon, SIGKILL), 0);
    ASSERT_TRUE(rec_.WaitFor([&](const auto& ev) {
      return std::any_of(ev.begin(), ev.end(), [&](const ServiceEvent& e) {
        return e.service == name && e.type == EventType::kExited;
      });
    }));
    EXPECT_EQ(::access(pid_file.c_str(), F_OK) == 0, rewritten) << name;
  }
}

// While the pid file is awaited it is looked at every few milliseconds, not in a busy loop.
TEST_F(TrackingTest, ThePidFileIsPolledNotSpunOn) {
  BeginTracking();
  const uint16_t port = FreePort();
  DaemonConfig c = Service("slow-pid", {});
  const std::string pid_file = dir_ + "/slow.pid";
  c.command = {FORKING_PATH,       "--port", std::to_string(port), "--pid-file", pid_file,
               "--pid-file-delay", "300"};
  c.pid_file = pid_file;
  const uint64_t before = sup_->wakeups();
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("slow-pid");
  ASSERT_TRUE(rec_.WaitCount(EventType::kMainPid, 1));
  // About 60 looks in 300 ms (5 ms apart), plus the exits and commands around them.
  EXPECT_LT(sup_->wakeups() - before, 1000u);
}

// The line `key:` of /proc/PID/status, without the key ("" when absent).
std::string StatusLine(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key + ":", 0) == 0) {
      const size_t v = line.find_first_not_of(" \t", key.size() + 1);
      return v == std::string::npos ? "" : line.substr(v);
    }
  }
  return "";
}

// [sandbox] is applied to the child; a sandbox that cannot be built fails the spawn for good
// (retrying cannot fix a config) with the reason.
TEST_F(SupervisorTest, TheSandboxConfinesTheChildAndABadOneIsAPermanentSpawnFailure) {
  DaemonConfig c = Service("confined", {});
  c.sandbox.capabilities = std::vector<std::string>{"CAP_NET_BIND_SERVICE"};
  ASSERT_TRUE(sup_->Add(c, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 1));
  EXPECT_EQ(StatusLine(sup_->Status("confined")->pid, "CapEff"), "0000000000000400");
  DaemonConfig bad = Service("badcap", {});
  bad.sandbox.capabilities = std::vector<std::string>{"CAP_NO_SUCH_THING"};
  ASSERT_TRUE(sup_->Add(bad, true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kGaveUp, 1));
  const auto failed = rec_.Of(EventType::kSpawnFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].detail, std::string("unable to spawn ") + STAMP_PATH +
                                  ": capability 'CAP_NO_SUCH_THING' is unknown to this kernel");
  EXPECT_EQ(rec_.Of(EventType::kRestartScheduled).size(), 0u);
  EXPECT_EQ(sup_->Status("badcap")->state, ServiceState::kFailed);
}

// An http readiness probe also counts only the service's own listener: a healthy answer from
// another program on the port is not the service being ready.
TEST_F(TrackingTest, AnHttpProbeCountsOnlyTheServicesOwnListener) {
  BeginTracking();
  TestListener other;  // held by this test, answering 200 to every request
  ASSERT_GT(other.port, 0);
  std::thread server([fd = other.fd] {
    while (true) {
      const int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;  // the listener was shut down
      char buf[1024];
      (void)::recv(conn, buf, sizeof buf, 0);
      const std::string reply =
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      (void)::send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(conn);
    }
  });
  DaemonConfig c = Service("idle-http", {});
  c.health.readiness.kind = ProbeConfig::Kind::kHttp;
  c.health.readiness.address = "127.0.0.1:" + std::to_string(other.port);
  c.health.readiness.interval = milliseconds(20);
  c.health.readiness.grace_period = milliseconds(400);
  c.restart.policy = RestartConfig::Policy::kNever;
  ASSERT_TRUE(sup_->Add(c, true).ok());
  const bool failed = rec_.WaitCount(EventType::kHealthFailed, 1);
  const size_t ready = rec_.Of(EventType::kReady).size();
  // The control: without the ownership rule the same probe passes on our server.
  End();
  Begin(SupervisorOptions{});
  ASSERT_TRUE(sup_->Add(c, true).ok());
  const bool control_ready = rec_.WaitCount(EventType::kReady, 1);
  ::shutdown(other.fd, SHUT_RDWR);
  server.join();
  EXPECT_TRUE(failed);
  EXPECT_EQ(ready, 0u);
  EXPECT_TRUE(control_ready);
}

// A readiness probe without a grace period puts no deadline on the pid file either: it gets
// the usual wait (seconds), not none.
TEST_F(TrackingTest, WithoutAGracePeriodThePidFileGetsTheUsualWait) {
  BeginTracking();
  const uint16_t port = FreePort();
  DaemonConfig c = Service("no-grace", {});
  const std::string pid_file = dir_ + "/no-grace.pid";
  c.command = {FORKING_PATH,       "--port", std::to_string(port), "--pid-file", pid_file,
               "--pid-file-delay", "200"};
  c.pid_file = pid_file;
  c.health.readiness.kind = ProbeConfig::Kind::kTcp;
  c.health.readiness.address = "127.0.0.1:" + std::to_string(port);
  c.health.readiness.interval = milliseconds(20);
  c.health.readiness.grace_period = std::chrono::nanoseconds(0);
  ASSERT_TRUE(sup_->Add(c, true).ok());
  DUENDE_REQUIRE_CGROUP("no-grace");
  ASSERT_TRUE(rec_.WaitCount(EventType::kMainPid, 1));
  EXPECT_EQ(rec_.Of(EventType::kHealthFailed).size(), 0u);
}

// Run() returns once Shutdown() has completed, not when something else ends a turn of the
// loop: after a Quit() of the loop the services are still looked after.
TEST_F(SupervisorTest, RunKeepsGoingUntilShutdown) {
  sup_->Call([&] { sup_->loop().Quit(); });
  ASSERT_TRUE(sup_->Add(Service("after-quit", {"--exit", "1", "--after", "50"}), true).ok());
  ASSERT_TRUE(rec_.WaitCount(EventType::kRestartScheduled, 1));
  EXPECT_EQ(rec_.Of(EventType::kExited)[0].exit->code, 1);
}

// StartAll() starts every service added so far, in the order added; once shutdown has begun
// it starts nothing.
TEST_F(SupervisorTest, StartAllStartsEveryServiceInOrder) {
  ASSERT_TRUE(sup_->Add(Service("first", {})).ok());
  ASSERT_TRUE(sup_->Add(Service("second", {})).ok());
  sup_->StartAll();
  ASSERT_TRUE(rec_.WaitCount(EventType::kReady, 2));
  const auto spawned = rec_.Of(EventType::kSpawned);
  ASSERT_EQ(spawned.size(), 2u);
  EXPECT_EQ(spawned[0].service, "first");
  EXPECT_EQ(spawned[1].service, "second");
  sup_->Shutdown();
  thread_.join();
  sup_->StartAll();  // Run() has returned: runs inline, and refuses
  EXPECT_EQ(rec_.Of(EventType::kSpawned).size(), 2u);
  EXPECT_EQ(sup_->Status("first")->state, ServiceState::kStopped);
  sup_.reset();
}
}  // namespace
}  // namespace duende::framework
