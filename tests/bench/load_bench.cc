// load_bench: the load generator against the same loopback HTTP server as wrk, in one run.
//
//   load_bench [--duration S] [--connections N] [--threads N] [--open-duration S]
//              [--rates R,R,...] [--history 0|1]
// 1. closed loop: wrk -tT -cN -dS and duende's closed-loop HTTP load with the same threads and
//    connections, alternated twice; prints each req/s and the ratio duende/wrk (target >= 0.8).
// 2. open loop: duende at each rate; prints achieved/target (target within 1%) and latencies.
// --history 1 records every request as the runner does (LoadOp batches encoded to the JSON of
// a load.ops event line), to measure what the history costs against --history 0.
// Exit code 0 when both targets hold, 1 when one does not, 3 when the server cannot start.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"
#include "duende/harness/load.h"

namespace {

using duende::framework::Child;
using duende::framework::SpawnOptions;
using duende::framework::UniqueFd;
using duende::harness::EncodeOps;
using duende::harness::LoadConfig;
using duende::harness::LoadGenerator;
using duende::harness::LoadOp;
using duende::harness::LoadSummary;

struct Proc {
  Child child;
  UniqueFd out;  // its stdout
};

bool SpawnWithPipe(std::vector<std::string> argv, Proc* proc) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnOptions opts;
  opts.argv = std::move(argv);
  opts.stdout_fd = write_end.get();
  opts.parent_death_signal = SIGKILL;
  auto child = duende::framework::Spawn(opts);
  if (!child) {
    std::fprintf(stderr, "load_bench: %s\n", child.error().Message().c_str());
    return false;
  }
  proc->child = std::move(*child);
  proc->out = std::move(read_end);
  return true;
}

std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  return line;
}

std::string ReadAll(int fd) {
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) all.append(buf, static_cast<size_t>(n));
  return all;
}

// wrk's "Requests/sec:  123456.78"; 0 when wrk failed.
double RunWrk(const std::string& address, int threads, int connections, int seconds) {
  Proc wrk;
  if (!SpawnWithPipe({"wrk", "-t" + std::to_string(threads), "-c" + std::to_string(connections),
                      "-d" + std::to_string(seconds) + "s", "http://" + address + "/"},
                     &wrk))
    return 0;
  const std::string out = ReadAll(wrk.out.get());
  (void)duende::framework::WaitExit(wrk.child.pidfd.get());
  const size_t at = out.find("Requests/sec:");
  if (at == std::string::npos) {
    std::fprintf(stderr, "load_bench: unexpected wrk output:\n%s\n", out.c_str());
    return 0;
  }
  return std::strtod(out.c_str() + at + 13, nullptr);
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// CPU microseconds the generator spent per reply in the last RunDuende().
double g_cpu_us_per_reply = 0;
bool g_history = false;
size_t g_history_bytes = 0;

LoadSummary RunDuende(const LoadConfig& config) {
  const double cpu0 = CpuSeconds();
  auto gen = LoadGenerator::Create(config);
  if (!gen) {
    std::fprintf(stderr, "load_bench: %s\n", gen.error().Message().c_str());
    std::exit(2);
  }
  if (g_history) {
    (*gen)->Start(nullptr, [](std::vector<LoadOp>&& ops) {
      g_history_bytes += EncodeOps(ops).dump().size();
    });
  } else {
    (*gen)->Start(nullptr);
  }
  (*gen)->Wait();
  LoadSummary s = (*gen)->Summary();
  g_cpu_us_per_reply = s.ok ? (CpuSeconds() - cpu0) * 1e6 / static_cast<double>(s.ok) : 0;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 5, connections = 50, threads = 2, open_seconds = 3;
  std::vector<double> rates = {1000, 10000, 25000, 50000};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const char* v = argv[i + 1];
    if (arg == "--duration") {
      seconds = std::atoi(v);
    } else if (arg == "--connections") {
      connections = std::atoi(v);
    } else if (arg == "--threads") {
      threads = std::atoi(v);
    } else if (arg == "--open-duration") {
      open_seconds = std::atoi(v);
    } else if (arg == "--history") {
      g_history = std::atoi(v) != 0;
    } else if (arg == "--rates") {
      rates.clear();
      std::stringstream ss(v);
      std::string r;
      while (std::getline(ss, r, ',')) rates.push_back(std::strtod(r.c_str(), nullptr));
    } else {
      std::fprintf(stderr, "load_bench: unknown option %s\n", arg.c_str());
      return 2;
    }
  }

  Proc server;
  if (!SpawnWithPipe({HTTPD_PATH, "--port", "0", "--threads", "2"}, &server)) return 3;
  const std::string ready = ReadLine(server.out.get());
  const std::string prefix = "listening on ";
  if (ready.rfind(prefix, 0) != 0) {
    std::fprintf(stderr, "load_bench: httpd said '%s'\n", ready.c_str());
    return 3;
  }
  const std::string address = ready.substr(prefix.size());
  std::printf("server: duende-fixture-httpd (2 threads, epoll) on %s\n", address.c_str());
  bool pass = true;

  // 1. Closed loop against wrk.
  LoadConfig closed;
  closed.protocol = "http";
  closed.address = address;
  closed.mode = "closed";
  closed.connections = static_cast<uint32_t>(connections);
  closed.threads = static_cast<uint32_t>(threads);
  closed.duration = std::chrono::seconds(seconds);
  closed.timeout = std::chrono::seconds(2);
  const bool have_wrk = duende::framework::FindExecutable("wrk").ok();
  double wrk_sum = 0, ours_sum = 0;
  std::printf("\nclosed loop, -t%d -c%d, %d s per run\n", threads, connections, seconds);
  std::printf("%-8s %14s %14s %8s %8s %8s %10s\n", "round", "wrk req/s", "duende req/s", "ratio",
              "p50 us", "p99 us", "cpu us/req");
  for (int round = 1; round <= 2; ++round) {
    const double wrk = have_wrk ? RunWrk(address, threads, connections, seconds) : 0;
    const LoadSummary s = RunDuende(closed);
    wrk_sum += wrk;
    ours_sum += s.achieved_rate;
    std::printf("%-8d %14.0f %14.0f %8.3f %8lld %8lld %10.2f   (errors %llu, timeouts %llu)\n",
                round, wrk, s.achieved_rate, wrk > 0 ? s.achieved_rate / wrk : 0,
                static_cast<long long>(s.p50_us), static_cast<long long>(s.p99_us),
                g_cpu_us_per_reply, static_cast<unsigned long long>(s.errors),
                static_cast<unsigned long long>(s.timeouts));
  }
  if (have_wrk && wrk_sum > 0) {
    const double ratio = ours_sum / wrk_sum;
    const bool ok = ratio >= 0.8;
    pass = pass && ok;
    std::printf("BM_ClosedLoopHttpVsWrk ratio %.3f (target >= 0.80) %s\n", ratio,
                ok ? "PASS" : "FAIL");
  } else {
    std::printf("BM_ClosedLoopHttpVsWrk: wrk not installed (Debian package wrk): no baseline\n");
  }

  // 2. Open loop: achieved rate against the target.
  std::printf("\nopen loop, %d connections, %d s per rate\n", connections, open_seconds);
  std::printf("%10s %12s %8s %10s %10s %10s %8s %8s %10s\n", "target/s", "achieved/s", "ratio",
              "p50 us", "p99 us", "max us", "errors", "timeouts", "cpu us/req");
  for (double rate : rates) {
    LoadConfig open = closed;
    open.mode = "open";
    open.rate = rate;
    open.duration = std::chrono::seconds(open_seconds);
    const LoadSummary s = RunDuende(open);
    const double ratio = s.achieved_rate / rate;
    const bool ok = std::fabs(ratio - 1) <= 0.01 && s.errors == 0 && s.timeouts == 0;
    pass = pass && ok;
    std::printf(
        "%10.0f %12.1f %8.4f %10lld %10lld %10lld %8llu %8llu %10.2f %s\n", rate, s.achieved_rate,
        ratio, static_cast<long long>(s.p50_us), static_cast<long long>(s.p99_us),
        static_cast<long long>(s.max_us), static_cast<unsigned long long>(s.errors),
        static_cast<unsigned long long>(s.timeouts), g_cpu_us_per_reply, ok ? "PASS" : "FAIL");
  }

  if (g_history) std::printf("\nhistory: %zu bytes of load.ops JSON\n", g_history_bytes);
  (void)duende::framework::SignalPidfd(server.child.pidfd.get(), SIGTERM);
  (void)duende::framework::WaitExit(server.child.pidfd.get());
  std::printf("\nload_bench: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
