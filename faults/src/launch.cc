#include "duende/faults/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "duende/faults/undo_journal.h"
#include "duende/framework/unique_fd.h"
#include "preload.h"
#include "proc_util.h"

namespace duende::faults {

framework::Result<void> PreparePrivateTmpfs(framework::SpawnOptions& options,
                                            const std::string& data_dir, uint64_t size_bytes) {
  if (data_dir.empty() || data_dir[0] != '/') {
    return framework::MessageError("the data directory must be an absolute path, not '" + data_dir +
                                   "'");
  }
  auto unshare = framework::FindExecutable("unshare");
  if (!unshare.ok()) {
    return framework::ErrnoError("unable to find unshare (Debian package util-linux)", ENOENT);
  }
  std::vector<std::string> argv = {
      *unshare,
      "-m",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      "mkdir -p \"$0\" && mount -t tmpfs -o size=" + std::to_string(size_bytes) +
          " duende-tmpfs \"$0\" && "
          "exec \"$@\"",
      data_dir};
  argv.insert(argv.end(), options.argv.begin(), options.argv.end());
  options.argv = std::move(argv);
  return {};
}

framework::Result<void> CreateClockFile(const std::string& clock_file) {
  framework::UniqueFd fd(
      ::open(clock_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return framework::ErrnoError("unable to create clock file " + clock_file);
  if (::write(fd.get(), "+0\n", 3) != 3) {
    return framework::ErrnoError("unable to write clock file " + clock_file);
  }
  return {};
}

bool FaketimeAvailable() { return ::access(kFaketimeLibrary, R_OK) == 0; }

framework::Result<void> PrepareFaketimeSpawn(framework::SpawnOptions& options,
                                             const std::string& clock_file, UndoJournal* journal) {
  if (!FaketimeAvailable()) {
    return framework::ErrnoError(std::string("libfaketime is not installed (") + kFaketimeLibrary +
                                     "; Debian package libfaketime)",
                                 ENOENT);
  }
  if (journal != nullptr) DUENDE_TRY(journal->Begin({"file", {clock_file}}));
  DUENDE_TRY(CreateClockFile(clock_file));
  internal::AddPreload(options, {kFaketimeLibrary}, /*front=*/false);
  options.env_overrides.push_back("FAKETIME_TIMESTAMP_FILE=" + clock_file);
  options.env_overrides.push_back("FAKETIME_CACHE_DURATION=1");
  options.env_overrides.push_back("FAKETIME_DONT_FAKE_MONOTONIC=1");
  return {};
}

bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return errno == ESRCH;
  // A zombie (killed, not yet reaped by its new parent) has already left its memory behind.
  return internal::ProcessState(pid) == 'Z';
}

int RemoveFaketimeShm(pid_t pid) {
  if (pid <= 0 || !ProcessGone(pid)) return 0;
  int n = 0;
  for (const char* name : {"/dev/shm/faketime_shm_", "/dev/shm/sem.faketime_sem_"}) {
    if (::unlink((name + std::to_string(pid)).c_str()) == 0) ++n;
  }
  return n;
}

}  // namespace duende::faults
