// The linearizability checker on generated histories: 1k, 10k and 100k operations of 5, 10 and
// 50 clients, each a sequential execution of a register whose operations got random
// overlapping intervals (so the answer is "linearizable" and the whole search must run). Each
// case runs in a child process of its own so that its peak memory is its own; the table
// shows the check's wall time and the peak RSS added by the check (VmHWM after minus VmRSS
// before). Goal (issue): a 10k-op register history of 10 clients in under a second.
//
// Run: build/ci/tests/bench/linearizability_bench [max-ops] (docs/linearizability.md).
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "duende/harness/linearizability.h"

namespace lin = duende::harness::linearizability;

namespace {

struct Case {
  const char* name;
  lin::Model model;
  size_t ops;
  uint32_t clients;
  int values;        // distinct values written (0: every write unique, as duende's {seq})
  double info_rate;  // share of writes/cas that time out
  bool zones;        // let the zone test decide (unique values only); else the search
};

// A sequential execution: linearization points 100 ns apart, each client running one op at a
// time, intervals stretched around their points so that about `clients` ops overlap.
std::vector<lin::Operation> Generate(const Case& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> free_at(c.clients, 0);
  std::vector<lin::Operation> ops;
  ops.reserve(c.ops);
  lin::Value state;
  int64_t point = 0;
  uint64_t next_value = 1;
  const int64_t spread = 100 * static_cast<int64_t>(c.clients);
  for (size_t i = 0; i < c.ops; ++i) {
    point += 50 + static_cast<int64_t>(rng() % 100);
    uint32_t client = static_cast<uint32_t>(rng() % c.clients);
    for (uint32_t k = 0; k < c.clients && free_at[client] > point; ++k) {
      client = (client + 1) % c.clients;
    }
    if (free_at[client] > point) point = free_at[client];
    lin::Operation op;
    op.client = client;
    op.invoke_ns = std::max(free_at[client], point - static_cast<int64_t>(rng() % spread));
    op.complete_ns = point + static_cast<int64_t>(rng() % spread);
    free_at[client] = op.complete_ns + 1;
    const unsigned kind = static_cast<unsigned>(rng() % 10);
    auto value = [&] {
      return std::to_string(c.values == 0 ? next_value++ : rng() % static_cast<unsigned>(c.values));
    };
    const bool info = std::uniform_real_distribution<double>(0, 1)(rng) < c.info_rate;
    if (kind < 5) {
      op.f = lin::Function::kRead;
      op.value = state;
    } else if (kind < 8 || c.model == lin::Model::kRegister) {
      op.f = lin::Function::kWrite;
      op.value = value();
      state = op.value;
      if (info) op.outcome = lin::Outcome::kInfo;
    } else {
      op.f = lin::Function::kCas;
      op.value = rng() % 2 == 0 ? state : lin::Value(value());
      op.new_value = value();
      if (op.value == state) {
        state = op.new_value;
        if (info) op.outcome = lin::Outcome::kInfo;
      } else {
        op.outcome = lin::Outcome::kFail;
      }
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::string(field).size());
  }
  return -1;
}

void RunCase(const Case& c) {
  const auto ops = Generate(c, 20261206);
  const long before_kb = StatusKb("VmRSS:");
  lin::CheckOptions o;
  o.model = c.model;
  o.budget = std::chrono::seconds(20);
  o.zone_fast_path = c.zones;
  const auto start = std::chrono::steady_clock::now();
  auto r = lin::CheckHistory(ops, o);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long peak_kb = StatusKb("VmHWM:");
  std::printf("%-14s %8zu %8u %10.3f %10.1f %12llu  %s\n", c.name, c.ops, c.clients, secs,
              static_cast<double>(peak_kb - before_kb) / 1024.0,
              static_cast<unsigned long long>(r.ok() ? r->stats.states : 0),
              r.ok() ? lin::VerdictName(r->verdict) : r.error().Message().c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t max_ops = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  std::vector<Case> cases;
  for (size_t n : {1000, 10000, 100000}) {
    if (n > max_ops) continue;
    for (uint32_t clients : {5u, 10u, 50u}) {
      cases.push_back({"register", lin::Model::kRegister, n, clients, 0, 0.0, false});
    }
    for (uint32_t clients : {5u, 10u, 50u}) {
      cases.push_back({"register/zones", lin::Model::kRegister, n, clients, 0, 0.0, true});
    }
    cases.push_back({"cas-register", lin::Model::kCasRegister, n, 10, 5, 0.01, true});
  }
  std::printf("%-14s %8s %8s %10s %10s %12s  %s\n", "model", "ops", "clients", "seconds",
              "peak MiB", "states", "verdict");
  std::fflush(stdout);
  for (const Case& c : cases) {
    const pid_t pid = fork();
    if (pid == 0) {
      RunCase(c);
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
  std::printf(
      "(register: unique values, the search; register/zones: the same histories decided by the "
      "zone test;\n cas-register: 5 distinct values, 1%% of writes and cas timed out; budget "
      "20 s, 10M states)\n");
  return 0;
}
