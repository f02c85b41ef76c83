// Tiered quality gates: "is this good enough to merge" as one command with one exit code.
//
// gates.toml lists tiers (1 on save, 2 on commit, 3 on merge); each tier lists steps: a
// command, scenarios run with `duende run`, an exploration budget (`duende explore`), a
// coverage threshold (gcovr) or a mutation-score threshold (`duende mutate`). RunTier runs a
// tier's steps in order and records them as events, so a tier is reported like a scenario:
// tier -> ScenarioResult, step -> CheckResult (measured, threshold, evidence). The format is
// documented in docs/gates.md.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/toml_reader.h"
#include "duende/model/model.h"

namespace duende::harness {

enum class GateStepKind { kCommand, kScenario, kExplore, kCoverage, kMutation };

/// "command", "scenario", "explore", "coverage", "mutation"
const char* GateStepKindName(GateStepKind kind);

/// A coverage threshold for the files under one path (relative to the coverage root).
struct CoverageThreshold {
  std::string path;                    ///< prefix such as "framework/"; "" = every file
  double min_lines = 0;                ///< percent, 0-100
  std::optional<double> min_branches;  ///< percent, 0-100
  framework::SourcePos pos;
};

struct GateStep {
  std::string name;
  GateStepKind kind = GateStepKind::kCommand;
  framework::SourcePos pos;  ///< where the step is defined in gates.toml
  /// Longest the step may run; it is then stopped (TERM, then KILL after 5 s) and fails.
  std::chrono::nanoseconds timeout{0};
  /// Working directory (relative to the directory of gates.toml).
  std::string cwd;
  /// "NAME=value" added to the environment.
  std::vector<std::string> env;

  /// command: the argv; scenario/explore/mutation: extra arguments for the duende verb.
  std::vector<std::string> argv;
  /// scenario: a file or a directory of *.toml; explore/mutation: the scenario or target.
  std::string path;
  /// explore: the budget passed as --budget ("60s", "200").
  std::string budget;
  /// coverage: the build directory holding .gcda files, and the source root.
  std::string build_dir;
  std::string root;
  std::vector<CoverageThreshold> thresholds;
  /// mutation: the lowest acceptable score, 0-1 (passed as --min-score).
  double min_score = 0;
};

struct GateTier {
  int number = 0;
  std::string name;  ///< "on save"
  std::string description;
  std::vector<GateStep> steps;
  framework::SourcePos pos;
};

struct GateConfig {
  std::string file;      ///< gates.toml as given
  std::string base_dir;  ///< its directory: relative paths in steps are resolved from here
  std::map<std::string, std::string> vars;
  std::vector<GateTier> tiers;

  /// The tier with this number, or nullptr.
  const GateTier* FindTier(int number) const;
};

/// Reads gates.toml through TomlReader. `overrides` ("name=value") replace [vars] before
/// ${name} references in strings are expanded. Errors (invalid_argument) list every problem
/// as "file:line:col: message" with the fix: unknown keys or step kinds, bad thresholds,
/// undefined ${vars}, duplicate tier numbers or step names. ENOENT etc. when unreadable.
framework::Result<GateConfig> LoadGateConfig(const std::string& path,
                                             const std::vector<std::string>& overrides = {});

/// The same from text; `name` is used as the file name in messages.
framework::Result<GateConfig> ParseGateConfig(std::string_view text, const std::string& name,
                                              const std::string& base_dir,
                                              const std::vector<std::string>& overrides = {});

struct GateOptions {
  /// The duende executable that scenario/explore/mutation steps run.
  std::string duende_path;
  /// gcovr (looked up in PATH when it has no '/').
  std::string gcovr_path = "gcovr";
  /// Where each step's output is kept (<dir>/<step>.log); created if missing.
  std::string log_dir;
  /// Copy every step's output to this fd as it comes (-1: only the log file).
  int echo_fd = -1;
  /// Lines of a failed step's output kept as evidence.
  size_t evidence_lines = 30;
  /// Called with every event as it is recorded (for live reporting); may be empty.
  std::function<void(const model::Event&)> on_event;
  /// When it becomes true (a SIGINT/SIGTERM handler sets it), the running step's process
  /// group gets SIGTERM (SIGKILL 5 s later), no further step runs, and the tier's verdict is
  /// ABORTED. nullptr: never.
  const std::atomic<bool>* stop = nullptr;
};

/// Runs the steps of `tier` in order (a failed step does not stop the next) and returns the
/// tier as a scenario: one "check.result" per step; verdict PASS only if every step passed.
/// A step that cannot run (missing program, a duende verb this build does not have, gcovr
/// output that cannot be read) is an ERROR with the reason as evidence; it never throws.
model::ScenarioResult RunGateTier(const GateConfig& config, const GateTier& tier,
                                  const GateOptions& options);

/// Coverage figures of one file, as gcovr's JSON summary gives them.
struct FileCoverage {
  std::string file;  ///< relative to the root
  int64_t lines_total = 0, lines_covered = 0;
  int64_t branches_total = 0, branches_covered = 0;
};

/// Parses `gcovr --json-summary` output. Errors (invalid_argument) when it is not that.
framework::Result<std::vector<FileCoverage>> ParseGcovrSummary(const std::string& json_text);

/// Aggregated coverage of the files under `prefix` (all files when empty).
FileCoverage SumCoverage(const std::vector<FileCoverage>& files, const std::string& prefix);

}  // namespace duende::harness
