// duende gate --tier N: runs the steps a tier of gates.toml lists and reports them together
// (console, JUnit, Markdown, ...). Exits with the tier's verdict (model::ExitCodeFor): 0
// only if every step met its threshold.
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/framework/exit_code.h"
#include "duende/harness/gate.h"
#include "duende/model/event_log.h"
#include "duende/model/events.h"
#include "duende/reporters/reporter.h"
#include "verbs.h"

namespace duende::cli {

namespace events = model::events;
namespace {

std::string SelfPath(const char* argv0) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  return argv0;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

void PrintTiers(const harness::GateConfig& config) {
  for (const auto& t : config.tiers) {
    std::cout << "tier " << t.number << (t.name.empty() ? "" : ": " + t.name) << '\n';
    for (const auto& s : t.steps) {
      std::cout << "  " << s.name << " (" << harness::GateStepKindName(s.kind) << ")\n";
    }
  }
}

}  // namespace

int GateMain(int argc, char** argv) {
  CLI::App app{"Run the steps of one tier of gates.toml and report them together.", "gate"};
  int tier_number = 0;
  std::string config_path = "gates.toml", log_dir;
  std::vector<std::string> sets;
  ReportPaths reports;
  bool verbose = false, list = false, quiet = false;
  app.add_option("--tier", tier_number, "the tier to run (1 on save, 2 on commit, 3 on merge)")
      ->check(CLI::Range(1, 9));
  app.add_option("--config", config_path, "the gates file")->capture_default_str();
  AddSetOption(app, &sets, "a [vars] entry", "build=build/ci");
  AddReportOptions(app, &reports, kAllReportOptions);
  app.add_option("--log-dir", log_dir,
                 "keep each step's output here (default: build/gates next to the gates file)");
  app.add_flag("-v,--verbose", verbose, "show every step's output as it runs");
  AddQuietFlag(app, &quiet, "the step lines");
  app.add_flag("--list", list, "list the tiers and their steps, run nothing");
  app.footer(
      "Exit codes: 0 every step met its threshold, 1 a step failed or timed out, 2 bad usage\n"
      "or an invalid gates file (file:line:col), 3 a step could not run (not started, no such\n"
      "verb, no coverage data) or a report file could not be written, 130 interrupted.\n"
      "The gates file format is described in docs/gates.md.");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  auto config = harness::LoadGateConfig(config_path, sets);
  if (!config) {
    const framework::Error& e = config.error();
    PrintError(e.code == std::errc::invalid_argument ? e.context : e.Message());
    return framework::kExitUsage;
  }
  if (list) {
    PrintTiers(*config);
    return framework::kExitOk;
  }
  if (tier_number == 0) {
    PrintError("--tier is required (see 'duende gate --help'; 'duende gate --list' shows tiers)");
    return framework::kExitUsage;
  }
  const harness::GateTier* tier = config->FindTier(tier_number);
  if (tier == nullptr) {
    std::string have;
    for (const auto& t : config->tiers)
      have += (have.empty() ? "" : ", ") + std::to_string(t.number);
    PrintError(config_path + " has no tier " + std::to_string(tier_number) +
               (have.empty() ? "" : " (it has " + have + ")"));
    return framework::kExitUsage;
  }

  if (verbose && quiet) {
    PrintError("--verbose and --quiet contradict each other; give one");
    return framework::kExitUsage;
  }
  reporters::MultiReporter out;
  reporters::ConsoleOptions console = ConsoleOptionsForStdout(quiet);
  if (verbose) console.live = false;  // step output and a redrawn line do not mix
  out.Add(reporters::MakeConsoleReporter(std::cout, console));
  if (auto r = AddReportWriters(out, reports); !r) {
    PrintError(r.error().Message());
    return framework::kExitEnvironment;
  }

  // SIGINT/SIGTERM/SIGHUP stop the running step (TERM, then KILL), skip the rest, and the
  // reports are still written with the verdict ABORTED (exit 130).
  static std::atomic<bool> stop{false};
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop.store(true); };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  harness::GateOptions options;
  options.stop = &stop;
  options.duende_path = SelfPath(argv[0]);
  options.log_dir = log_dir.empty() ? (std::filesystem::path(config->base_dir) / "build" / "gates")
                                          .lexically_normal()
                                          .string()
                                    : log_dir;
  options.echo_fd = verbose ? 1 : -1;
  bool started = false;
  options.on_event = [&](const model::Event& e) {
    if (e.type == events::kRunStarted && !started) {
      started = true;
      model::ScenarioResult header = model::ScenarioFromEvents({e});
      header.events.clear();
      out.OnScenarioStart(header);
    }
    out.OnEvent(e);
  };
  model::ScenarioResult result = harness::RunGateTier(*config, *tier, options);
  out.OnScenarioEnd(result);
  model::RunReport report;
  report.tool_version = DUENDE_VERSION;
  report.hostname = HostName();
  report.verdict = result.verdict;
  report.scenarios.push_back(std::move(result));
  out.OnRunEnd(report);
  if (auto err = out.error()) {
    PrintError(err->Message());
    return framework::kExitEnvironment;
  }
  PrintReportPaths(std::cout, reports);
  return model::ExitCodeFor(report.verdict);
}

}  // namespace duende::cli
