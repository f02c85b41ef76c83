// CPU starvation: burner processes beside the target, or a CFS quota on the target.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "fault_base.h"
#include "proc_util.h"

namespace duende::faults::internal {
namespace {

using framework::Cgroup;
using framework::ErrnoError;
using framework::Result;
using framework::TomlReader;

void BurnBody(void* /*arg*/) {
  volatile uint64_t x = 0;
  for (;;) x = x + 1;
}

class CpuFault : public FaultBase {
 public:
  CpuFault(FaultEnv& env, std::string mode, int threads, double quota)
      : FaultBase("cpu", env), mode_(std::move(mode)), threads_(threads), quota_(quota) {}
  ~CpuFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    if (mode_ == "quota") {
      auto b = BorrowedCgroup::Create(UniqueName(), "cpu", t.pid, t.pgid, journal_);
      if (!b.ok()) return b.error();
      borrowed_ = std::move(*b);
      auto r = borrowed_->group().SetCpuQuota(static_cast<uint64_t>(quota_ * 100000), 100000);
      if (!r.ok()) return r.error();
      MarkInjected();
      Evidence("moved " + t.name + " into " + borrowed_->group().cpu_dir() + " with a quota of " +
               std::to_string(static_cast<int>(quota_ * 100)) + "% of one CPU");
      return {};
    }
    // Burners share a cpu cgroup of their own so that a crashed harness's burners are found.
    framework::CgroupVersion v = framework::DetectCgroupVersion();
    std::vector<framework::UniqueFd> procs;
    if (auto planned = Cgroup::PlannedDir(UniqueName(), "cpu", {false, false, true});
        planned.ok()) {
      auto j = Journal({"cgroup", {v == framework::CgroupVersion::kV2 ? "v2" : "v1", *planned}});
      if (!j.ok()) return j.error();
      cgroup_journal_ = *j;
      auto g = Cgroup::Create(UniqueName(), {false, false, true});
      if (g.ok()) {
        group_ = std::make_unique<Cgroup>(std::move(*g));
        for (const auto& f : group_->ProcsFiles()) {
          procs.emplace_back(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
        }
      } else {
        JournalDone(cgroup_journal_);
      }
    }
    std::vector<int> fds;
    for (auto& f : procs) fds.push_back(f.get());
    MarkInjected();
    for (int i = 0; i < threads_; ++i) {
      auto pid = ForkHelper(fds, BurnBody, nullptr);
      if (!pid.ok()) return pid.error();
      burners_.push_back(*pid);
      auto j = Journal({"process", {std::to_string(*pid), std::to_string(ProcessStartTime(*pid))}});
      journal_ids_.push_back(j.ok() ? *j : 0);
    }
    Evidence("started " + std::to_string(threads_) + " burner processes");
    return {};
  }

  Result<void> Heal() override {
    Poll();
    Result<void> r;
    if (borrowed_) {
      r = borrowed_->Release();
      borrowed_.reset();
      MarkHealed();
    }
    if (!burners_.empty()) {
      for (pid_t p : burners_) ::kill(p, SIGKILL);
      for (size_t i = 0; i < burners_.size(); ++i) {
        ::waitpid(burners_[i], nullptr, 0);
        JournalDone(journal_ids_[i]);
      }
      Evidence("stopped " + std::to_string(burners_.size()) + " burners");
      burners_.clear();
      if (group_) {
        r = group_->Remove();
        if (r.ok()) JournalDone(cgroup_journal_);
        group_.reset();
      }
      MarkHealed();
    }
    return r;
  }

  FaultRecord Record() const override {
    const_cast<CpuFault*>(this)->Poll();
    return record_;
  }

 private:
  void Poll() {
    if (record_.took_effect) return;
    if (borrowed_) {
      auto s = borrowed_->group().Stats();
      if (s.ok() && s->cpu_nr_throttled > 0) {
        record_.took_effect = true;
        Evidence("throttled in " + std::to_string(s->cpu_nr_throttled) + " periods (" +
                 framework::FormatDuration(std::chrono::nanoseconds(s->cpu_throttled_ns)) + ")");
      }
      return;
    }
    int64_t ticks = 0;
    for (pid_t p : burners_) {
      ticks += StatField(p, 14).value_or(0) + StatField(p, 15).value_or(0);
    }
    if (ticks > 0) {
      record_.took_effect = true;
      Evidence("burners used " + std::to_string(ticks * 1000 / ::sysconf(_SC_CLK_TCK)) +
               "ms of CPU");
    }
  }

  std::string mode_;
  int threads_;
  double quota_;
  std::unique_ptr<BorrowedCgroup> borrowed_;
  std::unique_ptr<Cgroup> group_;
  std::vector<pid_t> burners_;
  std::vector<uint64_t> journal_ids_;
  uint64_t cgroup_journal_ = 0;
};

}  // namespace

std::unique_ptr<Fault> MakeCpu(TomlReader& r, FaultEnv* env) {
  std::string mode = r.Enum("mode", {"burn", "quota"}).value_or("burn");
  int ncpu = static_cast<int>(std::thread::hardware_concurrency());
  int threads = static_cast<int>(r.Int("threads", 1, 64).value_or(ncpu > 0 ? ncpu : 1));
  double quota = r.Double("quota", 0.01, 64.0).value_or(0.1);
  if (env == nullptr) return nullptr;
  return std::make_unique<CpuFault>(*env, mode, threads, quota);
}

}  // namespace duende::faults::internal
