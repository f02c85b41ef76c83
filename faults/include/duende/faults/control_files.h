// Control files: the files through which duende drives a target from outside (libfiu's control
// FIFOs and the shim's firing log, libfaketime's clock file, a disk filler).
//
// duende runs as root next to processes other users control, so a path a target names (in its
// environment, its cwd, under /proc/PID/root) must never become a path root writes. Every
// control file is therefore opened through this header: no component of the path may be a
// symbolic link, the file must be of the expected type, owned by the target's uid and not
// hard-linked, and the open, create or rename runs with the target's uid, gid and groups (a
// forked helper that drops to them) whenever those differ from ours. A target can then make
// duende do nothing it could not do itself. docs/security.md states the whole trust model.
//
// The control files of a process duende starts (`duende fault exec`) live in a private mkdtemp
// directory (framework::MakePrivateTempDir) and are recorded in duende's own state, keyed by pid
// and start time (RecordControlFiles), so that `duende fault inject --pid` takes them from there,
// not from the target.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"

namespace duende::faults {

/// Who a process acts as: its effective uid and gid and its supplementary groups.
struct ProcessCred {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  /// The pid the process has in its own pid namespace (NSpid's last entry; a container's
  /// daemon is pid 2 or so there), which names the files it makes for itself (libfiu's
  /// PREFIX-PID FIFOs). 0: unknown, the host pid then.
  pid_t own_pid = 0;
};

/// Reads the credentials of `pid` from /proc/PID/status (effective ids, own_pid). Errors:
/// ENOENT when the process is gone.
framework::Result<ProcessCred> ReadProcessCred(pid_t pid);

/// Our own credentials (geteuid, getegid, getgroups).
ProcessCred OwnCred();

enum class ControlFileType { kFifo, kRegular };

/// Opens the control file `path` of a target that runs as `as`: refused unless no component
/// of the path is a symbolic link (openat2 RESOLVE_NO_SYMLINKS), the file is of `type`, owned
/// by `as.uid` and has one link. The open runs as `as` (a forked helper that drops to its uid,
/// gid and groups and hands the descriptor back) when `as` is not us. The checks are made on
/// an O_PATH descriptor, which is then reopened: the file opened is the file checked. `flags`
/// are open(2) access flags (O_RDONLY, O_WRONLY); O_CLOEXEC, O_NOCTTY and O_NONBLOCK are
/// added, O_CREAT and O_TRUNC are refused. Errors: the open's errno (ENOENT, ENXIO for a FIFO
/// without a reader, ELOOP for a symbolic link, EACCES when the target's uid may not open
/// it), EPERM for a wrong owner or a hard link, EINVAL for a wrong type; each message says why.
framework::Result<framework::UniqueFd> OpenControlFile(const std::string& path,
                                                       ControlFileType type, const ProcessCred& as,
                                                       int flags);

/// Replaces the regular file `path` with `content` atomically, as `as`: the old file is checked
/// as OpenControlFile does; a new file is created beside it with O_CREAT|O_EXCL|O_NOFOLLOW and
/// the old file's mode, written and renamed over it. Errors as OpenControlFile, and the write
/// or rename errno.
framework::Result<void> ReplaceControlFile(const std::string& path, const std::string& content,
                                           const ProcessCred& as);

/// Creates a new file `name` (no '/') in the directory `dir_path` as `as`, with
/// O_CREAT|O_EXCL|O_NOFOLLOW and mode 0600, and returns it open for writing. The directory is
/// resolved with RESOLVE_IN_ROOT below `root` when `root` is not empty (a target's
/// /proc/PID/root: its symbolic links resolve inside its own root, never to ours), else
/// with no symbolic link allowed. Also returns the directory (O_PATH) for the unlink at heal.
struct CreatedFile {
  framework::UniqueFd file;
  framework::UniqueFd dir;
};
framework::Result<CreatedFile> CreateControlFile(const std::string& root,
                                                 const std::string& dir_path,
                                                 const std::string& name, const ProcessCred& as);

/// Removes `name` from the directory `dir_fd` (an O_PATH descriptor from CreateControlFile) as
/// `as`. ENOENT is not an error.
framework::Result<void> RemoveControlFile(int dir_fd, const std::string& name,
                                          const ProcessCred& as);

/// What duende recorded about a process it started.
struct ControlRecord {
  std::string fiu_prefix;  ///< "" when not under libfiu
  std::string clock_file;  ///< "" when not under libfaketime
};

/// Where the records live: $DUENDE_STATE_DIR/targets, else /run/duende/targets (root), else
/// ${TMPDIR:-/tmp}/duende-UID/targets. Created 0700; refused unless a directory of ours that
/// nobody else can write.
framework::Result<std::string> ControlRecordDir();

/// Records the control files of `pid` (keyed by pid and start time; written aside and renamed
/// into place). Returns the record's path (remove it with ForgetControlFiles).
framework::Result<std::string> RecordControlFiles(pid_t pid, const ControlRecord& record);

/// The record of `pid` when we made one for this very process (same start time), nullopt
/// otherwise. Records not owned by us are ignored.
std::optional<ControlRecord> FindControlFiles(pid_t pid);

/// Removes a record made by RecordControlFiles.
void ForgetControlFiles(const std::string& record_path);

}  // namespace duende::faults
