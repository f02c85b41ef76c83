// `duende bench restart CONFIG`: the restart latency of a user's own daemon under duende's
// supervisor (or a platform), beside a bare posix_spawn + pidfd parent in the same run, and
// the backoff timer's error for the configured policy (docs/supervise.md).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_util.h"
#include "duende/adapters/platform.h"
#include "duende/framework/config.h"
#include "duende/framework/exit_code.h"
#include "duende/harness/restart_bench.h"
#include "verbs.h"

namespace duende::cli {
namespace {

using harness::LatencySummary;
using harness::RestartBenchResult;
using harness::Summarize;

nlohmann::json Json(const LatencySummary& s) {
  return {{"count", s.count}, {"median", s.median_ms}, {"p99", s.p99_ms}, {"max", s.max_ms}};
}

// Supervisor kill-to-spawn minus the backoff delay the policy chose: what the restart costs
// beyond the wait the policy asks for (the bare parent waits for nothing).
std::vector<double> Overhead(const RestartBenchResult& r) {
  std::vector<double> v = r.kill_to_spawn_ms;
  if (r.backoff_delay_ms.size() == v.size()) {
    for (size_t i = 0; i < v.size(); ++i) v[i] -= r.backoff_delay_ms[i];
  }
  return v;
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void PrintRow(const char* name, const LatencySummary& s) {
  std::printf("  %-26s %9.3f %9.3f %9.3f   (%zu)\n", name, s.median_ms, s.p99_ms, s.max_ms,
              s.count);
}

}  // namespace

int BenchMain(int argc, char** argv) {
  CLI::App app("Benchmark a daemon: restart latency under duende's supervisor or a platform.",
               "bench");
  app.require_subcommand(1);
  CLI::App* restart = app.add_subcommand(
      "restart",
      "SIGKILL the daemon of CONFIG N times under the supervisor (or --platform) and print "
      "kill-to-exit, kill-to-spawn and kill-to-ready beside a bare posix_spawn+pidfd parent");
  std::string config_path;
  harness::RestartBenchOptions options;
  bool json = false;
  restart->add_option("CONFIG", config_path, "daemon config file (TOML, docs/config.md)")
      ->required();
  restart->add_option("--kills,-n", options.kills, "how many SIGKILLs (default 20)")
      ->check(CLI::Range(1, 100000));
  restart->add_option("--platform,-p", options.platform,
                      "native (duende's supervisor, the default) or a platform adapter: " +
                          adapters::PlatformNames());
  restart->add_flag("--json", json, "print one JSON object instead of the table (for CI)");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  auto config = framework::LoadDaemonConfig(config_path);
  if (!config.ok()) {
    PrintLoadError(config.error());
    return framework::kExitUsage;
  }
  auto result = harness::RunRestartBench(*config, options);
  if (!result.ok()) {
    PrintError(result.error().Message());
    return result.error().code == std::errc::invalid_argument ? framework::kExitUsage
                                                              : framework::kExitEnvironment;
  }
  const RestartBenchResult& r = *result;
  const LatencySummary exit = Summarize(r.kill_to_exit_ms), spawn = Summarize(r.kill_to_spawn_ms),
                       ready = Summarize(r.kill_to_ready_ms), overhead = Summarize(Overhead(r)),
                       bare_exit = Summarize(r.bare_kill_to_exit_ms),
                       bare_spawn = Summarize(r.bare_kill_to_spawn_ms),
                       delay = Summarize(r.backoff_delay_ms), timer = Summarize(r.backoff_error_ms);
  const double ratio = Ratio(overhead.median_ms, bare_spawn.median_ms);
  if (json) {
    nlohmann::json j = {
        {"daemon", r.daemon},
        {"platform", r.platform},
        {"kills", r.kills},
        {"unit", "ms"},
        {"kill_to_exit", Json(exit)},
        {"kill_to_spawn", Json(spawn)},
        {"kill_to_ready", Json(ready)},
        {"restart_overhead", Json(overhead)},
        {"bare",
         {{"kills", r.bare_kill_to_spawn_ms.size()},
          {"kill_to_exit", Json(bare_exit)},
          {"kill_to_spawn", Json(bare_spawn)}}},
        {"ratio_to_bare", ratio},
        {"backoff", {{"delay", Json(delay)}, {"timer_error", Json(timer)}}},
    };
    std::cout << j.dump() << '\n';
    return framework::kExitOk;
  }
  std::printf("restart of %s on %s: %d SIGKILLs of its main process\n", r.daemon.c_str(),
              r.platform.c_str(), r.kills);
  std::printf("  %-26s %9s %9s %9s   (count)\n", "ms from the SIGKILL to", "median", "p99", "max");
  PrintRow("exit seen", exit);
  PrintRow("new child spawned", spawn);
  PrintRow("new child ready", ready);
  PrintRow("spawned, minus backoff", overhead);
  std::printf("bare posix_spawn+pidfd parent, same program, same run:\n");
  PrintRow("exit seen", bare_exit);
  PrintRow("new child spawned", bare_spawn);
  std::printf("ratio to the bare parent (median kill-to-spawn minus backoff): %.2fx\n", ratio);
  if (timer.count > 0) {
    std::printf(
        "backoff timer error (spawn start - scheduled time), %zu restarts, delay median %.3f "
        "ms: median %.3f ms, p99 %.3f ms, max %.3f ms\n",
        timer.count, delay.median_ms, timer.median_ms, timer.p99_ms, timer.max_ms);
  } else {
    std::printf("backoff timer error: no restart was scheduled through a timer\n");
  }
  return framework::kExitOk;
}

}  // namespace duende::cli
