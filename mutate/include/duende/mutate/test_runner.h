// Running the user's tests: one test at a time, in its own process group, with a timeout
// after which the whole group is killed (framework::RunCommand does the running).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "duende/framework/process.h"
#include "duende/framework/result.h"

namespace duende::mutate {

/// One test as ctest would run it.
struct TestCase {
  std::string name;
  std::vector<std::string> argv;
  std::string working_dir;
  std::vector<std::string> env;  ///< "NAME=value" (ctest's ENVIRONMENT property)
  bool will_fail = false;        ///< ctest's WILL_FAIL: passes when it fails
};

struct TestOutcome {
  enum class Kind { kPassed, kFailed, kTimedOut };
  Kind kind = Kind::kPassed;
  framework::ExitStatus status;
  int64_t duration_ns = 0;
  size_t leftovers = 0;  ///< processes of the test still running after it, killed
};

/// Runs `test` with `extra_env` added, in a new process group. After `timeout` the whole
/// group gets SIGKILL and the outcome is kTimedOut; after a normal exit the group is killed
/// too, so no stray grandchild outlives the test. Processes it started that left its group
/// (setsid, a supervisor's services) are found by a token in their environment and killed by
/// pid (`leftovers`). The test gets a $TMPDIR of its own (unless its own environment names
/// one), removed afterwards: a test failing under a mutant leaves nothing in /tmp. Output goes
/// to `log_path` ("" discards it).
/// Errors: the spawn error (ENOENT for a missing program, ...).
framework::Result<TestOutcome> RunTest(const TestCase& test,
                                       const std::vector<std::string>& extra_env,
                                       std::chrono::nanoseconds timeout,
                                       const std::string& log_path = "");

/// The tests ctest would run in `build_dir` (`ctest --show-only=json-v1` plus `ctest_args`,
/// e.g. {"-R", "calc"}). Errors: the spawn error, or invalid_argument when ctest fails or its
/// output cannot be read.
framework::Result<std::vector<TestCase>> DiscoverCtestTests(
    const std::string& build_dir, const std::vector<std::string>& ctest_args);

/// Asks every build and test this process is running to stop (their process groups get
/// SIGKILL within 100 ms of the call) and the engine to start nothing more. Async-signal-safe: what
/// a SIGINT/SIGTERM handler calls.
void RequestInterrupt() noexcept;
/// Whether RequestInterrupt() was called.
bool InterruptRequested() noexcept;

/// Runs a command to completion, with no time limit, with its output (stdout and stderr
/// interleaved, the last 64 MiB) in `output` (may be null). Errors: the spawn error.
framework::Result<framework::ExitStatus> RunCaptured(const std::vector<std::string>& argv,
                                                     const std::string& working_dir,
                                                     std::string* output);

}  // namespace duende::mutate
