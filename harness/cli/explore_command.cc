// duende explore SCENARIO : property-based chaos. Generates fault plans within the scenario's
// [explore] bounds (rapidcheck), runs each, and shrinks a failing plan to a minimal one.
//
// Exit codes: 0 no plan failed within the budget; 1 a plan failed (the minimal plan is written
// as a scenario file); 2 bad usage or an invalid scenario / [explore] table; 3 the environment
// failed (a target did not start, a fault could not be injected); 130 interrupted.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/unique_fd.h"
#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/gen.h"
#include "duende/harness/runner.h"
#include "duende/reporters/reporter.h"
#include "verbs.h"

namespace duende::cli {
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Writes every report of the minimal failing run into `dir`; returns the files written.
std::vector<std::string> WriteReports(const std::string& dir, const reporters::ScenarioResult& r) {
  reporters::RunReport report;
  report.tool_version = "duende " DUENDE_VERSION;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  report.hostname = host;
  report.scenarios.push_back(r);
  report.verdict = r.verdict;
  reporters::MultiReporter multi;
  std::vector<std::string> written;
  struct Out {
    const char* name;
    framework::Result<std::unique_ptr<reporters::Reporter>> (*make)(const std::string&);
  };
  for (const Out& o : {Out{"events.jsonl", reporters::MakeJsonLinesReporter},
                       Out{"report.json", reporters::MakeJsonReporter},
                       Out{"junit.xml", reporters::MakeJunitReporter},
                       Out{"report.md", reporters::MakeMarkdownReporter},
                       Out{"report.html", reporters::MakeHtmlReporter}}) {
    std::string path = dir + "/" + o.name;
    auto rep = o.make(path);
    if (!rep.ok()) {
      PrintError(rep.error().Message());
      continue;
    }
    multi.Add(std::move(rep).value());
    written.push_back(path);
  }
  reporters::Replay(report, multi);
  if (auto e = multi.error()) PrintError(e->Message());
  return written;
}

}  // namespace

int ExploreMain(int argc, char** argv) {
  CLI::App app(
      "Property-based chaos: generate fault plans within the scenario's [explore] bounds, run "
      "each one, and shrink a failing plan to a minimal one (written as a scenario file).",
      "explore");
  std::string file;
  int runs = 100;
  std::string budget_text = "5m";
  std::string shrink_budget_text;
  uint64_t seed = 0;
  uint32_t replays = 0;
  uint32_t final_replays = 3;
  std::string reproduce;
  std::string out_dir;
  bool quiet = false;
  app.add_option("scenario", file, "scenario file (TOML) with an [explore] table")->required();
  app.add_option("--runs", runs, "most plans to try (default 100)")->check(CLI::Range(1, 100000));
  app.add_option("--budget", budget_text, "wall time for the search (default 5m)");
  app.add_option("--shrink-budget", shrink_budget_text,
                 "wall time for shrinking a failure (default: the search budget)");
  auto* seed_opt = app.add_option("--seed", seed, "rapidcheck seed (default: random, printed)");
  auto* replays_opt = app.add_option(
      "--replays", replays, "re-runs of a passing shrink candidate (default: [explore] replays)");
  app.add_option("--final-replays", final_replays,
                 "replays of the minimal plan to measure how often it reproduces (default 3)");
  app.add_option("--reproduce", reproduce,
                 "run only the minimal plan of an earlier report (its reproduce string)");
  app.add_option("--out", out_dir,
                 "directory for the minimal plan and its reports (default "
                 "./explore-<scenario name>)");
  app.add_flag("-q,--quiet", quiet, "no progress lines");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  std::chrono::nanoseconds budget{}, shrink_budget{};
  if (!framework::ParseDuration(budget_text, &budget)) {
    PrintError("--budget " + budget_text + ": give a duration such as 90s or 5m");
    return framework::kExitUsage;
  }
  shrink_budget = budget;
  if (!shrink_budget_text.empty() &&
      !framework::ParseDuration(shrink_budget_text, &shrink_budget)) {
    PrintError("--shrink-budget " + shrink_budget_text + ": give a duration such as 90s or 5m");
    return framework::kExitUsage;
  }
  auto base = harness::LoadExploreScenario(file, harness::ExploreFaultKinds());
  if (!base.ok()) {
    if (base.error().code == std::errc::invalid_argument) {
      std::cerr << base.error().context << '\n';
      return framework::kExitUsage;
    }
    PrintError(base.error().Message());
    return framework::kExitUsage;
  }
  if (out_dir.empty()) out_dir = "explore-" + base->scenario.meta.name;

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  framework::UniqueFd sfd(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));

  harness::ExploreOptions options;
  options.runs = runs;
  options.budget = budget;
  options.shrink_budget = shrink_budget;
  if (seed_opt->count() > 0) options.seed = seed;
  if (replays_opt->count() > 0) options.replays = replays;
  options.final_replays = final_replays;
  options.reproduce = reproduce;
  if (!quiet) options.log = [](const std::string& line) { std::cout << line << std::endl; };
  bool interrupted = false;
  uint64_t run_serial = 0;
  const harness::ExploreScenario& es = base.value();
  harness::PlanRunner runner = [&](const harness::Plan& plan) {
    harness::PlanRun r;
    if (interrupted) {
      r.exit_code = 130;
      r.result.verdict = reporters::Verdict::kAborted;
      r.result.error = "interrupted";
      return r;
    }
    harness::RunOptions o;
    o.abort_fd = sfd.get();
    // Each run's own random choices (jitter, libfiu PRNG) come from the explore seed.
    o.seed = (options.seed ? *options.seed : 0) * 1000003u + ++run_serial;
    o.replay_prefix = "duende run";
    r = harness::RunPlan(es, plan, o);
    if (r.exit_code == 130) interrupted = true;
    return r;
  };
  std::cout << "exploring " << file << ": up to " << runs << " plans of at most "
            << es.bounds.max_faults << " faults, budget " << framework::FormatDuration(budget)
            << std::endl;
  harness::ExploreResult res = harness::Explore(es, options, runner);
  if (interrupted) {
    PrintError("interrupted; everything was healed and stopped");
    return 130;
  }
  if (res.environment_error) {
    PrintError(res.error);
    return framework::kExitEnvironment;
  }
  std::cout << "seed: " << res.seed << '\n';
  if (!res.found) {
    std::cout << "no failure: " << res.plans_tried << " plans tried in "
              << Fixed(res.search_seconds, 1) << " s (" << Fixed(res.PlansPerMinute(), 1)
              << " plans/minute)\n";
    if (res.ineffective_plans > 0) {
      std::cout << "  " << res.ineffective_plans
                << " plan(s) discarded: a fault never took effect in them (see the progress "
                   "lines)\n";
    }
    return framework::kExitOk;
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    PrintError("unable to create " + out_dir + ": " + ec.message());
    return framework::kExitEnvironment;
  }
  std::string plan_path = out_dir + "/minimal.toml";
  std::ostringstream header;
  header << "Minimal failing fault plan found by duende explore (from " << file << ").\n"
         << "Failure: " << res.minimal_run.Summary() << "\n"
         << "Reproduced " << res.final_reproduced << " of " << res.final_replays
         << " replays. Run it: duende run " << plan_path << "\n"
         << "Explore again: duende explore " << file << " --seed " << res.seed << "\n"
         << "Only this plan: duende explore " << file << " --reproduce '" << res.reproduce << "'\n";
  {
    std::ofstream out(plan_path);
    out << harness::PlanToToml(es, res.minimal, header.str());
    if (!out) {
      PrintError("unable to write " + plan_path);
      return framework::kExitEnvironment;
    }
  }
  auto reports = WriteReports(out_dir, res.minimal_run.result);
  std::cout << "FAILED after " << res.plans_tried << " plans ("
            << Fixed(res.first_failure_seconds, 1) << " s, " << Fixed(res.PlansPerMinute(), 1)
            << " plans/minute)\n"
            << "  first failing plan: " << harness::DescribePlan(res.first_failing) << '\n'
            << "  minimal plan:       " << harness::DescribePlan(res.minimal) << '\n'
            << "  failure:            " << res.minimal_run.Summary() << '\n'
            << "  shrinking:          " << res.shrink_steps << " steps, " << res.shrink_tries
            << " candidates, " << res.rescued_by_replay << " kept by a re-run, "
            << Fixed(res.shrink_seconds, 1) << " s\n"
            << "  reproduced:         " << res.final_reproduced << " of " << res.final_replays
            << " replays of the minimal plan\n"
            << "  discarded:          " << res.ineffective_plans
            << " plan(s) in which a fault never took effect\n"
            << "  scenario runs:      " << res.runs << '\n'
            << "minimal plan: " << plan_path << "  (duende run " << plan_path << ")\n"
            << "reproduce: duende explore " << file << " --reproduce '" << res.reproduce << "'\n";
  std::cout << reporters::RenderConsoleSummary(res.minimal_run.result, false);
  for (const auto& r : reports) std::cout << "report: " << r << '\n';
  return framework::kExitFailed;
}

}  // namespace duende::cli
