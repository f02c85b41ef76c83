#include "duende/harness/runner.h"

#include "duende/framework/install_location.h"
#include "run.h"

namespace duende::harness::internal {

// A free loopback port (bound, read, closed: the target binds it right after).
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  close(fd);
  return port;
}

uint16_t PortOf(const std::string& address) {
  auto hp = framework::SplitHostPort(address);
  return hp ? hp->port : 0;
}

json TomlToJson(const toml::node& n) {
  if (const auto* t = n.as_table()) {
    json o = json::object();
    for (const auto& [k, v] : *t) o[std::string(k.str())] = TomlToJson(v);
    return o;
  }
  if (const auto* a = n.as_array()) {
    json arr = json::array();
    for (const auto& v : *a) arr.push_back(TomlToJson(v));
    return arr;
  }
  if (auto s = n.value<std::string>(); s && n.is_string()) return *s;
  if (n.is_integer()) return n.as_integer()->get();
  if (n.is_floating_point()) return n.as_floating_point()->get();
  if (n.is_boolean()) return n.as_boolean()->get();
  return "(date/time)";
}

std::string Run::Expand(const std::string& text) {
  return internal::ExpandVariables(
      text, [this](std::string_view var) -> std::optional<std::string> {
        if (var.rfind("port.", 0) == 0 || var.rfind("proxy.", 0) == 0) {
          auto& p = ports_[std::string(var)];
          if (p == 0) p = FreePort();
          return std::to_string(p);
        }
        if (var == "run_dir") return run_dir_;
        if (var == "events") return o_.events_path.empty() ? events_path_ : o_.events_path;
        if (var.rfind("load.", 0) == 0) return LoadVariable(var.substr(5));
        if (var == "seed") return std::to_string(seed_);
        if (var.rfind("node.", 0) == 0) return NodeVariable(var.substr(5));
        if (var.rfind("env.", 0) == 0) {
          const char* v = std::getenv(std::string(var.substr(4)).c_str());
          return v == nullptr ? "" : v;
        }
        if (var.rfind("file.", 0) == 0) {
          if (const FileSpec* f = FindFile(s_, std::string(var.substr(5)))) {
            return run_dir_ + "/" + f->path;
          }
        }
        return std::nullopt;
      });
}

std::optional<std::string> Run::LoadVariable(std::string_view name) const {
  if (!internal::IsLoadVariable(name)) return std::nullopt;
  if (load_summary_.is_null()) return std::string();
  if (name == "summary") return load_summary_.dump();
  auto it = load_summary_.find(std::string(name));
  if (it == load_summary_.end()) return std::string();
  return it->is_number_float() ? std::to_string(it->get<double>()) : it->dump();
}

bool Run::Aborted() {
  if (aborted_) return true;
  if (o_.abort_fd < 0) return false;
  pollfd p{o_.abort_fd, POLLIN, 0};
  if (poll(&p, 1, 0) > 0) {
    aborted_ = true;
    rec_.Record(events::kRunInterrupted, "", {{"reason", "signal"}});
  }
  return aborted_;
}

bool Run::SleepUntil(int64_t deadline_ns) {
  while (true) {
    if (Aborted()) return false;
    int64_t left = deadline_ns - MonotonicNs();
    if (left <= 0) return true;
    if (o_.abort_fd >= 0) {
      pollfd p{o_.abort_fd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left / kMs)));
    } else {
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(left, 50 * kMs)));
    }
  }
}

bool Run::Prepare() {
  // Scratch directory for the targets' data and logs.
  // A private directory (mkdtemp, 0700) in ${TMPDIR:-/tmp}: the FIFOs and clock files of the
  // targets live there, where no other user can plant a name.
  auto dir = framework::MakePrivateTempDir("duende-run");
  if (!dir.ok()) {
    Fail("unable to create a run directory: " + dir.error().Message());
    return false;
  }
  run_dir_ = *dir;
  fs::create_directories(run_dir_ + "/logs");
  if (o_.events_path.empty()) {
    // Without --events the log still exists, in the run directory (kept when the run does not
    // pass, or with --keep), so a message can always point to it and a command probe or a
    // post-mortem can read it as {events}, in `duende run` and under the explorer alike.
    events_path_ = run_dir_ + "/events.jsonl";
    if (auto r = rec_.OpenFile(events_path_); !r.ok()) {
      Fail("unable to write the event log: " + r.error().Message());
      return false;
    }
  }
  // Leftovers of runs that were killed are healed first; then this run's journal.
  auto heal = faults::HealLeftovers();
  if (heal.journals_healed > 0) {
    rec_.Record(events::kRunHealedLeftovers, "",
                {{"journals", heal.journals_healed}, {"actions", heal.actions}});
  }
  auto journal = faults::UndoJournal::Create();
  if (!journal.ok()) {
    Fail("unable to create the undo journal: " + journal.error().Message());
    return false;
  }
  journal_ = std::move(journal).value();
  // A killed run's directory (logs, FIFO and clock files) is removed by the next heal.
  if (auto j = journal_->Begin({"dir", {run_dir_}}); j.ok()) run_dir_journal_ = *j;
  env_.seed = seed_;
  env_.journal = journal_.get();
  env_.scratch_dir = run_dir_;
  env_.run_id = "duende-" + std::to_string(getpid()) + "-" + std::to_string(seed_ % 100000);
  env_.find_proxy = [this](const std::string& target) -> faults::Proxy* {
    auto it = targets_.find(target);
    return it == targets_.end() ? nullptr : it->second.proxy.get();
  };
  if (!CreateNodes()) return false;

  for (const auto& t : s_.targets) {
    TargetState st;
    st.spec = &t;
    st.expanded = t;
    for (auto& a : st.expanded.command) a = Expand(a);
    for (auto& [k, v] : st.expanded.env) v = Expand(v);
    st.expanded.address = Expand(t.address);
    st.expanded.pid_file = Expand(t.pid_file);
    st.expanded.working_dir = Expand(t.working_dir);
    st.expanded.data_tmpfs_path = Expand(t.data_tmpfs_path);
    st.port = PortOf(st.expanded.address);
    targets_[t.name] = std::move(st);
  }
  if (!RenderFiles()) return false;
  // Proxies in front of targets that ask for one.
  for (auto& [name, st] : targets_) {
    if (!st.spec->proxy) continue;
    if (st.port == 0) {
      Fail("target " + name + " has proxy = true but no address with a port");
      return false;
    }
    uint16_t listen = static_cast<uint16_t>(std::stoi(Expand("{proxy." + name + "}")));
    auto p = faults::Proxy::Start(listen, st.port, seed_);
    if (!p.ok()) {
      Fail("unable to start the proxy in front of " + name + ": " + p.error().Message());
      return false;
    }
    st.proxy = std::move(p).value();
    st.proxy_port = st.proxy->port();
    rec_.Record(events::kProxyStarted, name,
                {{"listen_port", st.proxy_port}, {"target_port", st.port}});
  }
  // Faults: every injection gets its own injector, created before anything starts so that a
  // bad parameter costs nothing.
  for (const auto& f : s_.faults) {
    auto times = InjectionTimes(f);
    for (size_t i = 0; i < times.size(); ++i) {
      auto fault = MakeFault(f);
      if (!fault.ok()) {
        Fail("fault " + f.name + ": " + fault.error().Message());
        return false;
      }
      FaultInstance fi;
      fi.spec = &f;
      fi.inject_at = times[i].count();
      fi.heal_at = (times[i] + f.duration.value_or(nanoseconds{0})).count();
      fi.fault = std::move(fault).value();
      faults_.push_back(std::move(fi));
    }
  }
  // Load.
  if (s_.load) {
    const LoadSpec& l = *s_.load;
    LoadConfig c = internal::LoadConfigFor(l, s_.meta.duration, seed_);
    std::string address = l.address;
    if (address.empty()) {
      const auto& t = targets_.at(l.target);
      address = t.proxy ? "127.0.0.1:" + std::to_string(t.proxy_port) : t.expanded.address;
    }
    c.address = Expand(address);
    SpreadLoad(c);
    if (c.address.empty()) {
      Fail("[load] has no address: give address = \"127.0.0.1:PORT\" or an address to target " +
           l.target);
      return false;
    }
    auto gen = LoadGenerator::Create(c);
    if (!gen.ok()) {
      Fail("[load]: " + gen.error().Message());
      return false;
    }
    load_config_ = c;
    load_ = std::move(gen).value();
  }
  return true;
}

RunOutcome Run::Go() {
  seed_ = o_.seed ? *o_.seed : s_.meta.seed ? *s_.meta.seed : std::random_device{}();
  if (!o_.events_path.empty()) {
    auto r = rec_.OpenFile(o_.events_path);
    if (!r.ok()) {
      RunOutcome out;
      out.result.name = s_.meta.name;
      out.result.verdict = Verdict::kError;
      out.result.error = r.error().Message();
      out.exit_code = framework::kExitEnvironment;
      return out;
    }
  }
  if (o_.reporter != nullptr) {
    rec_.SetObserver([this](const model::Event& e) { o_.reporter->OnEvent(e); });
  }
  std::string replay = o_.replay_prefix + " " + s_.file + " --seed " + std::to_string(seed_);
  for (const auto& ov : s_.overrides) replay += " --set '" + ov + "'";
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  const int64_t start = rec_.Record(events::kRunStarted, "",
                                    {{"scenario", s_.meta.name},
                                     {"file", s_.file},
                                     {"description", s_.meta.description},
                                     {"seed", seed_},
                                     {"replay_command", replay},
                                     {"wall_start_ns", framework::WallClockNs()},
                                     {"duration_ns", s_.meta.duration.count()},
                                     {"hostname", host},
                                     {"tool_version", DUENDE_VERSION}});
  if (o_.reporter != nullptr) {
    model::ScenarioResult header;
    header.name = s_.meta.name;
    header.file = s_.file;
    header.description = s_.meta.description;
    header.seed = seed_;
    header.replay_command = replay;
    header.start_ns = start;
    header.wall_start_ns = framework::WallClockNs();
    o_.reporter->OnScenarioStart(header);
  }

  bool ok = Prepare() && StartTracing() && StartTargets();
  if (ok) {
    sampler_ = std::thread([this] { SamplerLoop(); });
    ok = WaitReady() && WaitTraceAttached();
  }
  if (ok) {
    rec_.Record(events::kRunPhase, "", {{"phase", "steady"}});
    if (!WaitSteady("before", "", s_.steady_state.recover_timeout.count())) {
      if (!aborted_) Fail("the steady state does not hold before any fault (see steady_state)");
      ok = false;
    }
  }
  if (ok) {
    recovery_ = std::thread([this] { RecoveryLoop(); });
    t0_ = MonotonicNs();
    rec_.Record(events::kRunPhase, "", {{"phase", "faults"}, {"t0_ns", t0_}});
    if (load_) {
      load_start_ns_ = MonotonicNs();
      const int64_t ls = load_start_ns_;
      load_->Start(
          [this, ls](const LoadSecond& sec) {
            rec_.Record(events::kLoadSecond, "load",
                        {{"second", sec.second},
                         {"start_ns", ls + sec.second * 1000 * kMs},
                         {"span_ns", sec.span_ns},
                         {"sent", sec.sent},
                         {"ok", sec.ok},
                         {"errors", sec.errors},
                         {"timeouts", sec.timeouts},
                         {"rate", sec.rate},
                         {"p50_us", sec.p50_us},
                         {"p90_us", sec.p90_us},
                         {"p99_us", sec.p99_us},
                         {"p999_us", sec.p999_us},
                         {"max_us", sec.max_us}});
          },
          [this](std::vector<LoadOp>&& ops) {
            rec_.Record(events::kLoadOps, "load", EncodeOps(ops));
          });
    }
    ok = Timeline();
  }
  if (ok && load_) {
    load_->Wait();
    auto sum = load_->Summary();
    json ex = sum.error_examples;
    json traced = json::object();  // trace ids of failed and slowest requests (traceparent)
    for (const auto* list : {&sum.failed_traces, &sum.slowest_traces}) {
      json a = json::array();
      for (const auto& t : *list) {
        a.push_back(
            {{"trace_id", t.trace_id}, {"latency_us", t.latency_us}, {"outcome", t.outcome}});
      }
      if (!a.empty()) traced[list == &sum.failed_traces ? "failed" : "slowest"] = std::move(a);
    }
    load_summary_ = json{{"sent", sum.sent},           {"ok", sum.ok},
                         {"errors", sum.errors},       {"timeouts", sum.timeouts},
                         {"abandoned", sum.abandoned}, {"achieved_rate", sum.achieved_rate},
                         {"p50_us", sum.p50_us},       {"p99_us", sum.p99_us},
                         {"max_us", sum.max_us}};
    json summary = {{"sent", sum.sent},
                    {"ok", sum.ok},
                    {"errors", sum.errors},
                    {"timeouts", sum.timeouts},
                    {"abandoned", sum.abandoned},
                    {"connects", sum.connects},
                    {"achieved_rate", sum.achieved_rate},
                    {"target_rate", sum.target_rate},
                    {"p50_us", sum.p50_us},
                    {"p90_us", sum.p90_us},
                    {"p99_us", sum.p99_us},
                    {"p999_us", sum.p999_us},
                    {"max_us", sum.max_us},
                    {"error_examples", ex}};
    if (!traced.empty()) summary["trace_ids"] = std::move(traced);
    if (!sum.stalls.empty()) {
      json stalls = json::array();
      for (const LoadStall& st : sum.stalls) {
        stalls.push_back({{"start_ns", st.start_ns}, {"end_ns", st.end_ns}});
      }
      summary["stalls"] = std::move(stalls);
    }
    rec_.Record(events::kLoadSummary, "load", std::move(summary));
  }
  if (ok) {
    rec_.Record(events::kRunPhase, "", {{"phase", "recovery"}});
    // Wait for the recovery watches of the last heals, then for the steady state itself.
    ok = WaitSteady("after", "", s_.steady_state.recover_timeout.count()) || !Aborted();
  }
  if (ok && !aborted_ && load_ && !load_config_->read_template.empty()) {
    rec_.Record(events::kRunPhase, "", {{"phase", "readback"}});
    auto rb = ReadBack(*load_config_, load_->LastAckedPerKey());
    if (!rb.ok()) {
      rec_.Record(events::kReadbackResult, "load", {{"error", rb.error().Message()}, {"lost", 0}});
    } else {
      json ex = json::array();
      for (const auto& [key, acked, found] : rb->lost_examples) {
        ex.push_back({{"key", key}, {"acked", acked}, {"found", found}});
      }
      // Every read into the history, in event-sized batches (the check recomputes from them).
      constexpr size_t kBatch = 5000;
      for (size_t i = 0; i < rb->reads.size(); i += kBatch) {
        std::vector<LoadOp> part(
            rb->reads.begin() + static_cast<ptrdiff_t>(i),
            rb->reads.begin() + static_cast<ptrdiff_t>(std::min(i + kBatch, rb->reads.size())));
        rec_.Record(events::kReadbackOps, "load", EncodeOps(part, true));
      }
      rec_.Record(events::kReadbackResult, "load",
                  {{"keys", rb->keys},
                   {"unique_keys", load_config_->keys == 0},
                   {"acked_writes", rb->acked_writes},
                   {"lost", rb->lost},
                   {"lost_examples", ex}});
    }
  }
  if (ok && !aborted_) {
    for (const auto& c : s_.checks) {
      if (c.kind != "command_probe") continue;
      ProbeSpec p;
      p.name = c.name;
      p.kind = ProbeSpec::Kind::kCommand;
      for (const auto& a : c.command) p.command.push_back(Expand(a));
      p.timeout = std::chrono::seconds(10);
      auto r = internal::RunProbe(p);
      rec_.Record(events::kProbeResult, c.name,
                  {{"name", c.name},
                   {"ok", r.ok},
                   {"detail", r.detail},
                   {"phase", "check"},
                   {"stdout", r.out},
                   {"stderr", r.err}});
    }
  }
  StopEverything();
  FinishTracing();
  RecordLeftovers();
  RecordLogs();
  {
    std::lock_guard lock(mu_);
    if (!daemonized_error_.empty()) Fail(daemonized_error_);
  }
  rec_.Record(events::kRunPhase, "", {{"phase", "done"}});

  auto events = rec_.Snapshot();
  std::vector<Verdict> verdicts;
  for (const auto& c : EvaluateChecks(s_, events)) {
    verdicts.push_back(c.verdict);
    rec_.Record(events::kCheckResult, c.name,
                {{"kind", c.kind},
                 {"verdict", model::VerdictName(c.verdict)},
                 {"measured", c.measured},
                 {"threshold", c.threshold},
                 {"evidence", c.evidence},
                 {"duration_s", c.duration_s}});
  }
  Verdict v = model::Combine(verdicts);
  if (!error_.empty()) v = Verdict::kError;
  if (aborted_) v = Verdict::kAborted;
  if (aborted_ && error_.empty())
    error_ = "interrupted by a signal; faults healed, targets stopped";
  if (auto fe = rec_.file_error()) {
    if (error_.empty()) error_ = fe->Message();
    if (v == Verdict::kPass || v == Verdict::kFail) v = Verdict::kError;
  }
  rec_.Record(events::kRunFinished, "", {{"verdict", model::VerdictName(v)}, {"error", error_}});

  KeepOrRemoveRunDir(v);
  if (journal_ && run_dir_journal_ != 0) journal_->Done(run_dir_journal_);
  RunOutcome out;
  out.run_dir = run_dir_;
  out.run_dir_kept = run_dir_kept_;
  if (tracer_ && run_dir_kept_) out.trace_dir = run_dir_ + "/trace";
  out.events_path = !o_.events_path.empty() ? o_.events_path
                    : run_dir_kept_         ? events_path_
                                            : std::string();
  out.result = model::ScenarioFromEvents(rec_.Snapshot());
  out.result.verdict = v;
  out.result.error = error_;
  if (o_.reporter != nullptr) {
    rec_.SetObserver(nullptr);
    o_.reporter->OnScenarioEnd(out.result);
  }
  out.exit_code = model::ExitCodeFor(v);
  return out;
}

}  // namespace duende::harness::internal

namespace duende::harness {

namespace fs = std::filesystem;

std::vector<std::string> ProgramSearchDirs() {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("DUENDE_FIXTURES_DIR"); d != nullptr && *d != '\0') {
    dirs.emplace_back(d);
  }
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(self.parent_path().string());
  for (auto& d : framework::RuntimeDirs(framework::RuntimeDir::kPrograms)) {
    dirs.push_back(std::move(d));
  }
  return dirs;
}

int ProgramAccessMode(const std::string& program) {
  // A WebAssembly module is the program of a wasi target: read by its runtime, not executed.
  const std::string_view wasm = ".wasm";
  return program.size() > wasm.size() &&
                 program.compare(program.size() - wasm.size(), wasm.size(), wasm) == 0
             ? R_OK
             : X_OK;
}

framework::Result<std::string> ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  auto found = framework::FindExecutable(program);
  if (found.ok()) return found;
  std::string looked = "PATH";
  for (const auto& d : ProgramSearchDirs()) {
    std::string p = d + "/" + program;
    if (access(p.c_str(), ProgramAccessMode(program)) == 0) return p;
    looked += ", " + d;
  }
  return framework::ErrnoError("unable to find " + program + " (looked in " + looked + ")", ENOENT);
}

RunOutcome RunScenario(const Scenario& scenario, const RunOptions& options) {
  internal::Run run(scenario, options);
  return run.Go();
}

}  // namespace duende::harness
