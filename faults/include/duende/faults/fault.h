// Fault: one kind of real fault, injected into a running target and healed.
//
// Each injector records whether the fault actually took effect (the process died, the cgroup's
// OOM counter moved, the hog's memory showed in /proc, a byte went through a toxic...), with
// evidence lines, because a fault that silently never fired is the commonest false pass of a
// chaos tool. docs/faults.md is the catalogue: parameters, what "took effect" means, blind spots.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "duende/faults/undo_journal.h"
#include "duende/framework/result.h"
#include "duende/framework/toml_reader.h"

namespace duende::faults {

class Proxy;
class NodeNetwork;

/// The process (and its surroundings) a fault acts on.
struct TargetRef {
  std::string name;
  pid_t pid = -1;
  pid_t pgid = -1;              ///< its process group (-1: unknown, use pid)
  std::string cgroup;           ///< its memory cgroup directory, or "" (faults then borrow one)
  std::string fiu_fifo_prefix;  ///< set when started under libfiu (see libfiu.h)
  uint16_t port = 0;            ///< its TCP port on 127.0.0.1 (network faults), 0 = none
  std::string clock_file = {};  ///< set when started under libfaketime (see launch.h)
};

/// What happened to one fault: times are MonotonicNs(), 0 when not (yet) done.
struct FaultRecord {
  std::string kind;
  int64_t injected_ns = 0;
  int64_t healed_ns = 0;
  bool took_effect = false;
  /// How many times the fault acted, where that is countable (libfiu faults with duende's
  /// shim: the calls it failed); -1 when not counted. When counted, took_effect is exact and
  /// the harness does not infer an effect from the target's reaction.
  int64_t effects = -1;
  std::vector<std::string> evidence;  ///< human lines: "pid 123 exited (SIGKILL) after 1.2ms"
};

/// One injected fault. Not thread-safe; the harness drives it from one thread.
class Fault {
 public:
  virtual ~Fault();
  /// Injects the fault into `target`. Errors: ESRCH when the target is gone, EPERM, ENOENT for
  /// a missing prerequisite (no libfiu FIFO, no cgroup), with a message saying what to change.
  virtual framework::Result<void> Inject(const TargetRef& target) = 0;
  /// Undoes the fault (idempotent; the destructor heals too). Errors are reported but every
  /// step is still attempted.
  virtual framework::Result<void> Heal() = 0;
  /// The record so far (took_effect may still turn true between Inject and Heal).
  virtual FaultRecord Record() const = 0;
};

/// One parameter of a fault kind, for `duende fault list` and the docs.
struct ParamInfo {
  std::string name, type, default_value, help;
};

struct FaultKindInfo {
  std::string kind, summary;
  std::vector<ParamInfo> params;
};

/// Every fault kind with its parameters.
const std::vector<FaultKindInfo>& Catalogue();

/// What a run gives its faults.
struct FaultEnv {
  /// The run's seed: random choices (random member, jitter, libfiu's FIU_PRNG_SEED) derive
  /// from it, so a replay makes the same choices.
  uint64_t seed = 0;
  /// Where everything created is journaled before it exists (nullptr: no crash safety).
  UndoJournal* journal = nullptr;
  /// A directory for scratch files ("" = ${TMPDIR:-/tmp}).
  std::string scratch_dir;
  /// Names the cgroups and files of this run ("" = this process's pid).
  std::string run_id;
  /// The proxy in front of a target (network faults), or nullptr: the fault then starts its
  /// own proxy on `listen_port`.
  std::function<Proxy*(const std::string& target)> find_proxy;
  /// The nodes of a cluster scenario (the `partition` fault cuts links between them), or
  /// nullptr when it has none.
  NodeNetwork* nodes = nullptr;
  /// Counter that makes names unique within the run (CreateFault increments it).
  uint32_t serial = 0;
};

/// Reads and checks the parameters of `kind` from `params` (keys a scenario's fault table shares
/// with every kind, such as at/duration/target, are accepted) and reports problems to the
/// reader's diagnostics as file:line:col messages, unknown keys with a did-you-mean. Matches
/// harness::FaultParamValidator.
void CheckFaultParams(const std::string& kind, framework::TomlReader& params);

/// Creates an injector (nothing is injected yet). Errors (invalid_argument): unknown kind
/// (with did-you-mean) or the parameters' diagnostics, one per line.
framework::Result<std::unique_ptr<Fault>> CreateFault(std::string_view kind,
                                                      framework::TomlReader& params, FaultEnv& env);

/// Parses an errno name ("ENOSPC", "enospc") or number; 0 when unknown.
int ParseErrnoName(std::string_view name);
/// "ENOSPC" for 28.
std::string ErrnoName(int err);

}  // namespace duende::faults
