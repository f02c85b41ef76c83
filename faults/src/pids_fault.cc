// Task exhaustion: the target's processes moved into a pids cgroup whose pids.max is its
// current task count (plus `slack`), so its next fork, clone or thread creation fails with
// EAGAIN, the way a daemon meets a fork bomb beside it or a too-small TasksMax=.
#include <algorithm>

#include "fault_base.h"

namespace duende::faults::internal {
namespace {

using framework::Result;
using framework::TomlReader;

class PidsFault : public FaultBase {
 public:
  PidsFault(FaultEnv& env, uint64_t limit, uint64_t slack)
      : FaultBase("pids", env), limit_(limit), slack_(slack) {}
  ~PidsFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    auto b = BorrowedCgroup::Create(UniqueName(), "pids", t.pid, t.pgid, journal_);
    if (!b.ok()) {
      return framework::ErrnoError(
          "unable to put " + t.name + " in a pids cgroup: " + b.error().Message(),
          b.error().code.value());
    }
    borrowed_ = std::move(*b);
    auto before = borrowed_->group().Stats();
    if (!before.ok()) return GiveBack(before.error());
    denied_before_ = before->pids_denied;
    // Never 0: pids.max 0 is written as "max" (unlimited) by SetPidsLimit.
    uint64_t limit = std::max<uint64_t>(limit_ != 0 ? limit_ : before->pids_current + slack_, 1);
    MarkInjected();
    if (auto r = borrowed_->group().SetPidsLimit(limit); !r.ok()) return GiveBack(r.error());
    set_ = true;
    Evidence("moved " + t.name + " into " + borrowed_->group().pids_dir() + " with pids.max " +
             std::to_string(limit) + " (" + std::to_string(before->pids_current) + " tasks now)");
    return {};
  }

  Result<void> Heal() override {
    if (!set_) return {};
    Poll();  // while the group exists: refusals during the window are counted there
    set_ = false;
    auto r = borrowed_->Release();
    borrowed_.reset();
    MarkHealed();
    return r;
  }

  FaultRecord Record() const override {
    const_cast<PidsFault*>(this)->Poll();
    return record_;
  }

 private:
  // A failed inject after the move: the target goes back to its own group at once, not at
  // the end of the run (Heal only undoes a limit that was set).
  framework::Error GiveBack(framework::Error error) {
    (void)borrowed_->Release();
    borrowed_.reset();
    return error;
  }

  void Poll() {
    if (!set_) return;
    auto s = borrowed_->group().Stats();
    if (!s.ok() || s->pids_denied <= denied_before_) return;
    uint64_t n = s->pids_denied - denied_before_;
    if (n == reported_) return;
    std::string line = std::to_string(n) + " fork/clone call" + (n == 1 ? "" : "s") +
                       " of the target refused by pids.max (EAGAIN)";
    // One line that grows with the count, not one per look.
    if (reported_ == 0) {
      Evidence(std::move(line));
      evidence_index_ = record_.evidence.size() - 1;
    } else {
      record_.evidence[evidence_index_] = std::move(line);
    }
    reported_ = n;
    record_.took_effect = true;
  }

  uint64_t limit_, slack_;
  std::unique_ptr<BorrowedCgroup> borrowed_;
  uint64_t denied_before_ = 0;
  uint64_t reported_ = 0;
  size_t evidence_index_ = 0;
  bool set_ = false;
};

}  // namespace

std::unique_ptr<Fault> MakePids(TomlReader& r, FaultEnv* env) {
  uint64_t limit = static_cast<uint64_t>(r.Int("limit", 1, 4194304).value_or(0));
  uint64_t slack = static_cast<uint64_t>(r.Int("slack", 0, 4194304).value_or(0));
  if (env == nullptr) return nullptr;
  return std::make_unique<PidsFault>(*env, limit, slack);
}

}  // namespace duende::faults::internal
