// The syscall-trace keys of a [[target]]: trace, trace_syscalls, trace_slow.
#include "duende/adapters/adapter.h"
#include "duende/harness/syscall_trace.h"
#include "scenario_read.h"

namespace duende::harness::internal {

void ReadTargetTrace(framework::TomlReader& r, TargetSpec* t) {
  t->trace_pos = r.PosOf("trace");
  t->trace = r.Bool("trace").value_or(false);
  if (auto slow = r.Duration("trace_slow")) t->trace_slow = *slow;
  auto names = r.StringArray("trace_syscalls");
  if (!names) return;
  const auto* array = r.table()["trace_syscalls"].as_array();
  for (size_t i = 0; i < names->size(); ++i) {
    const std::string& n = (*names)[i];
    if (IsTraceableSyscall(n)) {
      t->trace_syscalls.push_back(n);
      continue;
    }
    framework::SourcePos pos = r.PosOf("trace_syscalls");
    if (array != nullptr && i < array->size()) {
      const auto& src = (*array)[i].source();
      pos.line = src.begin.line;
      pos.column = src.begin.column;
    }
    r.diagnostics()->Add(pos,
                         "trace_syscalls: \"" + n +
                             "\" is not a system call of this machine nor a strace class; "
                             "use names such as \"fsync\", \"write\", \"%file\", \"%network\"");
  }
  if (!t->trace && !t->trace_syscalls.empty()) {
    r.Fail("trace_syscalls", "trace_syscalls has no effect without trace = true in " + r.where());
  }
}

/// Checks that need the whole target (its platform and whether duende starts it).
void CheckTargetTrace(framework::TomlReader& r, const TargetSpec& t) {
  if (!t.trace) return;
  if (t.external) {
    r.Fail("trace",
           "trace = true needs duende to start the target (it attaches strace to each "
           "process it starts); it cannot apply to external");
    return;
  }
  if (t.platform != "native") {
    auto traits = adapters::TraitsOf(
        adapters::ParsePlatform(t.platform).value_or(adapters::Platform::kNative));
    if (!traits.host_pid) {
      r.Fail("trace", "trace = true: platform " + t.platform +
                          " does not run the daemon as a host process strace can attach to; "
                          "run the target on native, systemd or oci");
    }
  }
}

}  // namespace duende::harness::internal

namespace duende::harness {

size_t EnableTracing(Scenario& scenario) {
  size_t n = 0;
  for (auto& t : scenario.targets) {
    if (t.external) continue;
    auto traits = adapters::TraitsOf(
        adapters::ParsePlatform(t.platform).value_or(adapters::Platform::kNative));
    if (t.platform != "native" && !traits.host_pid) continue;
    if (!t.trace) t.trace_pos = t.pos;
    t.trace = true;
    ++n;
  }
  return n;
}

}  // namespace duende::harness
