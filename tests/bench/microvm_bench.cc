// microVM platform figures, each against native kvd in the same run (docs/adapters.md):
//   boot to ready: Start() to the guest's READY (kvd accepting on its port inside the VM);
//   restart latency: Kill(SIGKILL) of kvd to ready again, median and p99 over N restarts,
//   for the microvm adapter and for the native adapter (same kvd, same tcp readiness).
// Usage: microvm_bench [RESTARTS] (default 10). Needs qemu and a kernel (microvm platform).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "duende/adapters/adapter.h"
#include "duende/framework/clock.h"
#include "duende/framework/temp_dir.h"

namespace {

using duende::adapters::Adapter;
using duende::adapters::AdapterOptions;
using duende::adapters::Platform;
using duende::framework::DaemonConfig;
using duende::framework::EventType;
using duende::framework::MonotonicNs;

uint16_t FreePort() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  (void)::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  (void)::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

struct ReadyWatch {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> ready_ns;
  void On(const duende::framework::ServiceEvent& e) {
    if (e.type != EventType::kReady) return;
    std::lock_guard<std::mutex> lock(mu);
    ready_ns.push_back(e.ts_ns);
    cv.notify_all();
  }
  // The time of the n-th ready (1-based), or -1 after 60 s.
  int64_t Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return ready_ns.size() >= n; })) {
      return -1;
    }
    return ready_ns[n - 1];
  }
};

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Figures {
  double boot_ms = 0;
  std::vector<double> restart_ms;
};

bool Measure(Platform platform, int restarts, Figures* out) {
  auto data = duende::framework::MakePrivateTempDir("duende-bench-data");
  if (!data.ok()) return false;
  const uint16_t port = FreePort();
  DaemonConfig c;
  c.name = "bench-kvd";
  c.command = {KVD_PATH, "--port", std::to_string(port), "--data-dir",
               platform == Platform::kMicrovm ? "/data/kvd" : *data + "/kvd"};
  c.health.readiness.kind = duende::framework::ProbeConfig::Kind::kTcp;
  c.health.readiness.address = "127.0.0.1:" + std::to_string(port);
  c.health.readiness.interval = std::chrono::milliseconds(10);
  c.health.readiness.grace_period = std::chrono::seconds(60);
  c.restart.policy = duende::framework::RestartConfig::Policy::kAlways;
  c.restart.backoff.initial = std::chrono::milliseconds(1);
  c.restart.backoff.max = std::chrono::milliseconds(1);
  c.restart.backoff.jitter = duende::framework::BackoffConfig::Jitter::kNone;
  c.restart.start_limit_burst = 1000;
  auto adapter = duende::adapters::MakeAdapter(platform, c, AdapterOptions{});
  if (!adapter.ok()) {
    std::fprintf(stderr, "%s: %s\n", duende::adapters::PlatformName(platform),
                 adapter.error().Message().c_str());
    return false;
  }
  ReadyWatch watch;
  (*adapter)->Subscribe([&](const duende::framework::ServiceEvent& e) { watch.On(e); });
  const int64_t start = MonotonicNs();
  if (!(*adapter)->Start().ok()) return false;
  int64_t ready = watch.Wait(1);
  if (ready < 0) return false;
  out->boot_ms = static_cast<double>(ready - start) / 1e6;
  for (int i = 0; i < restarts; ++i) {
    ::usleep(100 * 1000);
    const int64_t kill_at = MonotonicNs();
    if (!(*adapter)->Kill(SIGKILL).ok()) return false;
    int64_t again = watch.Wait(static_cast<size_t>(i) + 2);
    if (again < 0) return false;
    out->restart_ms.push_back(static_cast<double>(again - kill_at) / 1e6);
  }
  (void)(*adapter)->Remove();
  (void)std::system(("rm -rf '" + *data + "'").c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const int restarts = argc > 1 ? std::atoi(argv[1]) : 10;
  Figures native, vm;
  if (!Measure(Platform::kNative, restarts, &native)) {
    std::fprintf(stderr, "native run failed\n");
    return 1;
  }
  if (!Measure(Platform::kMicrovm, restarts, &vm)) {
    std::fprintf(stderr, "microvm run failed (see above)\n");
    return 3;
  }
  const double nm = Percentile(native.restart_ms, 0.5), n99 = Percentile(native.restart_ms, 0.99);
  const double vm50 = Percentile(vm.restart_ms, 0.5), vm99 = Percentile(vm.restart_ms, 0.99);
  std::printf("restarts measured: %d per platform (SIGKILL of kvd to ready again)\n", restarts);
  std::printf("%-8s %12s %14s %12s %10s %10s\n", "platform", "start->ready", "restart p50",
              "restart p99", "p50/native", "p99/native");
  std::printf("%-8s %10.1fms %12.1fms %10.1fms %10.1fx %9.1fx\n", "native", native.boot_ms, nm, n99,
              1.0, 1.0);
  std::printf("%-8s %10.1fms %12.1fms %10.1fms %10.1fx %9.1fx\n", "microvm", vm.boot_ms, vm50, vm99,
              vm50 / nm, vm99 / n99);
  return 0;
}
