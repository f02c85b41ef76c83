// duende doctor: heals what killed runs left behind (from their undo journals: cgroups, hogs,
// libfiu FIFOs, stopped targets, lowered limits) and reports what this machine supports.
// Exit 0 when nothing is left, 1 when an undo failed or was refused (the journal is kept), 3
// when the journal directory is refused (not the caller's, or not mode 0700). Journals of
// other users and torn or corrupt lines are skipped with a warning.
#include <unistd.h>

#include <iostream>
#include <string>

#include "cli_util.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/exit_code.h"
#include "helper_program.h"
#include "verbs.h"

namespace duende::cli {

int DoctorMain(int argc, char** argv) {
  CLI::App app(
      "Heal what killed duende runs left behind, and report what this machine "
      "supports.",
      "doctor");
  std::string dir = faults::DefaultJournalDir();
  app.add_option("--journal-dir", dir, "where run journals live")->capture_default_str();
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;

  auto v = framework::DetectCgroupVersion();
  std::cout << "cgroups: "
            << (v == framework::CgroupVersion::kV2   ? "v2"
                : v == framework::CgroupVersion::kV1 ? "v1"
                                                     : "none");
  if (auto mem = framework::CgroupDirOf(::getpid(), "memory"); mem.ok()) {
    std::cout << " (memory controller at " << *mem
              << (::access(mem->c_str(), W_OK) == 0 ? ", writable" : ", NOT writable") << ")";
  }
  std::cout << '\n';
  std::cout << "libfiu: "
            << (faults::FiuAvailable() ? std::string("present (") + faults::kFiuPosixPreload + ")"
                                       : "missing (install fiu-utils)")
            << '\n';
  std::cout << "libfaketime: "
            << (faults::FaketimeAvailable()
                    ? std::string("present (") + faults::kFaketimeLibrary + ")"
                    : "missing (install libfaketime; needed by clock faults)")
            << '\n';
  // The mutate program owns its work dirs (and links LLVM, which this verb must not map).
  if (auto rc = RunHelperProgram("duende-mutate", {"--remove-stale-work-dirs"}); !rc.ok()) {
    PrintWarning("stale duende mutate work dirs not checked: " + rc.error().Message());
  } else if (*rc != framework::kExitOk) {
    PrintWarning("duende-mutate --remove-stale-work-dirs exited " + std::to_string(*rc));
  }
  std::cout << "journals: " << dir << '\n';
  auto report = faults::HealLeftovers(dir);
  if (report.dir_refused) {
    for (const auto& e : report.errors) PrintError(e);
    return framework::kExitEnvironment;
  }
  for (const auto& a : report.actions) std::cout << "  " << a << '\n';
  for (const auto& w : report.warnings) PrintWarning(w);
  for (const auto& e : report.errors) PrintError("could not undo " + e);
  std::cout << "leftovers: " << report.journals_healed << " journal(s) of dead runs healed, "
            << report.actions.size() << " action(s), " << report.errors.size() << " error(s), "
            << report.warnings.size() << " warning(s); "
            << (report.journals_seen - report.journals_healed) << " journal(s) kept\n";
  return report.errors.empty() ? framework::kExitOk : framework::kExitFailed;
}

}  // namespace duende::cli
