// The shared part of every injector and the per-kind factories (not public).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "duende/faults/fault.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/clock.h"

namespace duende::faults::internal {

/// Keeps the record and the journal ids of one fault.
class FaultBase : public Fault {
 public:
  FaultBase(std::string kind, FaultEnv& env);
  FaultRecord Record() const override { return record_; }

 protected:
  /// Journals `a` before the thing exists; returns 0 when there is no journal.
  framework::Result<uint64_t> Journal(const UndoAction& a);
  void JournalDone(uint64_t& id);
  void Evidence(std::string line) { record_.evidence.push_back(std::move(line)); }
  void MarkInjected() { record_.injected_ns = framework::MonotonicNs(); }
  void MarkHealed() {
    if (record_.healed_ns == 0) record_.healed_ns = framework::MonotonicNs();
  }
  /// A name unique in the run: "duende-<run>-<kind>-<serial>".
  std::string UniqueName() const;

  mutable FaultRecord record_;
  UndoJournal* journal_;
  uint64_t seed_;
  std::string run_id_;
  std::string scratch_dir_;
  uint32_t serial_;
};

/// A group created for the target (oom, cpu quota) when it has none of its own: the target's
/// processes are moved in and, on Release(), moved back; the group is then removed.
class BorrowedCgroup {
 public:
  /// Creates `name` with one controller ("memory", "pids" or "cpu") and moves every process of the
  /// target's group (or the pid alone) into it, journaled first.
  static framework::Result<std::unique_ptr<BorrowedCgroup>> Create(const std::string& name,
                                                                   const std::string& controller,
                                                                   pid_t pid, pid_t pgid,
                                                                   UndoJournal* journal);
  ~BorrowedCgroup();
  framework::Cgroup& group() { return group_; }
  /// Moves members back and removes the group. Idempotent.
  framework::Result<void> Release();

 private:
  BorrowedCgroup(framework::Cgroup g, std::string back)
      : group_(std::move(g)), back_(std::move(back)) {}
  framework::Cgroup group_;
  std::string back_;  // the original group's procs file
  UndoJournal* journal_ = nullptr;
  uint64_t journal_id_ = 0;
  bool released_ = false;
};

/// Common scenario keys that every fault table may carry (read by the harness).
void AcceptCommonKeys(framework::TomlReader& r);

// One factory per kind: reads the parameters (reporting problems to r's diagnostics) and,
// when `env` is non-null and there were no problems, creates the injector.
using Factory = std::unique_ptr<Fault> (*)(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeKill(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakePause(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeCrash(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeFds(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeOom(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeMemory(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeCpu(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakePids(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeSyscall(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeDisk(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakePartition(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeNetwork(framework::TomlReader& r, FaultEnv* env);
std::unique_ptr<Fault> MakeClock(framework::TomlReader& r, FaultEnv* env);

/// Fork a child that runs `body` (raw syscalls only: the parent may have threads), dies with
/// the parent (PR_SET_PDEATHSIG), first joins the cgroup through `procs_fds` (written "0"),
/// and keeps no descriptor but `keep_fds` (not the procs files once joined, not the undo
/// journal: its lock marks the run alive); its stdin, stdout and stderr are /dev/null. Returns its
/// pid. Errors: the fork errno.
framework::Result<pid_t> ForkHelper(const std::vector<int>& procs_fds, void (*body)(void*),
                                    void* arg, const std::vector<int>& keep_fds = {});

}  // namespace duende::faults::internal
