// The mutation engine's parts (private to the module): the Engine class, whose methods are
// split by responsibility over engine.cc (resolve, find, run), workspace.cc (the copy of
// the project), cmake_build.cc (configure, build, schemata builds), build_errors.cc
// (compiler output parsing), baseline.cc (test discovery, the unmutated run) and
// scheduler.cc (running the tests of each mutant).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "duende/framework/result.h"
#include "duende/framework/unique_fd.h"
#include "duende/mutate/compile_db.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/schemata.h"
#include "duende/mutate/test_runner.h"

namespace duende::mutate::internal {

namespace fs = std::filesystem;
using framework::MessageError;
using framework::Result;

struct BuildError {
  std::string file;  // as printed (absolute in CMake builds)
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;
};

/// The last MiB of a file (a test log: tests can print without end); "" when unreadable.
std::string ReadFile(const std::string& path);

Result<void> WriteFile(const std::string& path, const std::string& text);

std::string Rel(const fs::path& p, const fs::path& base);

Result<void> CopyTree(const fs::path& from, const fs::path& to, const std::set<fs::path>& skip);

// CMakeCache.txt values (KEY:TYPE=value).
std::map<std::string, std::string> ReadCmakeCache(const fs::path& dir);

// "path:line:col: error: message" and "path:line:col:   required from here" lines, plus the
// sources of failed compile commands ("FAILED: x.o" followed by a command with "-c src").
void ParseBuildOutput(const std::string& out, std::vector<BuildError>* errors,
                      std::vector<BuildError>* context, std::vector<std::string>* failed_sources);

std::string Canonical(const std::string& p, const std::string& base);

class Engine {
 public:
  explicit Engine(const MutateOptions& o) : o_(o) {}

  Result<MutateRun> Run();

 private:
  void Log(const std::string& s);
  bool OverBudget() const;
  Result<void> Resolve();
  Result<void> Find();
  Result<void> PrepareCopy();
  std::string CopyOf(const std::string& file) const;
  Result<void> Configure();
  static std::string Tail(const std::string& s);
  // One build of the copy. Returns whether it succeeded and its output.
  Result<bool> Build(std::string* out);
  Result<void> BuildPlain();
  Result<void> BuildSchemata();
  Result<void> DiscoverTests();
  std::chrono::nanoseconds TimeoutOf(size_t test) const;
  Result<void> Baseline();
  // What Try() decided: the outcome, the deciding test's name and its index in `tests`.
  struct TryResult {
    TestOutcome::Kind kind = TestOutcome::Kind::kPassed;
    std::string test;
    size_t index = 0;
  };
  // Runs tests[from..] against mutant `id` until one does not pass.
  TryResult Try(uint32_t id, const std::vector<uint32_t>& tests, size_t from, uint32_t* count);
  // Sets m.status from tests[from..]. A timeout that is not `final_timeout` is kept as a
  // suspect, to be re-run alone from the test that timed out.
  void Judge(Mutant& m, const std::vector<uint32_t>& tests, size_t from, bool final_timeout);
  void RunSchemataMutants();
  Result<void> RunRebuildMutants();

  const MutateOptions& o_;
  MutateRun run_;
  std::vector<CompileEntry> entries_;
  std::map<std::string, std::string> cache_;
  std::string build_dir_;
  std::string generator_;
  std::string work_;
  std::string copy_;
  bool temp_work_dir_ = false;
  framework::UniqueFd owner_lock_;
  uint32_t id_limit_ = 1;
  std::map<uint32_t, Mutant*> by_id_;
  std::map<std::string, SchemataFile> schemata_;
  std::vector<uint32_t> fallback_;
  std::vector<TestCase> tests_;
  std::vector<int64_t> durations_;
  std::vector<std::vector<uint32_t>> coverage_;
  std::mutex suspects_mu_;
  std::vector<std::pair<uint32_t, size_t>>
      suspects_;  // mutant id, index of the test that timed out
  std::mutex log_mu_;
  int64_t start_ns_ = 0;
};

}  // namespace duende::mutate::internal
