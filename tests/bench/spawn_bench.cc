// Spawn latency: the supervisor's vfork+pidfd Spawn() against RunCommand (Boost.Process,
// fork+exec), each starting /bin/true and reaping it, with the parent holding 0 or 256 MiB of
// touched memory (fork copies the page tables of all of it; vfork copies none). Prints the
// RunCommand/Spawn ratio per size: the reason the supervisor keeps Spawn (DESIGN.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "duende/framework/command.h"
#include "duende/framework/process.h"

namespace {

using duende::framework::CommandOptions;
using duende::framework::RunCommand;
using duende::framework::Spawn;
using duende::framework::SpawnOptions;
using duende::framework::WaitExit;

// Resident memory of the parent, as a daemon or `duende mutate` (libclang) has.
void Ballast(size_t mib) {
  static std::vector<char> ballast;
  std::vector<char>().swap(ballast);  // give the previous size back
  ballast.assign(mib << 20, 1);
  benchmark::DoNotOptimize(ballast.data());
}

void BM_SpawnVfork(benchmark::State& state) {
  Ballast(static_cast<size_t>(state.range(0)));
  SpawnOptions o;
  o.argv = {"/bin/true"};
  o.stdout_fd = -1;
  o.stderr_fd = -1;
  for (auto _ : state) {
    auto child = Spawn(o);
    if (!child.ok() || !WaitExit(child->pidfd.get()).ok()) state.SkipWithError("spawn failed");
  }
}
BENCHMARK(BM_SpawnVfork)->Arg(0)->Arg(256)->Unit(benchmark::kMicrosecond);

void BM_RunCommandBoost(benchmark::State& state) {
  Ballast(static_cast<size_t>(state.range(0)));
  CommandOptions o;
  for (auto _ : state) {
    auto r = RunCommand({"/bin/true"}, o);
    if (!r.ok() || !r->status.success()) state.SkipWithError("run failed");
  }
}
BENCHMARK(BM_RunCommandBoost)->Arg(0)->Arg(256)->Unit(benchmark::kMicrosecond);

// Prints as usual and keeps each run's time per iteration for the ratio.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      if (!r.error_occurred) times_[r.benchmark_name()] = r.GetAdjustedRealTime();
    }
  }
  void PrintRatios() const {
    for (const char* arg : {"0", "256"}) {
      auto v = times_.find(std::string("BM_SpawnVfork/") + arg);
      auto b = times_.find(std::string("BM_RunCommandBoost/") + arg);
      if (v == times_.end() || b == times_.end() || v->second <= 0) continue;
      std::printf(
          "parent with %s MiB resident: RunCommand (fork) %.0f us, Spawn (vfork) %.0f us: "
          "ratio %.2f\n",
          arg, b->second, v->second, b->second / v->second);
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
