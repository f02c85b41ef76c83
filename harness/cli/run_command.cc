// duende run SCENARIO... : runs chaos scenarios and checks their invariants.
//
// Exit codes (README): ExitCodeFor(verdict of all scenarios): 0 every invariant held; 1 an
// invariant failed; 3 the environment failed (a target did not start, a fault could not be
// injected, a report file could not be written); 130 interrupted by SIGINT/SIGTERM
// (everything healed and stopped, partial report with verdict ABORTED); 2 bad usage or an
// invalid scenario (nothing is started).
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/unique_fd.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/runner.h"
#include "duende/harness/scenario.h"
#include "duende/reporters/reporter.h"
#include "run_control.h"
#include "run_metrics.h"
#include "shard_options.h"
#include "verbs.h"

namespace duende::cli {

int RunMain(int argc, char** argv) {
  CLI::App app(
      "Run chaos scenarios: start the targets, drive load, inject and heal faults on "
      "a timeline, then check the invariants over the event log.",
      "run");
  std::vector<std::string> files;
  std::vector<std::string> overrides;
  uint64_t seed = 0;
  ReportPaths reports;
  bool keep = false;
  bool quiet = false;
  app.add_option("scenario", files, "scenario files (TOML)")->required();
  auto* seed_opt = AddSeedOption(app, &seed, "every random choice of the run");
  AddSetOption(app, &overrides, "a scenario value", "load.rate=500");
  AddReportOptions(app, &reports, kAllReportOptions);
  app.add_flag("--keep", keep,
               "keep each run's scratch directory (target data, logs, event log) and print "
               "where it is; without it, a run that does not pass keeps its event log and "
               "logs there");
  AddQuietFlag(app, &quiet, "the scenario header and event lines");
  std::string shard_text;
  auto* shard_opt = AddShardOption(
      app, &shard_text, "the scenarios given are split by a stable hash of their [scenario] name");
  bool trace = false;
  app.add_flag("--trace", trace,
               "record the targets' system calls with strace (as trace = true on every target; "
               "docs/tracing.md): failed and slow calls per fault window in the report");
  framework::MetricsConfig metrics_config;
  app.add_option("--metrics", metrics_config.listen,
                 "serve the run's load, faults and restarts at http://ADDR/metrics while it "
                 "runs (docs/metrics.md)")
      ->type_name("ADDR");
  std::string control_path;
  app.add_option("--control", control_path,
                 "serve a control socket at PATH while the run lasts, for `duende top --socket "
                 "PATH` (docs/top.md)")
      ->type_name("PATH");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  std::optional<model::Shard> shard;
  if (shard_opt->count() > 0) {
    shard.emplace();
    if (!ParseShardFlag(shard_text, &*shard)) return framework::kExitUsage;
  }
  if (std::string why = control_path.empty() ? "" : ControlPathProblem(control_path);
      !why.empty()) {
    PrintError("--control: " + why);
    return framework::kExitUsage;
  }
  if (!metrics_config.listen.empty()) {
    if (std::string why = framework::MetricsListenProblem(metrics_config.listen); !why.empty()) {
      PrintError("--metrics: " + why);
      return framework::kExitUsage;
    }
  }

  // Every scenario is validated before anything runs.
  std::vector<harness::Scenario> scenarios;
  bool bad = false;
  for (const auto& f : files) {
    auto s = harness::LoadScenario(f, overrides, harness::DefaultFaultKinds());
    if (!s.ok()) {
      if (s.error().code == std::errc::invalid_argument) {
        std::cerr << s.error().context << '\n';
      } else {
        PrintError(s.error().Message());
      }
      bad = true;
      continue;
    }
    if (trace) harness::EnableTracing(*s);
    scenarios.push_back(std::move(s).value());
  }
  if (bad) return framework::kExitUsage;
  // The whole suite is validated on every shard (a bad file fails each shard alike) and named
  // in the reports, so that `duende report merge` can tell the shards of one suite apart.
  auto suite = SuiteOf(scenarios, overrides);
  if (!suite.ok()) {
    PrintError(suite.error().Message());
    return framework::kExitEnvironment;
  }
  if (shard) {
    std::vector<harness::Scenario> mine;
    std::string names;
    const size_t total = scenarios.size();
    for (auto& s : scenarios) {
      if (model::ShardOfScenario(s.meta.name, shard->count) != shard->index) continue;
      names += (names.empty() ? ": " : ", ") + s.meta.name;
      mine.push_back(std::move(s));
    }
    scenarios = std::move(mine);
    std::cout << "shard " << model::ShardName(*shard) << ": " << scenarios.size() << " of " << total
              << " scenario(s)" << names << '\n';
  }
  // What the generator would refuse (exit 2) or the machine lacks (a program that is not
  // installed: exit 3) stops the run before anything starts; `duende validate` reports the
  // same problems.
  int preflight_exit = framework::kExitOk;
  for (const auto& s : scenarios) {
    if (auto p = harness::PreflightScenario(s); !p.ok()) {
      std::cerr << p.error().context << '\n';
      const int code = p.error().code == std::errc::invalid_argument
                           ? static_cast<int>(framework::kExitUsage)
                           : static_cast<int>(framework::kExitEnvironment);
      preflight_exit = preflight_exit == framework::kExitOk ? code : std::min(preflight_exit, code);
    }
  }
  if (preflight_exit != framework::kExitOk) return preflight_exit;

  // Ctrl-C must reach the run as an event, not kill it: block the signals in every thread
  // (before any thread exists) and read them from a signalfd.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  framework::UniqueFd sfd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));

  reporters::MultiReporter multi;
  multi.Add(reporters::MakeConsoleReporter(std::cout, ConsoleOptionsForStdout(quiet)));
  if (auto r = AddReportWriters(multi, reports); !r.ok()) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }

  // Started after the signals are blocked: its threads inherit the mask.
  // One tally of the events feeds both the metrics and the control socket.
  std::unique_ptr<framework::MetricsEndpoint> metrics;
  std::unique_ptr<RunControl> control;
  if (!metrics_config.listen.empty() || !control_path.empty()) {
    auto tally = std::make_unique<RunTally>();
    if (!metrics_config.listen.empty()) {
      auto ep = StartRunMetrics(*tally, metrics_config);
      if (!ep.ok()) {
        PrintError(ep.error().Message());
        return framework::kExitEnvironment;
      }
      metrics = std::move(ep).value();
      std::cerr << "duende run: metrics on " << metrics->url() << '\n';
    }
    if (!control_path.empty()) {
      auto c = RunControl::Start(control_path, *tally);
      if (!c.ok()) {
        PrintError("--control: " + c.error().Message());
        metrics.reset();  // it reads the tally, which goes with this block
        return framework::kExitEnvironment;
      }
      control = std::move(c).value();
      std::cerr << "duende run: control socket " << control_path << " (duende top --socket "
                << control_path << ")\n";
    }
    multi.Add(std::move(tally));
  }

  model::RunReport report;
  report.tool_version = DUENDE_VERSION;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  report.hostname = host;
  report.suite = std::move(suite).value();
  report.shard = shard;
  std::vector<model::Verdict> verdicts;
  for (const auto& s : scenarios) {
    harness::RunOptions o;
    if (seed_opt->count() > 0) o.seed = seed;
    o.reporter = &multi;
    o.abort_fd = sfd.get();
    o.keep_run_dir = keep;
    // Without --events the event log goes to the run directory and stays there (with the
    // targets' logs) when the run does not pass; with it, the log is where the user asked.
    o.keep_evidence_on_failure = reports.events.empty();
    if (control)
      o.on_supervisor = [&control](framework::Supervisor* sup) { control->SetSupervisor(sup); };
    auto outcome = harness::RunScenario(s, o);
    if (outcome.run_dir_kept) {
      std::cout << (keep ? "run directory (kept): "
                    : outcome.result.verdict != model::Verdict::kPass
                        ? "run directory (kept: the run did not pass): "
                        : "run directory (kept: it holds the syscall traces): ")
                << outcome.run_dir << '\n';
      if (reports.events.empty() && !outcome.events_path.empty()) {
        std::cout << "event log: " << outcome.events_path << '\n';
      }
      std::cout << "target output: " << outcome.run_dir << "/logs/\n";
      if (!outcome.trace_dir.empty()) std::cout << "syscall traces: " << outcome.trace_dir << "/\n";
    }
    verdicts.push_back(outcome.result.verdict);
    report.scenarios.push_back(std::move(outcome.result));
    // Ctrl-C ends the invocation: the scenarios after this one do not start.
    if (verdicts.back() == model::Verdict::kAborted) break;
  }
  report.verdict = model::Combine(verdicts);
  multi.OnRunEnd(report);
  metrics.reset();
  control.reset();
  int exit_code = model::ExitCodeFor(report.verdict);
  if (auto e = multi.error()) {
    PrintError(e->Message());
    if (exit_code == framework::kExitOk) exit_code = framework::kExitEnvironment;
  }
  PrintReportPaths(std::cout, reports);
  return exit_code;
}

}  // namespace duende::cli
