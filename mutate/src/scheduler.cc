#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/unique_fd.h"
#include "duende/mutate/compile_db.h"
#include "duende/mutate/engine.h"
#include "duende/mutate/point_finder.h"
#include "duende/mutate/schemata.h"
#include "duende/mutate/test_runner.h"
#include "engine_internal.h"

namespace duende::mutate::internal {

Engine::TryResult Engine::Try(uint32_t id, const std::vector<uint32_t>& tests, size_t from,
                              uint32_t* count) {
  for (size_t i = from; i < tests.size(); ++i) {
    uint32_t t = tests[i];
    ++*count;
    auto r = RunTest(tests_[t], {std::string(kMutantEnv) + "=" + std::to_string(id)}, TimeoutOf(t));
    if (!r.ok())
      return {TestOutcome::Kind::kFailed, tests_[t].name + " (" + r.error().Message() + ")", i};
    if (r->kind != TestOutcome::Kind::kPassed) return {r->kind, tests_[t].name, i};
  }
  return {TestOutcome::Kind::kPassed, "", tests.size()};
}

void Engine::Judge(Mutant& m, const std::vector<uint32_t>& tests, size_t from, bool final_timeout) {
  TryResult v = Try(m.id, tests, from, &m.tests_run);
  switch (v.kind) {
    case TestOutcome::Kind::kFailed:
      m.status = Status::kKilled;
      m.detail = v.test;
      break;
    case TestOutcome::Kind::kTimedOut:
      m.status = Status::kTimeout;
      m.detail = v.test;
      if (!final_timeout) {
        std::lock_guard<std::mutex> lock(suspects_mu_);
        suspects_.emplace_back(m.id, v.index);
      }
      break;
    case TestOutcome::Kind::kPassed:
      m.status = Status::kSurvived;
      break;
  }
}

void Engine::RunSchemataMutants() {
  auto selection = SelectTests(coverage_, durations_);
  std::vector<Mutant*> work;
  std::set<uint32_t> fallback(fallback_.begin(), fallback_.end());
  for (auto& m : run_.mutants) {
    if (m.status != Status::kPending || fallback.count(m.id) > 0) continue;
    auto it = selection.find(m.id);
    if (it == selection.end()) {
      m.status = Status::kNoCoverage;
      continue;
    }
    m.covering_tests = it->second;
    work.push_back(&m);
  }
  Log("running " + std::to_string(work.size()) + " covered mutants with " +
      std::to_string(o_.jobs) + " jobs");
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < work.size(); i = next++) {
      if (OverBudget()) return;
      // With one job every test already ran alone: its timeout is final.
      Judge(*work[i], work[i]->covering_tests, 0, o_.jobs <= 1);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < o_.jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  // A timeout under parallel load may be the load's fault: re-run each alone, from the test
  // that timed out (the tests before it passed).
  for (auto [id, from] : suspects_) {
    Mutant& m = *by_id_[id];
    Log("re-running timed-out mutant " + std::to_string(id) + " alone");
    Judge(m, m.covering_tests, from, true);
  }
}

Result<void> Engine::RunRebuildMutants() {
  if (fallback_.empty()) return {};
  std::sort(fallback_.begin(), fallback_.end());
  std::vector<uint32_t> all(tests_.size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  std::sort(all.begin(), all.end(),
            [&](uint32_t a, uint32_t b) { return durations_[a] < durations_[b]; });
  Log("rebuild mode for " + std::to_string(fallback_.size()) + " mutants");
  std::string last_file;
  for (uint32_t id : fallback_) {
    if (OverBudget()) break;
    Mutant& m = *by_id_[id];
    if (m.status != Status::kPending) continue;
    if (!last_file.empty() && last_file != m.file) {
      DUENDE_TRY(WriteFile(CopyOf(last_file), run_.sources[last_file]));
    }
    last_file = m.file;
    DUENDE_TRY(WriteFile(CopyOf(m.file), ApplyMutant(run_.sources[m.file], m)));
    std::string out;
    auto ok = Build(&out);
    if (!ok.ok()) return ok.error();
    Log("mutant " + std::to_string(m.id) + ": rebuilt (" + (*ok ? "ok" : "compile error") + ")");
    if (!*ok) {
      m.status = Status::kCompileError;
      std::vector<BuildError> errors, context;
      std::vector<std::string> failed;
      ParseBuildOutput(out, &errors, &context, &failed);
      if (!errors.empty()) m.detail = errors.front().message;
      continue;
    }
    m.covering_tests = all;
    Judge(m, all, 0, true);
  }
  if (!last_file.empty()) DUENDE_TRY(WriteFile(CopyOf(last_file), run_.sources[last_file]));
  return {};
}

}  // namespace duende::mutate::internal
