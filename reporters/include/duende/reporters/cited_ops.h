// CitedOps: the operations a check's evidence cites, read back from its text so that any
// report (a fresh run, a re-check, a merged JSON report) can draw them on the run's timeline.
//
// Two spellings are recognised, the ones the checks write:
//   model checks (counter, set, register, kv, queue):
//     "client 2 incr k0 +1 +1.20s..+1.21s (ok)", several per line
//   the linearizable check's violation table (times from the run's start):
//     "  * 1       +1.20s      never       write 3 info"
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "duende/model/model.h"

namespace duende::reporters {

struct CitedOp {
  uint64_t client = 0;
  std::string op;                    ///< what it did: "incr k0 +1", "write 3"
  std::string outcome;               ///< "ok", "ok, read '5'", "indeterminate", "info", "fail", ...
  double invoke_s = 0;               ///< seconds from the run's start
  std::optional<double> complete_s;  ///< nullopt: never completed
  bool stuck = false;                ///< linearizable: marked '*' (cannot take effect next)
  size_t evidence_line = 0;          ///< index into CheckResult::evidence
  std::string text;                  ///< the citation as written
};

/// The operations cited by `check`'s evidence, in order of appearance, each once (the same
/// operation cited twice keeps its first citation; a '*' on any citation marks it stuck).
std::vector<CitedOp> CitedOps(const model::CheckResult& check);

}  // namespace duende::reporters
