// Process faults: kill (any signal), pause (SIGSTOP .. SIGCONT), crash, fds (RLIMIT_NOFILE).
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "duende/framework/proc.h"
#include "duende/framework/process.h"
#include "fault_base.h"
#include "proc_util.h"

namespace duende::faults::internal {
namespace {

using framework::ErrnoError;
using framework::FormatDuration;
using framework::MonotonicNs;
using framework::Result;
using framework::TomlReader;

bool TerminatesByDefault(int sig) {
  switch (sig) {
    case SIGCHLD:
    case SIGCONT:
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGURG:
    case SIGWINCH:
      return false;
    default:
      return true;
  }
}

int ReadSignal(TomlReader& r, const char* key, const char* fallback,
               const std::vector<int>& allowed = {}) {
  std::string text = r.String(key).value_or(fallback);
  int sig = framework::ParseSignal(text);
  if (sig <= 0 || sig >= NSIG) {
    r.Fail(key, "'" + std::string(key) +
                    "' must be a signal such as \"SIGKILL\", \"TERM\" or "
                    "\"9\", not \"" +
                    text + "\"");
    return 0;
  }
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), sig) == allowed.end()) {
    std::string names;
    for (int a : allowed) names += (names.empty() ? "" : ", ") + framework::SignalName(a);
    r.Fail(key, "'" + std::string(key) + "' must be one of " + names + ", not \"" + text + "\"");
    return 0;
  }
  return sig;
}

int64_t ReadWaitMs(TomlReader& r, int64_t fallback_ms) {
  auto d = r.Duration("wait");
  return d ? d->count() / 1000000 : fallback_ms;
}

// A victim watched through a pidfd (not fooled by a recycled pid).
struct Victim {
  pid_t pid;
  framework::UniqueFd pidfd;
  int64_t exited_ns = 0;
};

// Sends a signal and watches the victims exit. Shared by kill and crash.
class SignalFault : public FaultBase {
 public:
  SignalFault(std::string kind, FaultEnv& env, int sig, std::string scope, bool expect_exit,
              int64_t wait_ms)
      : FaultBase(std::move(kind), env),
        sig_(sig),
        scope_(std::move(scope)),
        expect_exit_(expect_exit),
        wait_ms_(wait_ms) {}

  Result<void> Inject(const TargetRef& t) override {
    pid_t pgid = t.pgid > 0 ? t.pgid : t.pid;
    if (scope_ != "main" && pgid == ::getpgrp()) {
      // A target started from our own shell shares our group: signalling it would hit us.
      Evidence("the target's process group is the injector's own; signalling pid " +
               std::to_string(t.pid) + " only");
      scope_ = "main";
    }
    std::vector<pid_t> pids;
    if (scope_ == "main") {
      pids = {t.pid};
    } else {
      pids = GroupMembers(pgid);
      if (pids.empty()) pids = {t.pid};
      if (scope_ == "random") {
        pid_t chosen = pids[Mix(seed_ ^ (uint64_t{serial_} << 32)) % pids.size()];
        pids = {chosen};
      }
    }
    for (pid_t p : pids) {
      auto fd = framework::OpenPidfd(p);
      if (fd.ok()) victims_.push_back({p, std::move(*fd)});
    }
    if (victims_.empty()) return ErrnoError("unable to signal " + t.name, ESRCH);
    MarkInjected();
    sent_ns_ = MonotonicNs();
    if (scope_ == "group") {
      if (::kill(-pgid, sig_) != 0) {
        return ErrnoError("unable to send " + framework::SignalName(sig_) + " to group " +
                          std::to_string(pgid));
      }
      Evidence("sent " + framework::SignalName(sig_) + " to process group " + std::to_string(pgid) +
               " (" + std::to_string(victims_.size()) + " processes)");
    } else {
      DUENDE_TRY(framework::SignalPidfd(victims_[0].pidfd.get(), sig_));
      Evidence("sent " + framework::SignalName(sig_) + " to pid " +
               std::to_string(victims_[0].pid) + (scope_ == "random" ? " (random member)" : ""));
    }
    delivered_ = true;
    if (expect_exit_) Check(wait_ms_);
    return {};
  }

  Result<void> Heal() override {
    MarkHealed();  // a signal is not undone; the supervisor's restart is the healing
    return {};
  }

  FaultRecord Record() const override {
    const_cast<SignalFault*>(this)->Check(0);
    return record_;
  }

 private:
  void Check(int64_t wait_ms) {
    if (!delivered_) return;
    if (!expect_exit_) {
      record_.took_effect = true;
      return;
    }
    int64_t deadline = MonotonicNs() + wait_ms * 1000000;
    bool all = true;
    for (auto& v : victims_) {
      if (v.exited_ns == 0) {
        int64_t left = std::max<int64_t>(0, (deadline - MonotonicNs()) / 1000000);
        if (WaitPidfdExit(v.pidfd.get(), static_cast<int>(left))) {
          v.exited_ns = MonotonicNs();
          std::string how;
          if (auto st = ZombieExitStatus(v.pid)) {
            int s = *st;
            how = (s & 0x7f) != 0 ? " (" + framework::SignalName(s & 0x7f) + ")"
                                  : " (exit code " + std::to_string((s >> 8) & 0xff) + ")";
          }
          Evidence("pid " + std::to_string(v.pid) + " exited" + how + " " +
                   FormatDuration(std::chrono::nanoseconds(v.exited_ns - sent_ns_)) +
                   " after the signal");
        }
      }
      if (v.exited_ns == 0) all = false;
    }
    if (all && !record_.took_effect) record_.took_effect = true;
    if (!all && wait_ms > 0) {
      Evidence("not every victim exited within " +
               FormatDuration(std::chrono::milliseconds(wait_ms)));
    }
  }

  int sig_;
  std::string scope_;
  bool expect_exit_;
  int64_t wait_ms_;
  int64_t sent_ns_ = 0;
  bool delivered_ = false;
  std::vector<Victim> victims_;
};

class PauseFault : public FaultBase {
 public:
  PauseFault(FaultEnv& env, std::string scope)
      : FaultBase("pause", env), scope_(std::move(scope)) {}
  ~PauseFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    pid_ = t.pid;
    pgid_ = t.pgid > 0 ? t.pgid : t.pid;
    if (scope_ == "group" && pgid_ == ::getpgrp()) {
      // A target started from our own shell shares our group: stopping it would stop us.
      Evidence("the target's process group is the injector's own; stopping pid " +
               std::to_string(pid_) + " only");
      scope_ = "main";
    }
    start_ = ProcessStartTime(pid_);
    if (start_ == 0) return ErrnoError("unable to pause " + t.name, ESRCH);
    UndoAction a = scope_ == "group"
                       ? UndoAction{"stopped-group",
                                    {std::to_string(pgid_), std::to_string(StoppedGroupStamp())}}
                       : UndoAction{"stopped", {std::to_string(pid_), std::to_string(start_)}};
    auto j = Journal(a);
    if (!j.ok()) return j.error();
    journal_id_ = *j;
    int rc = scope_ == "group" ? ::kill(-pgid_, SIGSTOP) : ::kill(pid_, SIGSTOP);
    if (rc != 0) {
      JournalDone(journal_id_);
      return ErrnoError("unable to stop " + t.name);
    }
    MarkInjected();
    stopped_ = true;
    for (int i = 0; i < 200; ++i) {
      char st = ProcessState(pid_);
      if (st == 'T' || st == 't') {
        record_.took_effect = true;
        Evidence("pid " + std::to_string(pid_) + " in state T (stopped) after " +
                 FormatDuration(std::chrono::nanoseconds(MonotonicNs() - record_.injected_ns)));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!record_.took_effect) Evidence("pid " + std::to_string(pid_) + " never showed state T");
    return {};
  }

  Result<void> Heal() override {
    if (!stopped_) return {};
    stopped_ = false;
    if (SameProcessAlive(pid_, start_) || scope_ == "group") {
      if (scope_ == "group") {
        ::kill(-pgid_, SIGCONT);
      } else {
        ::kill(pid_, SIGCONT);
      }
    }
    MarkHealed();
    JournalDone(journal_id_);
    char st = ProcessState(pid_);
    Evidence("sent SIGCONT; pid " + std::to_string(pid_) + " state " +
             (st == 0 ? std::string("gone") : std::string(1, st)));
    return {};
  }

 private:
  std::string scope_;
  pid_t pid_ = -1, pgid_ = -1;
  uint64_t start_ = 0;
  uint64_t journal_id_ = 0;
  bool stopped_ = false;
};

class FdsFault : public FaultBase {
 public:
  FdsFault(FaultEnv& env, int64_t limit) : FaultBase("fds", env), limit_(limit) {}
  ~FdsFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    pid_ = t.pid;
    start_ = ProcessStartTime(pid_);
    auto count = framework::CountOpenFds(pid_);
    if (!count.ok()) return count.error();
    if (::prlimit(pid_, RLIMIT_NOFILE, nullptr, &old_) != 0) {
      return ErrnoError("unable to read the descriptor limit of " + t.name);
    }
    rlim_t soft = limit_ >= 0 ? static_cast<rlim_t>(limit_) : static_cast<rlim_t>(*count);
    if (soft > old_.rlim_max) soft = old_.rlim_max;
    auto j = Journal({"rlimit",
                      {std::to_string(pid_), std::to_string(start_), std::to_string(RLIMIT_NOFILE),
                       std::to_string(old_.rlim_cur), std::to_string(old_.rlim_max)}});
    if (!j.ok()) return j.error();
    journal_id_ = *j;
    rlimit lim{soft, old_.rlim_max};
    if (::prlimit(pid_, RLIMIT_NOFILE, &lim, nullptr) != 0) {
      JournalDone(journal_id_);
      return ErrnoError("unable to lower the descriptor limit of " + t.name);
    }
    MarkInjected();
    set_ = true;
    rlimit now{};
    ::prlimit(pid_, RLIMIT_NOFILE, nullptr, &now);
    record_.took_effect = now.rlim_cur == soft && static_cast<rlim_t>(*count) >= soft;
    Evidence("RLIMIT_NOFILE of pid " + std::to_string(pid_) + " " + std::to_string(old_.rlim_cur) +
             " -> " + std::to_string(now.rlim_cur) + " with " + std::to_string(*count) +
             " descriptors open");
    return {};
  }

  Result<void> Heal() override {
    if (!set_) return {};
    set_ = false;
    MarkHealed();
    if (SameProcessAlive(pid_, start_) && ::prlimit(pid_, RLIMIT_NOFILE, &old_, nullptr) != 0 &&
        errno != ESRCH) {
      return ErrnoError("unable to restore the descriptor limit of pid " + std::to_string(pid_));
    }
    JournalDone(journal_id_);
    Evidence("RLIMIT_NOFILE restored to " + std::to_string(old_.rlim_cur));
    return {};
  }

 private:
  int64_t limit_;
  pid_t pid_ = -1;
  uint64_t start_ = 0;
  rlimit old_{};
  uint64_t journal_id_ = 0;
  bool set_ = false;
};

}  // namespace

std::unique_ptr<Fault> MakeKill(TomlReader& r, FaultEnv* env) {
  int sig = ReadSignal(r, "signal", "SIGKILL");
  std::string scope = r.Enum("scope", {"main", "group", "random"}).value_or("main");
  bool expect = r.Bool("expect_exit").value_or(sig > 0 && TerminatesByDefault(sig));
  int64_t wait = ReadWaitMs(r, 1000);
  if (env == nullptr || sig == 0) return nullptr;
  return std::make_unique<SignalFault>("kill", *env, sig, scope, expect, wait);
}

std::unique_ptr<Fault> MakeCrash(TomlReader& r, FaultEnv* env) {
  int sig = ReadSignal(r, "signal", "SIGSEGV", {SIGSEGV, SIGABRT, SIGBUS});
  int64_t wait = ReadWaitMs(r, 1000);
  if (env == nullptr || sig == 0) return nullptr;
  return std::make_unique<SignalFault>("crash", *env, sig, "main", true, wait);
}

std::unique_ptr<Fault> MakePause(TomlReader& r, FaultEnv* env) {
  std::string scope = r.Enum("scope", {"main", "group"}).value_or("group");
  if (env == nullptr) return nullptr;
  return std::make_unique<PauseFault>(*env, scope);
}

std::unique_ptr<Fault> MakeFds(TomlReader& r, FaultEnv* env) {
  int64_t limit = r.Int("limit", 0, 1 << 24).value_or(-1);
  if (env == nullptr) return nullptr;
  return std::make_unique<FdsFault>(*env, limit);
}

}  // namespace duende::faults::internal
