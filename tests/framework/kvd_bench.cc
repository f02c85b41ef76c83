// kvd_bench: kvd's throughput with 50 concurrent connections on loopback, against redis-server
// measured in the same run under the same client (closed loop, one request in flight per
// connection). Prints requests/s and the kvd/redis ratio per workload:
//   PING, GET (existing keys), SET durable (kvd: write+fsync group commit; redis:
//   appendfsync always), SET with durable = false (redis: appendonly no).
// Usage: kvd_bench [seconds per workload, default 2] [connections, default 50]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"

namespace {

using duende::framework::MonotonicNs;
using duende::framework::UniqueFd;

struct Server {
  std::string name;
  duende::framework::Child child;
  int port = 0;
  ~Server() {
    if (child.pid > 0) {
      [[maybe_unused]] auto r = duende::framework::SignalPidfd(child.pidfd.get(), SIGKILL);
      [[maybe_unused]] auto s = duende::framework::WaitExit(child.pidfd.get());
    }
  }
};

int FreePort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool WaitPort(int port) {
  for (int i = 0; i < 500; ++i) {
    if (Connect(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::unique_ptr<Server> StartServer(const std::string& name, std::vector<std::string> argv,
                                    int port) {
  auto s = std::make_unique<Server>();
  s->name = name;
  s->port = port;
  duende::framework::SpawnOptions o;
  o.argv = std::move(argv);
  o.stdout_fd = -1;
  o.stderr_fd = -1;
  o.parent_death_signal = SIGKILL;
  auto child = duende::framework::Spawn(o);
  if (!child.ok()) {
    std::fprintf(stderr, "kvd_bench: %s\n", child.error().Message().c_str());
    return nullptr;
  }
  s->child = std::move(child.value());
  if (!WaitPort(port)) {
    std::fprintf(stderr, "kvd_bench: %s did not listen on %d\n", name.c_str(), port);
    return nullptr;
  }
  return s;
}

// Closed loop: each connection sends one request, reads `reply_lines` lines, repeats.
double Measure(int port, int conns, double seconds, const std::string& verb, int reply_lines) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < conns; ++t) {
    threads.emplace_back([&, t] {
      UniqueFd fd = Connect(port);
      if (!fd) {
        ++failed;
        return;
      }
      char buf[4096];
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        std::string key = "key" + std::to_string(t) + "_" + std::to_string(n % 100);
        std::string req = verb == "PING"  ? "PING\r\n"
                          : verb == "GET" ? "GET key" + std::to_string(t) + "_0\r\n"
                                          : "SET " + key + " value" + std::to_string(n) + "\r\n";
        if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) < 0) {
          ++failed;
          return;
        }
        int lines = 0;
        while (lines < reply_lines) {
          ssize_t r = ::recv(fd.get(), buf, sizeof buf, 0);
          if (r <= 0) {
            ++failed;
            return;
          }
          for (ssize_t i = 0; i < r; ++i) lines += buf[i] == '\n';
        }
        ++n;
      }
      done += n;
    });
  }
  int64_t start = MonotonicNs();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double elapsed = static_cast<double>(MonotonicNs() - start) / 1e9;
  if (failed.load() != 0)
    std::fprintf(stderr, "kvd_bench: %llu connections failed\n",
                 static_cast<unsigned long long>(failed.load()));
  return static_cast<double>(done.load()) / elapsed;
}

void Prefill(int port, int conns) {
  UniqueFd fd = Connect(port);
  char buf[256];
  for (int t = 0; t < conns; ++t) {
    std::string req = "SET key" + std::to_string(t) + "_0 v\r\n";
    ::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
    [[maybe_unused]] ssize_t r = ::recv(fd.get(), buf, sizeof buf, 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  int conns = argc > 2 ? std::atoi(argv[2]) : 50;
  auto redis_path = duende::framework::FindExecutable("redis-server");
  auto made = duende::framework::MakePrivateTempDir("duende-kvd-bench");
  if (!made.ok()) return 3;
  std::string dir = *made;

  struct Row {
    std::string workload;
    bool durable;
    std::string verb;
    int redis_lines;
  };
  std::vector<Row> rows = {{"PING", true, "PING", 1},
                           {"GET", true, "GET", 2},
                           {"SET durable (fsync before OK)", true, "SET", 1},
                           {"SET durable=false", false, "SET", 1}};
  std::printf("kvd_bench: %d connections, %.1fs per workload, closed loop, loopback\n", conns,
              seconds);
  std::printf("%-32s %12s %12s %8s\n", "workload", "kvd req/s", "redis req/s", "ratio");
  for (const Row& row : rows) {
    int kport = FreePort();
    std::string kdir = dir + "/kvd-" + std::to_string(kport);
    auto kvd = StartServer("kvd",
                           {KVD_PATH, "--port", std::to_string(kport), "--data-dir", kdir,
                            "--durable", row.durable ? "true" : "false"},
                           kport);
    if (!kvd) return 3;
    Prefill(kport, conns);
    double k = Measure(kport, conns, seconds, row.verb, 1);
    kvd.reset();
    double r = 0;
    if (redis_path.ok()) {
      int rport = FreePort();
      std::string rdir = dir + "/redis-" + std::to_string(rport);
      std::filesystem::create_directories(rdir);
      auto redis = StartServer(
          "redis",
          {*redis_path, "--port", std::to_string(rport), "--bind", "127.0.0.1", "--save", "",
           "--dir", rdir, "--appendonly", row.durable && row.verb == "SET" ? "yes" : "no",
           "--appendfsync", "always", "--daemonize", "no"},
          rport);
      if (redis) {
        Prefill(rport, conns);
        r = Measure(rport, conns, seconds, row.verb, row.redis_lines);
      }
    }
    if (r > 0) {
      std::printf("%-32s %12.0f %12.0f %8.2f\n", row.workload.c_str(), k, r, k / r);
    } else {
      std::printf("%-32s %12.0f %12s %8s\n", row.workload.c_str(), k, "-", "-");
    }
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
