#include "duende/faults/libfiu.h"

#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "duende/faults/control_files.h"
#include "duende/framework/clock.h"
#include "duende/framework/install_location.h"
#include "duende/framework/read_limits.h"
#include "preload.h"

namespace duende::faults {
namespace {

using framework::ErrnoError;
using framework::Result;

// The points of /usr/lib/fiu/fiu_posix_preload.so (libfiu 1.1), as `strings` lists them.
const char* const kPoints[] = {
    "libc/mm/calloc",
    "libc/mm/malloc",
    "libc/mm/realloc",
    "libc/str/strdup",
    "libc/str/strndup",
    "posix/io/dir/closedir",
    "posix/io/dir/fdopendir",
    "posix/io/dir/opendir",
    "posix/io/dir/readdir",
    "posix/io/dir/readdir_r",
    "posix/io/dir/rename",
    "posix/io/dir/unlink",
    "posix/io/net/accept",
    "posix/io/net/bind",
    "posix/io/net/connect",
    "posix/io/net/listen",
    "posix/io/net/poll",
    "posix/io/net/pselect",
    "posix/io/net/recv",
    "posix/io/net/recvfrom",
    "posix/io/net/recvmsg",
    "posix/io/net/select",
    "posix/io/net/send",
    "posix/io/net/sendmsg",
    "posix/io/net/sendto",
    "posix/io/net/shutdown",
    "posix/io/net/socket",
    "posix/io/oc/close",
    "posix/io/oc/open",
    "posix/io/rw/ftruncate",
    "posix/io/rw/pread",
    "posix/io/rw/pread/reduce",
    "posix/io/rw/preadv",
    "posix/io/rw/preadv/reduce",
    "posix/io/rw/pwrite",
    "posix/io/rw/pwrite/reduce",
    "posix/io/rw/pwritev",
    "posix/io/rw/pwritev/reduce",
    "posix/io/rw/read",
    "posix/io/rw/read/reduce",
    "posix/io/rw/readv",
    "posix/io/rw/readv/reduce",
    "posix/io/rw/truncate",
    "posix/io/rw/write",
    "posix/io/rw/write/reduce",
    "posix/io/rw/writev",
    "posix/io/rw/writev/reduce",
    "posix/io/sync/fdatasync",
    "posix/io/sync/fsync",
    "posix/mm/madvise",
    "posix/mm/mlock",
    "posix/mm/mlockall",
    "posix/mm/mmap",
    "posix/mm/mprotect",
    "posix/mm/msync",
    "posix/mm/munlock",
    "posix/mm/munlockall",
    "posix/mm/munmap",
    "posix/proc/fork",
    "posix/proc/kill",
    "posix/proc/sigaction",
    "posix/proc/signal",
    "posix/proc/wait",
    "posix/proc/waitid",
    "posix/proc/waitpid",
    "posix/stdio/error/ferror",
    "posix/stdio/fflush",
    "posix/stdio/ftrylockfile",
    "posix/stdio/gp/fgetc",
    "posix/stdio/gp/fgets",
    "posix/stdio/gp/fputc",
    "posix/stdio/gp/fputs",
    "posix/stdio/gp/getc",
    "posix/stdio/gp/getchar",
    "posix/stdio/gp/getdelim",
    "posix/stdio/gp/getline",
    "posix/stdio/gp/gets",
    "posix/stdio/gp/putc",
    "posix/stdio/gp/putchar",
    "posix/stdio/gp/puts",
    "posix/stdio/gp/ungetc",
    "posix/stdio/oc/fclose",
    "posix/stdio/oc/fdopen",
    "posix/stdio/oc/fmemopen",
    "posix/stdio/oc/fopen",
    "posix/stdio/oc/freopen",
    "posix/stdio/oc/open_memstream",
    "posix/stdio/oc/pclose",
    "posix/stdio/oc/popen",
    "posix/stdio/remove",
    "posix/stdio/rw/fread",
    "posix/stdio/rw/fwrite",
    "posix/stdio/seek/fgetpos",
    "posix/stdio/seek/fseek",
    "posix/stdio/seek/fseeko",
    "posix/stdio/seek/fsetpos",
    "posix/stdio/seek/ftell",
    "posix/stdio/seek/ftello",
    "posix/stdio/setvbuf",
    "posix/stdio/sp/dprintf",
    "posix/stdio/sp/fprintf",
    "posix/stdio/sp/fscanf",
    "posix/stdio/sp/printf",
    "posix/stdio/sp/scanf",
    "posix/stdio/sp/vdprintf",
    "posix/stdio/sp/vfprintf",
    "posix/stdio/sp/vfscanf",
    "posix/stdio/sp/vprintf",
    "posix/stdio/sp/vscanf",
    "posix/stdio/tmp/tempnam",
    "posix/stdio/tmp/tmpfile",
    "posix/stdio/tmp/tmpnam",
};

}  // namespace

bool FiuAvailable() {
  return ::access(kFiuRunPreload, R_OK) == 0 && ::access(kFiuPosixPreload, R_OK) == 0;
}

Result<void> PrepareFiuSpawn(framework::SpawnOptions& options, const std::string& fifo_prefix,
                             uint64_t seed, UndoJournal* journal) {
  if (!FiuAvailable()) {
    return ErrnoError(
        std::string("libfiu is not installed (") + kFiuRunPreload + "; Debian package fiu-utils)",
        ENOENT);
  }
  if (journal != nullptr) DUENDE_TRY(journal->Begin({"fifo-prefix", {fifo_prefix}}));
  // The shim goes first: it interposes libfiu's fiu_fail and fiu_rc_string.
  std::vector<std::string> libs = {kFiuRunPreload, kFiuPosixPreload};
  if (std::string shim = FiuShimPath(); !shim.empty()) libs.insert(libs.begin(), shim);
  internal::AddPreload(options, libs, /*front=*/true);
  options.env_overrides.push_back("FIU_CTRL_FIFO=" + fifo_prefix);
  // libfiu reads the seed as an unsigned int.
  options.env_overrides.push_back("FIU_PRNG_SEED=" + std::to_string(seed % 4294967296ULL));
  return {};
}

std::string FiuShimPath() {
  if (const char* env = std::getenv("DUENDE_FIU_SHIM"); env != nullptr && *env != '\0') {
    return ::access(env, R_OK) == 0 ? env : "";
  }
  return framework::FindRuntimeFile(framework::RuntimeDir::kLibrary, "libduende-fiu-shim.so", R_OK);
}

namespace {

// Writes one command line to PREFIX-PID.in and returns the reply line from PREFIX-PID.out.
Result<std::string> Exchange(const std::string& fifo_prefix, pid_t pid, const std::string& command,
                             int timeout_ms) {
  int64_t deadline = framework::MonotonicNs() + int64_t{timeout_ms} * 1000000;
  // The FIFOs are the target's (libfiu in it makes them): opened as its uid, and only when
  // they are FIFOs of that uid, reached through no symbolic link (control_files.h). They are
  // named after the pid it sees for itself (in a container's pid namespace, not the host's).
  auto cred = ReadProcessCred(pid);
  if (!cred.ok()) return cred.error();
  std::string base = fifo_prefix + "-" + std::to_string(cred->own_pid > 0 ? cred->own_pid : pid);
  std::string in_path = base + ".in", out_path = base + ".out";
  // Open the reply end first (non-blocking, so it never waits for a writer).
  auto out = OpenControlFile(out_path, ControlFileType::kFifo, *cred, O_RDONLY);
  if (!out.ok()) {
    if (out.error().code == std::errc::no_such_file_or_directory) {
      return ErrnoError(
          "no libfiu control FIFO " + out_path + " (was the target started under libfiu?)", ENOENT);
    }
    return out.error();
  }
  framework::UniqueFd in;
  while (true) {
    // Non-blocking open for writing fails with ENXIO until libfiu's thread opens it for reading.
    auto w = OpenControlFile(in_path, ControlFileType::kFifo, *cred, O_WRONLY);
    if (w.ok()) {
      in = std::move(*w);
      break;
    }
    if (w.error().code.value() != ENXIO) return w.error();
    if (framework::MonotonicNs() > deadline) {
      return ErrnoError("libfiu control FIFO " + in_path + " has no reader", ETIMEDOUT);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string line = command + "\n";
  if (::write(in.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return ErrnoError("unable to write to " + in_path);
  }
  in.Reset();  // EOF tells libfiu the command is complete
  std::string reply;
  while (true) {
    int64_t left_ms = (deadline - framework::MonotonicNs()) / 1000000;
    if (left_ms <= 0) {
      return ErrnoError("no reply from libfiu on " + out_path + " to '" + command + "'", ETIMEDOUT);
    }
    pollfd p{out->get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left_ms));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[64];
    ssize_t n = ::read(out->get(), buf, sizeof buf);
    if (n > 0) {
      reply.append(buf, static_cast<size_t>(n));
      if (reply.find('\n') != std::string::npos) break;
      continue;
    }
    if (n == 0) {
      if (!reply.empty()) break;
      // The writer has not opened yet (or opened and closed nothing): wait a little.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (errno != EAGAIN) return ErrnoError("unable to read " + out_path);
  }
  // libfiu's control thread answers, reads EOF on PREFIX-PID.in, closes that end, then closes
  // its end of PREFIX-PID.out and reopens both. A next command that opened .in for writing
  // before that close would land in a pipe about to be discarded, and its reply would never
  // come. So wait (bounded) until libfiu has let go of .out: the hang-up on our reading end.
  while (true) {
    int64_t left_ms = (deadline - framework::MonotonicNs()) / 1000000;
    if (left_ms <= 0) break;  // the reply is in hand; a late hang-up only delays the next one
    pollfd p{out->get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left_ms));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || (p.revents & (POLLHUP | POLLERR)) != 0) break;
    char buf[64];
    if (::read(out->get(), buf, sizeof buf) <= 0) break;  // EOF: libfiu closed .out
  }
  return reply.substr(0, reply.find('\n'));
}

}  // namespace

Result<void> FiuCommand(const std::string& fifo_prefix, pid_t pid, const std::string& command,
                        int timeout_ms) {
  auto reply = Exchange(fifo_prefix, pid, command, timeout_ms);
  if (!reply.ok()) return reply.error();
  if (std::atoi(reply->c_str()) != 0) {
    return framework::MessageError("libfiu refused '" + command + "' (reply " + *reply + ")");
  }
  return {};
}

Result<int> FiuQuery(const std::string& fifo_prefix, pid_t pid, const std::string& command,
                     int timeout_ms) {
  auto reply = Exchange(fifo_prefix, pid, command, timeout_ms);
  if (!reply.ok()) return reply.error();
  int n = std::atoi(reply->c_str());
  if (n < 0) {
    return framework::MessageError("'" + command + "' was refused (reply " + *reply +
                                   "): is duende's libfiu shim loaded in pid " +
                                   std::to_string(pid) + "?");
  }
  return n;
}

std::vector<FiuFiring> ReadFiuFirings(const std::string& fifo_prefix, pid_t pid,
                                      const ProcessCred* as) {
  std::vector<FiuFiring> out;
  // The log is the target's file: read only when it is a regular file of the target's uid (a
  // FIFO or a device named there could stall or feed us), at most 1 MiB (10,000 lines).
  ProcessCred who = as != nullptr ? *as : OwnCred();
  if (as == nullptr) {
    if (auto c = ReadProcessCred(pid); c.ok()) who = *c;
  }
  const pid_t named = who.own_pid > 0 ? who.own_pid : pid;
  auto fd = OpenControlFile(fifo_prefix + "-" + std::to_string(named) + ".fired",
                            ControlFileType::kRegular, who, O_RDONLY);
  if (!fd.ok()) return out;
  std::string text;
  char buf[65536];
  constexpr size_t kMaxLog = size_t{1} << 20;
  while (text.size() < kMaxLog) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::istringstream in(text);
  std::string line;
  // Written inside the target: bounded in line length and in count (a record is ~100 bytes).
  constexpr size_t kMaxFirings = 1'000'000;
  while (out.size() < kMaxFirings && framework::GetLineLimited(in, &line, 512)) {
    std::istringstream fields(line);
    FiuFiring f;
    if (fields >> f.ts_ns >> f.pid >> f.tid >> f.point >> f.call >> f.err) out.push_back(f);
  }
  return out;
}

int RemoveFiuFifos(const std::string& fifo_prefix) {
  int n = 0;
  for (const char* suffix : {"-*.in", "-*.out", "-*.fired"}) {
    glob_t g{};
    std::string pattern = fifo_prefix + suffix;
    if (::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        if (::unlink(g.gl_pathv[i]) == 0) ++n;
      }
    }
    ::globfree(&g);
  }
  return n;
}

const std::vector<std::string>& FiuPointNames() {
  static const std::vector<std::string> kNames(std::begin(kPoints), std::end(kPoints));
  return kNames;
}

std::vector<std::string> MatchFiuPoints(std::string_view pattern) {
  std::vector<std::string> out;
  bool wildcard = !pattern.empty() && pattern.back() == '*';
  std::string_view stem = wildcard ? pattern.substr(0, pattern.size() - 1) : pattern;
  for (const auto& n : FiuPointNames()) {
    if (wildcard ? n.rfind(stem, 0) == 0 : n == pattern) out.push_back(n);
  }
  return out;
}

}  // namespace duende::faults
