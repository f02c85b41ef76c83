#include "duende/mutate/test_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/temp_dir.h"
#include "duende/framework/unique_fd.h"

namespace duende::mutate {

using framework::Result;
using framework::UniqueFd;

namespace {

// Waits for the child behind `pidfd` for at most `timeout`; false on timeout.
bool WaitReadable(int pidfd, std::chrono::nanoseconds timeout) {
  int64_t deadline = framework::MonotonicNs() + timeout.count();
  for (;;) {
    int64_t left_ms = (deadline - framework::MonotonicNs()) / 1000000;
    if (left_ms < 0) return false;
    pollfd p{pidfd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms + 1, 1 << 30)));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // let WaitExit report it
  }
}

}  // namespace

Result<TestOutcome> RunTest(const TestCase& test, const std::vector<std::string>& extra_env,
                            std::chrono::nanoseconds timeout, const std::string& log_path) {
  UniqueFd log;
  if (!log_path.empty()) {
    log = UniqueFd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!log.valid()) return framework::ErrnoError("unable to open " + log_path);
  }
  framework::SpawnOptions o;
  o.argv = test.argv;
  o.working_dir = test.working_dir;
  o.env_overrides = test.env;
  o.env_overrides.insert(o.env_overrides.end(), extra_env.begin(), extra_env.end());
  o.new_process_group = true;
  o.parent_death_signal = SIGKILL;
  o.stdout_fd = log.valid() ? log.get() : -1;
  o.stderr_fd = log.valid() ? log.get() : -1;
  int64_t t0 = framework::MonotonicNs();
  auto child = framework::Spawn(o);
  if (!child.ok()) return child.error();
  TestOutcome out;
  bool finished = WaitReadable(child->pidfd.get(), timeout);
  if (!finished) {
    ::kill(-child->pid, SIGKILL);
    out.kind = TestOutcome::Kind::kTimedOut;
  }
  auto status = framework::WaitExit(child->pidfd.get());
  out.duration_ns = framework::MonotonicNs() - t0;
  // Whatever the test left behind in its group goes too.
  ::kill(-child->pid, SIGKILL);
  if (!status.ok()) return status.error();
  out.status = *status;
  if (finished) {
    bool ok = status->success();
    if (test.will_fail) ok = !ok;
    out.kind = ok ? TestOutcome::Kind::kPassed : TestOutcome::Kind::kFailed;
  }
  return out;
}

Result<framework::ExitStatus> RunCaptured(const std::vector<std::string>& argv,
                                          const std::string& working_dir, std::string* output) {
  // mkostemp: O_EXCL, a random name, mode 0600, in ${TMPDIR:-/tmp}; unlinked at once.
  std::string tmpl = framework::TempDir() + "/duende-mutate-out-XXXXXX";
  std::vector<char> path(tmpl.begin(), tmpl.end());
  path.push_back('\0');
  UniqueFd fd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd.valid()) return framework::ErrnoError("unable to create a temporary file");
  ::unlink(path.data());
  framework::SpawnOptions o;
  o.argv = argv;
  o.working_dir = working_dir;
  o.parent_death_signal = SIGKILL;
  o.stdout_fd = fd.get();
  o.stderr_fd = fd.get();
  auto child = framework::Spawn(o);
  if (!child.ok()) return child.error();
  auto status = framework::WaitExit(child->pidfd.get());
  ::kill(-child->pid, SIGKILL);
  if (!status.ok()) return status.error();
  if (output != nullptr) {
    output->clear();
    ::lseek(fd.get(), 0, SEEK_SET);
    char buf[65536];
    ssize_t n = 0;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) output->append(buf, static_cast<size_t>(n));
  }
  return *status;
}

Result<std::vector<TestCase>> DiscoverCtestTests(const std::string& build_dir,
                                                 const std::vector<std::string>& ctest_args) {
  std::vector<std::string> argv = {"ctest", "--show-only=json-v1"};
  argv.insert(argv.end(), ctest_args.begin(), ctest_args.end());
  std::string text;
  auto st = RunCaptured(argv, build_dir, &text);
  if (!st.ok()) return st.error();
  if (!st->success()) {
    return framework::MessageError("ctest --show-only failed in " + build_dir + " (" +
                                   st->ToString() + "): " + text.substr(0, 400));
  }
  std::vector<TestCase> out;
  try {
    auto doc = nlohmann::json::parse(text);
    for (const auto& t : doc.at("tests")) {
      if (!t.contains("command")) continue;  // NOT_AVAILABLE (e.g. a missing executable)
      TestCase tc;
      tc.name = t.at("name").get<std::string>();
      tc.argv = t.at("command").get<std::vector<std::string>>();
      tc.working_dir = build_dir;
      bool disabled = false;
      if (t.contains("properties")) {
        for (const auto& p : t["properties"]) {
          std::string name = p.at("name").get<std::string>();
          const auto& v = p.at("value");
          if (name == "WORKING_DIRECTORY") tc.working_dir = v.get<std::string>();
          if (name == "ENVIRONMENT") tc.env = v.get<std::vector<std::string>>();
          if (name == "WILL_FAIL") tc.will_fail = v.get<bool>();
          if (name == "DISABLED") disabled = v.get<bool>();
        }
      }
      if (!disabled) out.push_back(std::move(tc));
    }
  } catch (const nlohmann::json::exception& e) {
    return framework::MessageError("cannot read the test list of ctest in " + build_dir + ": " +
                                   e.what());
  }
  return out;
}

}  // namespace duende::mutate
