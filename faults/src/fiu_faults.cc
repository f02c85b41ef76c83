// syscall (libfiu failure points at run time) and disk (ENOSPC/EIO on writes through libfiu,
// or a full private tmpfs over the target's data directory).
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "duende/faults/control_files.h"
#include "duende/faults/libfiu.h"
#include "fault_base.h"
#include "proc_util.h"

namespace duende::faults::internal {
namespace {

using framework::ErrnoError;
using framework::Result;
using framework::TomlReader;

struct FiuSpec {
  std::vector<std::string> points;
  int err = EIO;
  double probability = 1.0;
  bool onetime = false;
  uint64_t nth = 0;  // fail exactly the Nth call (needs the shim); 0 = every call
};

// Enables libfiu failure points in a target started under libfiu (faults::PrepareFiuSpawn),
// and proves they fired with duende's shim (faults/shim/fiu_shim.c): its counters say how many
// calls each point saw and failed, its log which calls failed with which errno, when.
class SyscallFault : public FaultBase {
 public:
  SyscallFault(std::string kind, FaultEnv& env, FiuSpec spec)
      : FaultBase(std::move(kind), env), spec_(std::move(spec)) {}
  ~SyscallFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    if (t.fiu_fifo_prefix.empty()) {
      return ErrnoError(t.name +
                            " was not started under libfiu (set fiu = true on the target, "
                            "or start it with faults::PrepareFiuSpawn)",
                        ENOENT);
    }
    prefix_ = t.fiu_fifo_prefix;
    pid_ = t.pid;
    start_ = ProcessStartTime(pid_);
    auto cred = ReadProcessCred(pid_);
    if (!cred.ok()) return cred.error();
    cred_ = *cred;
    MarkInjected();
    for (const auto& point : spec_.points) {
      auto j =
          Journal({"fiu-point", {prefix_, std::to_string(pid_), std::to_string(start_), point}});
      if (!j.ok()) return j.error();
      auto r = FiuCommand(prefix_, pid_, EnableCommand(point));
      if (!r.ok()) {
        uint64_t id = *j;
        JournalDone(id);
        if (spec_.nth > 0) {
          return framework::MessageError(
              "nth = " + std::to_string(spec_.nth) + " needs duende's libfiu shim in " + t.name +
              " (libduende-fiu-shim.so, preloaded by faults::PrepareFiuSpawn; set "
              "DUENDE_FIU_SHIM if it is installed elsewhere): " +
              r.error().Message());
        }
        return r.error();
      }
      enabled_.push_back({point, *j});
      Evidence("libfiu enabled " + point + " with " + ErrnoName(spec_.err) +
               (spec_.probability < 1.0 ? " p=" + std::to_string(spec_.probability) : "") +
               (spec_.onetime ? " once" : "") +
               (spec_.nth > 0 ? " on call " + std::to_string(spec_.nth) : "") + " in pid " +
               std::to_string(pid_));
    }
    // The shim answers duende_calls; without it libfiu refuses the command.
    shim_ = FiuQuery(prefix_, pid_, "duende_calls name=" + spec_.points.front()).ok();
    if (!shim_) {
      Evidence(
          "firing is not observable: duende's libfiu shim is not loaded in the target "
          "(libduende-fiu-shim.so); check the target's reaction (an error answer, a log line)");
    }
    return {};
  }

  Result<void> Heal() override {
    if (enabled_.empty()) return {};
    Result<void> out;
    bool alive = SameProcessAlive(pid_, start_);
    if (alive && shim_) Count();
    for (auto& [point, id] : enabled_) {
      if (alive) {
        auto r = FiuCommand(prefix_, pid_, "disable name=" + point);
        // A onetime point disables itself: libfiu then answers -1 to disable.
        if (!r.ok() && r.error().code != std::errc::invalid_argument) out = r;
      }
      if (journal_ != nullptr && id != 0) journal_->Done(id);
    }
    if (shim_) Summarize(alive);
    Evidence(std::string("libfiu points disabled") + (alive ? "" : " (target gone)"));
    enabled_.clear();
    MarkHealed();
    return out;
  }

  FaultRecord Record() const override {
    // Between injection and heal, the first failure the shim counts turns took_effect on.
    auto* self = const_cast<SyscallFault*>(this);
    if (shim_ && !record_.took_effect && !enabled_.empty() && record_.healed_ns == 0 &&
        SameProcessAlive(pid_, start_)) {
      self->Count();
      uint64_t fired = 0;
      for (const auto& c : counts_) fired += c.fired;
      if (fired > 0) {
        record_.took_effect = true;
        record_.effects = static_cast<int64_t>(fired);
      }
    }
    return record_;
  }

 private:
  struct PointCount {
    std::string point;
    uint64_t calls = 0, fired = 0;
  };

  std::string EnableCommand(const std::string& point) const {
    std::string info = ",failinfo=" + std::to_string(spec_.err);
    if (spec_.nth > 0) {
      return "duende_nth name=" + point + ",nth=" + std::to_string(spec_.nth) + info;
    }
    std::string cmd = spec_.probability < 1.0 ? "enable_random" : "enable";
    cmd += " name=" + point + ",failnum=1" + info;
    if (spec_.probability < 1.0) {
      char p[32];
      std::snprintf(p, sizeof p, "%.6f", spec_.probability);
      cmd += std::string(",probability=") + p;
    }
    if (spec_.onetime) cmd += ",onetime";
    return cmd;
  }

  // Asks the shim how many calls each enabled point saw and failed since it was enabled.
  void Count() {
    counts_.clear();
    for (const auto& [point, id] : enabled_) {
      auto calls = FiuQuery(prefix_, pid_, "duende_calls name=" + point);
      auto fired = FiuQuery(prefix_, pid_, "duende_fired name=" + point);
      if (!calls.ok() || !fired.ok()) continue;
      counts_.push_back({point, static_cast<uint64_t>(*calls), static_cast<uint64_t>(*fired)});
    }
  }

  // Turns the counters and the shim's log into the record: which calls failed, and whether
  // a point was enabled but never fired (never even called: a blind spot).
  void Summarize(bool alive) {
    std::vector<FiuFiring> log;
    for (auto& f : ReadFiuFirings(prefix_, pid_, &cred_)) {
      if (f.ts_ns >= record_.injected_ns) log.push_back(std::move(f));
    }
    uint64_t fired_total = 0;
    if (alive) {
      for (const auto& c : counts_) {
        fired_total += c.fired;
        if (c.calls == 0) {
          Evidence(c.point +
                   " was enabled but NEVER CALLED: the target does not reach it through a call "
                   "libfiu wraps (openat, the stat family, FORTIFY __*_chk calls, "
                   "copy_file_range and static binaries are blind spots; docs/faults.md)");
        } else if (c.fired == 0) {
          Evidence(c.point + " was enabled but NEVER FIRED: " + std::to_string(c.calls) +
                   " call(s), none failed");
        } else {
          Evidence(c.point + ": " + std::to_string(c.fired) + " of " + std::to_string(c.calls) +
                   " call(s) failed");
        }
      }
    } else {
      fired_total = log.size();  // the process is gone; its log is what is left
    }
    constexpr size_t kShown = 3;
    for (size_t i = 0; i < log.size() && i < kShown; ++i) {
      const auto& f = log[i];
      char at[32];
      std::snprintf(at, sizeof at, "%.1f",
                    static_cast<double>(f.ts_ns - record_.injected_ns) / 1e6);
      Evidence("call " + std::to_string(f.call) + " of " + f.point + " failed with " +
               ErrnoName(f.err) + " at +" + at + " ms (pid " + std::to_string(f.pid) + ", tid " +
               std::to_string(f.tid) + ")");
    }
    if (log.size() > kShown) {
      Evidence("... and " + std::to_string(log.size() - kShown) + " more failed call(s) logged");
    }
    record_.took_effect = fired_total > 0 || !log.empty();
    record_.effects = static_cast<int64_t>(std::max<uint64_t>(fired_total, log.size()));
  }

  FiuSpec spec_;
  std::string prefix_;
  pid_t pid_ = -1;
  uint64_t start_ = 0;
  ProcessCred cred_;
  bool shim_ = false;
  std::vector<std::pair<std::string, uint64_t>> enabled_;
  std::vector<PointCount> counts_;
};

// Fills the private tmpfs over the target's data directory through /proc/PID/root.
class DiskFullFault : public FaultBase {
 public:
  DiskFullFault(FaultEnv& env, std::string path) : FaultBase("disk", env), path_(std::move(path)) {}
  ~DiskFullFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    std::string root = "/proc/" + std::to_string(t.pid) + "/root";
    char self_ns[64] = {}, its_ns[64] = {};
    (void)!::readlink("/proc/self/ns/mnt", self_ns, sizeof self_ns - 1);
    if (::readlink(("/proc/" + std::to_string(t.pid) + "/ns/mnt").c_str(), its_ns,
                   sizeof its_ns - 1) < 0) {
      return ErrnoError("unable to read the mount namespace of " + t.name);
    }
    auto mountinfo = framework::ReadSmallFile("/proc/" + std::to_string(t.pid) + "/mountinfo");
    bool tmpfs = mountinfo.ok() && mountinfo->find(" " + path_ + " ") != std::string::npos &&
                 mountinfo->find(" - tmpfs ") != std::string::npos;
    if (std::string(self_ns) == its_ns || !tmpfs) {
      return ErrnoError("mode full needs " + t.name + " started with a private tmpfs over " +
                            path_ + " (a scenario target: [target.data_tmpfs] path = \"" + path_ +
                            "\"; a program: faults::PreparePrivateTmpfs)",
                        ENOTSUP);
    }
    // The directory is the target's: resolved inside its own root (its symbolic links cannot
    // lead to ours), the filler created there as its uid with O_EXCL|O_NOFOLLOW.
    auto cred = ReadProcessCred(t.pid);
    if (!cred.ok()) return cred.error();
    cred_ = *cred;
    name_ = ".duende-fill-" + UniqueName();
    filler_ = root + path_ + "/" + name_;
    // With the target's pid and start time: the path goes through /proc/PID/root, which a
    // heal may follow only while PID is still this target.
    auto j = Journal(
        {"file", {filler_, std::to_string(t.pid), std::to_string(ProcessStartTime(t.pid))}});
    if (!j.ok()) return j.error();
    journal_id_ = *j;
    auto created = CreateControlFile(root, path_, name_, cred_);
    if (!created.ok()) {
      JournalDone(journal_id_);
      filler_.clear();
      return created.error();
    }
    dir_ = std::move(created->dir);
    framework::UniqueFd fd = std::move(created->file);
    MarkInjected();
    static const char kZeros[1 << 16] = {};
    uint64_t written = 0;
    int err = 0;
    for (size_t chunk : {sizeof kZeros, size_t{4096}, size_t{1}}) {
      while (true) {
        ssize_t n = ::write(fd.get(), kZeros, chunk);
        if (n > 0) {
          written += static_cast<uint64_t>(n);
          continue;
        }
        err = errno;
        break;
      }
      if (err != ENOSPC) break;
    }
    struct statvfs sv {};
    ::fstatvfs(fd.get(), &sv);
    record_.took_effect = err == ENOSPC && sv.f_bavail == 0;
    Evidence("filled " + path_ + " of pid " + std::to_string(t.pid) + " with " +
             std::to_string(written) + " bytes until " + ErrnoName(err) + "; " +
             std::to_string(sv.f_bavail) + " blocks left");
    return {};
  }

  Result<void> Heal() override {
    if (filler_.empty()) return {};
    DUENDE_TRY(RemoveControlFile(dir_.get(), name_, cred_));
    dir_.Reset();
    JournalDone(journal_id_);
    Evidence("removed the filler " + filler_);
    filler_.clear();
    MarkHealed();
    return {};
  }

 private:
  std::string path_;
  std::string filler_, name_;
  framework::UniqueFd dir_;  // the directory the filler was created in (O_PATH)
  ProcessCred cred_;
  uint64_t journal_id_ = 0;
};

int ReadErrno(TomlReader& r, const char* fallback) {
  std::string text = fallback;
  if (r.Has("errno")) {
    const toml::node* n = r.Raw("errno");
    if (n != nullptr && n->is_integer()) {
      text = std::to_string(n->value<int64_t>().value_or(0));
    } else if (n != nullptr && n->is_string()) {
      text = n->value<std::string>().value_or("");
    } else {
      text = "?";
    }
  }
  int e = ParseErrnoName(text);
  if (e == 0) {
    r.Fail("errno", "unknown errno \"" + text +
                        "\"; use a name such as \"ENOSPC\", \"EIO\" or "
                        "\"EAGAIN\", or a number");
  }
  return e;
}

}  // namespace

std::unique_ptr<Fault> MakeSyscall(TomlReader& r, FaultEnv* env) {
  FiuSpec spec;
  auto point = r.String("point", true);
  if (point) {
    if (MatchFiuPoints(*point).empty()) {
      std::string near = framework::DidYouMean(*point, FiuPointNames());
      r.Fail("point", "unknown libfiu point \"" + *point + "\"" +
                          (near.empty() ? "" : "; did you mean \"" + near + "\"?") +
                          " (a name such as \"posix/io/rw/write\", or a prefix with '*' such "
                          "as \"posix/io/*\")");
    } else {
      spec.points = {*point};
    }
  }
  spec.err = ReadErrno(r, "EIO");
  spec.probability = r.Double("probability", 0.000001, 1.0).value_or(1.0);
  spec.onetime = r.Bool("onetime").value_or(false);
  if (r.Has("nth")) {
    spec.nth = static_cast<uint64_t>(r.Int("nth", 1, 1000000000).value_or(0));
    if (spec.probability < 1.0 || spec.onetime) {
      r.Fail("nth",
             "'nth' fails exactly one call; it cannot be combined with 'probability' or "
             "'onetime' (remove one of them)");
    }
  }
  if (env == nullptr || spec.points.empty() || spec.err == 0) return nullptr;
  return std::make_unique<SyscallFault>("syscall", *env, spec);
}

std::unique_ptr<Fault> MakeDisk(TomlReader& r, FaultEnv* env) {
  std::string mode = r.Enum("mode", {"enospc", "eio", "full"}).value_or("enospc");
  auto path = r.String("path", mode == "full");
  // A scenario's run variable ("{run_dir}/kvd") is an absolute path once the runner expands it.
  if (path && path->rfind('/', 0) != 0 && path->rfind("{run_dir}", 0) != 0) {
    r.Fail("path",
           "'path' must be an absolute directory such as \"/var/lib/kvd\" or "
           "\"{run_dir}/kvd\"");
  }
  auto points = r.StringArray("points").value_or(std::vector<std::string>{
      "posix/io/rw/write", "posix/io/rw/pwrite", "posix/io/rw/writev", "posix/io/rw/pwritev"});
  for (const auto& p : points) {
    if (MatchFiuPoints(p).empty()) r.Fail("points", "unknown libfiu point \"" + p + "\"");
  }
  if (env == nullptr) return nullptr;
  if (mode == "full") {
    if (!path) return nullptr;
    return std::make_unique<DiskFullFault>(*env, *path);
  }
  FiuSpec spec;
  spec.points = points;
  spec.err = mode == "eio" ? EIO : ENOSPC;
  return std::make_unique<SyscallFault>("disk", *env, spec);
}

}  // namespace duende::faults::internal
