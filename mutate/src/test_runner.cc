#include "duende/mutate/test_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/framework/io.h"
#include "duende/framework/proc.h"
#include "duende/framework/temp_dir.h"
#include "duende/framework/unique_fd.h"

namespace duende::mutate {

using framework::Result;
using framework::UniqueFd;

namespace {

// Every process a test started carries this in its environment (a unique token per test run):
// after the test, what still carries it is killed by its pid. A mutant that breaks cleanup
// (a supervisor that no longer stops its services, which run in process groups of their own)
// would otherwise leave orphans for the rest of the machine's life.
constexpr char kRunTokenVar[] = "DUENDE_MUTATE_TEST_RUN";

std::string NewRunToken() {
  static std::atomic<uint64_t> counter{0};
  return std::to_string(::getpid()) + "-" + std::to_string(framework::MonotonicNs()) + "-" +
         std::to_string(counter.fetch_add(1));
}

// Whether /proc/PID/environ holds exactly `entry` ("NAME=value").
bool HasEnvEntry(pid_t pid, const std::string& entry) {
  UniqueFd fd(::open(("/proc/" + std::to_string(pid) + "/environ").c_str(),
                     O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return false;
  std::string env;
  char buf[8192];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0 && env.size() < (1u << 20);) {
    env.append(buf, static_cast<size_t>(n));
  }
  for (size_t at = 0; at < env.size();) {
    const size_t end = env.find('\0', at);
    if (env.compare(at, (end == std::string::npos ? env.size() : end) - at, entry) == 0) {
      return true;
    }
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return false;
}

// Now in the clock of /proc/PID/stat's start time: ticks since boot.
uint64_t BootTicks() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  const auto hz = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  return static_cast<uint64_t>(ts.tv_sec) * hz +
         static_cast<uint64_t>(ts.tv_nsec) * hz / 1'000'000'000;
}

// Kills (SIGKILL, by pid) every process still carrying `entry`; returns how many. Only
// processes started since `since` (boot ticks) are read: older ones cannot be the test's.
size_t KillLeftovers(const std::string& entry, uint64_t since) {
  size_t killed = 0;
  for (int round = 0; round < 3; ++round) {  // (one may fork while the first round kills)
    size_t seen = 0;
    for (const auto& p : framework::ListProcesses()) {
      if (p.start_time + 1 < since) continue;  // (a tick of rounding)
      if (p.pid == ::getpid() || p.state == 'Z' || !HasEnvEntry(p.pid, entry)) continue;
      if (::kill(p.pid, SIGKILL) == 0) ++seen;
    }
    killed += seen;
    if (seen == 0) break;
  }
  return killed;
}

}  // namespace

namespace {
// Constant-initialized and lock-free: set from a signal handler.
constinit std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);
}  // namespace

void RequestInterrupt() noexcept { interrupted.store(true, std::memory_order_relaxed); }

bool InterruptRequested() noexcept { return interrupted.load(std::memory_order_relaxed); }

Result<TestOutcome> RunTest(const TestCase& test, const std::vector<std::string>& extra_env,
                            std::chrono::nanoseconds timeout, const std::string& log_path) {
  UniqueFd log;
  if (!log_path.empty()) {
    log = UniqueFd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!log.valid()) return framework::ErrnoError("unable to open " + log_path);
  }
  // Removed when this returns, after the leftovers are killed (the destructor runs last).
  auto tmp = framework::PrivateTempDir::Make("duende-mutate-test");
  if (!tmp.ok()) return tmp.error();
  framework::CommandOptions o;
  o.working_dir = test.working_dir;
  o.env_overrides = {"TMPDIR=" + tmp->path()};  // first: the test's own TMPDIR wins
  o.env_overrides.insert(o.env_overrides.end(), test.env.begin(), test.env.end());
  o.env_overrides.insert(o.env_overrides.end(), extra_env.begin(), extra_env.end());
  const std::string token = std::string(kRunTokenVar) + "=" + NewRunToken();
  o.env_overrides.push_back(token);
  o.timeout = timeout;
  o.stop = &interrupted;
  o.merge_stderr = true;
  o.max_capture = 0;  // the log has it
  if (log.valid()) {
    o.on_output = [fd = log.get()](std::string_view data) { (void)framework::WriteAll(fd, data); };
  }
  const uint64_t started = BootTicks();
  auto r = framework::RunCommand(test.argv, o);
  const size_t leftovers = KillLeftovers(token, started);
  if (!r.ok()) return r.error();
  TestOutcome out;
  out.leftovers = leftovers;
  out.status = r->status;
  out.duration_ns = r->elapsed.count();
  if (r->timed_out) {
    out.kind = TestOutcome::Kind::kTimedOut;
  } else {
    bool ok = r->status.success();
    if (test.will_fail) ok = !ok;
    out.kind = ok ? TestOutcome::Kind::kPassed : TestOutcome::Kind::kFailed;
  }
  return out;
}

Result<framework::ExitStatus> RunCaptured(const std::vector<std::string>& argv,
                                          const std::string& working_dir, std::string* output) {
  framework::CommandOptions o;
  o.working_dir = working_dir;
  o.timeout = std::chrono::nanoseconds::zero();  // builds take what they take
  o.stop = &interrupted;
  o.merge_stderr = true;
  if (output == nullptr) o.max_capture = 0;
  auto r = framework::RunCommand(argv, o);
  if (!r.ok()) return r.error();
  if (output != nullptr) *output = std::move(r->out);
  return r->status;
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
