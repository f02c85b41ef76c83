// The catalogue, parameter checking and the factory; FaultBase and the helpers every injector
// shares.
#include "duende/faults/fault.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "fault_base.h"
#include "proc_util.h"

namespace duende::faults {

using framework::Result;
using framework::TomlReader;

Fault::~Fault() = default;

namespace {

struct ErrnoEntry {
  const char* name;
  int value;
};

#define DUENDE_E(x) \
  { #x, x }
const ErrnoEntry kErrnos[] = {
    DUENDE_E(EPERM),        DUENDE_E(ENOENT),        DUENDE_E(ESRCH),        DUENDE_E(EINTR),
    DUENDE_E(EIO),          DUENDE_E(ENXIO),         DUENDE_E(E2BIG),        DUENDE_E(ENOEXEC),
    DUENDE_E(EBADF),        DUENDE_E(ECHILD),        DUENDE_E(EAGAIN),       DUENDE_E(ENOMEM),
    DUENDE_E(EACCES),       DUENDE_E(EFAULT),        DUENDE_E(EBUSY),        DUENDE_E(EEXIST),
    DUENDE_E(EXDEV),        DUENDE_E(ENODEV),        DUENDE_E(ENOTDIR),      DUENDE_E(EISDIR),
    DUENDE_E(EINVAL),       DUENDE_E(ENFILE),        DUENDE_E(EMFILE),       DUENDE_E(ENOTTY),
    DUENDE_E(ETXTBSY),      DUENDE_E(EFBIG),         DUENDE_E(ENOSPC),       DUENDE_E(ESPIPE),
    DUENDE_E(EROFS),        DUENDE_E(EMLINK),        DUENDE_E(EPIPE),        DUENDE_E(EDOM),
    DUENDE_E(ERANGE),       DUENDE_E(EDEADLK),       DUENDE_E(ENAMETOOLONG), DUENDE_E(ENOLCK),
    DUENDE_E(ENOSYS),       DUENDE_E(ENOTEMPTY),     DUENDE_E(ELOOP),        DUENDE_E(ENODATA),
    DUENDE_E(ETIME),        DUENDE_E(EPROTO),        DUENDE_E(EOVERFLOW),    DUENDE_E(EILSEQ),
    DUENDE_E(ENOTSOCK),     DUENDE_E(EMSGSIZE),      DUENDE_E(ENOPROTOOPT),  DUENDE_E(EOPNOTSUPP),
    DUENDE_E(EADDRINUSE),   DUENDE_E(EADDRNOTAVAIL), DUENDE_E(ENETDOWN),     DUENDE_E(ENETUNREACH),
    DUENDE_E(ENETRESET),    DUENDE_E(ECONNABORTED),  DUENDE_E(ECONNRESET),   DUENDE_E(ENOBUFS),
    DUENDE_E(EISCONN),      DUENDE_E(ENOTCONN),      DUENDE_E(ETIMEDOUT),    DUENDE_E(ECONNREFUSED),
    DUENDE_E(EHOSTUNREACH), DUENDE_E(EALREADY),      DUENDE_E(EINPROGRESS),  DUENDE_E(EDQUOT),
    DUENDE_E(ECANCELED),
};
#undef DUENDE_E

struct KindEntry {
  const char* kind;
  internal::Factory factory;
};

const KindEntry kFactories[] = {
    {"cpu", internal::MakeCpu},
    {"crash", internal::MakeCrash},
    {"disk", internal::MakeDisk},
    {"fds", internal::MakeFds},
    {"kill", internal::MakeKill},
    {"memory", internal::MakeMemory},
    {"network", internal::MakeNetwork},
    {"oom", internal::MakeOom},
    {"pause", internal::MakePause},
    {"pids", internal::MakePids},
    {"syscall", internal::MakeSyscall},
    {"clock", internal::MakeClock},
    {"partition", internal::MakePartition},
};

internal::Factory FindFactory(std::string_view kind) {
  for (const auto& k : kFactories) {
    if (kind == k.kind) return k.factory;
  }
  return nullptr;
}

std::vector<std::string> KindNames() {
  std::vector<std::string> out;
  for (const auto& k : kFactories) out.emplace_back(k.kind);
  return out;
}

}  // namespace

int ParseErrnoName(std::string_view name) {
  if (name.empty()) return 0;
  if (std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c) != 0; })) {
    int v = std::atoi(std::string(name).c_str());
    return v > 0 && v < 4096 ? v : 0;
  }
  std::string up(name);
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "EWOULDBLOCK") return EAGAIN;
  for (const auto& e : kErrnos) {
    if (up == e.name) return e.value;
  }
  return 0;
}

std::string ErrnoName(int err) {
  for (const auto& e : kErrnos) {
    if (e.value == err) return e.name;
  }
  return "errno " + std::to_string(err);
}

const std::vector<FaultKindInfo>& Catalogue() {
  static const std::vector<FaultKindInfo> kCatalogue = {
      {"cpu",
       "CPU starvation: burner processes, or a CFS quota squeeze on the target",
       {{"mode", "string", "burn",
         "burn: busy processes beside the target; quota: move the "
         "target into a cgroup with a CPU quota"},
        {"threads", "int", "number of CPUs", "burner processes (mode burn)"},
        {"quota", "float", "0.1", "CPUs the target may use (mode quota), 0.01..64"}}},
      {"crash",
       "a crash signal to the target's main process",
       {{"signal", "string", "SIGSEGV", "SIGSEGV, SIGABRT or SIGBUS"},
        {"wait", "duration", "1s", "how long to wait for the exit before calling it no effect"}}},
      {"disk",
       "disk errors: ENOSPC/EIO on writes (libfiu), or a full filesystem",
       {{"mode", "string", "enospc",
         "enospc, eio (libfiu on write points) or full (fill the "
         "private tmpfs over `path`)"},
        {"path", "string", "", "the data directory (mode full)"},
        {"points", "string array", "write, pwrite, writev, pwritev",
         "libfiu points failed by enospc/eio"}}},
      {"fds",
       "descriptor exhaustion: RLIMIT_NOFILE lowered (prlimit) to the target's current use",
       {{"limit", "int", "current use", "the soft limit to set"}}},
      {"kill",
       "a signal to the target (main process, whole group, or a random member)",
       {{"signal", "string", "SIGKILL", "any signal: name (SIGTERM, TERM) or number"},
        {"scope", "string", "main", "main, group or random (a member of the process group)"},
        {"expect_exit", "bool", "true for signals that terminate",
         "took effect only when the victim exits"},
        {"wait", "duration", "1s", "how long to wait for the exit"}}},
      {"memory",
       "memory pressure: a hog process allocating and touching `size` bytes in its own cgroup",
       {{"size", "bytes", "(required)", "bytes to allocate and touch, e.g. \"512MiB\""},
        {"mlock", "bool", "false", "lock the pages (no swap, no reclaim)"},
        {"max_fraction", "float", "0.5", "refuse sizes above this share of MemAvailable"}}},
      {"partition",
       "cuts links between [[node]]s (blackhole routes in their network namespaces); the "
       "harness still reaches every node",
       {{"mode", "string", "halves",
         "isolate, halves, majority-minority, bridge or ring (Jepsen's nemeses)"},
        {"node", "string", "random", "mode isolate: the node cut off from all others"},
        {"groups", "list of lists", "",
         "explicit groups instead of a mode: nodes in different groups are cut"}}},
      {"network",
       "a toxic on the TCP proxy in front of the target's port",
       {{"toxic", "string", "latency",
         "latency, bandwidth, slicer, blackhole, reset, down, or partition (= down: the proxy "
         "in front of one target stops forwarding; to cut links between [[node]]s use the "
         "partition kind)"},
        {"direction", "string", "both", "upstream (client->target), downstream or both"},
        {"latency", "duration", "100ms", "added delay per chunk (toxic latency)"},
        {"jitter", "duration", "0ms", "plus a random 0..jitter"},
        {"rate", "bytes", "64KiB", "bytes per second (toxic bandwidth)"},
        {"slice", "int", "64", "bytes per slice (toxic slicer)"},
        {"slice_delay", "duration", "1ms", "delay between slices"},
        {"listen_port", "int", "0",
         "port of the proxy the fault starts when the runner has "
         "none (0: any free port)"}}},
      {"oom",
       "a real kernel OOM kill: the target's memory cgroup limit lowered to its usage",
       {{"limit", "bytes", "current usage", "the limit to set"},
        {"slack", "bytes", "0", "added to the usage when no limit is given"}}},
      {"pause",
       "SIGSTOP the target until healed, then SIGCONT",
       {{"scope", "string", "group", "main or group"}}},
      {"pids",
       "task exhaustion: the target's pids cgroup limit lowered to its task count (its next "
       "fork, clone or thread creation fails with EAGAIN)",
       {{"limit", "int", "current task count", "the pids.max to set"},
        {"slack", "int", "0", "tasks allowed beyond the current count when no limit is given"}}},
      {"syscall",
       "libfiu failure point enabled at run time (target started under libfiu)",
       {{"point", "string", "(required)",
         "libfiu point or prefix wildcard: posix/io/rw/write, "
         "posix/io/*"},
        {"errno", "string", "EIO", "errno name (ENOSPC) or number"},
        {"probability", "float", "1.0", "chance per call (0 < p <= 1), seeded by the run"},
        {"onetime", "bool", "false", "fail once, then disable"},
        {"nth", "int", "(every call)",
         "fail exactly the Nth call counted from injection (needs duende's libfiu shim)"}}},
      {"clock",
       "the target's wall clock stepped and/or sped up through libfaketime (target started "
       "under libfaketime)",
       {{"offset", "string", "+0", "step of CLOCK_REALTIME: +1h, -30s, +2d, -90m"},
        {"speed", "float", "1.0", "rate of CLOCK_REALTIME from injection (0.01..100)"}}},
  };
  return kCatalogue;
}

void CheckFaultParams(const std::string& kind, TomlReader& params) {
  internal::AcceptCommonKeys(params);
  if (auto f = FindFactory(kind)) (void)f(params, nullptr);
}

Result<std::unique_ptr<Fault>> CreateFault(std::string_view kind, TomlReader& params,
                                           FaultEnv& env) {
  auto f = FindFactory(kind);
  if (f == nullptr) {
    std::string msg = "unknown fault kind '" + std::string(kind) + "'";
    std::string near = framework::DidYouMean(kind, KindNames());
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    msg += " (see 'duende fault list')";
    return framework::MessageError(msg);
  }
  internal::AcceptCommonKeys(params);
  ++env.serial;
  auto fault = f(params, &env);
  params.Finish();
  if (!params.diagnostics()->empty()) return params.diagnostics()->ToError();
  if (!fault)
    return framework::MessageError("invalid parameters for fault '" + std::string(kind) + "'");
  return fault;
}

namespace internal {

void AcceptCommonKeys(TomlReader& r) {
  for (const char* k : {"name", "kind", "target", "at", "duration", "repeat", "every", "node"}) {
    r.Accept(k);
  }
}

FaultBase::FaultBase(std::string kind, FaultEnv& env)
    : journal_(env.journal),
      seed_(env.seed),
      run_id_(env.run_id.empty() ? std::to_string(::getpid()) : env.run_id),
      scratch_dir_(env.scratch_dir.empty() ? TempDir() : env.scratch_dir),
      serial_(env.serial) {
  record_.kind = std::move(kind);
}

Result<uint64_t> FaultBase::Journal(const UndoAction& a) {
  if (journal_ == nullptr) return uint64_t{0};
  return journal_->Begin(a);
}

void FaultBase::JournalDone(uint64_t& id) {
  if (journal_ != nullptr && id != 0) journal_->Done(id);
  id = 0;
}

std::string FaultBase::UniqueName() const {
  return "duende-" + run_id_ + "-" + record_.kind + "-" + std::to_string(serial_);
}

Result<std::unique_ptr<BorrowedCgroup>> BorrowedCgroup::Create(const std::string& name,
                                                               const std::string& controller,
                                                               pid_t pid, pid_t pgid,
                                                               UndoJournal* journal) {
  auto original = framework::CgroupDirOf(pid, controller);
  if (!original.ok()) return original.error();
  framework::CgroupControllers which{controller == "memory", controller == "pids",
                                     controller == "cpu"};
  // Journal first with the directory the group will have (v2 may put it under an ancestor).
  auto planned = framework::Cgroup::PlannedDir(name, controller, which);
  if (!planned.ok()) return planned.error();
  framework::CgroupVersion v = framework::DetectCgroupVersion();
  uint64_t id = 0;
  if (journal != nullptr) {
    auto j = journal->Begin({"cgroup-borrow",
                             {v == framework::CgroupVersion::kV2 ? "v2" : "v1", "1", *planned,
                              *original + "/cgroup.procs"}});
    if (!j.ok()) return j.error();
    id = *j;
  }
  auto g = framework::Cgroup::Create(name, which);
  if (!g.ok()) {
    if (journal != nullptr) journal->Done(id);
    return g.error();
  }
  std::unique_ptr<BorrowedCgroup> b(new BorrowedCgroup(std::move(*g), *original + "/cgroup.procs"));
  b->journal_ = journal;
  b->journal_id_ = id;
  if (controller == "memory") (void)b->group_.MoveChargeOnJoin();
  std::vector<pid_t> members = pgid > 0 ? GroupMembers(pgid) : std::vector<pid_t>{};
  if (std::find(members.begin(), members.end(), pid) == members.end()) members.push_back(pid);
  for (pid_t m : members) {
    auto r = b->group_.AddProcess(m);
    if (!r.ok() && m == pid) {
      (void)b->Release();
      return r.error();
    }
  }
  return b;
}

BorrowedCgroup::~BorrowedCgroup() { (void)Release(); }

Result<void> BorrowedCgroup::Release() {
  if (released_) return {};
  released_ = true;
  // Move the target's processes back; never kill them: they are not ours.
  auto members = group_.Members();
  if (members.ok()) {
    for (pid_t m : *members) (void)framework::WriteSmallFile(back_, std::to_string(m));
  }
  Result<void> r;
  for (const auto& d : group_.Dirs()) {
    for (int i = 0; i < 200; ++i) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      if (errno != EBUSY) {
        r = framework::ErrnoError("unable to remove cgroup " + d);
        break;
      }
      ::usleep(5000);
    }
  }
  if (r.ok() && journal_ != nullptr) journal_->Done(journal_id_);
  return r;
}

Result<pid_t> ForkHelper(const std::vector<int>& procs_fds, void (*body)(void*), void* arg,
                         const std::vector<int>& keep_fds) {
  // The child says on this pipe that it has closed what it must not hold, so that when we
  // return no helper still holds the run's journal lock (a helper forked just before the
  // harness is SIGKILLed may not have run yet; the heal that follows would take the run for
  // alive and skip it).
  int closed_pipe[2];
  if (::pipe2(closed_pipe, O_CLOEXEC) != 0) return framework::ErrnoError("unable to create a pipe");
  framework::UniqueFd closed_read(closed_pipe[0]), closed_write(closed_pipe[1]);
  // Its stdin, stdout and stderr: /dev/null, never the harness's (a supervisor's output pipe
  // held open by a hog would keep that supervisor from ever seeing EOF).
  framework::UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) return framework::ErrnoError("unable to open /dev/null");
  const int null_fd = devnull.get();
  // What the child keeps, sorted before the fork (no allocation after it).
  std::vector<int> keep = procs_fds;
  keep.push_back(null_fd);
  keep.insert(keep.end(), keep_fds.begin(), keep_fds.end());
  keep.push_back(closed_write.get());
  std::sort(keep.begin(), keep.end());
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return framework::ErrnoError("unable to fork");
  if (pid == 0) {
    // Only raw system calls from here: another thread of the parent may hold a lock.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Every other descriptor goes: a helper that outlives its harness for a moment (dying of
    // PDEATHSIG) must not hold the run's undo journal, whose lock says "this run is alive".
    unsigned lo = 3;
    for (int fd : keep) {
      if (fd < 0 || static_cast<unsigned>(fd) < lo) continue;
      if (static_cast<unsigned>(fd) > lo) ::syscall(SYS_close_range, lo, fd - 1, 0U);
      lo = static_cast<unsigned>(fd) + 1;
    }
    ::syscall(SYS_close_range, lo, ~0U, 0U);
    if (::write(closed_pipe[1], "c", 1) != 1) ::_exit(125);
    ::close(closed_pipe[1]);
    for (int fd : procs_fds) {
      if (::write(fd, "0", 1) != 1) ::_exit(126);
      ::close(fd);
    }
    for (int std_fd = 0; std_fd < 3; ++std_fd) ::dup2(null_fd, std_fd);
    if (null_fd > 2) ::close(null_fd);
    body(arg);
    ::_exit(0);
  }
  closed_write.Reset();
  char c;
  ssize_t n;
  do {
    n = ::read(closed_read.get(), &c, 1);  // 0: the child exited before (it holds nothing)
  } while (n < 0 && errno == EINTR);
  return pid;
}

}  // namespace internal
}  // namespace duende::faults
