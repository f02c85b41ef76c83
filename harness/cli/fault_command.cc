// duende fault list | duende fault inject KIND --pid P [--for 5s] [--param k=v ...]
// Manual use of the fault injectors (faults/): list the catalogue, or inject one fault into a
// running process, hold it, heal it, and print what happened. Exit 0 when the fault took
// effect, 1 when it did not, 2 for bad parameters, 3 when it could not be injected.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/faults/fault.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "verbs.h"

namespace duende::cli {
namespace {

namespace fw = framework;

void PrintCatalogue() {
  for (const auto& k : faults::Catalogue()) {
    std::cout << k.kind << std::string(k.kind.size() < 10 ? 10 - k.kind.size() : 1, ' ')
              << k.summary << '\n';
    for (const auto& p : k.params) {
      std::cout << "    " << std::left << std::setw(13) << p.name << std::setw(13) << p.type
                << std::setw(16) << (p.default_value.empty() ? "-" : p.default_value) << p.help
                << '\n';
    }
  }
}

// "k=v" pairs as a TOML document, one key per line (line N = the Nth --param). A value that is
// not a TOML value (5s, ENOSPC) is taken as a string.
fw::Result<std::string> ParamsToToml(const std::vector<std::string>& params) {
  std::string doc;
  for (const auto& p : params) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fw::MessageError("--param '" + p + "' must be KEY=VALUE, e.g. --param signal=SIGTERM");
    }
    std::string key = p.substr(0, eq), value = p.substr(eq + 1);
    std::string line = key + " = " + value;
    if (!fw::ParseTomlString(line, "--param").ok()) {
      std::string quoted;
      for (char c : value) {
        if (c == '"' || c == '\\') quoted += '\\';
        quoted += c;
      }
      line = key + " = \"" + quoted + "\"";
    }
    doc += line + "\n";
  }
  return doc;
}

std::string FiuPrefixOf(pid_t pid) {
  auto env = fw::ReadSmallFile("/proc/" + std::to_string(pid) + "/environ");
  if (!env.ok()) return "";
  std::istringstream in(*env);
  std::string entry;
  while (std::getline(in, entry, '\0')) {
    if (entry.rfind("FIU_CTRL_FIFO=", 0) == 0) {
      std::string prefix = entry.substr(14);
      if (::access((prefix + "-" + std::to_string(pid) + ".in").c_str(), F_OK) == 0) return prefix;
    }
  }
  return "";
}

void PrintRecord(const faults::FaultRecord& r) {
  std::cout << "fault " << r.kind << ": " << (r.took_effect ? "took effect" : "NO EFFECT");
  if (r.healed_ns > r.injected_ns && r.injected_ns > 0) {
    std::cout << ", held "
              << fw::FormatDuration(std::chrono::nanoseconds(r.healed_ns - r.injected_ns));
  }
  std::cout << '\n';
  for (const auto& e : r.evidence) std::cout << "  " << e << '\n';
}

int Inject(const std::string& kind, pid_t pid, const std::string& hold,
           const std::vector<std::string>& params, int port, const std::string& cgroup,
           uint64_t seed) {
  std::chrono::nanoseconds hold_ns{0};
  if (!hold.empty() && !fw::ParseDuration(hold, &hold_ns)) {
    PrintError("--for must be a duration such as \"5s\" or \"250ms\", not \"" + hold + "\"");
    return fw::kExitUsage;
  }
  auto doc = ParamsToToml(params);
  if (!doc.ok()) {
    PrintError(doc.error().Message());
    return fw::kExitUsage;
  }
  auto table = fw::ParseTomlString(*doc, "--param");
  if (!table.ok()) {
    PrintError(table.error().Message());
    return fw::kExitUsage;
  }
  auto diags = std::make_shared<fw::Diagnostics>();
  fw::TomlReader reader(*table, "--param", "the fault's parameters", diags);
  auto journal = faults::UndoJournal::Create();
  if (!journal.ok()) {
    PrintError(journal.error().Message());
    return fw::kExitEnvironment;
  }
  faults::FaultEnv env;
  env.seed = seed;
  env.journal = journal->get();
  auto fault = faults::CreateFault(kind, reader, env);
  if (!fault.ok()) {
    // Parameter problems are "--param:N:C: ..." lines already.
    const auto& e = fault.error();
    std::cerr << (e.code == std::errc::invalid_argument ? e.context
                                                        : "duende: error: " + e.Message())
              << '\n';
    return fw::kExitUsage;
  }
  if (::kill(pid, 0) != 0) {
    PrintError("no process with pid " + std::to_string(pid));
    return fw::kExitUsage;
  }
  faults::TargetRef target;
  target.name = "pid " + std::to_string(pid);
  target.pid = pid;
  target.pgid = ::getpgid(pid);
  target.cgroup = cgroup;
  target.fiu_fifo_prefix = FiuPrefixOf(pid);
  target.port = static_cast<uint16_t>(port);

  // SIGINT/SIGTERM end the hold early; the fault is healed either way.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  auto r = (*fault)->Inject(target);
  if (!r.ok()) {
    (void)(*fault)->Heal();
    PrintError("unable to inject " + kind + " into pid " + std::to_string(pid) + ": " +
               r.error().Message());
    return fw::kExitEnvironment;
  }
  if (hold_ns.count() > 0) {
    timespec ts{static_cast<time_t>(hold_ns.count() / 1000000000),
                static_cast<long>(hold_ns.count() % 1000000000)};
    while (sigtimedwait(&set, nullptr, &ts) < 0 && errno == EINTR) {
    }
  }
  auto healed = (*fault)->Heal();
  auto record = (*fault)->Record();
  PrintRecord(record);
  if (!healed.ok()) {
    PrintError("heal failed: " + healed.error().Message());
    return fw::kExitEnvironment;
  }
  return record.took_effect ? fw::kExitOk : fw::kExitFailed;
}

}  // namespace

int FaultMain(int argc, char** argv) {
  CLI::App app("Inject one fault by hand, or list the fault kinds.", "fault");
  app.require_subcommand(1);
  app.add_subcommand("list", "list the fault kinds and their parameters");
  auto* inject = app.add_subcommand("inject",
                                    "inject a fault into a running process, hold it, "
                                    "heal it");
  std::string kind, hold, cgroup;
  int pid = 0, port = 0;
  uint64_t seed = 0;
  std::vector<std::string> params;
  inject->add_option("kind", kind, "fault kind (see 'duende fault list')")->required();
  inject->add_option("--pid", pid, "the target process")->required()->check(CLI::PositiveNumber);
  inject->add_option("--for", hold, "how long to hold the fault before healing (e.g. 5s)");
  inject->add_option("--param", params, "a parameter of the kind, KEY=VALUE (repeatable)");
  inject->add_option("--port", port, "the target's TCP port (network faults)")
      ->check(CLI::Range(0, 65535));
  inject->add_option("--cgroup", cgroup, "the target's memory cgroup directory (oom)");
  inject->add_option("--seed", seed, "seed of random choices");
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  if (app.got_subcommand("list")) {
    PrintCatalogue();
    return fw::kExitOk;
  }
  // Leftovers of a killed earlier run first.
  (void)faults::HealLeftovers();
  return Inject(kind, static_cast<pid_t>(pid), hold, params, port, cgroup, seed);
}

}  // namespace duende::cli
