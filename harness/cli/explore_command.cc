// duende explore SCENARIO : property-based chaos. Generates fault plans within the scenario's
// [explore] bounds (rapidcheck), runs each, and shrinks a failing plan to a minimal one.
//
// Exit codes: 0 no plan failed within the budget; 1 a plan failed (the minimal plan is written
// as a scenario file); 2 bad usage or an invalid scenario / [explore] table; 3 the environment
// failed (a target did not start, a fault could not be injected); 130 interrupted.
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
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
#include "shard_options.h"
#include "verbs.h"

namespace duende::cli {
namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Writes every report of the minimal failing run into `dir`; returns the files written.
std::vector<std::string> WriteReports(const std::string& dir, const model::ScenarioResult& r,
                                      std::optional<model::Shard> shard) {
  model::RunReport report;
  report.shard = shard;
  report.tool_version = DUENDE_VERSION;
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

// "minimal plan reproduces in 10 of 10 replays", or says that it is flaky.
std::string ReproduceRate(const harness::ExploreResult& res) {
  if (res.final_replays == 0) return "minimal plan not replayed (--final-replays 0)";
  std::string rate = std::to_string(res.final_reproduced) + " of " +
                     std::to_string(res.final_replays) + " replays";
  if (res.Reliable()) return "minimal plan reproduces in " + rate;
  return "FLAKY: minimal plan reproduces in only " + rate + " (" +
         std::to_string(res.final_required) + " needed" +
         (res.widen_tries > 0 ? "; no wider timing did better" : std::string()) + ")";
}

std::string Capitalized(std::string s) {
  if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
  return s;
}

// Writes `text` to `path`, replacing a regular file but never following a symlink there (duende
// runs as root; the output directory may be writable by others). Returns the error message.
std::optional<std::string> WriteFileNoFollow(const std::string& path, const std::string& text) {
  framework::UniqueFd fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  size_t done = 0;
  while (fd.valid() && done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (!fd.valid() || done < text.size()) {
    return "unable to write " + path + ": " + std::strerror(errno);
  }
  return std::nullopt;
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
  uint32_t shrink_replays = 0;
  double min_fail_rate = 1.0;
  uint32_t final_replays = 0;
  double min_reproduce_rate = 0.9;
  bool no_widen = false;
  bool keep = false;
  std::string widen_budget_text;
  std::string reproduce;
  std::string out_dir;
  bool quiet = false;
  app.add_option("scenario", file, "scenario file (TOML) with an [explore] table")->required();
  app.add_option("--runs", runs, "most plans to try (default 100)")->check(CLI::Range(1, 100000));
  app.add_option("--budget", budget_text, "wall time for the search (default 5m)");
  app.add_option("--shrink-budget", shrink_budget_text,
                 "wall time for shrinking a failure (default: the search budget)");
  auto* seed_opt = AddSeedOption(app, &seed, "the plan search (rapidcheck; default: random)");
  // The old option, hidden: its meaning was the opposite (keep a candidate that failed once).
  auto* replays_opt =
      app.add_option("--replays", replays, "replaced by --shrink-replays")->group("");
  auto* shrink_replays_opt =
      app.add_option("--shrink-replays", shrink_replays,
                     "runs of each shrink candidate (default: [explore] shrink_replays, 3)")
          ->check(CLI::Range(1, 20));
  auto* min_fail_rate_opt =
      app.add_option("--min-fail-rate", min_fail_rate,
                     "share of those runs that must fail for a candidate to count as failing "
                     "(default: [explore] min_fail_rate, 1.0 = every run)")
          ->check(CLI::Range(0.01, 1.0));
  auto* final_replays_opt =
      app.add_option("--final-replays", final_replays,
                     "replays measuring how often the minimal plan reproduces (default: "
                     "[explore] final_replays, 10; 0: no measurement, no widening)")
          ->check(CLI::Range(0, 100));
  auto* min_reproduce_opt =
      app.add_option("--min-reproduce-rate", min_reproduce_rate,
                     "share of the final replays that must fail for the plan to count as reliable "
                     "(default: [explore] min_reproduce_rate, 0.9)")
          ->check(CLI::Range(0.01, 1.0));
  app.add_flag("--no-widen", no_widen, "measure the shrunk plan but do not widen its timings");
  app.add_flag("--keep", keep,
               "keep every plan's run directory and event log (default: only the event logs of "
               "plans that did not pass, in OUT/runs/)");
  app.add_option("--widen-budget", widen_budget_text,
                 "wall time for measuring and widening the minimal plan (default: the shrink "
                 "budget)");
  app.add_option("--reproduce", reproduce,
                 "run only the shrunk plan of an earlier report (its reproduce string), then "
                 "measure and widen it again");
  app.add_option("--out", out_dir,
                 "directory for the minimal plan and its reports (default "
                 "./explore-<scenario name>)");
  AddQuietFlag(app, &quiet, "a line per plan tried and per shrink step");
  std::string shard_text;
  auto* shard_opt = AddShardOption(app, &shard_text,
                                   "the --runs plans of the --seed's sequence are split into N "
                                   "contiguous ranges (every shard needs the same --seed)");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  std::optional<model::Shard> shard;
  if (shard_opt->count() > 0) {
    shard.emplace();
    if (!ParseShardFlag(shard_text, &*shard)) return framework::kExitUsage;
    if (seed_opt->count() == 0) {
      PrintError("--shard " + shard_text +
                 " needs --seed S, the same on every shard: the shards split the plans of one "
                 "seed's sequence (in CI, e.g. --seed $GITHUB_RUN_ID or $CI_PIPELINE_ID)");
      return framework::kExitUsage;
    }
    if (!reproduce.empty()) {
      PrintError("--shard and --reproduce do not combine: --reproduce runs one plan");
      return framework::kExitUsage;
    }
  }

  std::chrono::nanoseconds budget{}, shrink_budget{};
  if (!ParseDurationFlag("--budget", budget_text, &budget)) return framework::kExitUsage;
  shrink_budget = budget;
  if (!shrink_budget_text.empty() &&
      !ParseDurationFlag("--shrink-budget", shrink_budget_text, &shrink_budget)) {
    return framework::kExitUsage;
  }
  if (replays_opt->count() > 0) {
    PrintError(
        "--replays is gone: a shrink candidate now counts as failing only when it fails in "
        "--min-fail-rate (default 1.0, all) of --shrink-replays runs (default 3); use "
        "--shrink-replays N");
    return framework::kExitUsage;
  }
  std::chrono::nanoseconds widen_budget = shrink_budget;
  if (!widen_budget_text.empty() &&
      !ParseDurationFlag("--widen-budget", widen_budget_text, &widen_budget)) {
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
  if (out_dir.empty()) {
    out_dir = "explore-" + base->scenario.meta.name +
              (shard ? "-shard-" + std::to_string(shard->index) : std::string());
  }

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
  if (shrink_replays_opt->count() > 0) options.shrink_replays = shrink_replays;
  if (min_fail_rate_opt->count() > 0) options.min_fail_rate = min_fail_rate;
  if (final_replays_opt->count() > 0) options.final_replays = final_replays;
  if (min_reproduce_opt->count() > 0) options.min_reproduce_rate = min_reproduce_rate;
  options.widen = !no_widen;
  options.widen_budget = widen_budget;
  options.reproduce = reproduce;
  if (shard) {
    const model::PlanRange range = model::ShardPlanRange(*shard, static_cast<uint64_t>(runs));
    options.first_plan = range.begin;
    options.end_plan = range.end;
    std::cout << "shard " << model::ShardName(*shard) << ": "
              << (range.begin == range.end
                      ? "no plans (" + std::to_string(runs) + " plans over " +
                            std::to_string(shard->count) + " shards)"
                      : "plans " + std::to_string(range.begin + 1) + "-" +
                            std::to_string(range.end) + " of " + std::to_string(runs))
              << " of seed " << seed << std::endl;
  }
  if (!quiet) options.log = [](const std::string& line) { std::cout << line << std::endl; };
  bool interrupted = false;
  uint64_t run_serial = 0;
  const harness::ExploreScenario& es = base.value();
  // OUT/runs/: one event log per plan run, named by its serial number.
  std::string runs_dir = out_dir + "/runs";
  {
    std::error_code mk;
    std::filesystem::create_directories(runs_dir, mk);
    if (mk) {
      PrintError("unable to create " + runs_dir + ": " + mk.message() +
                 "; plans run without an event log file");
      runs_dir.clear();
    }
  }
  harness::PlanRunner runner = [&](const harness::Plan& plan) {
    harness::PlanRun r;
    if (interrupted) {
      r.exit_code = framework::kExitInterrupted;
      r.result.verdict = model::Verdict::kAborted;
      r.result.error = "interrupted";
      return r;
    }
    harness::RunOptions o;
    o.abort_fd = sfd.get();
    // Each run's own random choices (jitter, libfiu PRNG) come from the explore seed.
    o.seed = (options.seed ? *options.seed : 0) * 1000003u + ++run_serial;
    o.replay_prefix = "duende run";
    // Each plan's event log, so that command probes reading {events} and post-mortems work
    // here as under `duende run`; a passing (or discarded) plan's log goes unless --keep.
    char name[32];
    std::snprintf(name, sizeof name, "/%06llu.jsonl", static_cast<unsigned long long>(run_serial));
    o.events_path = runs_dir.empty() ? std::string() : runs_dir + name;
    o.keep_run_dir = keep;
    r = harness::RunPlan(es, plan, o);
    // A plan discarded because a fault never took effect tested nothing: its log goes too.
    if (!o.events_path.empty() && (r.passed() || r.OnlyFaultsMissed()) && !keep) {
      std::remove(o.events_path.c_str());
    }
    if (r.exit_code == framework::kExitInterrupted) interrupted = true;
    return r;
  };
  std::cout << "exploring " << file << ": up to " << runs << " plans of at most "
            << es.bounds.max_faults << " faults, budget " << framework::FormatDuration(budget)
            << std::endl;
  harness::ExploreResult res = harness::Explore(es, options, runner);
  {
    // Every run passed (their logs are gone): leave no empty directories behind. remove()
    // removes a directory only when it is empty.
    std::error_code rm;
    if (!runs_dir.empty()) std::filesystem::remove(runs_dir, rm);
    std::filesystem::remove(out_dir, rm);
  }
  if (interrupted) {
    PrintError("interrupted; everything was healed and stopped");
    return framework::kExitInterrupted;
  }
  if (res.environment_error) {
    PrintError(res.error);
    return framework::kExitEnvironment;
  }
  std::cout << "seed: " << res.seed << '\n';
  if (!res.found && !reproduce.empty()) {
    std::cout << "no failure: the plan of the reproduce string ("
              << harness::DescribePlan(res.shrunk) << ") did not fail in " << res.final_replays
              << " replays"
              << (res.widen_tries > 0
                      ? ", nor did " + std::to_string(res.widen_tries) + " wider variant(s)"
                      : std::string())
              << '\n';
    return framework::kExitOk;
  }
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
  const std::string rate = ReproduceRate(res);
  std::ostringstream header;
  header << "Minimal failing fault plan found by duende explore (from " << file << "), seed "
         << res.seed << ".\n"
         << "Failure: " << res.minimal_run.Summary() << "\n"
         << Capitalized(rate) << ".\n";
  if (res.widened) {
    header << "Timings widened from the shrunk plan, which failed in " << res.shrunk_reproduced
           << " of " << res.shrunk_replays << " replays: " << harness::DescribePlan(res.shrunk)
           << "\n";
  }
  header << "Run it: duende run " << plan_path << "\n"
         << "Explore again: duende explore " << file << " --seed " << res.seed
         << (shard ? " --runs " + std::to_string(runs) + " --shard " + model::ShardName(*shard)
                   : std::string())
         << "\n"
         << "Only the shrunk plan (then measured and widened again): duende explore " << file
         << " --reproduce '" << res.reproduce << "'\n";
  if (auto e = WriteFileNoFollow(plan_path, harness::PlanToToml(es, res.minimal, header.str()))) {
    PrintError(*e);
    return framework::kExitEnvironment;
  }
  // The reports are those of a failing run of the minimal plan: they say how often it
  // reproduces, and replay it from minimal.toml (the explore file itself does not `run`).
  model::ScenarioResult report = res.minimal_run.result;
  report.description += std::string(report.description.empty() ? "" : " | ") +
                        "duende explore, seed " + std::to_string(res.seed) + ": " + rate;
  report.file = plan_path;
  report.replay_command = "duende run " + plan_path + " --seed " + std::to_string(report.seed);
  auto reports = WriteReports(out_dir, report, shard);
  const double total = res.first_failure_seconds + res.shrink_seconds + res.widen_seconds;
  std::cout << "FAILED after " << res.plans_tried << " plans ("
            << Fixed(res.first_failure_seconds, 1) << " s, " << Fixed(res.PlansPerMinute(), 1)
            << " plans/minute)\n"
            << "  first failing plan: " << harness::DescribePlan(res.first_failing) << '\n';
  if (res.widened) {
    std::cout << "  shrunk plan:        " << harness::DescribePlan(res.shrunk) << "  (failed in "
              << res.shrunk_reproduced << " of " << res.shrunk_replays << " replays)\n";
  }
  std::cout << "  minimal plan:       " << harness::DescribePlan(res.minimal) << '\n'
            << "  failure:            " << res.minimal_run.Summary() << '\n'
            << "  shrinking:          " << res.shrink_steps << " steps, " << res.shrink_tries
            << " candidates (" << res.shrink_flaky << " failed only sometimes: not kept), "
            << Fixed(res.shrink_seconds, 1) << " s\n"
            << "  widening:           "
            << (res.final_replays == 0 ? std::string("not measured")
                : res.widen_tries > 0  ? std::to_string(res.widen_tries) + " variant(s) measured"
                : res.shrunk_reproduced == res.shrunk_replays
                    ? std::string("not needed (the shrunk plan failed in every replay)")
                    : std::string("not tried (--no-widen, or its budget was spent)"))
            << ", " << Fixed(res.widen_seconds, 1) << " s of replays\n"
            << "  reproduced:         " << rate << '\n'
            << "  discarded:          " << res.ineffective_plans
            << " plan(s) in which a fault never took effect\n"
            << "  time:               " << Fixed(total, 1) << " s, " << res.runs
            << " scenario runs (search " << Fixed(res.first_failure_seconds, 1) << " s, shrink "
            << Fixed(res.shrink_seconds, 1) << " s, replays and widening "
            << Fixed(res.widen_seconds, 1) << " s)\n"
            << "minimal plan: " << plan_path << "  (duende run " << plan_path << ")\n"
            << "reproduce: duende explore " << file << " --reproduce '" << res.reproduce << "'\n";
  std::cout << reporters::RenderConsoleSummary(report, false);
  for (const auto& r : reports) std::cout << "report: " << r << '\n';
  if (res.final_replays > 0 && !res.Reliable()) {
    std::cout << "warning: the minimal plan is flaky: it failed in " << res.final_reproduced
              << " of " << res.final_replays << " replays (" << res.final_required
              << " needed); a bug was found all the same (exit 1)\n";
  }
  return framework::kExitFailed;
}

}  // namespace duende::cli
