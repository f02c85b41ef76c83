// duende fault list | duende fault inject KIND --pid P [--for 5s] [--param k=v ...]
//                  | duende fault exec [--seed N] [--clock] -- PROGRAM [ARGS...]
// Manual use of the fault injectors (faults/): list the catalogue, inject one fault into a
// running process, hold it, heal it, and print what happened (exit 0 when the fault took
// effect, 1 when it did not, 2 for bad parameters, 3 when it could not be injected); or run a
// program under libfiu with duende's firing shim so that syscall and disk faults can be
// injected into it (exit: the program's status, 128+N when killed by signal N; 3 when it
// could not be started).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "duende/faults/control_files.h"
#include "duende/faults/fault.h"
#include "duende/faults/launch.h"
#include "duende/faults/libfiu.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/clock.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/temp_dir.h"
#include "verbs.h"

namespace duende::cli {
namespace {

namespace fw = framework;

// One table for the whole catalogue: each column as wide as its widest cell plus two spaces, so
// that no value runs into the next column however long a default is.
void PrintCatalogue() {
  constexpr size_t kGap = 2;
  const auto& catalogue = faults::Catalogue();
  size_t kind_w = 0;
  std::array<size_t, 3> w = {std::string_view("PARAMETER").size(), std::string_view("TYPE").size(),
                             std::string_view("DEFAULT").size()};
  for (const auto& k : catalogue) {
    kind_w = std::max(kind_w, k.kind.size());
    for (const auto& p : k.params) {
      w[0] = std::max(w[0], p.name.size());
      w[1] = std::max(w[1], p.type.size());
      w[2] = std::max(w[2], p.default_value.empty() ? size_t{1} : p.default_value.size());
    }
  }
  auto row = [&](const std::string& a, const std::string& b, const std::string& c,
                 const std::string& d) {
    std::cout << "    " << std::left << std::setw(static_cast<int>(w[0] + kGap)) << a
              << std::setw(static_cast<int>(w[1] + kGap)) << b
              << std::setw(static_cast<int>(w[2] + kGap)) << c << d << '\n';
  };
  bool first = true;
  for (const auto& k : catalogue) {
    if (!first) std::cout << '\n';
    first = false;
    std::cout << std::left << std::setw(static_cast<int>(kind_w + kGap)) << k.kind << k.summary
              << '\n';
    if (k.params.empty()) continue;
    row("PARAMETER", "TYPE", "DEFAULT", "MEANING");
    for (const auto& p : k.params) {
      row(p.name, p.type, p.default_value.empty() ? "-" : p.default_value, p.help);
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

// The value of `name` in the environment the process started with ("" when unset).
std::string EnvOf(pid_t pid, const std::string& name) {
  auto env = fw::ReadSmallFile("/proc/" + std::to_string(pid) + "/environ");
  if (!env.ok()) return "";
  std::istringstream in(*env);
  std::string entry;
  while (std::getline(in, entry, '\0')) {
    if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
        entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return "";
}

// The control files of a process: from duende's own record when `duende fault exec` started
// this very process (pid and start time), else from the process's environment. Those paths are
// the target's word: the faults open them only as the target's uid and only when they are its
// own FIFOs and files reached through no symbolic link (faults/control_files.h), so naming a
// file of root's there gets a refusal, not a write.
faults::ControlRecord ControlFilesOf(pid_t pid, bool* from_record) {
  if (auto r = faults::FindControlFiles(pid)) {
    *from_record = true;
    return *r;
  }
  *from_record = false;
  faults::ControlRecord r;
  r.fiu_prefix = EnvOf(pid, "FIU_CTRL_FIFO");
  if (EnvOf(pid, "LD_PRELOAD").find("libfaketime") != std::string::npos) {
    r.clock_file = EnvOf(pid, "FAKETIME_TIMESTAMP_FILE");
  }
  return r;
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
  if (!hold.empty() && !ParseDurationFlag("--for", hold, &hold_ns)) return fw::kExitUsage;
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
  bool from_record = false;
  auto files = ControlFilesOf(pid, &from_record);
  target.fiu_fifo_prefix = files.fiu_prefix;
  target.clock_file = files.clock_file;
  if (!from_record && !(files.fiu_prefix.empty() && files.clock_file.empty())) {
    auto cred = faults::ReadProcessCred(pid);
    std::cerr << "duende: pid " << pid
              << " was not started by duende here: its control files come from its environment "
                 "and are used only as its uid"
              << (cred.ok() ? " " + std::to_string(cred->uid) : std::string()) << ", after checks"
              << std::endl;
  }
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

// Runs `argv` under libfiu (and the shim), and under libfaketime with `clock`, as a child;
// forwards SIGINT/SIGTERM/SIGHUP to it; removes its control FIFOs, firing log, clock file and
// libfaketime's shared memory when it is gone.
int Exec(const std::vector<std::string>& argv, uint64_t seed, bool clock) {
  if (!faults::FiuAvailable()) {
    PrintError(std::string("libfiu is not installed (") + faults::kFiuRunPreload +
               "); install the Debian package fiu-utils");
    return fw::kExitEnvironment;
  }
  // Control files in a directory of our own (mkdtemp, 0700): no name in a shared /tmp that
  // another user could plant first.
  auto dir = framework::MakePrivateTempDir("duende-exec");
  if (!dir.ok()) {
    PrintError(dir.error().Message());
    return fw::kExitEnvironment;
  }
  const std::string prefix = *dir + "/fiu";
  fw::SpawnOptions o;
  o.argv = argv;
  o.new_process_group = false;  // stays in the terminal's group: Ctrl-C reaches it too
  const std::string clock_file = *dir + "/clock";
  auto cleanup = [&](pid_t pid) {
    faults::RemoveFiuFifos(prefix);
    if (clock) {
      ::unlink(clock_file.c_str());
      if (pid > 0) faults::RemoveFaketimeShm(pid);
    }
    ::rmdir(dir->c_str());
  };
  if (auto r = faults::PrepareFiuSpawn(o, prefix, seed, nullptr); !r.ok()) {
    PrintError(r.error().Message());
    cleanup(-1);
    return fw::kExitEnvironment;
  }
  if (clock) {
    if (auto r = faults::PrepareFaketimeSpawn(o, clock_file, nullptr); !r.ok()) {
      PrintError(r.error().Message() + "; install the Debian package libfaketime");
      cleanup(-1);
      return fw::kExitEnvironment;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  fw::UniqueFd sfd(::signalfd(-1, &set, SFD_CLOEXEC));
  auto child = fw::Spawn(o);
  if (!child.ok()) {
    PrintError(child.error().Message());
    cleanup(-1);
    return fw::kExitEnvironment;
  }
  // `duende fault inject --pid` takes this process's control files from this record (keyed by
  // pid and start time), not from the process's environment.
  auto record = faults::RecordControlFiles(child->pid, {prefix, clock ? clock_file : ""});
  if (!record.ok()) {
    std::cerr << "duende: warning: " << record.error().Message()
              << " (fault inject will take its control files from its environment)" << std::endl;
  }
  std::string shim = faults::FiuShimPath();
  std::cerr << "duende: " << argv[0] << " runs as pid " << child->pid << " under libfiu"
            << (shim.empty() ? " (no firing shim found: firing will not be observable)"
                             : " with duende's firing shim")
            << "; control FIFO " << prefix << "-" << child->pid << ".in\n"
            << "duende: inject with: duende fault inject syscall --pid " << child->pid
            << " --param point=posix/io/rw/write --param errno=ENOSPC --for 5s" << std::endl;
  if (clock) {
    std::cerr << "duende: its wall clock follows " << clock_file
              << "; move it with: duende fault inject clock --pid " << child->pid
              << " --param offset=-1h --for 10s" << std::endl;
  }
  std::optional<fw::ExitStatus> status;
  while (!status) {
    pollfd fds[2] = {{child->pidfd.get(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if ((fds[1].revents & POLLIN) != 0) {
      signalfd_siginfo si{};
      if (::read(sfd.get(), &si, sizeof si) == sizeof si) {
        (void)fw::SignalPidfd(child->pidfd.get(), static_cast<int>(si.ssi_signo));
      }
    }
    if ((fds[0].revents & POLLIN) != 0) {
      auto st = fw::WaitExit(child->pidfd.get());
      if (!st.ok()) break;
      status = *st;
    }
  }
  if (record.ok()) faults::ForgetControlFiles(*record);
  cleanup(child->pid);
  if (!status) return fw::kExitEnvironment;
  std::cerr << "duende: pid " << child->pid << " " << status->ToString() << std::endl;
  return status->signaled ? 128 + status->signal : status->code;
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
  AddSeedOption(*inject, &seed, "the fault's random choices");
  auto* exec = app.add_subcommand(
      "exec",
      "run a program under libfiu with duende's firing shim, so that syscall and disk faults "
      "can be injected into it (duende fault exec -- kvd --port 7000)");
  std::vector<std::string> command;
  uint64_t exec_seed = 0;
  AddSeedOption(*exec, &exec_seed, "libfiu's probability faults (FIU_PRNG_SEED)");
  bool exec_clock = false;
  exec->add_flag("--clock", exec_clock,
                 "also run it under libfaketime, so that clock faults can move its wall clock");
  exec->add_option("command", command, "the program and its arguments (after --)")->required();
  if (argc >= 2 && argv[1][0] != '-') {
    const std::vector<std::string> verbs = {"list", "inject", "exec"};
    if (std::find(verbs.begin(), verbs.end(), argv[1]) == verbs.end()) {
      std::string near = fw::DidYouMean(argv[1], verbs);
      PrintError(std::string("unknown subcommand '") + argv[1] + "'" +
                 (near.empty() ? "" : "; did you mean '" + near + "'?") +
                 " (duende fault list | inject | exec)");
      return fw::kExitUsage;
    }
  }
  if (int rc = ParseArgs(app, argc, argv); rc >= 0) return rc;
  if (app.got_subcommand("list")) {
    PrintCatalogue();
    return fw::kExitOk;
  }
  if (app.got_subcommand("exec")) return Exec(command, exec_seed, exec_clock);
  // Leftovers of a killed earlier run first.
  (void)faults::HealLeftovers();
  return Inject(kind, static_cast<pid_t>(pid), hold, params, port, cgroup, seed);
}

}  // namespace duende::cli
