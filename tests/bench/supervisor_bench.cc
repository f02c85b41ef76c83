// duende-bench-supervisor: the supervisor's performance claims, each as a ratio against a
// baseline measured in the same run (absolute times drift with the machine's load).
//
//   1. Restart latency: SIGKILL of the child -> the new child's first instruction (the stamp
//      fixture reads CLOCK_MONOTONIC in a constructor and writes it to a FIFO). Baseline: a
//      bare posix_spawn + pidfd parent respawning the same fixture. Target: median <= 1.25x.
//   2. Backoff timer accuracy: start of the restart's spawn minus its scheduled time (20 ms
//      delay).
//      Baseline: a bare timerfd sleeping 20 ms. Target: p99 <= 1 ms.
//   3. 1,000 children under one supervisor (a separate process): RSS, wake-ups while idle,
//      and the time for all 1,000 to be back after all are killed at once. Baseline: a bare
//      posix_spawn + pidfd parent of 1,000 fixtures, killed and respawned the same way.
//      Targets: 0 wake-ups, RSS < 16 MB.
//
// Usage: duende-bench-supervisor [--quick] [--iterations N] [--children N]
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/supervisor.h"
#include "duende/harness/restart_bench.h"

extern char** environ;

namespace {

using duende::framework::MonotonicNs;
namespace fw = duende::framework;

struct Stamp {
  int64_t ns = 0;
  pid_t pid = 0;
};

// Reads "<ns> <pid>\n" lines from the FIFO (blocking).
class StampReader {
 public:
  explicit StampReader(const std::string& path) {
    // O_RDWR: the FIFO always has a writer (us), so reads block instead of seeing EOF.
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  }
  ~StampReader() { ::close(fd_); }
  bool Next(Stamp* out, int timeout_ms = 10000) {
    while (true) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::istringstream in(buf_.substr(0, nl));
        buf_.erase(0, nl + 1);
        long long ns = 0;
        int pid = 0;
        in >> ns >> pid;
        out->ns = ns;
        out->pid = pid;
        return true;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      char tmp[4096];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

// The bare posix_spawn + pidfd parent and the percentiles are `duende bench restart`'s.
using duende::harness::BareParent;
using duende::harness::Percentile;

// Kills the current child `iterations` times; returns latencies in ms.
std::vector<double> MeasureKills(StampReader& reader, Stamp current, int iterations) {
  std::vector<double> out;
  for (int i = 0; i < iterations; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const int64_t t0 = MonotonicNs();
    ::kill(current.pid, SIGKILL);
    Stamp next;
    if (!reader.Next(&next)) break;
    out.push_back(static_cast<double>(next.ns - t0) / 1e6);
    current = next;
  }
  return out;
}

fw::DaemonConfig StampService(const std::string& name, std::vector<std::string> args) {
  fw::DaemonConfig c;
  c.name = name;
  c.command = {STAMP_PATH};
  for (auto& a : args) c.command.push_back(a);
  c.restart.policy = fw::RestartConfig::Policy::kAlways;
  c.restart.backoff.immediate_first_restart = true;
  c.restart.backoff.reset_after = std::chrono::nanoseconds(0);
  c.restart.start_limit_burst = 0;
  c.shutdown_timeout = std::chrono::seconds(2);
  return c;
}

void RestartLatency(const std::string& dir, int iterations) {
  const std::string fifo = dir + "/latency.fifo";
  ::mkfifo(fifo.c_str(), 0600);
  StampReader reader(fifo);
  std::vector<double> bare, sup;
  const int rounds = 4;
  for (int round = 0; round < rounds; ++round) {
    {
      BareParent parent({STAMP_PATH, "--fifo", fifo});
      if (!parent.Start().ok()) return;
      Stamp first;
      if (!reader.Next(&first)) return;
      auto v = MeasureKills(reader, first, iterations / rounds);
      bare.insert(bare.end(), v.begin(), v.end());
      parent.Stop();
      Stamp drain;
      while (reader.Next(&drain, 50)) {
      }
    }
    {
      auto s = fw::Supervisor::Create({});
      if (!s.ok()) return;
      auto& sv = *s;
      std::thread t([&] { (void)sv->Run(); });
      (void)sv->Add(StampService("stamp", {"--fifo", fifo}), true);
      Stamp first;
      if (!reader.Next(&first)) return;
      auto v = MeasureKills(reader, first, iterations / rounds);
      sup.insert(sup.end(), v.begin(), v.end());
      sv->Shutdown();
      t.join();
      Stamp drain;
      while (reader.Next(&drain, 50)) {
      }
    }
  }
  ::unlink(fifo.c_str());
  const double bm = Percentile(bare, 0.5), sm = Percentile(sup, 0.5);
  const double b99 = Percentile(bare, 0.99), s99 = Percentile(sup, 0.99);
  std::printf("restart latency (SIGKILL -> new child's first instruction), %zu + %zu kills\n",
              bare.size(), sup.size());
  std::printf("  %-34s median %7.3f ms   p99 %7.3f ms\n", "bare posix_spawn+pidfd parent", bm, b99);
  std::printf("  %-34s median %7.3f ms   p99 %7.3f ms\n", "duende Supervisor", sm, s99);
  std::printf("  ratio supervisor/bare: median %.2fx (target <= 1.25x) %s   p99 %.2fx\n\n", sm / bm,
              sm / bm <= 1.25 ? "PASS" : "MISS", s99 / b99);
}

void TimerAccuracy(int samples) {
  // Baseline: the machine's own timer floor, a bare timerfd sleeping 20 ms.
  std::vector<double> floor_ms;
  int tfd = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  for (int i = 0; i < samples; ++i) {
    const int64_t due = MonotonicNs() + 20000000;
    itimerspec spec{};
    spec.it_value.tv_sec = due / 1000000000;
    spec.it_value.tv_nsec = due % 1000000000;
    ::timerfd_settime(tfd, TFD_TIMER_ABSTIME, &spec, nullptr);
    uint64_t n = 0;
    [[maybe_unused]] ssize_t r = ::read(tfd, &n, sizeof n);
    floor_ms.push_back(static_cast<double>(MonotonicNs() - due) / 1e6);
  }
  ::close(tfd);

  auto s = fw::Supervisor::Create({});
  if (!s.ok()) return;
  auto& sv = *s;
  std::vector<double> late_ms;
  std::mutex mu;
  std::condition_variable cv;
  int64_t scheduled_at = -1;
  sv->Subscribe([&](const fw::ServiceEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (e.type == fw::EventType::kRestartScheduled) {
      scheduled_at = e.ts_ns + e.delay.count();
    } else if (e.type == fw::EventType::kSpawned && scheduled_at >= 0) {
      late_ms.push_back(static_cast<double>(e.ts_ns - scheduled_at) / 1e6);
      scheduled_at = -1;
      cv.notify_all();
    }
  });
  fw::DaemonConfig c = StampService("crash", {"--exit", "1"});
  c.restart.backoff.immediate_first_restart = false;
  c.restart.backoff.initial = std::chrono::milliseconds(20);
  c.restart.backoff.multiplier = 1.0;
  c.restart.backoff.max = std::chrono::milliseconds(20);
  c.restart.backoff.jitter = fw::BackoffConfig::Jitter::kNone;
  std::thread t([&] { (void)sv->Run(); });
  (void)sv->Add(c, true);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait_for(lock, std::chrono::seconds(60),
                [&] { return late_ms.size() >= static_cast<size_t>(samples); });
  }
  sv->Shutdown();
  t.join();
  std::lock_guard<std::mutex> lock(mu);
  const double p50 = Percentile(late_ms, 0.5), p99 = Percentile(late_ms, 0.99);
  std::printf(
      "backoff timer accuracy (start of the spawn - scheduled time, 20 ms delay), %zu "
      "samples\n",
      late_ms.size());
  std::printf("  %-34s p50 %7.3f ms   p99 %7.3f ms\n", "bare timerfd (machine floor)",
              Percentile(floor_ms, 0.5), Percentile(floor_ms, 0.99));
  const double floor99 = Percentile(floor_ms, 0.99);
  std::printf("  %-34s p50 %7.3f ms   p99 %7.3f ms  (target p99 <= 1 ms) %s\n", "duende Supervisor",
              p50, p99, p99 <= 1.0 ? "PASS" : "MISS");
  std::printf("  p99 over the machine's floor: %+.3f ms\n\n", p99 - floor99);
}

// --- 1,000 children: the supervisor runs in its own process (this program, re-executed) ---

int SupervisorChildMain(int children, const std::string& fifo) {
  // As `duende supervise` does: signals blocked first, then read from the loop's signalfd.
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  fw::SupervisorOptions o;
  o.handle_signals = true;
  auto s = fw::Supervisor::Create(o);
  if (!s.ok()) return 3;
  for (int i = 0; i < children; ++i) {
    if (!(*s)->Add(StampService("s" + std::to_string(i), {"--fifo", fifo}), true).ok()) return 3;
  }
  return (*s)->Run().ok() ? 0 : 3;
}

struct ProcStat {
  long rss_kb = 0;
  long switches = 0;
};

ProcStat ReadProc(pid_t pid) {
  ProcStat st;
  // Every thread's context switches: each return from epoll_wait after sleeping is one.
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) st.rss_kb = std::atol(line.c_str() + 6);
  }
  std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(task_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream ts(task_dir + "/" + e->d_name + "/status");
      while (std::getline(ts, line)) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
          st.switches += std::atol(line.c_str() + 24);
        if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
          st.switches += std::atol(line.c_str() + 27);
        }
      }
    }
    closedir(d);
  }
  return st;
}

pid_t SpawnStamp(const std::string& fifo) {
  pid_t pid = 0;
  std::string f = fifo;
  char* argv[] = {const_cast<char*>(STAMP_PATH), const_cast<char*>("--fifo"), f.data(), nullptr};
  if (posix_spawn(&pid, STAMP_PATH, nullptr, nullptr, argv, environ) != 0) return -1;
  return pid;
}

double BareMassRestart(StampReader& reader, const std::string& fifo, int children) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  std::vector<std::pair<pid_t, int>> kids;  // pid, pidfd
  auto add = [&](size_t slot, pid_t pid) {
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = slot;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, pidfd, &ev);
    kids[slot] = {pid, pidfd};
  };
  kids.resize(static_cast<size_t>(children));
  for (size_t i = 0; i < kids.size(); ++i) add(i, SpawnStamp(fifo));
  Stamp st;
  for (int i = 0; i < children; ++i) reader.Next(&st);
  const int64_t t0 = MonotonicNs();
  for (auto& k : kids) ::kill(k.first, SIGKILL);
  size_t respawned = 0;
  while (respawned < kids.size()) {
    epoll_event evs[64];
    int n = ::epoll_wait(ep, evs, 64, 10000);
    if (n <= 0) break;
    for (int i = 0; i < n; ++i) {
      size_t slot = evs[i].data.u64;
      siginfo_t info{};
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(kids[slot].second), &info,
               WEXITED);
      ::epoll_ctl(ep, EPOLL_CTL_DEL, kids[slot].second, nullptr);
      ::close(kids[slot].second);
      add(slot, SpawnStamp(fifo));
      ++respawned;
    }
  }
  int64_t last = t0;
  for (size_t i = 0; i < respawned; ++i) {
    if (!reader.Next(&st)) break;
    last = std::max(last, st.ns);
  }
  for (auto& k : kids) ::kill(k.first, SIGKILL);
  for (auto& k : kids) {
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(k.second), &info, WEXITED);
    ::close(k.second);
  }
  ::close(ep);
  return static_cast<double>(last - t0) / 1e6;
}

void ManyChildren(const std::string& self, const std::string& dir, int children) {
  const std::string fifo = dir + "/many.fifo";
  ::mkfifo(fifo.c_str(), 0600);
  StampReader reader(fifo);

  // Baseline: a bare parent holding the same number of fixtures (posix_spawn + one pidfd
  // each in epoll), all killed at once and respawned as their pidfds turn readable.
  const double bare_ms = BareMassRestart(reader, fifo, children);

  pid_t sup = 0;
  std::string n = std::to_string(children);
  std::string f = fifo;
  char* argv[] = {const_cast<char*>(self.c_str()), const_cast<char*>("--supervisor-child"),
                  n.data(), f.data(), nullptr};
  if (posix_spawn(&sup, self.c_str(), nullptr, nullptr, argv, environ) != 0) return;
  std::vector<pid_t> pids;
  for (int i = 0; i < children; ++i) {
    Stamp st;
    if (!reader.Next(&st, 30000)) break;
    pids.push_back(st.pid);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // settle
  ProcStat before = ReadProc(sup);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ProcStat after = ReadProc(sup);

  const int64_t t0 = MonotonicNs();
  for (pid_t p : pids) ::kill(p, SIGKILL);
  int64_t last = t0;
  size_t back = 0;
  for (; back < pids.size(); ++back) {
    Stamp st;
    if (!reader.Next(&st, 30000)) break;
    last = std::max(last, st.ns);
  }
  const double back_ms = static_cast<double>(last - t0) / 1e6;
  ProcStat busy = ReadProc(sup);
  ::kill(sup, SIGTERM);
  ::waitpid(sup, nullptr, 0);
  ::unlink(fifo.c_str());

  std::printf("%d supervised children (supervisor in its own process)\n", children);
  std::printf("  RSS %.1f MB after the mass restart, %.1f MB idle (target < 16 MB) %s\n",
              static_cast<double>(busy.rss_kb) / 1024, static_cast<double>(after.rss_kb) / 1024,
              std::max(busy.rss_kb, after.rss_kb) < 16 * 1024 ? "PASS" : "MISS");
  std::printf("  wake-ups while idle for 3 s: %ld (target 0) %s\n",
              after.switches - before.switches,
              after.switches == before.switches ? "PASS" : "MISS");
  std::printf("  all %zu back after all were SIGKILLed at once: %.1f ms (%.3f ms/child)\n", back,
              back_ms, back_ms / static_cast<double>(std::max<size_t>(1, back)));
  std::printf(
      "  baseline: bare posix_spawn+pidfd parent, same kill and respawn: %.1f ms; "
      "ratio %.2fx\n\n",
      bare_ms, back_ms / bare_ms);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--supervisor-child") {
    return SupervisorChildMain(std::atoi(argv[2]), argv[3]);
  }
  int iterations = 400;
  int children = 1000;
  int timer_samples = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      iterations = 80;
      children = 200;
      timer_samples = 50;
    } else if (a == "--iterations" && i + 1 < argc) {
      iterations = std::atoi(argv[++i]);
    } else if (a == "--children" && i + 1 < argc) {
      children = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--iterations N] [--children N]\n", argv[0]);
      return 2;
    }
  }
  char dir[] = "/tmp/duende-bench-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 3;
  char self[4096];
  ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) return 3;
  self[len] = '\0';
  std::printf("duende-bench-supervisor (load average at start: ");
  std::ifstream la("/proc/loadavg");
  std::string l1;
  la >> l1;
  std::printf("%s; ratios compare runs in this same process)\n\n", l1.c_str());
  RestartLatency(dir, iterations);
  TimerAccuracy(timer_samples);
  ManyChildren(self, dir, children);
  ::rmdir(dir);
  return 0;
}
