// The wasi platform against native kvd, measured in the same run (docs/adapters.md):
//  - request latency at the same open-loop rate (SET, which fsyncs, and GET), through the
//    adapter's TCP bridge and node:wasi vs straight to the native kvd;
//  - restart latency, SIGKILL of the daemon's process to its first answered PING, each
//    restarted by its adapter's supervisor (wasi: node starts, compiles the module, replays).
// Usage: wasi_bench [seconds of load per mode (5)] [rate per second (400)] [kills (20)]
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "duende/adapters/adapter.h"
#include "duende/adapters/wasi_adapter.h"
#include "duende/framework/clock.h"
#include "support/line_client.h"
#include "support/temp_dir.h"

namespace {

using duende::adapters::AdapterOptions;
using duende::adapters::Platform;
using duende::framework::DaemonConfig;
using duende::framework::MonotonicNs;
using duende::testing::LineClient;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

bool Serving(int port, std::chrono::milliseconds timeout) {
  LineClient c;
  return c.Connect(port) && c.Ask("PING", timeout) == "PONG";
}

struct Target {
  std::unique_ptr<duende::adapters::Adapter> adapter;
  int port = 0;
};

Target Start(Platform platform, const std::string& data) {
  Target t;
  t.port = duende::testing::FreePort();
  DaemonConfig c;
  c.name = platform == Platform::kWasi ? "kvd-wasm" : "kvd";
  if (platform == Platform::kWasi) {
    c.command = {KVD_WASM_PATH, "--data-dir", data};
    c.working_dir = data;
  } else {
    c.command = {KVD_PATH, "--port", std::to_string(t.port), "--data-dir", data};
  }
  c.restart.policy = duende::framework::RestartConfig::Policy::kAlways;
  c.restart.backoff.immediate_first_restart = true;
  c.restart.backoff.initial = std::chrono::milliseconds(1);
  c.restart.backoff.jitter = duende::framework::BackoffConfig::Jitter::kNone;
  c.restart.backoff.reset_after = std::chrono::milliseconds(1);
  c.restart.start_limit_burst = 1000;
  AdapterOptions o;
  o.render.wasi.address = "127.0.0.1:" + std::to_string(t.port);
  auto a = duende::adapters::MakeAdapter(platform, c, o);
  if (!a.ok()) {
    std::fprintf(stderr, "wasi_bench: %s\n", a.error().Message().c_str());
    std::exit(3);
  }
  t.adapter = std::move(*a);
  (void)t.adapter->Start();
  const int64_t deadline = MonotonicNs() + 20'000'000'000;
  while (!Serving(t.port, std::chrono::milliseconds(500))) {
    if (MonotonicNs() > deadline) {
      std::fprintf(stderr, "wasi_bench: %s did not start\n", c.name.c_str());
      std::exit(3);
    }
    ::usleep(5000);
  }
  return t;
}

// Open loop: 4 connections, each sending at its share of `rate` on a fixed schedule; latency
// from the scheduled send (so a stall counts for every request it delays).
std::vector<double> OpenLoop(int port, const std::string& verb, double rate, double seconds) {
  constexpr int kConns = 4;
  std::vector<std::vector<double>> lat(kConns);
  std::vector<std::thread> threads;
  const int64_t start = MonotonicNs() + 50'000'000;
  const int64_t gap = static_cast<int64_t>(1e9 * kConns / rate);
  const int64_t count = static_cast<int64_t>(seconds * rate / kConns);
  for (int k = 0; k < kConns; ++k) {
    threads.emplace_back([&, k] {
      LineClient c;
      if (!c.Connect(port)) return;
      for (int64_t i = 0; i < count; ++i) {
        int64_t due = start + i * gap + k * gap / kConns;
        int64_t now = MonotonicNs();
        if (due > now) ::usleep(static_cast<useconds_t>((due - now) / 1000));
        std::string key = "b" + std::to_string(k) + "-" + std::to_string(i % 64);
        std::string req = verb == "SET" ? "SET " + key + " " + std::to_string(i) : "GET " + key;
        std::string reply = c.Ask(req, std::chrono::milliseconds(2000));
        if (reply.empty()) continue;
        lat[static_cast<size_t>(k)].push_back(static_cast<double>(MonotonicNs() - due) / 1e6);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  return all;
}

std::vector<double> Restarts(Target& t, int kills) {
  std::vector<double> out;
  for (int i = 0; i < kills; ++i) {
    ::usleep(100'000);
    int64_t t0 = MonotonicNs();
    if (!t.adapter->Kill(SIGKILL).ok()) continue;
    // Wait for the old one to be gone from the port (the bridge closes with the module).
    while (MonotonicNs() - t0 < 20'000'000'000 && !Serving(t.port, std::chrono::milliseconds(200)))
      ::usleep(500);
    out.push_back(static_cast<double>(MonotonicNs() - t0) / 1e6);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 5;
  double rate = argc > 2 ? std::atof(argv[2]) : 400;
  int kills = argc > 3 ? std::atoi(argv[3]) : 20;
  if (auto r = duende::adapters::CheckWasiRuntime(); !r.ok()) {
    std::fprintf(stderr, "wasi_bench: %s\n", r.error().Message().c_str());
    return 3;
  }
  duende::testing::TempDir dir("wasi-bench");
  ::mkdir((dir / "native").c_str(), 0700);
  ::mkdir((dir / "wasi").c_str(), 0700);
  Target native = Start(Platform::kNative, dir / "native");
  Target wasi = Start(Platform::kWasi, dir / "wasi");

  std::printf("open loop, %.0f requests/s for %.0f s per row, 4 connections (ms)\n", rate, seconds);
  std::printf("%-12s %8s %8s %8s %8s\n", "", "p50", "p99", "max", "n");
  for (const char* verb : {"SET", "GET"}) {
    for (Target* t : {&native, &wasi}) {
      auto v = OpenLoop(t->port, verb, rate, seconds);
      std::printf("%-6s %-5s %8.3f %8.3f %8.3f %8zu\n", t == &native ? "native" : "wasi", verb,
                  Percentile(v, 0.5), Percentile(v, 0.99), Percentile(v, 1.0), v.size());
    }
  }
  std::printf("restart latency, SIGKILL to the first PONG, %d kills each (ms)\n", kills);
  auto rn = Restarts(native, kills);
  auto rw = Restarts(wasi, kills);
  double n50 = Percentile(rn, 0.5), n99 = Percentile(rn, 0.99);
  double w50 = Percentile(rw, 0.5), w99 = Percentile(rw, 0.99);
  std::printf("native  median %8.2f  p99 %8.2f\n", n50, n99);
  std::printf("wasi    median %8.2f  p99 %8.2f   (ratio to native: median %.1fx, p99 %.1fx)\n", w50,
              w99, w50 / n50, w99 / n99);
  return 0;
}
