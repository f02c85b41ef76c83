// Syscall traces of the targets with trace = true (syscall_tracer.h): strace attached to each
// process the supervisor or a platform starts, and after the stop the trace.summary and
// trace.window events the reports render (docs/tracing.md).
#include "duende/harness/syscall_trace.h"
#include "run.h"
#include "syscall_tracer.h"

namespace duende::harness::internal {

namespace {

// An attach that failed because the process was already gone (a crash loop outran strace) is
// not the environment's fault; anything else (ptrace refused, strace broken) is.
bool ProcessGone(const std::string& error) {
  return error.find("No such process") != std::string::npos;
}

}  // namespace

bool Run::StartTracing() {
  bool any = false;
  for (const auto& [name, st] : targets_) any = any || st.spec->trace;
  if (!any) return true;
  auto strace = ResolveProgram("strace");
  if (!strace.ok()) {
    Fail("trace = true needs strace (apt-get install strace): " + strace.error().Message());
    return false;
  }
  SyscallTracer::Options o;
  o.strace = *strace;
  o.dir = run_dir_ + "/trace";
  auto tracer = SyscallTracer::Create(
      o,
      [this](const SyscallTracer::Trace& t) {
        rec_.Record(events::kTraceStarted, t.target,
                    {{"pid", t.pid},
                     {"strace_pid", t.strace_pid},
                     {"file", t.file},
                     {"wall_minus_mono_ns", tracer_->wall_minus_mono_ns()}});
        std::lock_guard lock(mu_);
        traced_pids_.insert(t.pid);
        cv_.notify_all();
      },
      [this](const SyscallTracer::Trace& t) {
        rec_.Record(events::kTraceError, t.target,
                    {{"pid", t.pid}, {"error", t.error}, {"process_gone", ProcessGone(t.error)}});
        std::lock_guard lock(mu_);
        if (!ProcessGone(t.error) && trace_error_.empty()) {
          trace_error_ = "target " + t.target + ": strace could not trace pid " +
                         std::to_string(t.pid) + ": " + t.error +
                         " (strace needs ptrace: root or CAP_SYS_PTRACE, kernel.yama.ptrace_scope "
                         "below 3, and no seccomp or container policy denying ptrace)";
        }
        cv_.notify_all();
      });
  if (!tracer.ok()) {
    Fail("unable to start the syscall tracer: " + tracer.error().Message());
    return false;
  }
  tracer_ = std::move(tracer).value();
  return true;
}

void Run::TraceProcess(const std::string& target, pid_t pid) {
  if (!tracer_ || pid <= 0) return;
  auto it = targets_.find(target);
  if (it == targets_.end() || !it->second.spec->trace) return;
  tracer_->Attach(target, pid, it->second.spec->trace_syscalls);
}

bool Run::WaitTraceAttached() {
  if (!tracer_) return true;
  // The timeline starts once strace follows every traced target's current process, so the
  // first fault window is covered; a refused ptrace stops the run here, before any fault.
  const int64_t deadline = MonotonicNs() + 10'000 * kMs;
  std::unique_lock lock(mu_);
  for (auto& [name, st] : targets_) {
    if (!st.spec->trace) continue;
    while (trace_error_.empty() && st.pid > 0 && traced_pids_.count(st.pid) == 0) {
      lock.unlock();
      if (!SleepUntil(std::min(deadline, MonotonicNs() + 10 * kMs))) return false;
      lock.lock();
      if (MonotonicNs() >= deadline) {
        Fail("target " + name + ": strace did not attach to pid " + std::to_string(st.pid) +
             " within 10 s (its messages: " + run_dir_ + "/trace/" + name + "." +
             std::to_string(st.pid) + ".stderr)");
        return false;
      }
    }
  }
  if (!trace_error_.empty()) {
    Fail(trace_error_);
    return false;
  }
  return true;
}

void Run::FinishTracing() {
  if (!tracer_) return;
  tracer_->Stop();
  {
    std::lock_guard lock(mu_);
    if (!trace_error_.empty()) Fail(trace_error_);
  }
  const auto traces = tracer_->Traces();
  const auto log = rec_.Snapshot();
  const int64_t end_ns = MonotonicNs();
  for (const auto& [name, st] : targets_) {
    if (!st.spec->trace) continue;
    std::vector<SyscallRecord> calls;
    json pids = json::array(), files = json::array();
    uint64_t bytes = 0, dropped = 0;
    // Traced processes in the order they were started (their pids' trace.started order is
    // the tracer's; sorting by first call keeps a restart after the process it replaced).
    std::vector<std::pair<int64_t, std::vector<SyscallRecord>>> per_process;
    for (const auto& t : traces) {
      if (t.target != name || !t.attached) continue;
      pids.push_back(t.pid);
      files.push_back(t.file);
      bytes += t.bytes;
      dropped += t.dropped;
      StraceParser parser(tracer_->wall_minus_mono_ns());
      std::ifstream in(t.file);
      std::string line;
      std::vector<SyscallRecord> mine;
      while (framework::GetLineLimited(in, &line, 1 << 16)) {
        if (auto r = parser.Feed(line)) mine.push_back(std::move(*r));
      }
      const int64_t first = mine.empty() ? INT64_MAX : mine.front().start_ns;
      per_process.emplace_back(first, std::move(mine));
    }
    std::stable_sort(per_process.begin(), per_process.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [first, mine] : per_process) {
      calls.insert(calls.end(), std::make_move_iterator(mine.begin()),
                   std::make_move_iterator(mine.end()));
    }
    rec_.Record(events::kTraceSummary, name,
                {{"pids", pids},
                 {"files", files},
                 {"dir", run_dir_ + "/trace"},
                 {"calls", calls.size()},
                 {"bytes", bytes},
                 {"dropped_bytes", dropped},
                 {"syscalls_filter", st.spec->trace_syscalls},
                 {"slow_ns", st.spec->trace_slow.count()},
                 {"wall_minus_mono_ns", tracer_->wall_minus_mono_ns()},
                 {"syscalls", SummarizeSyscalls(calls)}});
    // Each fault window on this target, from its injection to its heal (or the end).
    std::map<std::string, std::pair<const model::Event*, int64_t>> open;
    std::vector<std::tuple<std::string, const model::Event*, int64_t>> windows;
    for (const auto& e : log) {
      if (e.type == events::kFaultInjected && e.data.value("on", std::string()) == name) {
        open[e.target] = {&e, end_ns};
      } else if (e.type == events::kFaultHealed) {
        auto it = open.find(e.target);
        if (it == open.end()) continue;
        windows.emplace_back(e.target, it->second.first, e.ts_ns);
        open.erase(it);
      }
    }
    for (auto& [fault, ev] : open) windows.emplace_back(fault, ev.first, end_ns);
    for (const auto& [fault, injected, healed_ns] : windows) {
      json w = WindowCalls(calls, injected->ts_ns, healed_ns, st.spec->trace_slow.count());
      w["on"] = name;
      w["kind"] = injected->data.value("kind", std::string());
      w["start_ns"] = injected->ts_ns;
      w["end_ns"] = healed_ns;
      rec_.Record(events::kTraceWindow, fault, std::move(w));
    }
  }
}

}  // namespace duende::harness::internal
