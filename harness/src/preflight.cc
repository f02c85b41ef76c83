// What `duende run` would refuse before starting a target, checked without starting anything,
// so that `duende validate` rejects the same scenarios (README: validate == run's checks).
#include <unistd.h>

#include <string>

#include "duende/framework/process.h"
#include "duende/framework/toml_reader.h"
#include "duende/harness/load.h"
#include "duende/harness/runner.h"
#include "run_support.h"

namespace duende::harness {
namespace {

// A program named with a run variable ({env.HOME}/bin/x) is only known at run time.
bool Checkable(const std::vector<std::string>& argv) {
  return !argv.empty() && !argv[0].empty() && argv[0].find('{') == std::string::npos;
}

void CheckProgram(framework::Diagnostics& diags, const framework::SourcePos& pos,
                  const std::string& what, const std::vector<std::string>& argv,
                  bool fixtures_too) {
  if (!Checkable(argv)) return;
  const std::string& program = argv[0];
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), ProgramAccessMode(program)) != 0) {
      diags.Add(pos, what + ": program " + program +
                         " does not exist or is not executable; fix the path or install it");
    }
    return;
  }
  auto found = fixtures_too ? ResolveProgram(program) : framework::FindExecutable(program);
  if (found.ok()) return;
  std::string where = "PATH";
  if (fixtures_too) {
    for (const auto& d : ProgramSearchDirs()) where += ", " + d;
  }
  diags.Add(pos, what + ": unable to find " + program + " (looked in " + where +
                     "); install it, give its full path" +
                     (fixtures_too ? ", or set DUENDE_FIXTURES_DIR to its directory" : ""));
}

}  // namespace

framework::Result<void> PreflightScenario(const Scenario& scenario) {
  framework::Diagnostics diags;  // what this machine lacks
  framework::Diagnostics input;  // what the file gets wrong
  for (const auto& t : scenario.targets) {
    if (t.trace && !framework::FindExecutable("strace").ok()) {
      diags.Add(t.trace_pos.line > 0 ? t.trace_pos : t.pos,
                "trace = true on target " + t.name +
                    " needs strace, which is not in PATH (apt-get install strace; or drop "
                    "trace/--trace)");
    }
    if (!t.external) {
      CheckProgram(diags, t.command_pos.line > 0 ? t.command_pos : t.pos,
                   "'command' of target " + t.name, t.command, true);
    }
    for (const auto* p : {&t.daemon.health.readiness, &t.daemon.health.liveness}) {
      if (p->kind == framework::ProbeConfig::Kind::kCommand) {
        CheckProgram(diags, t.pos, "a probe command of target " + t.name, p->command, false);
      }
    }
  }
  for (const auto& p : scenario.steady_state.probes) {
    if (p.kind == ProbeSpec::Kind::kCommand) {
      CheckProgram(diags, p.pos, "'command' of steady-state probe " + p.name, p.command, false);
    }
  }
  for (const auto& c : scenario.checks) {
    if (c.kind == "command_probe") {
      CheckProgram(diags, c.pos, "'command' of check " + c.name, c.command, false);
    }
  }
  if (scenario.load) {
    // The generator's own validation (keys >= connections in key-value mode, a regex the
    // parser accepted but the matcher does not, ...), with a stand-in address.
    LoadConfig c = internal::LoadConfigFor(*scenario.load, scenario.meta.duration, 1);
    c.address = "127.0.0.1:1";
    if (auto gen = LoadGenerator::Create(c); !gen.ok()) {
      input.Add(scenario.load->pos, "[load]: " + gen.error().Message());
    }
  }
  if (!input.empty()) {
    for (const auto& d : diags.items()) input.Add(d.pos, d.message);
    return input.ToError();
  }
  if (!diags.empty()) {
    return framework::Error{std::make_error_code(std::errc::no_such_file_or_directory),
                            diags.ToString()};
  }
  return {};
}

}  // namespace duende::harness
