// End-to-end: `duende run` on the shipped scenarios and the self-test pairs. Each planted bug
// must give verdict FAIL (exit 1) with evidence from the check that exists to catch it, and
// its healthy twin PASS (exit 0): a harness that passes a broken daemon is the worst bug this
// project can have.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "duende/faults/launch.h"
#include "duende/framework/cgroup.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"
#include "duende/model/event_log.h"
#include "support/html_elements.h"
#include "support/sanitizer_skip.h"

namespace duende::harness {
namespace {

using model::Event;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kScenarios = std::string(DUENDE_SOURCE_DIR) + "/scenarios";

struct RunResult {
  int exit_code = -1;
  std::vector<Event> events;
  std::string output;
};

// Runs `duende run ARGS --events TMP` and reads the event log back.
RunResult RunDuende(const std::string& args) {
  static int n = 0;
  std::string dir = ::testing::TempDir();
  std::string events =
      dir + "/events-" + std::to_string(getpid()) + "-" + std::to_string(++n) + ".jsonl";
  std::string out = events + ".out";
  std::string cmd = "DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures " +
                    kDuende + " run --quiet " + args + " --events " + events + " >" + out + " 2>&1";
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  auto ev = model::ReadEventLog(events);
  if (ev.ok()) r.events = std::move(ev).value();
  std::remove(events.c_str());
  std::remove(out.c_str());
  return r;
}

// The check.result event of `name`, or nullptr.
const Event* CheckResult(const RunResult& r, const std::string& name) {
  for (const auto& e : r.events) {
    if (e.type == "check.result" && e.target == name) return &e;
  }
  return nullptr;
}

std::string Verdict(const RunResult& r, const std::string& check) {
  const Event* e = CheckResult(r, check);
  return e == nullptr ? "(missing)" : e->data.value("verdict", std::string("?"));
}

std::string Evidence(const RunResult& r, const std::string& check) {
  const Event* e = CheckResult(r, check);
  return e == nullptr ? "" : e->data.dump();
}

void ExpectPlantedFails(const std::string& pair, const std::string& check,
                        const std::string& evidence_part) {
  auto r = RunDuende(kScenarios + "/self-test/" + pair + "-planted.toml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(Verdict(r, check), "FAIL") << r.output;
  EXPECT_NE(Evidence(r, check).find(evidence_part), std::string::npos) << Evidence(r, check);
}

// As ExpectPlantedFails, and the run's HTML report draws every operation the check's
// evidence cites in its client's lane, at the cited times.
void ExpectPlantedFailsAndHtmlDrawsCitedOps(const std::string& pair, const std::string& check,
                                            const std::string& evidence_part) {
  auto dir = framework::PrivateTempDir::Make("duende-cited-ops");
  ASSERT_TRUE(dir.ok()) << dir.error().Message();
  const std::string html_path = dir->path() + "/report.html";
  auto r = RunDuende(kScenarios + "/self-test/" + pair + "-planted.toml --html " + html_path);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(Verdict(r, check), "FAIL") << r.output;
  EXPECT_NE(Evidence(r, check).find(evidence_part), std::string::npos) << Evidence(r, check);
  std::ifstream in(html_path);
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(html.empty());
  const Event* result = CheckResult(r, check);
  ASSERT_NE(result, nullptr);
  std::string evidence;
  for (const auto& line : result->data.value("evidence", std::vector<std::string>())) {
    evidence += line + "\n";
  }
  auto lanes = duende::testing::ElementsWithClass(html, "lane");
  auto ops = duende::testing::ElementsWithClass(html, "cited-op");
  ASSERT_FALSE(ops.empty()) << evidence;
  for (const auto& op : ops) {
    // Its lane is the check's and the client's.
    const duende::testing::HtmlElement* lane = nullptr;
    for (const auto& l : lanes) {
      if (l.offset < op.offset) lane = &l;
    }
    ASSERT_NE(lane, nullptr);
    EXPECT_EQ(lane->attrs.at("data-check"), check);
    EXPECT_EQ(lane->attrs.at("data-client"), op.attrs.at("data-client"));
    // The tooltip is a citation of the evidence, naming the same client.
    EXPECT_NE(evidence.find(op.title), std::string::npos) << op.title << "\n" << evidence;
    EXPECT_TRUE(op.title.rfind("client " + op.attrs.at("data-client") + " ", 0) == 0 ||
                op.title.rfind(op.attrs.at("data-client") + " ", 0) == 0)
        << op.title;
    // Invoke before complete, both inside the run.
    const double invoke = std::stod(op.attrs.at("data-invoke"));
    EXPECT_GE(invoke, 0);
    EXPECT_LT(invoke, 30);
    if (op.attrs.at("data-complete") != "never") {
      EXPECT_LE(invoke, std::stod(op.attrs.at("data-complete"))) << op.title;
    }
  }
}

void ExpectHealthyPasses(const std::string& pair) {
  auto r = RunDuende(kScenarios + "/self-test/" + pair + "-healthy.toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(SelfTest, NonDurableKvdLosesAcknowledgedWrites) {
  ExpectPlantedFails("lost-writes", "no_lost_writes", "acknowledged");
}
TEST(SelfTest, DurableKvdKeepsAcknowledgedWrites) { ExpectHealthyPasses("lost-writes"); }

// A store that loses everything (kvd --storage memory, like memcached) under the
// shipped load defaults (unique keys) FAILs every time; the durable kvd PASSes.
TEST(SelfTest, InMemoryKvdLosesEveryAcknowledgedWrite) {
  ExpectPlantedFails("lost-writes-memory", "no_lost_writes", "first lost: key k");
}
TEST(SelfTest, DurableKvdKeepsEveryUniqueKeyWrite) { ExpectHealthyPasses("lost-writes-memory"); }

// Model checks over a mixed workload's history: counterd acknowledging before its log is
// written loses increments and adds under kill -9 (the evidence cites the read and the
// increments it misses); fsynced before the reply, it loses none.
TEST(SelfTest, AckBeforePersistLosesIncrements) {
  ExpectPlantedFailsAndHtmlDrawsCitedOps("counter", "counter", "lost increments: client ");
}
TEST(SelfTest, FsyncedCounterKeepsIncrements) { ExpectHealthyPasses("counter"); }

// Linearizability of a register history: kvd acknowledging SETs from a buffer loses them at
// kill -9, and a read after the restart returns a value older than an acknowledged write
// (FAIL, the violation shrunk to a few operations); kvd writing its WAL first is linearizable.
TEST(SelfTest, BufferedKvdIsNotLinearizable) {
  ExpectPlantedFailsAndHtmlDrawsCitedOps("linearizable", "linearizable", "cannot take effect next");
}
TEST(SelfTest, WalKvdIsLinearizable) { ExpectHealthyPasses("linearizable"); }

// The register model check (model kv) on the same history: a read after the restart misses
// an acknowledged write (the evidence cites the read and the write it should have seen).
TEST(SelfTest, BufferedKvdLosesRegisterWrites) {
  ExpectPlantedFailsAndHtmlDrawsCitedOps("register", "kv", "lost write: client ");
}
TEST(SelfTest, WalKvdKeepsRegisterWrites) { ExpectHealthyPasses("register"); }

// The queue model check against a daemon nobody here wrote: redis-server without persistence
// loses the queued values at kill -9 (a dequeue finds the queue empty while acknowledged
// enqueues were never dequeued); with appendfsync always it loses none.
TEST(SelfTest, RedisWithoutPersistenceLosesEnqueues) {
  if (!framework::FindExecutable("redis-server").ok()) {
    GTEST_SKIP() << "redis-server is not installed (ci/deps.sh installs it)";
  }
  ExpectPlantedFailsAndHtmlDrawsCitedOps("queue", "queue", "lost enqueues: client ");
}
TEST(SelfTest, RedisWithAppendfsyncAlwaysKeepsEnqueues) {
  if (!framework::FindExecutable("redis-server").ok()) {
    GTEST_SKIP() << "redis-server is not installed (ci/deps.sh installs it)";
  }
  ExpectHealthyPasses("queue");
}

// [target.sandbox] confines a scenario's target: the probe's write under a read-only path gets
// EROFS and its denied uname(2) EPERM (unconfined, both print "ok" and the checks FAIL).
TEST(ShippedExample, SandboxedTargetIsConfined) {
  auto r = RunDuende(kScenarios + "/examples/sandboxed-target.toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Verdict(r, "log_matches"), "PASS") << r.output;
  EXPECT_EQ(Verdict(r, "log_matches-2"), "PASS") << r.output;
}
TEST(SelfTest, AckBeforePersistLosesSetAdds) {
  ExpectPlantedFails("set", "set", "missing from the final read");
}
TEST(SelfTest, FsyncedSetKeepsAdds) { ExpectHealthyPasses("set"); }

// Requests after the last fault's window are judged (the run's own stop is no
// fault), so errors and slowness after a restart are caught.
TEST(SelfTest, ErrorsAfterRecoveryAreCaught) {
  ExpectPlantedFails("errors-after-recovery", "error_rate",
                     "replies 'ERR planted: failing after a restart' where /OK/ was expected");
}
TEST(SelfTest, NoErrorsAfterRecoveryPasses) { ExpectHealthyPasses("errors-after-recovery"); }
TEST(SelfTest, SlowAfterRecoveryIsCaught) {
  ExpectPlantedFails("slow-after-recovery", "p99_latency", "took longer than");
}
TEST(SelfTest, FastAfterRecoveryPasses) { ExpectHealthyPasses("slow-after-recovery"); }

TEST(SelfTest, CrashOnEnospcIsCaught) {
  ExpectPlantedFails("enospc-crash", "exit_codes", "SIGABRT");
}
TEST(SelfTest, ErrorOnEnospcPasses) { ExpectHealthyPasses("enospc-crash"); }

TEST(SelfTest, FdLeakPerRestartIsCaught) { ExpectPlantedFails("fd-leak", "fd_growth", "grew"); }
TEST(SelfTest, NoFdLeakPasses) { ExpectHealthyPasses("fd-leak"); }

TEST(SelfTest, LostMemoryLockIsCaught) {
  ExpectPlantedFails("mlock", "memory_locked", "not locked");
}
TEST(SelfTest, KeptMemoryLockPasses) {
  DUENDE_SKIP_UNDER_SANITIZER("the fixture's mlockall cannot be tested");
  ExpectHealthyPasses("mlock");
}

// The resilience policies (docs/policy.md): a kvd that waits on a blackholed upstream with no
// timeout and no breaker, and one that queues every request at 4x its capacity, FAIL; the same
// kvd with its [policy] breaker, or rate limit and shedder, PASSes.
TEST(SelfTest, WaitingOnADeadUpstreamIsCaught) {
  ExpectPlantedFails("breaker", "reply_latency", "took longer than");
}
TEST(SelfTest, BreakerThatOpensAndClosesPasses) { ExpectHealthyPasses("breaker"); }
TEST(SelfTest, QueueingEveryRequestInOverloadIsCaught) {
  ExpectPlantedFails("overload", "admitted_latency", "took longer than");
}
TEST(SelfTest, SheddingInOverloadPasses) { ExpectHealthyPasses("overload"); }

// kill-under-load once judged 301 of its ~1,200 requests (the run's own stop opened a window
// that never closed); only the two kills' windows may be left out.
void ExpectNearlyEveryRequestJudged(const RunResult& r) {
  const Event* e = CheckResult(r, "error_rate");
  ASSERT_NE(e, nullptr);
  const std::string measured = e->data.value("measured", std::string());
  // "0.00% (0 of 1002); 198 in fault windows"
  const size_t of = measured.find(" of ");
  ASSERT_NE(of, std::string::npos) << measured;
  const long judged = std::stol(measured.substr(of + 4));
  const size_t semi = measured.find("; ");
  ASSERT_NE(semi, std::string::npos) << measured;
  const long inside = std::stol(measured.substr(semi + 2));
  EXPECT_GE(judged + inside, 1150) << measured;
  EXPECT_GE(judged, 900) << measured;  // two windows of ~restart + 300 ms grace each
}

class ShippedScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedScenarioTest, Passes) {
  if (GetParam() == "redis-pause" && !framework::FindExecutable("redis-server").ok()) {
    GTEST_SKIP() << "redis-server is not installed (ci/deps.sh installs it)";
  }
  auto r = RunDuende(kScenarios + "/" + GetParam() + ".toml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  if (GetParam() == "kill-under-load") ExpectNearlyEveryRequestJudged(r);
  // Every fault's injection lag is recorded.
  for (const auto& e : r.events) {
    if (e.type == "fault.injected") {
      EXPECT_TRUE(e.data.contains("lag_ns"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ShippedScenarioTest,
                         ::testing::Values("kill-under-load", "crash-loop-backoff", "oom-kill",
                                           "enospc-wal", "memory-pressure", "network-partition",
                                           "sigstop-pause", "fd-exhaustion", "redis-pause",
                                           "clock-step", "cpu-quota", "pids-limit", "disk-full"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

TEST(RunCommandTest, BadScenarioIsExit2AndStartsNothing) {
  auto scratch = framework::PrivateTempDir::Make("duende-shipped-test");
  ASSERT_TRUE(scratch.ok()) << scratch.error().Message();
  std::string bad = scratch->path() + "/bad.toml";
  std::ofstream(bad) << "[scenario]\nname = \"x\"\n[[target]]\nname = \"t\"\ncommand = [\"sleep\","
                        " \"100\"]\n[[check]]\nkind = \"restart_witin\"\n";
  auto r = RunDuende(bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.toml:7:8:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean \"restart_within\"?"), std::string::npos) << r.output;
  EXPECT_TRUE(r.events.empty());
}

TEST(RunCommandTest, MissingProgramIsAnEnvironmentError) {
  auto r = RunDuende(kScenarios +
                     "/kill-under-load.toml --set target.kvd.command='[\"no-such-"
                     "daemon-xyz\"]'");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("unable to find no-such-daemon-xyz"), std::string::npos) << r.output;
}

// The pid the first fault of a running `duende run --events FILE` was injected into, once it
// is (-1 after 10 s).
pid_t WaitForInjection(const std::string& events) {
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto ev = model::ReadEventLog(events);
    if (!ev.ok()) continue;
    for (const auto& e : *ev) {
      if (e.type == "fault.injected") return e.data.value("pid", -1);
    }
  }
  return -1;
}

TEST(RunCommandTest, SigintHealsStopsAndReportsAborted) {
  // A name of our own, and no stale file: an old log's fault.injected would send the SIGINT
  // before the run has even started.
  std::string events = ::testing::TempDir() + "/sigint-" + std::to_string(::getpid()) + ".jsonl";
  std::remove(events.c_str());
  framework::SpawnOptions o;
  o.argv = {kDuende,    "run",
            "--quiet",  kScenarios + "/sigstop-pause.toml",
            "--set",    "scenario.duration=30s",
            "--set",    "fault.pause.duration=20s",
            "--events", events};
  o.env_overrides = {"DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures"};
  o.stdout_fd = -1;
  auto child = framework::Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  // Wait until the pause is injected (kvd is SIGSTOPped), then Ctrl-C.
  pid_t kvd = WaitForInjection(events);
  ASSERT_GT(kvd, 0) << "the pause was never injected";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(framework::SignalPidfd(child->pidfd.get(), SIGINT).ok());
  auto st = framework::WaitExit(child->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_EQ(st->code, 130) << st->ToString();
  auto ev = model::ReadEventLog(events);
  ASSERT_TRUE(ev.ok());
  bool healed = false;
  std::string verdict;
  for (const auto& e : *ev) {
    if (e.type == "fault.healed") healed = true;
    if (e.type == "run.finished") verdict = e.data.value("verdict", "");
    if (e.type == "run.leftovers") {
      EXPECT_TRUE(e.data["leftovers"].empty()) << e.data.dump();
    }
  }
  EXPECT_TRUE(healed);
  EXPECT_EQ(verdict, "ABORTED");
  EXPECT_NE(kill(kvd, 0), 0) << "kvd (pid " << kvd << ") survived the aborted run";
  std::remove(events.c_str());
}

// SIGKILL of `duende run` in the middle of a clock fault: its targets die with it (parent
// death signal), and the next heal (`duende doctor`) removes what they could not: the run
// directory (logs, the clock file) and libfaketime's shared memory of kvd.
TEST(RunCommandTest, KilledRunLeavesNothingAfterDoctor) {
  std::string events = ::testing::TempDir() + "/killed-" + std::to_string(::getpid()) + ".jsonl";
  std::remove(events.c_str());
  framework::SpawnOptions o;
  o.argv = {kDuende, "run", "--quiet", kScenarios + "/clock-step.toml", "--events", events};
  o.env_overrides = {"DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures"};
  o.stdout_fd = -1;
  auto child = framework::Spawn(o);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  pid_t kvd = WaitForInjection(events);
  ASSERT_GT(kvd, 0) << "the clock fault was never injected";
  // The run directory, from kvd's --data-dir {run_dir}/kvd.
  auto cmdline = framework::ReadSmallFile("/proc/" + std::to_string(kvd) + "/cmdline");
  ASSERT_TRUE(cmdline.ok());
  std::string data_dir;
  for (size_t p = 0; p < cmdline->size();) {
    std::string arg = cmdline->substr(p, cmdline->find('\0', p) - p);
    if (arg.find("/duende-run-") != std::string::npos) data_dir = arg;
    p += arg.size() + 1;
  }
  ASSERT_FALSE(data_dir.empty()) << *cmdline;
  std::string run_dir = data_dir.substr(0, data_dir.rfind('/'));
  ASSERT_TRUE(std::filesystem::exists(run_dir + "/clock-kvd"));
  std::string shm = "/dev/shm/faketime_shm_" + std::to_string(kvd);
  ASSERT_TRUE(std::filesystem::exists(shm));

  ASSERT_TRUE(framework::SignalPidfd(child->pidfd.get(), SIGKILL).ok());
  ASSERT_TRUE(framework::WaitExit(child->pidfd.get()).ok());
  for (int i = 0; i < 200 && !faults::ProcessGone(kvd); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(faults::ProcessGone(kvd)) << "kvd outlived the killed run";
  EXPECT_TRUE(std::filesystem::exists(run_dir)) << "nothing to heal: the test proves nothing";
  int rc = std::system((kDuende + " doctor >/dev/null 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 0);
  EXPECT_FALSE(std::filesystem::exists(run_dir)) << run_dir << " survived the heal";
  EXPECT_FALSE(std::filesystem::exists(shm)) << shm << " survived the heal";
  std::remove(events.c_str());
}

TEST(CheckCommandTest, RechecksARecordedRun) {
  std::string events = ::testing::TempDir() + "/recheck-" + std::to_string(::getpid()) + ".jsonl";
  std::string scenario = kScenarios + "/kill-under-load.toml";
  std::string cmd = "DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures " +
                    kDuende + " run --quiet " + scenario + " --events " + events + " >/dev/null";
  ASSERT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 0);
  auto check = [&](const std::string& extra) {
    int s = std::system(
        (kDuende + " check " + events + " " + scenario + extra + " >/dev/null").c_str());
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
  };
  EXPECT_EQ(check(""), 0);
  // A stricter threshold after the fact: the same events now fail.
  EXPECT_EQ(check(" --set check.restart_within.within=1us"), 1);
  EXPECT_EQ(check(" --set check.nope.within=1s"), 2);
  std::remove(events.c_str());
}

}  // namespace
}  // namespace duende::harness
