// The verbs of `duende`. Each lives in its own <verb>_command.cc and is listed in main.cc.
#pragma once

namespace duende::cli {

/// A verb's entry point: argv[0] is the verb's name ("run", "supervise", ...). Returns the
/// process exit code (framework/exit_code.h, the README's table: 0 ok, 1 failed, 2 usage,
/// 3 environment, 130 interrupted).
using VerbMain = int (*)(int argc, char** argv);

struct Verb {
  const char* name;
  const char* summary;
  VerbMain main;
};

// Scenario verbs: validate_command.cc, check_command.cc, run_command.cc.
int ValidateMain(int argc, char** argv);
int CheckMain(int argc, char** argv);
int RunMain(int argc, char** argv);

// Linearizability of a history file on its own: check_history_command.cc.
int CheckHistoryMain(int argc, char** argv);

// Reporting verbs: report_command.cc, gate_command.cc.
int ReportMain(int argc, char** argv);
/// `duende report merge ...` (report_merge_command.cc), dispatched from ReportMain.
int ReportMergeMain(int argc, char** argv);
int GateMain(int argc, char** argv);

// Property-based chaos: explore_command.cc.
int ExploreMain(int argc, char** argv);

// Mutation testing: mutate_command.cc, linked only into the duende-mutate program
// (mutate_main.cc), which `duende mutate` executes (helper_program.h).
int MutateMain(int argc, char** argv);

// Process supervision: supervise_command.cc, ctl_command.cc. SuperviseMain is
// linked only into the duende-supervise program (supervise_main.cc), which `duende supervise`
// executes (helper_program.h).
int SuperviseMain(int argc, char** argv);
int CtlMain(int argc, char** argv);

// Live view of a supervisor or a scenario run: top_command.cc (top_view.cc renders).
int TopMain(int argc, char** argv);

// Platform adapters: adapter_command.cc.
int AdapterMain(int argc, char** argv);

// Benchmarks of a user's daemon: bench_command.cc.
int BenchMain(int argc, char** argv);

// Fault verbs: fault_command.cc, doctor_command.cc.
int FaultMain(int argc, char** argv);
int DoctorMain(int argc, char** argv);

}  // namespace duende::cli
