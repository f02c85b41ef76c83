// Memory faults: oom (a real kernel OOM kill through the memory cgroup limit) and memory
// (a hog process that allocates and touches memory in its own cgroup).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "duende/framework/proc.h"
#include "fault_base.h"
#include "proc_util.h"

namespace duende::faults::internal {
namespace {

using framework::Cgroup;
using framework::CgroupVersion;
using framework::ErrnoError;
using framework::Result;
using framework::TomlReader;

constexpr uint64_t kPage = 4096;

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fMiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

class OomFault : public FaultBase {
 public:
  OomFault(FaultEnv& env, uint64_t limit, uint64_t slack)
      : FaultBase("oom", env), limit_(limit), slack_(slack) {}
  ~OomFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    CgroupVersion v = framework::DetectCgroupVersion();
    if (t.cgroup.empty()) {
      auto b = BorrowedCgroup::Create(UniqueName(), "memory", t.pid, t.pgid, journal_);
      if (!b.ok()) {
        return ErrnoError("unable to put " + t.name + " in a memory cgroup: " + b.error().Message(),
                          b.error().code.value());
      }
      borrowed_ = std::move(*b);
      dir_ = borrowed_->group().memory_dir();
      Evidence("moved " + t.name + " into memory cgroup " + dir_);
    } else {
      dir_ = t.cgroup;
      std::string file =
          dir_ + (v == CgroupVersion::kV2 ? "/memory.max" : "/memory.limit_in_bytes");
      auto old = framework::ReadSmallFile(file);
      if (!old.ok()) return old.error();
      old_limit_ = old->substr(0, old->find('\n'));
      auto j = Journal({"write", {file, old_limit_}});
      if (!j.ok()) return j.error();
      journal_id_ = *j;
    }
    Cgroup g = Cgroup::Open(v, dir_);
    auto before = g.Stats();
    if (!before.ok()) return before.error();
    oom_before_ = before->oom_kills;
    uint64_t limit =
        limit_ != 0 ? limit_ : (before->memory_current + slack_ + kPage - 1) / kPage * kPage;
    // A group just borrowed may show no usage yet (v1 moves no charges on this kernel); 0 would
    // mean "unlimited".
    limit = std::max(limit, kPage);
    MarkInjected();
    // v1 refuses (EBUSY) a limit below what it can reclaim; step up until one is accepted. The
    // target's next allocation beyond it then meets the OOM killer.
    Result<void> r;
    for (int i = 0; i < 64; ++i) {
      r = g.SetMemoryLimit(limit);
      if (r.ok() || r.error().code.value() != EBUSY) break;
      limit += 256 * 1024;
    }
    if (!r.ok()) return r.error();
    set_ = true;
    Evidence("memory limit of " + dir_ + " set to " + Mib(limit) + " (usage " +
             Mib(before->memory_current) + ", oom_kill " + std::to_string(oom_before_) + ")");
    return {};
  }

  Result<void> Heal() override {
    if (!set_) return {};
    Poll();  // while set_: an OOM kill during the window is seen before the limit goes
    set_ = false;
    Result<void> r;
    if (borrowed_) {
      r = borrowed_->Release();
      borrowed_.reset();
    } else {
      Cgroup g = Cgroup::Open(framework::DetectCgroupVersion(), dir_);
      r = framework::WriteSmallFile(
          dir_ + (g.version() == CgroupVersion::kV2 ? "/memory.max" : "/memory.limit_in_bytes"),
          old_limit_);
      if (r.ok()) JournalDone(journal_id_);
    }
    MarkHealed();
    return r;
  }

  FaultRecord Record() const override {
    const_cast<OomFault*>(this)->Poll();
    return record_;
  }

 private:
  void Poll() {
    if (!set_ || record_.took_effect) return;
    Cgroup g = Cgroup::Open(framework::DetectCgroupVersion(), dir_);
    auto s = g.Stats();
    if (s.ok() && s->oom_kills > oom_before_) {
      record_.took_effect = true;
      Evidence("kernel OOM kill in " + dir_ + ": oom_kill " + std::to_string(oom_before_) + " -> " +
               std::to_string(s->oom_kills) + " (failcnt " + std::to_string(s->memory_failcnt) +
               ")");
    }
  }

  uint64_t limit_, slack_;
  std::string dir_;
  std::string old_limit_;
  std::unique_ptr<BorrowedCgroup> borrowed_;
  uint64_t oom_before_ = 0;
  uint64_t journal_id_ = 0;
  bool set_ = false;
};

struct HogArgs {
  uint64_t size;
  bool lock;
  int ready_fd;
};

void HogBody(void* p) {
  auto* a = static_cast<HogArgs*>(p);
  void* mem = ::mmap(nullptr, a->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) ::_exit(3);
  auto* bytes = static_cast<volatile unsigned char*>(mem);
  // Touch every page with a non-zero byte so no page stays shared with the zero page.
  for (uint64_t off = 0; off < a->size; off += kPage) bytes[off] = 1;
  if (a->lock && ::mlock(mem, a->size) != 0) ::_exit(4);
  char c = 'r';
  if (::write(a->ready_fd, &c, 1) != 1) ::_exit(5);
  ::close(a->ready_fd);  // holds nothing of the harness's while it waits to be killed
  for (;;) ::pause();
}

class MemoryFault : public FaultBase {
 public:
  MemoryFault(FaultEnv& env, uint64_t size, bool lock, double max_fraction)
      : FaultBase("memory", env), size_(size), lock_(lock), max_fraction_(max_fraction) {}
  ~MemoryFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& /*t*/) override {
    uint64_t avail = MemAvailableBytes();
    if (avail == 0 || static_cast<double>(size_) > max_fraction_ * static_cast<double>(avail)) {
      return ErrnoError("refusing to allocate " + Mib(size_) + ": more than " +
                            std::to_string(static_cast<int>(max_fraction_ * 100)) +
                            "% of MemAvailable (" + Mib(avail) +
                            "); lower 'size' or raise 'max_fraction' (at most 0.9)",
                        ENOMEM);
    }
    // The hog gets its own memory cgroup (limit = size + slack) so it can never grow beyond.
    std::vector<framework::UniqueFd> procs;
    framework::CgroupVersion v = framework::DetectCgroupVersion();
    auto planned = Cgroup::PlannedDir(UniqueName(), "memory", {true, false, false});
    if (planned.ok()) {
      auto j = Journal({"cgroup", {v == framework::CgroupVersion::kV2 ? "v2" : "v1", *planned}});
      if (!j.ok()) return j.error();
      cgroup_journal_ = *j;
      auto g = Cgroup::Create(UniqueName(), {true, false, false});
      if (g.ok()) {
        group_ = std::make_unique<Cgroup>(std::move(*g));
        (void)group_->SetMemoryLimit(size_ + 64 * 1024 * 1024);
        for (const auto& f : group_->ProcsFiles()) {
          procs.emplace_back(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
        }
        Evidence("hog cgroup " + group_->memory_dir());
      } else {
        JournalDone(cgroup_journal_);
        Evidence("no cgroup for the hog (" + g.error().Message() + ")");
      }
    }
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) return ErrnoError("unable to create a pipe");
    framework::UniqueFd rd(pipefd[0]), wr(pipefd[1]);
    HogArgs args{size_, lock_, wr.get()};
    std::vector<int> fds;
    for (auto& f : procs) fds.push_back(f.get());
    MarkInjected();
    auto pid = ForkHelper(fds, HogBody, &args, {args.ready_fd});
    if (!pid.ok()) return pid.error();
    hog_ = *pid;
    wr.Reset();
    auto j = Journal({"process", {std::to_string(hog_), std::to_string(ProcessStartTime(hog_))}});
    if (j.ok()) proc_journal_ = *j;
    char c = 0;
    ssize_t n = ::read(rd.get(), &c, 1);  // EOF if the hog died
    if (n == 1) {
      // Then EOF: the hog has closed its end and holds nothing of ours any more.
      char rest;
      ssize_t m;
      do {
        m = ::read(rd.get(), &rest, 1);
      } while (m > 0 || (m < 0 && errno == EINTR));
    }
    if (n != 1) {
      int status = 0;
      ::waitpid(hog_, &status, 0);
      hog_ = -1;
      JournalDone(proc_journal_);
      return ErrnoError("the memory hog failed (exit " + std::to_string(WEXITSTATUS(status)) +
                            (lock_ ? "; mlock needs CAP_IPC_LOCK or a larger ulimit -l" : "") + ")",
                        ENOMEM);
    }
    auto kb = framework::ReadStatusKb(hog_);
    auto field = [&](const char* key) -> uint64_t {
      if (!kb.ok()) return 0;
      auto it = kb->find(key);
      return it != kb->end() ? it->second * 1024 : 0;
    };
    uint64_t rss = field("VmRSS");
    uint64_t lck = field("VmLck");
    record_.took_effect = rss >= size_ / 10 * 9 && (!lock_ || lck >= size_ / 10 * 9);
    Evidence("hog pid " + std::to_string(hog_) + " VmRSS " + Mib(rss) +
             (lock_ ? ", VmLck " + Mib(lck) : "") + " of " + Mib(size_) + " requested");
    return {};
  }

  Result<void> Heal() override {
    if (hog_ <= 0) return {};
    ::kill(hog_, SIGKILL);
    int status = 0;
    ::waitpid(hog_, &status, 0);
    bool gone = ProcessState(hog_) == 0;
    Evidence("hog pid " + std::to_string(hog_) + (gone ? " gone" : " still present"));
    hog_ = -1;
    JournalDone(proc_journal_);
    Result<void> r;
    if (group_) {
      r = group_->Remove();
      if (r.ok()) JournalDone(cgroup_journal_);
      group_.reset();
    }
    MarkHealed();
    return r;
  }

  pid_t hog_pid() const { return hog_; }

 private:
  uint64_t size_;
  bool lock_;
  double max_fraction_;
  pid_t hog_ = -1;
  std::unique_ptr<Cgroup> group_;
  uint64_t cgroup_journal_ = 0, proc_journal_ = 0;
};

}  // namespace

std::unique_ptr<Fault> MakeOom(TomlReader& r, FaultEnv* env) {
  uint64_t limit = r.ByteSize("limit").value_or(0);
  uint64_t slack = r.ByteSize("slack").value_or(0);
  if (env == nullptr) return nullptr;
  return std::make_unique<OomFault>(*env, limit, slack);
}

std::unique_ptr<Fault> MakeMemory(TomlReader& r, FaultEnv* env) {
  auto size = r.ByteSize("size", true);
  bool lock = r.Bool("mlock").value_or(false);
  double frac = r.Double("max_fraction", 0.01, 0.9).value_or(0.5);
  if (size && *size == 0) r.Fail("size", "'size' must be more than 0 bytes, e.g. \"256MiB\"");
  if (env == nullptr || !size || *size == 0) return nullptr;
  return std::make_unique<MemoryFault>(*env, *size, lock, frac);
}

}  // namespace duende::faults::internal
