// clock: moves the target's wall clock (CLOCK_REALTIME) through libfaketime, a step ("+1h",
// "-30s") and/or a rate ("speed = 2.0"), undone at heal. The target must have been started
// under libfaketime (faults::PrepareFaketimeSpawn; `clock = true` on a scenario target).
//
// Took effect: libfaketime re-reads the clock file on a clock call once its one-second cache
// has expired, so an inotify IN_OPEN of the file after the write means the target has read
// the new time. A target that never asks for the time never sees the fault, and says so.
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <regex>

#include "duende/faults/control_files.h"
#include "duende/faults/launch.h"
#include "duende/faults/undo_journal.h"
#include "duende/framework/unique_fd.h"
#include "fault_base.h"

namespace duende::faults::internal {
namespace {

using framework::ErrnoError;
using framework::Result;
using framework::TomlReader;

class ClockFault : public FaultBase {
 public:
  ClockFault(FaultEnv& env, std::string spec) : FaultBase("clock", env), spec_(std::move(spec)) {}
  ~ClockFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef& t) override {
    if (t.clock_file.empty()) {
      return ErrnoError(t.name +
                            " was not started under libfaketime (set clock = true on the "
                            "target, or start it with faults::PrepareFaketimeSpawn)",
                        ENOENT);
    }
    // The file is written as the target's uid, and only when it is the target's own regular
    // file (control_files.h): a path in a target's environment may name anything.
    auto cred = ReadProcessCred(t.pid);
    if (!cred.ok()) return cred.error();
    cred_ = *cred;
    pid_ = t.pid;
    start_ = ProcessStartTime(t.pid);
    // Checked before anything watches or journals it (the same checks the write makes).
    if (auto check = OpenControlFile(t.clock_file, ControlFileType::kRegular, cred_, O_RDONLY);
        !check.ok()) {
      return check.error();
    }
    file_ = t.clock_file;
    auto slash = file_.rfind('/');
    std::string dir = slash == std::string::npos ? "." : file_.substr(0, slash);
    name_ = file_.substr(slash + 1);
    watch_.Reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!watch_ ||
        ::inotify_add_watch(watch_.get(), dir.c_str(), IN_OPEN | IN_ONLYDIR | IN_DONT_FOLLOW) < 0) {
      return ErrnoError("unable to watch " + dir + " (inotify)");
    }
    // A killed harness leaves the offset in place: the journal writes "+0" back, as the
    // target's uid and only while this same process lives.
    auto j = Journal({"clock-file", {file_, "+0\n", std::to_string(pid_), std::to_string(start_)}});
    if (!j.ok()) return j.error();
    journal_id_ = *j;
    if (auto w = ReplaceControlFile(file_, spec_ + "\n", cred_); !w.ok()) {
      JournalDone(journal_id_);
      file_.clear();
      return w.error();
    }
    MarkInjected();
    Evidence("clock of " + t.name + " set to \"" + spec_ + "\" (" + file_ + ")");
    return {};
  }

  Result<void> Heal() override {
    if (file_.empty() || record_.healed_ns != 0) return {};
    Poll();
    auto r = ReplaceControlFile(file_, "+0\n", cred_);
    if (!r.ok() && r.error().code != std::errc::no_such_file_or_directory) return r;
    JournalDone(journal_id_);
    if (!record_.took_effect) {
      Evidence(
          "the target never read its clock while the fault was on (libfaketime re-reads "
          "the file on a clock call, at most once a second: a fault shorter than 2 s may "
          "pass unseen)");
    }
    Evidence("clock set back to \"+0\" (seen at the target's next clock call, within 2 s)");
    record_.effects = record_.took_effect ? 1 : 0;  // observed, not guessed
    watch_.Reset();
    MarkHealed();
    return {};
  }

  FaultRecord Record() const override {
    const_cast<ClockFault*>(this)->Poll();
    return record_;
  }

 private:
  // An IN_OPEN of the clock file after the write: libfaketime in the target re-read it.
  void Poll() {
    if (!watch_ || record_.took_effect) return;
    alignas(inotify_event) char buf[4096];
    while (true) {
      ssize_t n = ::read(watch_.get(), buf, sizeof buf);
      if (n <= 0) return;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        if (ev->len > 0 && name_ == ev->name && !record_.took_effect) {
          record_.took_effect = true;
          char after[32];
          std::snprintf(after, sizeof after, "%.1f",
                        static_cast<double>(framework::MonotonicNs() - record_.injected_ns) / 1e6);
          Evidence(std::string("the target re-read its clock file after the change (seen ") +
                   after + " ms after injection): its CLOCK_REALTIME is now \"" + spec_ + "\"");
        }
        p += sizeof(inotify_event) + ev->len;
      }
    }
  }

  std::string spec_;
  std::string file_, name_;
  ProcessCred cred_;
  pid_t pid_ = -1;
  uint64_t start_ = 0;
  framework::UniqueFd watch_;
  uint64_t journal_id_ = 0;
};

}  // namespace

std::unique_ptr<Fault> MakeClock(TomlReader& r, FaultEnv* env) {
  std::string offset = r.String("offset").value_or("+0");
  static const std::regex kOffset(R"([+-][0-9]+(\.[0-9]+)?[smhd]?)");
  if (!std::regex_match(offset, kOffset)) {
    r.Fail("offset",
           "'offset' must be a signed amount such as \"+1h\", \"-30s\", \"+2d\" or "
           "\"-90m\" (s, m, h, d; no unit = seconds), not \"" +
               offset + "\"");
  }
  double speed = r.Double("speed", 0.01, 100.0).value_or(1.0);
  if (offset == "+0" && speed == 1.0 && !r.Has("offset") && !r.Has("speed")) {
    r.Fail("kind", "a clock fault needs 'offset' (\"-30s\", \"+1h\") or 'speed' (2.0), or both");
  }
  if (env == nullptr) return nullptr;
  std::string spec = offset;
  if (speed != 1.0) {
    char x[32];
    std::snprintf(x, sizeof x, " x%g", speed);
    spec += x;
  }
  return std::make_unique<ClockFault>(*env, spec);
}

}  // namespace duende::faults::internal
