// UndoJournal: an on-disk list of what a run created (cgroups, FIFOs, hogs, stopped processes,
// lowered limits, ...), written BEFORE each thing exists and marked done AFTER it is gone, so
// that a harness killed by SIGKILL leaves a recipe for undoing its traces. HealLeftovers()
// (run by `duende doctor` and at the start of every run) applies the recipes of journals whose
// owner process is dead.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::faults {

/// One undoable thing. Types and their arguments:
///   process PID START            SIGKILL the process if it is still the same one
///   stopped PID START            SIGCONT it (a paused target)
///   stopped-group PGID           SIGCONT the process group
///   cgroup V DIR...              kill the members, remove the directories (V = "v1"/"v2")
///   cgroup-borrow V N DIR... BACK...  move members back to the N BACK procs files, remove DIRs
///   write FILE OLDVALUE          write OLDVALUE back (a lowered cgroup limit)
///   fifo-prefix PREFIX           unlink PREFIX-*.in / PREFIX-*.out (libfiu control FIFOs)
///   fiu-point PREFIX PID START NAME  disable the libfiu point if the process lives
///   faketime-shm PID             remove libfaketime's shared memory of PID once it is gone
///   dir PATH                     remove a scratch directory (its name starts with "duende-")
///   rlimit PID START RESOURCE SOFT HARD  restore a resource limit
///   file PATH                    unlink
///   mount PATH                   umount (lazy)
///   proxy ADDRESS                an in-process proxy: gone with its process (record only)
/// START is the process start time (field 22 of /proc/PID/stat), so a recycled pid is never hit.
struct UndoAction {
  std::string type;
  std::vector<std::string> args;

  /// "cgroup v1 /sys/fs/cgroup/memory/x" (for messages).
  std::string ToString() const;
};

/// Where journals live: $DUENDE_JOURNAL_DIR, else /run/duende/journal when writable, else
/// ${TMPDIR:-/tmp}/duende-journal.
std::string DefaultJournalDir();

/// The journal of one run. Thread-safe.
class UndoJournal {
 public:
  /// Creates `dir` if needed and a new journal file "<pid>-<start>-<n>.journal" owned by this
  /// process. Errors: the errno of mkdir/open.
  static framework::Result<std::unique_ptr<UndoJournal>> Create(
      const std::string& dir = DefaultJournalDir());

  /// Removes the file when every entry is done (else keeps it for doctor).
  ~UndoJournal();
  UndoJournal(const UndoJournal&) = delete;
  UndoJournal& operator=(const UndoJournal&) = delete;

  /// Journals `action` (call before the thing exists). Returns its id for Done().
  /// Errors: the write errno (the caller should then not create the thing).
  framework::Result<uint64_t> Begin(const UndoAction& action);
  /// Marks an entry as undone (call after the thing is gone). Unknown ids are ignored.
  void Done(uint64_t id);
  /// Entries begun and not done, oldest first.
  std::vector<UndoAction> Pending() const;
  const std::string& path() const { return path_; }

 private:
  UndoJournal() = default;
  mutable std::mutex mu_;
  framework::UniqueFd fd_;
  std::string path_;
  uint64_t next_id_ = 1;
  std::vector<std::pair<uint64_t, UndoAction>> pending_;
};

/// A journal file's text, read back: its owner and the entries begun and not done, by id.
struct JournalContents {
  pid_t owner = -1;  ///< -1: no owner line
  uint64_t owner_start = 0;
  std::map<uint64_t, UndoAction> pending;
};

/// Parses a journal's text. Lines it does not understand, and entries without a type, are
/// skipped: a journal is read after a crash, and whatever is legible is worth undoing.
JournalContents ParseJournal(std::string_view text);

/// Applies one undo action. Already-gone things are success.
framework::Result<void> Undo(const UndoAction& action);

/// What HealLeftovers found and did.
struct HealReport {
  int journals_seen = 0;
  int journals_healed = 0;           ///< journals of dead owners, applied and removed
  std::vector<std::string> actions;  ///< "undid cgroup v1 /sys/..." per action
  std::vector<std::string> errors;   ///< actions that failed (their journal is kept)
};

/// Applies, newest entry first, the pending entries of every journal in `dir` whose owner is
/// dead, then deletes those journals. Journals of live owners are left alone.
HealReport HealLeftovers(const std::string& dir = DefaultJournalDir());

/// Start time of a process (field 22 of /proc/PID/stat, clock ticks since boot), 0 if gone.
uint64_t ProcessStartTime(pid_t pid);
/// True when `pid` runs and started at `start` (not a recycled pid; zombies count as gone).
bool SameProcessAlive(pid_t pid, uint64_t start);

}  // namespace duende::faults
