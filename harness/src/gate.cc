// Running a gate tier: each step is a child process (or several) with a timeout; its output
// goes to a log file (and optionally to the terminal); its outcome becomes a check.result
// event. The tier's events are then read back with ScenarioFromEvents, so gates are reported
// by exactly the same code as chaos runs.
#include "duende/harness/gate.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/framework/io.h"
#include "duende/framework/process.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/temp_dir.h"
#include "duende/model/event_log.h"
#include "duende/model/events.h"

namespace duende::harness {

namespace events = model::events;

using framework::Result;
using Json = nlohmann::json;
using model::Event;
using model::Verdict;

namespace {

// After TERM, a step's process group gets this long before KILL.
constexpr std::chrono::seconds kTermGrace{5};
// Output kept in memory per process (for evidence and for parsing); the log file has all.
constexpr size_t kMaxCapture = 1 << 20;

std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$`*?;&|<>()") == std::string::npos;
    if (plain) {
      out += a;
    } else {
      out += '\'';
      for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += '\'';
    }
  }
  return out;
}

std::string SafeFileName(const std::string& name) {
  std::string out;
  for (char c : name)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return out.empty() ? "step" : out;
}

std::vector<std::string> LastLines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - static_cast<ptrdiff_t>(n));
  return lines;
}

// How one child process went.
struct ProcessRun {
  std::optional<framework::Error> spawn_error;
  bool timed_out = false;
  bool interrupted = false;  ///< stopped because GateOptions::stop became true
  framework::ExitStatus status;
  std::string output;  ///< stdout+stderr interleaved, the last kMaxCapture bytes
  double seconds = 0;
};

// Runs argv with stdout+stderr into the log and the echo as they come; on a timeout or an
// interruption its process group gets TERM, then KILL after kTermGrace. Whatever the step
// leaves running in its group is stopped when it exits.
ProcessRun RunProcess(const std::vector<std::string>& argv, const std::string& cwd,
                      const std::vector<std::string>& env, std::chrono::nanoseconds timeout,
                      int log_fd, int echo_fd, const std::atomic<bool>* stop) {
  framework::CommandOptions o;
  o.working_dir = cwd;
  o.env_overrides = env;
  o.timeout = timeout;
  o.kill_grace = kTermGrace;
  o.merge_stderr = true;
  o.max_capture = kMaxCapture;
  o.stop = stop;
  o.on_output = [&](std::string_view data) {
    if (log_fd >= 0) (void)framework::WriteAll(log_fd, data);
    if (echo_fd >= 0) (void)framework::WriteAll(echo_fd, data);
  };
  ProcessRun run;
  auto r = framework::RunCommand(argv, o);
  if (!r.ok()) {
    run.spawn_error = r.error();
    return run;
  }
  run.timed_out = r->timed_out;
  run.interrupted = r->interrupted;
  run.status = r->status;
  run.output = std::move(r->out);
  run.seconds = std::chrono::duration<double>(r->elapsed).count();
  return run;
}

// The outcome of one step, before it becomes a check.result event.
struct StepOutcome {
  Verdict verdict = Verdict::kPass;
  std::string measured;
  std::string threshold;
  std::vector<std::string> evidence;
};

class TierRunner {
 public:
  TierRunner(const GateConfig& config, const GateTier& tier, const GateOptions& options)
      : config_(config), tier_(tier), opt_(options) {}

  model::ScenarioResult Run() {
    std::string log_dir = opt_.log_dir.empty() ? "" : opt_.log_dir;
    if (!log_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(log_dir, ec);
    }
    std::string title = "tier " + std::to_string(tier_.number);
    if (!tier_.name.empty()) title += ": " + tier_.name;
    Record(framework::MonotonicNs(), events::kRunStarted, "",
           {{"scenario", title},
            {"file", config_.file},
            {"description", tier_.description},
            {"seed", 0},
            {"replay_command",
             "duende gate --tier " + std::to_string(tier_.number) + " --config " + config_.file},
            {"wall_start_ns", framework::WallClockNs()}});
    std::vector<Verdict> verdicts;
    bool stopped = false;
    for (const GateStep& step : tier_.steps) {
      if (opt_.stop != nullptr && opt_.stop->load()) {
        stopped = true;
        break;
      }
      int64_t t0 = framework::MonotonicNs();
      Record(t0, events::kGateStepStarted, step.name,
             {{"kind", GateStepKindName(step.kind)},
              {"timeout_ns", step.timeout.count()},
              {"log", LogPath(step)}});
      StepOutcome out = RunStep(step);
      double secs = static_cast<double>(framework::MonotonicNs() - t0) / 1e9;
      Record(framework::MonotonicNs(), events::kGateStepFinished, step.name,
             {{"kind", GateStepKindName(step.kind)},
              {"verdict", model::VerdictName(out.verdict)},
              {"seconds", secs},
              {"measured", out.measured}});
      Record(framework::MonotonicNs(), events::kCheckResult, step.name,
             {{"kind", GateStepKindName(step.kind)},
              {"verdict", model::VerdictName(out.verdict)},
              {"measured", out.measured},
              {"threshold", out.threshold},
              {"evidence", out.evidence},
              {"duration_s", secs}});
      verdicts.push_back(out.verdict);
    }
    Verdict v = model::Combine(verdicts);
    if (stopped || (opt_.stop != nullptr && opt_.stop->load())) v = Verdict::kAborted;
    // A step that errored makes the tier fail, not "error": the gate itself ran.
    Record(framework::MonotonicNs(), events::kRunFinished, "",
           {{"verdict", model::VerdictName(v)},
            {"error", v == Verdict::kAborted ? "interrupted by a signal; the running step was "
                                               "stopped, the rest not run"
                                             : ""}});
    return model::ScenarioFromEvents(events_);
  }

 private:
  void Record(int64_t ts, const std::string& type, const std::string& target, Json data) {
    Event e{ts, type, target, std::move(data)};
    if (opt_.on_event) opt_.on_event(e);
    events_.push_back(std::move(e));
  }

  std::string LogPath(const GateStep& step) const {
    if (opt_.log_dir.empty()) return "";
    return opt_.log_dir + "/tier" + std::to_string(tier_.number) + "-" + SafeFileName(step.name) +
           ".log";
  }

  std::string Cwd(const GateStep& step) const {
    std::filesystem::path base = config_.base_dir.empty() ? "." : config_.base_dir;
    if (step.cwd.empty()) return base.string();
    std::filesystem::path c = step.cwd;
    return (c.is_absolute() ? c : base / c).lexically_normal().string();
  }

  std::string Resolve(const std::string& path) const {
    std::filesystem::path p = path;
    if (p.is_absolute() || config_.base_dir.empty()) return path;
    return (std::filesystem::path(config_.base_dir) / p).lexically_normal().string();
  }

  // Runs one process of a step, logging a header line first.
  ProcessRun Exec(const GateStep& step, const std::vector<std::string>& argv,
                  std::chrono::nanoseconds timeout) {
    framework::UniqueFd log;
    std::string path = LogPath(step);
    if (!path.empty()) {
      log.Reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
      std::string header = "$ " + JoinArgv(argv) + "\n";
      if (log) (void)!::write(log.get(), header.data(), header.size());
    }
    return RunProcess(argv, Cwd(step), step.env, timeout, log.get(), opt_.echo_fd, opt_.stop);
  }

  void TruncateLog(const GateStep& step) {
    std::string path = LogPath(step);
    if (!path.empty()) std::ofstream(path, std::ios::trunc);
  }

  // Evidence for a process that did not end well: how it ended and its last lines.
  std::vector<std::string> Evidence(const GateStep& step, const ProcessRun& r) {
    std::vector<std::string> ev;
    if (r.timed_out)
      ev.push_back("stopped after the timeout of " + framework::FormatDuration(step.timeout));
    if (r.interrupted) ev.push_back("stopped: the gate was interrupted");
    for (auto& l : LastLines(r.output, opt_.evidence_lines)) ev.push_back(std::move(l));
    std::string log = LogPath(step);
    if (!log.empty()) ev.push_back("full output: " + log);
    return ev;
  }

  static std::string ExitText(const ProcessRun& r) {
    if (r.timed_out) return "timed out";
    if (r.interrupted) return "interrupted";
    return r.status.ToString();
  }

  // True when `duende VERB` answered that it has no such verb.
  static bool MissingVerb(const ProcessRun& r) {
    return !r.spawn_error && !r.status.signaled && r.status.code == 2 &&
           r.output.find("unknown verb '") != std::string::npos;
  }

  StepOutcome RunStep(const GateStep& step) {
    TruncateLog(step);
    switch (step.kind) {
      case GateStepKind::kCommand:
        return Command(step);
      case GateStepKind::kScenario:
        return Scenarios(step);
      case GateStepKind::kExplore:
        return Verb(
            step, "explore",
            [&] {
              std::vector<std::string> a = {Resolve(step.path), "--budget", step.budget};
              a.insert(a.end(), step.argv.begin(), step.argv.end());
              return a;
            }(),
            "no failing plan within " + step.budget);
      case GateStepKind::kCoverage:
        return Coverage(step);
      case GateStepKind::kMutation: {
        // `duende mutate --min-score` takes percent; gates.toml says 0-1 like a ratio.
        char score[32];
        std::snprintf(score, sizeof score, "%g", step.min_score * 100);
        std::vector<std::string> a;
        if (!step.path.empty()) a.push_back(step.path);
        a.push_back("--min-score");
        a.push_back(score);
        a.insert(a.end(), step.argv.begin(), step.argv.end());
        return Verb(step, "mutate", a, std::string("score >= ") + score + "%");
      }
    }
    return {Verdict::kError, "?", "?", {}};
  }

  StepOutcome Command(const GateStep& step) {
    StepOutcome o;
    o.threshold = "exit 0";
    ProcessRun r = Exec(step, step.argv, step.timeout);
    if (r.spawn_error) {
      o.verdict = Verdict::kError;
      o.measured = "not started";
      o.evidence.push_back(r.spawn_error->Message());
      return o;
    }
    o.measured = ExitText(r);
    if (r.timed_out || !r.status.success()) {
      o.verdict = Verdict::kFail;
      o.evidence = Evidence(step, r);
    }
    return o;
  }

  // `duende VERB args...` as one step: exit 0 passes, 1 fails, anything else is an error.
  StepOutcome Verb(const GateStep& step, const std::string& verb, std::vector<std::string> args,
                   std::string threshold) {
    StepOutcome o;
    o.threshold = std::move(threshold);
    std::vector<std::string> argv = {opt_.duende_path, verb};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessRun r = Exec(step, argv, step.timeout);
    if (r.spawn_error) {
      o.verdict = Verdict::kError;
      o.measured = "not started";
      o.evidence.push_back(r.spawn_error->Message());
      return o;
    }
    if (MissingVerb(r)) {
      o.verdict = Verdict::kError;
      o.measured = "no '" + verb + "' verb";
      o.evidence.push_back("this duende (" + opt_.duende_path + ") has no '" + verb +
                           "' verb yet; the step cannot run");
      return o;
    }
    o.measured = ExitText(r);
    if (r.timed_out || r.status.signaled || r.status.code == 1) {
      o.verdict = Verdict::kFail;
    } else if (r.status.code != 0) {
      o.verdict = Verdict::kError;
    }
    if (o.verdict != Verdict::kPass) o.evidence = Evidence(step, r);
    return o;
  }

  StepOutcome Scenarios(const GateStep& step) {
    StepOutcome o;
    o.threshold = "every scenario passes";
    std::string path = Resolve(step.path);
    std::vector<std::string> files;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        if (entry.path().extension() == ".toml") files.push_back(entry.path().string());
      }
      std::sort(files.begin(), files.end());
    } else if (std::filesystem::exists(path, ec)) {
      files.push_back(path);
    }
    if (files.empty()) {
      o.verdict = Verdict::kError;
      o.measured = "no scenarios";
      o.evidence.push_back(path + ": no such scenario file or no *.toml in the directory");
      return o;
    }
    int64_t deadline = framework::MonotonicNs() + step.timeout.count();
    size_t passed = 0;
    std::vector<Verdict> verdicts;
    for (const std::string& file : files) {
      std::vector<std::string> argv = {opt_.duende_path, "run", file};
      argv.insert(argv.end(), step.argv.begin(), step.argv.end());
      auto left =
          std::chrono::nanoseconds(std::max<int64_t>(deadline - framework::MonotonicNs(), 1));
      ProcessRun r = Exec(step, argv, left);
      std::string name = std::filesystem::path(file).filename().string();
      Verdict v = Verdict::kPass;
      if (r.spawn_error) {
        v = Verdict::kError;
        o.evidence.push_back(name + ": " + r.spawn_error->Message());
      } else if (MissingVerb(r)) {
        v = Verdict::kError;
        o.evidence.push_back(name + ": this duende (" + opt_.duende_path +
                             ") has no 'run' verb yet; the scenario cannot run");
      } else if (r.timed_out || r.status.signaled || r.status.code == 1) {
        v = Verdict::kFail;
      } else if (r.status.code != 0) {
        v = Verdict::kError;
      }
      if (v == Verdict::kPass) {
        ++passed;
      } else if (!r.spawn_error && !MissingVerb(r)) {
        o.evidence.push_back(name + ": " + ExitText(r));
        for (auto& l : LastLines(r.output, 10)) o.evidence.push_back("  " + l);
      }
      verdicts.push_back(v);
    }
    o.verdict = model::Combine(verdicts);
    o.measured = std::to_string(passed) + " of " + std::to_string(files.size()) + " passed";
    std::string log = LogPath(step);
    if (o.verdict != Verdict::kPass && !log.empty()) o.evidence.push_back("full output: " + log);
    return o;
  }

  StepOutcome Coverage(const GateStep& step) {
    StepOutcome o;
    for (const auto& t : step.thresholds) {
      if (!o.threshold.empty()) o.threshold += ", ";
      o.threshold += (t.path.empty() ? "all" : t.path) + " lines >= " + Pct(t.min_lines);
      if (t.min_branches) o.threshold += " branches >= " + Pct(*t.min_branches);
    }
    // Without a log directory the summary goes to a private directory (mkdtemp, 0700), never
    // to a fixed name in a shared /tmp where another user could plant a link for gcovr to
    // follow; the directory is removed when the step is done.
    framework::PrivateTempDir scratch;
    std::string summary_dir = opt_.log_dir;
    if (summary_dir.empty()) {
      auto made = framework::PrivateTempDir::Make("duende-gcovr");
      if (!made.ok()) {
        o.verdict = Verdict::kError;
        o.measured = "no directory for gcovr's summary";
        o.evidence.push_back(made.error().Message());
        return o;
      }
      scratch = std::move(*made);
      summary_dir = scratch.path();
    }
    std::string summary = summary_dir + "/tier" + std::to_string(tier_.number) + "-" +
                          SafeFileName(step.name) + "-gcovr.json";
    std::vector<std::string> argv = {opt_.gcovr_path,  "--root", Resolve(step.root),
                                     "--json-summary", summary,  Resolve(step.build_dir)};
    argv.insert(argv.end(), step.argv.begin(), step.argv.end());
    ProcessRun r = Exec(step, argv, step.timeout);
    if (r.spawn_error || r.timed_out || !r.status.success()) {
      o.verdict = Verdict::kError;
      o.measured = r.spawn_error ? "gcovr not started" : "gcovr " + ExitText(r);
      if (r.spawn_error) {
        o.evidence.push_back(r.spawn_error->Message());
      } else {
        o.evidence = Evidence(step, r);
      }
      return o;
    }
    // gcovr's per-file totals: far below the cap even for large projects.
    auto text = framework::ReadFileLimited(summary, framework::kMaxSmallFileBytes);
    auto files = text.ok() ? ParseGcovrSummary(*text)
                           : framework::Result<std::vector<FileCoverage>>(text.error());
    if (!files) {
      o.verdict = Verdict::kError;
      o.measured = "unreadable gcovr summary";
      o.evidence.push_back(summary + ": " + files.error().Message());
      return o;
    }
    std::vector<Verdict> verdicts;
    for (const auto& t : step.thresholds) {
      FileCoverage c = SumCoverage(*files, t.path);
      std::string label = t.path.empty() ? "all" : t.path;
      if (c.lines_total == 0) {
        verdicts.push_back(Verdict::kError);
        o.evidence.push_back(label +
                             ": no coverage data (no instrumented file under this "
                             "path ran; was the coverage build tested?)");
        if (!o.measured.empty()) o.measured += ", ";
        o.measured += label + " no data";
        continue;
      }
      double lines =
          100.0 * static_cast<double>(c.lines_covered) / static_cast<double>(c.lines_total);
      double branches = c.branches_total == 0 ? 100.0
                                              : 100.0 * static_cast<double>(c.branches_covered) /
                                                    static_cast<double>(c.branches_total);
      bool ok =
          lines + 1e-9 >= t.min_lines && (!t.min_branches || branches + 1e-9 >= *t.min_branches);
      verdicts.push_back(ok ? Verdict::kPass : Verdict::kFail);
      if (!o.measured.empty()) o.measured += ", ";
      o.measured += label + " " + Pct(lines);
      std::string line = label + ": lines " + Pct(lines) + " (" + std::to_string(c.lines_covered) +
                         "/" + std::to_string(c.lines_total) + "), branches " + Pct(branches) +
                         " (" + std::to_string(c.branches_covered) + "/" +
                         std::to_string(c.branches_total) + ")" + (ok ? "" : " BELOW THRESHOLD");
      o.evidence.push_back(line);
    }
    o.verdict = model::Combine(verdicts);
    return o;
  }

  static std::string Pct(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", v);
    return buf;
  }

  const GateConfig& config_;
  const GateTier& tier_;
  const GateOptions& opt_;
  std::vector<Event> events_;
};

}  // namespace

model::ScenarioResult RunGateTier(const GateConfig& config, const GateTier& tier,
                                  const GateOptions& options) {
  return TierRunner(config, tier, options).Run();
}

Result<std::vector<FileCoverage>> ParseGcovrSummary(const std::string& json_text) {
  Json doc = Json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("files") ||
      !doc["files"].is_array()) {
    return framework::MessageError("not a gcovr JSON summary (no \"files\" array)");
  }
  std::vector<FileCoverage> out;
  for (const Json& f : doc["files"]) {
    if (!f.is_object() || !f.contains("filename") || !f["filename"].is_string()) {
      return framework::MessageError("not a gcovr JSON summary (a file entry has no filename)");
    }
    FileCoverage c;
    c.file = f["filename"].get<std::string>();
    c.lines_total = f.value("line_total", int64_t{0});
    c.lines_covered = f.value("line_covered", int64_t{0});
    c.branches_total = f.value("branch_total", int64_t{0});
    c.branches_covered = f.value("branch_covered", int64_t{0});
    out.push_back(std::move(c));
  }
  return out;
}

FileCoverage SumCoverage(const std::vector<FileCoverage>& files, const std::string& prefix) {
  FileCoverage sum;
  sum.file = prefix;
  for (const auto& f : files) {
    if (f.file.compare(0, prefix.size(), prefix) != 0) continue;
    sum.lines_total += f.lines_total;
    sum.lines_covered += f.lines_covered;
    sum.branches_total += f.branches_total;
    sum.branches_covered += f.branches_covered;
  }
  return sum;
}

}  // namespace duende::harness
