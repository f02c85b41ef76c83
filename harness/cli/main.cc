// duende: the command-line entry point. Dispatches to one verb; see verbs.h.
#include <algorithm>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>

#include "cli_util.h"
#include "duende/framework/exit_code.h"
#include "helper_program.h"
#include "verbs.h"

namespace duende::cli {
namespace {

int VersionMain(int argc, char** argv) {
  CLI::App app("Print the version.", "version");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  std::cout << "duende " << DUENDE_VERSION << '\n';
  return framework::kExitOk;
}

// Verbs with a program of their own, so that no other verb maps what they need: duende-mutate
// links libclang and LLVM; duende-supervise holds only the supervisor, to stay small.
int MutateProgramMain(int argc, char** argv) {
  return ExecHelperProgram("duende-mutate", argc, argv);
}
int SuperviseProgramMain(int argc, char** argv) {
  return ExecHelperProgram("duende-supervise", argc, argv);
}

// Keep sorted by name. A verb's summary is one line for `duende help`.
const Verb kVerbs[] = {
    {"adapter", "render a daemon config for systemd/oci/docker/launchd; detect the platform",
     AdapterMain},
    {"bench", "benchmark a daemon's restart latency (SIGKILLs under the supervisor)", BenchMain},
    {"check", "re-check a finished run's event log against a scenario", CheckMain},
    {"check-history", "is a history of register operations linearizable? (JSONL, Jepsen EDN/log)",
     CheckHistoryMain},
    {"ctl", "status/start/stop/restart the services of a running 'duende supervise'", CtlMain},
    {"doctor", "heal what killed runs left; report what this machine supports", DoctorMain},
    {"explore", "generate fault plans, run them, shrink a failure to a minimal plan", ExploreMain},
    {"fault", "list fault kinds, or inject one fault into a running process", FaultMain},
    {"gate", "run the steps of one quality-gate tier (gates.toml)", GateMain},
    {"mutate", "mutation testing of a C++ project: which code changes do the tests miss?",
     MutateProgramMain},
    {"report", "re-render a finished run's reports from its event log; merge shards' reports",
     ReportMain},
    {"supervise", "run services in the foreground and keep them running (services.toml)",
     SuperviseProgramMain},
    {"run", "run chaos scenarios and check their invariants", RunMain},
    {"top", "live view of a running 'duende supervise' or 'duende run --control'", TopMain},
    {"validate", "check scenario files without running them", ValidateMain},
    {"version", "print the version", VersionMain},
};

void PrintUsage(std::ostream& out) {
  out << "usage: duende VERB [options]   (duende VERB --help for a verb's options)\n\nverbs:\n";
  for (const Verb& v : kVerbs) {
    out << "  " << v.name << std::string(12 - std::min<size_t>(11, std::strlen(v.name)), ' ')
        << v.summary << '\n';
  }
  out << "\nexit codes: 0 ok, 1 an invariant or gate failed, 2 bad usage or input, "
         "3 environment error, 130 interrupted\n";
}

}  // namespace
}  // namespace duende::cli

int main(int argc, char** argv) {
  using duende::cli::kVerbs;
  if (argc < 2) {
    duende::cli::PrintUsage(std::cerr);
    return duende::framework::kExitUsage;
  }
  std::string verb = argv[1];
  if (verb == "help" || verb == "--help" || verb == "-h") {
    duende::cli::PrintUsage(std::cout);
    return duende::framework::kExitOk;
  }
  if (verb == "--version") verb = "version";
  for (const auto& v : kVerbs) {
    if (verb == v.name) return v.main(argc - 1, argv + 1);
  }
  duende::cli::PrintError("unknown verb '" + verb + "' (see 'duende help')");
  return duende::framework::kExitUsage;
}
