// UndoJournal: an on-disk list of what a run created (cgroups, FIFOs, hogs, stopped processes,
// lowered limits, ...), written BEFORE each thing exists and marked done AFTER it is gone, so
// that a harness killed by SIGKILL leaves a recipe for undoing its traces. HealLeftovers()
// (run by `duende doctor` and at the start of every run) applies the recipes of journals whose
// run is over (their lock is free).
//
// A journal tells root what to kill, remove and write, so nothing in it is taken on faith
// (docs/security.md): the directory must be the caller's own with mode 0700, a journal file
// must be the caller's, every line carries a CRC-32 (a torn or altered line is skipped and
// reported, never half-executed), and each action is checked against duende's own roots
// before it runs (a cgroup named "duende-*" on a cgroup file system, a "duende-*" directory
// of ours, a pid together with its start time).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::faults {

/// One undoable thing. Types and their arguments:
///   process PID START            SIGKILL the process if it is still the same one
///   stopped PID START            SIGCONT it (a paused target)
///   cgroup V DIR...              kill the members, remove the directories (V = "v1"/"v2")
///   cgroup-borrow V N DIR... BACK...  move members back to the N BACK procs files, remove DIRs
///   write FILE OLDVALUE          write OLDVALUE back (a lowered cgroup limit)
///   clock-file FILE TEXT PID START  write TEXT back into a target's clock file as its uid,
///                                while PID (started at START) runs (control_files.h)
///   fifo-prefix PREFIX           unlink PREFIX-*.in / PREFIX-*.out (libfiu control FIFOs)
///   fiu-point PREFIX PID START NAME  disable the libfiu point if the process lives
///   faketime-shm PID             remove libfaketime's shared memory of PID once it is gone
///   dir PATH                     remove a scratch directory (its name starts with "duende-")
///   rlimit PID START RESOURCE SOFT HARD  restore a resource limit
///   file PATH [PID START]        unlink (PID START: for a PATH through /proc/PID/root)
///   mount PATH                   umount (lazy)
///   proxy ADDRESS                an in-process proxy: gone with its process (record only)
///   oci-container ID             `runc delete --force ID` (a container of a platform target;
///                                ID starts with "duende-")
///   netns NAME                   `ip netns delete NAME` (a node's namespace; "duende-*")
///   link NAME                    `ip link delete NAME` (a node's veth or the nodes' bridge;
///                                "dn" + 8 hex digits + an index or "b")
/// START is the process start time (field 22 of /proc/PID/stat), so a recycled pid is never hit;
/// an entry without one (0) is refused. For stopped-group it is the time of the pause (clock
/// ticks since boot): only members of the group that started before it are continued.
///   stopped-group PGID START     SIGCONT the group's members that started before START
struct UndoAction {
  std::string type;
  std::vector<std::string> args;

  /// "cgroup v1 /sys/fs/cgroup/memory/x" (for messages).
  std::string ToString() const;
};

/// Where journals live, one directory per user: $DUENDE_JOURNAL_DIR; else for root
/// /run/duende/journal (when /run is writable); else $XDG_RUNTIME_DIR/duende-journal; else
/// ${TMPDIR:-/tmp}/duende-<uid>/journal. Creates nothing.
std::string DefaultJournalDir();

/// The first line of every journal file (the format's version).
inline constexpr const char* kJournalHeader = "duende-journal 2";

/// One line of a journal file after the header.
struct JournalLine {
  enum class Kind {
    kOwner,  ///< "owner PID START": the run that wrote the journal
    kBegin,  ///< "+ ID TYPE ARGS...": an action about to be needed
    kDone,   ///< "- ID": that action is no longer needed
  };
  Kind kind = Kind::kBegin;
  uint64_t id = 0;      ///< kBegin, kDone (> 0)
  UndoAction action;    ///< kBegin
  pid_t owner_pid = 0;  ///< kOwner (> 0)
  uint64_t owner_start = 0;
};

/// The text of `line`: "CRC32<TAB>FIELD<TAB>FIELD...\n", the CRC-32 (8 hex digits) taken over
/// everything after the first tab; '%', tab and newline inside fields are %-escaped.
std::string FormatJournalLine(const JournalLine& line);

/// Parses one journal line (without its '\n'). Pure: any bytes are accepted (a fuzz
/// target's entry point). Errors (invalid_argument, with the reason): a missing or wrong
/// checksum (a torn or altered line), an unknown kind, missing fields, numbers that are not
/// whole decimal numbers in range, bad %-escapes, NUL bytes in a field.
framework::Result<JournalLine> ParseJournalLine(std::string_view line);

/// The journal of one run. Thread-safe.
class UndoJournal {
 public:
  /// Creates `dir` if needed (mode 0700) and a new journal file "<pid>-<start>-<n>.journal"
  /// owned by this process. Errors: the errno of mkdir/open; EPERM/ENOTDIR when `dir` is not
  /// a private directory of ours (CheckPrivateDir).
  static framework::Result<std::unique_ptr<UndoJournal>> Create(
      const std::string& dir = DefaultJournalDir());

  /// Removes the file when every entry is done (else keeps it for doctor).
  ~UndoJournal();
  UndoJournal(const UndoJournal&) = delete;
  UndoJournal& operator=(const UndoJournal&) = delete;

  /// Journals `action` and fsyncs it (call before the thing exists: a crash then leaves either
  /// no line, a torn line that heals skip, or the whole entry). Returns its id for Done().
  /// Errors: the write or fsync errno (the caller should then not create the thing).
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
  std::map<uint64_t, UndoAction> pending;
  pid_t owner = -1;  ///< -1: no owner line
  uint64_t owner_start = 0;
};

/// Parses a whole journal file (`file` names it in warnings). Pure: any bytes are accepted (a
/// fuzz target's entry point). nullopt, with the reason in `warnings`, when the first line is
/// not kJournalHeader; torn or corrupt lines are skipped with a warning each
/// ("FILE:7: skipped: checksum mismatch ..."): an entry is fsynced before its thing exists, so
/// a torn entry's thing was never made.
std::optional<JournalContents> ParseJournal(std::string_view text, const std::string& file,
                                            std::vector<std::string>* warnings);

/// Applies one undo action, after checking that it stays within duende's own roots: cgroups
/// named "duende-*" on a cgroup file system, files and directories inside a "duende-*"
/// directory of ours (reached without following symbolic links), mount points there, and
/// processes named by pid and start time. Already-gone things are success. Errors: a refusal
/// (EPERM, with why), or the errno of the undo itself.
framework::Result<void> Undo(const UndoAction& action);

/// What HealLeftovers found and did.
struct HealReport {
  int journals_seen = 0;
  int journals_healed = 0;           ///< journals of finished runs, applied and removed
  std::vector<std::string> actions;  ///< "undid cgroup v1 /sys/..." per action
  std::vector<std::string> errors;   ///< actions that failed or were refused (journal kept)
  /// Journals ignored (another user's file, wrong version) and lines skipped (torn or
  /// corrupt: "DIR/F.journal:7: skipped: checksum mismatch ..."); nothing of them ran.
  std::vector<std::string> warnings;
  /// The directory itself was refused (not ours, or not mode 0700): nothing was read;
  /// the reason is in `errors`.
  bool dir_refused = false;
};

/// Applies, newest entry first, the pending entries of every journal in `dir` whose run is
/// over (its lock is free), then deletes those journals. Journals of live runs are left
/// alone, and so is everything in a directory that is not private to the caller.
HealReport HealLeftovers(const std::string& dir = DefaultJournalDir());

/// Now, in clock ticks since boot (the unit of a process's start time): the START of a
/// "stopped-group" entry.
uint64_t StoppedGroupStamp();

/// Start time of a process (field 22 of /proc/PID/stat, clock ticks since boot), 0 if gone.
uint64_t ProcessStartTime(pid_t pid);
/// True when `pid` runs and started at `start` (not a recycled pid; zombies count as gone).
bool SameProcessAlive(pid_t pid, uint64_t start);

}  // namespace duende::faults
