// duende mutate: mutation testing of a C++ CMake project (see docs/mutate.md).
// Exit 0 when the gate holds, 1 below --min-score / above --max-survivors, 2 for bad input,
// 3 when the environment fails (the unmutated project does not build or its tests fail), 130
// when interrupted (SIGINT/SIGTERM: the running build and tests are killed with it).
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/mutate/compile_db.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/mutate_config.h"
#include "duende/mutate/report.h"
#include "duende/mutate/test_runner.h"
#include "verbs.h"

namespace duende::cli {

namespace {

int ExitFor(const framework::Error& e) {
  return e.code == std::errc::invalid_argument ? framework::kExitUsage
                                               : framework::kExitEnvironment;
}

}  // namespace

int MutateMain(int argc, char** argv) {
  CLI::App app(
      "Mutation testing for C++ CMake projects: mutates the sources found in a "
      "compile_commands.json (in a private copy; your tree is never touched), runs the tests "
      "that cover each mutant and reports the ones that survive.",
      "mutate");
  std::string config_path, compile_db, source_dir, test_command, operators, mode = "schemata";
  std::string shard, since, time_budget, timeout_margin, work_dir;
  ReportPaths reports;
  std::vector<std::string> files, ctest_args, targets, cmake_args, ignores;
  double timeout_factor = 0;
  double min_score = -1;
  int64_t max_survivors = -1;
  int jobs = 0;
  bool keep = false, list = false, quiet = false;
  app.add_option("files", files, "source files or globs to mutate (relative to the source dir)");
  app.add_option("-p,--compile-db", compile_db, "compile_commands.json (or its directory)");
  app.add_option("--config", config_path, "a gates.toml with a [mutate] section");
  app.add_option("--source-dir", source_dir, "the project's source dir (default: from CMakeCache)");
  app.add_option("--test-command", test_command, "test command (default: each ctest test)");
  app.add_option("--ctest-arg", ctest_args, "extra ctest selection argument, e.g. --ctest-arg=-R");
  app.add_option("--target", targets, "build only this target (repeatable)");
  app.add_option("--cmake-arg", cmake_args, "extra argument for configuring the copy");
  app.add_option("--operators", operators,
                 "comma list: default, all, relational, logical, negation, arithmetic, "
                 "return-value, void-call, void-body, constant, bitwise, increment");
  app.add_option("--mode", mode, "schemata (one build for all mutants) or rebuild")
      ->check(CLI::IsMember({"schemata", "rebuild"}));
  app.add_option("-j,--jobs", jobs, "mutants run in parallel (default 1)");
  app.add_option("--shard", shard, "run shard K of N (0-based), e.g. 0/4");
  app.add_option("--since", since, "only mutate lines changed since this git revision");
  app.add_option("--time-budget", time_budget, "stop starting mutants after this, e.g. 10m");
  app.add_option("--timeout-factor", timeout_factor, "test timeout = factor x baseline + margin");
  app.add_option("--timeout-margin", timeout_margin, "test timeout margin (default 5s)");
  app.add_option("--work-dir", work_dir, "keep the copy and its build here (reused next time)");
  app.add_flag("--keep-work-dir", keep, "do not delete the temporary work dir");
  app.add_option(
      "--ignore", ignores,
      "FILE:LINE[:COL]=REASON: an equivalent mutant (COL: only the mutant starting there)");
  app.add_option("--min-score", min_score, "gate: exit 1 below this mutation score (percent)");
  app.add_option("--max-survivors", max_survivors, "gate: exit 1 above this many undetected");
  // --json is the Stryker mutation-testing-report schema (docs/mutate.md).
  AddReportOptions(app, &reports, kJunitOption | kJsonOption | kHtmlOption);
  app.add_flag("--list", list, "only list the mutants");
  AddQuietFlag(app, &quiet, "the build and per-mutant progress lines");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  mutate::MutateConfig cfg;
  if (!config_path.empty()) {
    if (auto r = mutate::LoadMutateConfig(config_path, &cfg); !r.ok()) {
      if (r.error().code == std::errc::invalid_argument) {
        std::cerr << r.error().context << '\n';
        return framework::kExitUsage;
      }
      PrintError(r.error().Message());
      return framework::kExitUsage;
    }
  }
  mutate::MutateOptions& o = cfg.options;
  if (!compile_db.empty()) o.compile_db = compile_db;
  if (!source_dir.empty()) o.source_dir = source_dir;
  if (!files.empty()) o.files = files;
  if (!test_command.empty()) o.test_command = mutate::SplitCommand(test_command);
  if (!ctest_args.empty()) o.ctest_args = ctest_args;
  if (!targets.empty()) o.build_targets = targets;
  if (!cmake_args.empty()) o.cmake_args = cmake_args;
  if (!operators.empty()) {
    std::vector<std::string> names;
    size_t pos = 0;
    while (pos <= operators.size()) {
      size_t comma = operators.find(',', pos);
      if (comma == std::string::npos) comma = operators.size();
      if (comma > pos) names.push_back(operators.substr(pos, comma - pos));
      pos = comma + 1;
    }
    auto ops = mutate::ParseOperators(names);
    if (!ops.ok()) {
      PrintError("--operators: " + ops.error().context);
      return framework::kExitUsage;
    }
    o.operators = *ops;
  }
  if (app.count("--mode") > 0) {
    o.mode = mode == "rebuild" ? mutate::MutateOptions::Mode::kRebuild
                               : mutate::MutateOptions::Mode::kSchemata;
  }
  if (jobs != 0) o.jobs = jobs;
  if (!shard.empty()) {
    unsigned k = 0, n = 0;
    char extra = 0;
    if (std::sscanf(shard.c_str(), "%u/%u%c", &k, &n, &extra) != 2 || n == 0 || k >= n) {
      PrintError("--shard '" + shard + "': expected K/N with 0 <= K < N, e.g. 0/4");
      return framework::kExitUsage;
    }
    o.shard_index = k;
    o.shard_count = n;
  }
  if (!since.empty()) o.since = since;
  auto duration = [](const std::string& flag, const std::string& text,
                     std::chrono::nanoseconds* out) {
    if (text.empty()) return true;
    return ParseDurationFlag(flag, text, out);
  };
  if (!duration("--time-budget", time_budget, &o.time_budget) ||
      !duration("--timeout-margin", timeout_margin, &o.timeout_margin)) {
    return framework::kExitUsage;
  }
  if (timeout_factor != 0) o.timeout_factor = timeout_factor;
  if (!work_dir.empty()) o.work_dir = work_dir;
  if (keep) o.keep_work_dir = true;
  for (const auto& ig : ignores) {
    // FILE:LINE[:COL][=REASON]; the file name may hold colons, the numbers may not.
    const auto eq = ig.find('=');
    const std::string where = ig.substr(0, eq);
    mutate::IgnoreEntry e;
    auto number = [](const std::string& s, uint32_t* out) {
      unsigned v = 0;
      char extra = 0;
      if (std::sscanf(s.c_str(), "%u%c", &v, &extra) != 1 || v == 0) return false;
      *out = v;
      return true;
    };
    auto last = where.rfind(':');
    bool ok = last != std::string::npos && number(where.substr(last + 1), &e.line);
    if (ok) {
      e.file = where.substr(0, last);
      // A second number before it: LINE:COL.
      auto before = e.file.rfind(':');
      uint32_t line = 0;
      if (before != std::string::npos && number(e.file.substr(before + 1), &line)) {
        e.column = e.line;
        e.line = line;
        e.file = e.file.substr(0, before);
      }
      ok = !e.file.empty();
    }
    if (!ok) {
      PrintError("--ignore '" + ig +
                 "': expected FILE:LINE=REASON or FILE:LINE:COL=REASON, e.g. "
                 "src/calc.cc:12=equivalent");
      return framework::kExitUsage;
    }
    e.reason = eq == std::string::npos ? "ignored" : ig.substr(eq + 1);
    o.ignore.push_back(e);
  }
  if (min_score >= 0) cfg.gate.min_score = min_score;
  if (max_survivors >= 0) cfg.gate.max_survivors = static_cast<uint32_t>(max_survivors);
  if (!reports.json.empty()) cfg.reports.json = reports.json;
  if (!reports.html.empty()) cfg.reports.html = reports.html;
  if (!reports.junit.empty()) cfg.reports.junit = reports.junit;
  if (cfg.gate.min_score && (*cfg.gate.min_score < 0 || *cfg.gate.min_score > 100)) {
    PrintError("--min-score must be between 0 and 100");
    return framework::kExitUsage;
  }
  o.list_only = list;
  if (!quiet)
    o.log = [](const std::string& line) { std::cerr << "duende mutate: " << line << '\n'; };

  // SIGINT/SIGTERM: the running build or tests are killed (their process groups), nothing
  // more starts, and the copy is removed as on any other end; the exit code is 130.
  struct sigaction sa {};
  sa.sa_handler = [](int) { mutate::RequestInterrupt(); };
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  auto run = mutate::RunMutate(o);
  if (mutate::InterruptRequested()) {
    PrintError("interrupted: the running build and tests were stopped; no result");
    return framework::kExitInterrupted;
  }
  if (!run.ok()) {
    PrintError(run.error().Message());
    return ExitFor(run.error());
  }
  std::string cwd = std::filesystem::current_path().string();
  if (list) {
    for (const auto& m : run->mutants) {
      std::cout << std::filesystem::path(m.file).lexically_relative(cwd).string() << ":"
                << m.start.line << ":" << m.start.column << ": note: mutant " << m.id << ": '"
                << m.original << "' -> '" << m.replacement << "' [" << m.mutator << "]"
                << (m.status == mutate::Status::kIgnored ? " (ignored: " + m.detail + ")" : "")
                << '\n';
    }
    return framework::kExitOk;
  }
  mutate::GateResult gate = mutate::EvaluateGate(*run, cfg.gate);
  std::cout << mutate::SurvivorLines(*run, cwd);
  std::cout << mutate::SummaryLine(*run) << '\n';
  if (cfg.gate.min_score || cfg.gate.max_survivors) {
    std::cout << "mutate: gate " << (gate.pass ? "passed" : "FAILED") << ": " << gate.message
              << '\n';
  }
  if (auto written = mutate::WriteReports(cfg.reports, *run, gate); !written.ok()) {
    PrintError(written.error().Message());
    return framework::kExitEnvironment;
  }
  return gate.pass ? framework::kExitOk : framework::kExitFailed;
}

}  // namespace duende::cli
