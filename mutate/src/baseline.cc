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

Result<void> Engine::DiscoverTests() {
  std::string bdir = work_ + "/build";
  if (!o_.test_command.empty()) {
    TestCase t;
    t.name = o_.test_command.front();
    t.argv = o_.test_command;
    t.working_dir = bdir;
    tests_.push_back(t);
  } else {
    auto t = DiscoverCtestTests(bdir, o_.ctest_args);
    if (!t.ok()) return MessageError(t.error().Message(), std::errc::io_error);
    tests_ = std::move(*t);
  }
  if (tests_.empty()) return MessageError("no tests to run (ctest lists none)");
  for (const auto& t : tests_) run_.test_names.push_back(t.name);
  return {};
}

std::chrono::nanoseconds Engine::TimeoutOf(size_t test) const {
  return std::chrono::nanoseconds(
             static_cast<int64_t>(o_.timeout_factor * static_cast<double>(durations_[test]))) +
         o_.timeout_margin;
}

Result<void> Engine::Baseline() {
  int64_t t0 = framework::MonotonicNs();
  std::string trace_dir = work_ + "/trace";
  fs::create_directories(trace_dir);
  durations_.assign(tests_.size(), 0);
  coverage_.assign(tests_.size(), {});
  std::vector<std::string> failures(tests_.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < tests_.size(); i = next++) {
      std::string trace = trace_dir + "/" + std::to_string(i);
      std::string log = trace_dir + "/" + std::to_string(i) + ".log";
      ::unlink(trace.c_str());
      auto r = RunTest(tests_[i],
                       {std::string(kMutantEnv) + "=-1", std::string(kTraceEnv) + "=" + trace},
                       std::chrono::hours(1), log);
      if (!r.ok()) {
        failures[i] = r.error().Message();
        continue;
      }
      durations_[i] = r->duration_ns;
      if (r->kind != TestOutcome::Kind::kPassed) {
        failures[i] = r->status.ToString() + "; output:\n" + Tail(ReadFile(log));
      }
      ReadTrace(trace, &coverage_[i]);
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < o_.jobs; ++j) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  run_.baseline_ns = framework::MonotonicNs() - t0;
  for (size_t i = 0; i < tests_.size(); ++i) {
    if (!failures[i].empty()) {
      return MessageError("the baseline fails: test '" + tests_[i].name + "' " + failures[i],
                          std::errc::state_not_recoverable);
    }
  }
  Log("baseline: " + std::to_string(tests_.size()) + " tests pass in " +
      framework::FormatDuration(std::chrono::nanoseconds(run_.baseline_ns)));
  return {};
}

}  // namespace duende::mutate::internal
