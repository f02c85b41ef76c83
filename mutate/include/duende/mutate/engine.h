// The mutation run: find points, build the mutant schemata in a private copy of the project,
// check the baseline, learn coverage, run each covered mutant against the tests that reach it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "duende/framework/result.h"
#include "duende/mutate/mutant.h"

namespace duende::mutate {

/// A known equivalent (or accepted) mutant location.
struct IgnoreEntry {
  std::string file;  ///< relative to the source dir, or absolute
  uint32_t line = 0;
  uint32_t column = 0;  ///< the mutant's first column; 0: every mutant on the line
  std::string reason;
};

struct MutateOptions {
  /// compile_commands.json of a configured build of the project (required).
  std::string compile_db;
  /// The project's source dir; "" takes CMAKE_HOME_DIRECTORY from the CMakeCache.txt next to
  /// the compilation database.
  std::string source_dir;
  /// Files to mutate: globs relative to the source dir (fnmatch, '*' also matches '/') or
  /// absolute paths. Empty: every compiled C++ source that is not a test or benchmark.
  std::vector<std::string> files;
  /// The test command, run in the copy's build dir. Empty: each ctest test, one by one.
  std::vector<std::string> test_command;
  /// Extra arguments for ctest's test selection, e.g. {"-R", "calc"}.
  std::vector<std::string> ctest_args;
  /// Build only these targets (empty: all).
  std::vector<std::string> build_targets;
  /// Extra `cmake -D...` arguments for configuring the copy.
  std::vector<std::string> cmake_args;
  OperatorSet operators = kDefaultOperators;
  /// kSchemata: one build holds every mutant (fast path). kRebuild: rebuild per mutant.
  enum class Mode { kSchemata, kRebuild };
  Mode mode = Mode::kSchemata;
  int jobs = 1;
  uint32_t shard_index = 0;  ///< 0-based
  uint32_t shard_count = 1;
  /// Only lines changed since this git revision ("" : all lines).
  std::string since;
  /// Stop starting mutants after this long (0: no limit); the rest stay Pending.
  std::chrono::nanoseconds time_budget{0};
  /// A test's timeout: factor x its baseline duration + margin.
  double timeout_factor = 3.0;
  std::chrono::nanoseconds timeout_margin = std::chrono::seconds(5);
  /// Where the copy and the build live; "" makes a temporary dir removed afterwards.
  std::string work_dir;
  bool keep_work_dir = false;
  std::vector<IgnoreEntry> ignore;
  /// Only list the mutants (no copy, no build, no tests).
  bool list_only = false;
  /// Progress lines (may be called from worker threads, serialized by the engine).
  std::function<void(const std::string&)> log;
};

struct MutateRun {
  std::string source_dir;
  /// Every mutant found (after --since and --shard), with its status.
  std::vector<Mutant> mutants;
  /// Original text of each mutated file (absolute path -> contents).
  std::map<std::string, std::string> sources;
  std::vector<std::string> test_names;
  uint32_t builds = 0;
  int64_t build_ns = 0;
  int64_t baseline_ns = 0;
  int64_t total_ns = 0;

  uint32_t Count(Status s) const;
  /// (killed + timeout) / (killed + timeout + survived + no coverage), in percent; 100 when
  /// nothing counts.
  double Score() const;
  /// Mutants that got a verdict (not Pending/Ignored/CompileError).
  uint32_t Tested() const;
};

/// Runs the whole mutation analysis. Errors: invalid_argument for bad input (exit 2);
/// other codes when the environment fails, e.g. the unmutated baseline does not build or a
/// test fails on it (exit 3).
framework::Result<MutateRun> RunMutate(const MutateOptions& options);

/// Removes the work directories (/tmp/duende-mutate-*) of runs that are gone: each run holds
/// an flock on its directory's .owner file while it lives, so a killed run's is found.
/// Called before every run and by `duende doctor`. Returns how many were removed.
int RemoveStaleWorkDirs();

/// Lines changed in `file` since `rev` (git diff -U0), as [first, last] ranges.
/// Errors: invalid_argument with git's message.
framework::Result<std::vector<std::pair<uint32_t, uint32_t>>> ChangedLines(
    const std::string& repo_dir, const std::string& rev, const std::string& file);

/// Marks mutants on lines with a `duende-mutate: ignore(reason)` comment (on the line itself,
/// or alone on the line before) as Ignored. Returns how many.
uint32_t ApplyIgnoreMarkers(const std::string& text, std::vector<Mutant*>& mutants);

/// Reads a coverage trace (one mutant id per line) into `ids`.
void ReadTrace(const std::string& path, std::vector<uint32_t>* ids);

/// Mutant ids ordered with the tests to run for each: the covering tests sorted by their
/// baseline duration, fastest first. `coverage[t]` lists the ids test t reached.
std::map<uint32_t, std::vector<uint32_t>> SelectTests(
    const std::vector<std::vector<uint32_t>>& coverage, const std::vector<int64_t>& durations_ns);

}  // namespace duende::mutate
