// `duende run` and `duende validate` as a user meets them: daemons nobody here wrote
// (Debian's memcached and nginx) run from the shipped examples, a target that never gets ready
// shows its last output lines, the run directory and event log are printed only when they
// exist, [[target.file]] renders configs, validate rejects what run would reject, and
// `duende fault list` is one aligned table.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "duende/framework/temp_dir.h"
#include "duende/model/event_log.h"
#include "support/background.h"
#include "support/cli.h"
#include "support/files.h"
#include "support/scenario_text.h"
#include "support/wait.h"

namespace {

namespace fs = std::filesystem;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kExamples = std::string(DUENDE_SOURCE_DIR) + "/scenarios/examples";

duende::testing::CliResult Duende(const std::string& args) {
  return duende::testing::RunCli("NO_COLOR=1 " + kDuende + " " + args);
}

// Scenario files go to one private directory (mkdtemp in ${TMPDIR:-/tmp}) per test program.
const std::string& ScratchDir() {
  static duende::framework::PrivateTempDir dir =
      duende::framework::PrivateTempDir::Make("duende-run-cli-test").value();
  return dir.path();
}

std::string Write(const std::string& name, const std::string& text) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// The path printed after `label` on a line of its own, or "".
std::string PrintedPath(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return "";
  const size_t start = at + label.size();
  return out.substr(start, out.find('\n', start) - start);
}

// A run directory this test's run left behind, removed (only duende-run-* under $TMPDIR).
void RemoveRunDir(const std::string& dir) {
  if (dir.rfind(duende::framework::TempDir() + "/duende-run-", 0) == 0) fs::remove_all(dir);
}

bool Installed(const char* program) {
  return std::system(("command -v " + std::string(program) + " >/dev/null 2>&1").c_str()) == 0;
}

std::vector<duende::model::Event> Events(const std::string& path) {
  auto ev = duende::model::ReadEventLog(path);
  return ev.ok() ? std::move(ev).value() : std::vector<duende::model::Event>{};
}

const duende::model::Event* Find(const std::vector<duende::model::Event>& events,
                                 const std::string& type, const std::string& target) {
  for (const auto& e : events) {
    if (e.type == type && e.target == target) return &e;
  }
  return nullptr;
}

// --- daemons nobody here wrote -------------------------------------------------------------

TEST(ThirdPartyDaemonTest, MemcachedLosesAcknowledgedWritesWhenKilled) {
  if (!Installed("memcached")) GTEST_SKIP() << "memcached is not installed (ci/deps.sh)";
  const std::string events = ::testing::TempDir() + "/memcached.jsonl";
  auto r = Duende("run " + kExamples + "/memcached-kill.toml --events " + events);
  // In memory only: what it acknowledged before the SIGKILL is gone, and the check says so.
  EXPECT_EQ(r.code, 1) << r.out;
  auto ev = Events(events);
  std::remove(events.c_str());
  int spawned = 0;
  for (const auto& e : ev) spawned += e.type == "target.spawned";
  EXPECT_EQ(spawned, 2) << r.out;  // started, killed, started again
  const auto* rb = Find(ev, "readback.result", "load");
  ASSERT_NE(rb, nullptr) << r.out;
  // The protocol worked both ways: many writes acknowledged (STORED), keys read back framed up
  // to END, and those written before the kill are found missing.
  EXPECT_GT(rb->data.value("acked_writes", 0), 200) << rb->data.dump();
  EXPECT_GT(rb->data.value("lost", 0), 50) << rb->data.dump();
  const auto* summary = Find(ev, "load.summary", "load");
  ASSERT_NE(summary, nullptr);
  EXPECT_GT(summary->data.value("ok", 0), 400) << summary->data.dump();
  for (const char* check : {"no_lost_writes", "restart_within", "exit_codes"}) {
    const auto* c = Find(ev, "check.result", check);
    ASSERT_NE(c, nullptr) << check;
    EXPECT_EQ(c->data.value("verdict", ""),
              std::string(check) == "no_lost_writes" ? "FAIL" : "PASS")
        << check << ": " << c->data.dump();
  }
  EXPECT_NE(r.out.find("read back: NOT FOUND ('END')"), std::string::npos) << r.out;
}

TEST(ThirdPartyDaemonTest, NginxRunsFromARenderedConfigAndComesBackAfterAKill) {
  if (!Installed("nginx")) GTEST_SKIP() << "nginx is not installed (ci/deps.sh: nginx-light)";
  const std::string events = ::testing::TempDir() + "/nginx.jsonl";
  auto r = Duende("run " + kExamples + "/nginx-kill.toml --events " + events);
  EXPECT_EQ(r.code, 0) << r.out;
  auto ev = Events(events);
  std::remove(events.c_str());
  const auto* file = Find(ev, "target.file", "nginx");
  ASSERT_NE(file, nullptr) << r.out;
  EXPECT_EQ(file->data.value("mode", 0), 0644);
  EXPECT_NE(file->data.value("path", "").find("/nginx/nginx.conf"), std::string::npos);
  int spawned = 0;
  for (const auto& e : ev) spawned += e.type == "target.spawned";
  EXPECT_EQ(spawned, 2) << r.out;
  const auto* summary = Find(ev, "load.summary", "load");
  ASSERT_NE(summary, nullptr);
  // Every reply outside the kill was "ok\n" (the whole body matched).
  EXPECT_GT(summary->data.value("ok", 0), 700) << summary->data.dump();
  // Passing runs leave nothing behind (no run directory is printed).
  EXPECT_EQ(r.out.find("run directory"), std::string::npos) << r.out;
}

// --- what a user sees ----------------------------------------------------------------------

TEST(RunOutputTest, TargetThatNeverGetsReadyShowsItsLastOutputLines) {
  const std::string file = Write("never-ready.toml", R"([scenario]
name = "never-ready"
duration = "1s"
[[target]]
name = "t"
command = ["sh", "-c", "echo starting on {port.t}; echo 'bind: Address already in use' >&2; exit 3"]
address = "127.0.0.1:{port.t}"
[target.restart]
policy = "never"
[target.readiness]
kind = "tcp"
grace_period = "5s"
)");
  auto r = Duende("run " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("t: exited unexpectedly; its last output lines"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("    | bind: Address already in use"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("    | starting on "), std::string::npos) << r.out;
  // The message points to files that exist: the run directory is kept with the evidence.
  const std::string dir = PrintedPath(r.out, "run directory (kept: the run did not pass): ");
  ASSERT_FALSE(dir.empty()) << r.out;
  const std::string log = PrintedPath(r.out, "event log: ");
  EXPECT_EQ(log, dir + "/events.jsonl");
  EXPECT_TRUE(fs::exists(dir + "/logs/t.log")) << r.out;
  EXPECT_NE(r.out.find(dir + "/logs/t.log"), std::string::npos) << r.out;
  auto ev = Events(log);
  const auto* tail = Find(ev, "target.output_tail", "t");
  ASSERT_NE(tail, nullptr);
  EXPECT_EQ(tail->data["lines"].back(), "bind: Address already in use");
  RemoveRunDir(dir);
}

TEST(RunOutputTest, KeepPrintsTheRunDirectoryAndFilesAreRenderedThere) {
  const std::string file = Write("render.toml", R"([scenario]
name = "render"
duration = "300ms"
[[target]]
name = "t"
command = ["sh", "-c", "cat {file.t.conf}; exec sleep 30"]
[[target.file]]
name = "t.conf"
mode = "0640"
template = """
server { listen 127.0.0.1:{port.t}; }
dir {run_dir}
self {file.t.conf}
left ${HOME} {not a variable}
"""
[[check]]
kind = "log_matches"
pattern = "^server \\{ listen 127\\.0\\.0\\.1:[0-9]+; \\}$"
)");
  auto r = Duende("run --keep " + file);
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string dir = PrintedPath(r.out, "run directory (kept): ");
  ASSERT_FALSE(dir.empty()) << r.out;
  const std::string conf = dir + "/files/t.conf";
  struct stat st {};
  ASSERT_EQ(::lstat(conf.c_str(), &st), 0) << conf;
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  std::ifstream in(conf);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(std::regex_search(text.str(), std::regex("listen 127\\.0\\.0\\.1:[0-9]+;")))
      << text.str();
  EXPECT_NE(text.str().find("dir " + dir + "\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("self " + conf + "\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("left ${HOME} {not a variable}"), std::string::npos) << text.str();
  RemoveRunDir(dir);
}

// The run directory (FIFOs, clock files, logs of the targets) is a fresh mkdtemp directory in
// $TMPDIR, mode 0700: no name another user could plant, nothing readable by others.
TEST(RunOutputTest, RunDirectoryIsPrivateAndHonoursTmpdir) {
  const std::string file = Write("private.toml", R"([scenario]
name = "private"
duration = "200ms"
[[target]]
name = "t"
command = ["sleep", "30"]
)");
  auto tmp = duende::framework::PrivateTempDir::Make("duende-run-tmpdir-test");
  ASSERT_TRUE(tmp.ok());
  auto r = duende::testing::RunCli("NO_COLOR=1 TMPDIR=" + tmp->path() + " " + kDuende +
                                   " run --keep " + file);
  EXPECT_EQ(r.code, 0) << r.out;
  const std::string dir = PrintedPath(r.out, "run directory (kept): ");
  ASSERT_EQ(dir.rfind(tmp->path() + "/duende-run-", 0), 0u) << r.out;
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0) << dir;
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

TEST(RunOutputTest, ARenderedFileNeverReplacesAnExistingOne) {
  // events.jsonl is already in the run directory when files are rendered: O_EXCL refuses it.
  const std::string file = Write("clash.toml", R"([scenario]
name = "clash"
duration = "300ms"
[[target]]
name = "t"
command = ["sleep", "30"]
[[target.file]]
name = "log"
path = "events.jsonl"
template = "x"
)");
  auto r = Duende("run " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("file log: unable to create"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("File exists"), std::string::npos) << r.out;
  RemoveRunDir(PrintedPath(r.out, "run directory (kept: the run did not pass): "));
}

// The load generator's own stalls are not blamed on the target: duende itself is stopped
// (SIGSTOP, 1.2 s) under open-loop load on a healthy kvd. The requests in flight then, and
// those due while it was stopped, would all look timed out; error_rate leaves them unjudged,
// names the stall, and the run passes.
TEST(RunOutputTest, AStalledLoadGeneratorIsNotBlamedOnTheTarget) {
  const std::string scenario = Write("stall.toml", std::string(R"([scenario]
name = "harness-stall"
duration = "4s"
)") + duende::testing::kKvdTarget + R"([load]
protocol = "tcp-line"
mode = "open"
rate = 200
connections = 4
timeout = "500ms"
request = "SET {key} {seq}"
expect = "OK"
[[check]]
kind = "error_rate"
max = 0.01
grace = "100ms"
)");
  const std::string events = ScratchDir() + "/stall.jsonl";
  const std::string err = ScratchDir() + "/stall.err";
  duende::testing::Background run({kDuende, "run", scenario, "--events", events}, err);
  ASSERT_GT(run.pid(), 0);
  // Stop duende once its load is running (its first second was recorded).
  ASSERT_TRUE(duende::testing::Eventually(
      [&] {
        return duende::testing::ReadFile(events).find("\"load.second\"") != std::string::npos;
      },
      std::chrono::seconds(20)))
      << run.Stderr();
  ASSERT_EQ(::kill(run.pid(), SIGSTOP), 0);
  ::usleep(1'200'000);
  ASSERT_EQ(::kill(run.pid(), SIGCONT), 0);
  auto status = run.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(status.has_value()) << "duende run did not end";
  const auto log = Events(events);
  const duende::model::Event* summary = Find(log, "load.summary", "load");
  ASSERT_NE(summary, nullptr) << run.Stderr();
  ASSERT_TRUE(summary->data.contains("stalls")) << summary->data.dump();
  int64_t longest = 0;
  for (const auto& st : summary->data["stalls"]) {
    longest =
        std::max<int64_t>(longest, st["end_ns"].get<int64_t>() - st["start_ns"].get<int64_t>());
  }
  EXPECT_GE(longest, 1'000'000'000) << summary->data.dump();
  const duende::model::Event* check = Find(log, "check.result", "error_rate");
  ASSERT_NE(check, nullptr);
  const std::string text = check->data.dump();
  EXPECT_FALSE(status->signaled);
  EXPECT_EQ(status->code, 0) << text;
  EXPECT_NE(text.find("during load-generator stalls"), std::string::npos) << text;
  EXPECT_NE(text.find("the load generator itself stalled"), std::string::npos) << text;
}

TEST(RunOutputTest, ProbesMatchTheWholeReply) {
  // kvd answers "PONG": "PON" is a prefix, not the reply, so the steady state never holds.
  const std::string file = Write("probe.toml", R"([scenario]
name = "probe"
duration = "300ms"
[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", "{port.kvd}", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:{port.kvd}"
[target.readiness]
kind = "notify"
[steady_state]
recover_timeout = "200ms"
[[steady_state.probe]]
name = "ping"
kind = "request"
address = "127.0.0.1:{port.kvd}"
send = "PING"
expect = "PON"
)");
  auto r = Duende("run --events " + ::testing::TempDir() + "/probe.jsonl " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("reply 'PONG' does not match 'PON' (the whole reply must match)"),
            std::string::npos)
      << r.out;
  // With --events the run directory is not kept.
  EXPECT_EQ(r.out.find("run directory"), std::string::npos) << r.out;
  std::remove((::testing::TempDir() + "/probe.jsonl").c_str());
}

// --- spawns that cannot heal ----------------------------------------------------------------

// A program the kernel refuses to exec (ENOEXEC here; E2BIG, ENOENT and EACCES alike) is tried
// once: the console says why and the run is an ERROR (3) at once, not 50 silent restarts and
// "did not become ready".
TEST(SpawnFailureTest, AnExecTheKernelRefusesStopsTheRunAtOnce) {
  const std::string program = Write("not-a-program", "this is text, not a program\n");
  ASSERT_EQ(::chmod(program.c_str(), 0755), 0);
  const std::string events =
      ::testing::TempDir() + "/spawn-" + std::to_string(::getpid()) + ".jsonl";
  const std::string file = Write("noexec.toml", R"([scenario]
name = "noexec"
duration = "1s"
[[target]]
name = "t"
command = [")" + program + R"("]
[target.restart]
start_limit_burst = 50
)");
  auto r = Duende("run --events " + events + " " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  const std::string why = "unable to spawn " + program + ": execve: Exec format error";
  EXPECT_NE(r.out.find("t: spawn failed: " + why), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("target t could not be started: " + why), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("did not become ready"), std::string::npos) << r.out;
  auto ev = Events(events);
  size_t attempts = 0, restarts = 0;
  for (const auto& e : ev) {
    if (e.type == "target.spawn_failed") ++attempts;
    if (e.type == "target.restart_scheduled") ++restarts;
  }
  EXPECT_EQ(attempts, 1u) << r.out;
  EXPECT_EQ(restarts, 0u) << r.out;
  std::remove(events.c_str());
  std::remove(program.c_str());
}

// An environment value execve would refuse (E2BIG: one string past 128 KiB) is found before
// anything starts, with its position.
TEST(SpawnFailureTest, AnEnvValuePastTheKernelLimitIsAValidationError) {
  const std::string file = Write("bigenv.toml", std::string(R"([scenario]
name = "bigenv"
duration = "1s"
[[target]]
name = "t"
command = ["sleep", "9"]
env = { BIG = ")") + std::string(1 << 20, 'x') + "\" }\n");
  for (const char* verb : {"validate", "run"}) {
    auto r = Duende(std::string(verb) + " " + file);
    EXPECT_EQ(r.code, 2) << verb;
    EXPECT_NE(r.out.find("bigenv.toml:7:7: 'env' in [[target]] #1: environment variable BIG is "
                         "1048580 bytes"),
              std::string::npos)
        << verb << "\n"
        << r.out.substr(0, 600);
    EXPECT_EQ(r.out.find("spawned"), std::string::npos) << verb;
  }
}

// --- validate rejects what run would reject ------------------------------------------------

struct BadCase {
  const char* name;
  const char* toml;
  const char* position;  // "file:LINE:COL:" suffix expected in the message
  const char* message;
};

const char* kHead = "[scenario]\nname = \"x\"\nduration = \"1s\"\n";

class ValidateRejectsTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ValidateRejectsTest, WithPositionAndFix) {
  const BadCase& c = GetParam();
  const std::string file = Write(std::string(c.name) + ".toml", std::string(kHead) + c.toml);
  for (const char* verb : {"validate", "run"}) {
    auto r = Duende(std::string(verb) + " " + file);
    // validate: invalid input (2); run: the same problem, found before anything starts (2 for
    // the file, 3 for a program this machine lacks).
    const int want = std::string(verb) == "run" && std::string(c.name) == "program" ? 3 : 2;
    EXPECT_EQ(r.code, want) << verb << "\n" << r.out;
    EXPECT_NE(r.out.find(std::string(c.name) + ".toml:" + c.position), std::string::npos)
        << verb << "\n"
        << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << verb << "\n" << r.out;
    EXPECT_EQ(r.out.find("spawned"), std::string::npos) << verb << "\n" << r.out;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidateRejectsTest,
    ::testing::Values(
        BadCase{"program", "[[target]]\nname = \"t\"\ncommand = [\"no-such-daemon-xyz\"]\n",
                "6:11:", "unable to find no-such-daemon-xyz (looked in PATH"},
        BadCase{"readback", R"([[target]]
name = "t"
command = ["sleep", "9"]
address = "127.0.0.1:{port.t}"
[load]
[load.readback]
request = "GET {key}"
expect = "VALUE"
)",
                "11:10:", "has no {seq}"},
        BadCase{"variable", "[[target]]\nname = \"t\"\ncommand = [\"sleep\", \"{prot.t}\"]\n",
                "6:11:", "unknown variable {prot.t}"},
        BadCase{"filevar", "[[target]]\nname = \"t\"\ncommand = [\"cat\", \"{file.conf}\"]\n",
                "6:11:", "no [[target.file]] is declared"},
        BadCase{"placeholder", R"([[target]]
name = "t"
command = ["sleep", "9"]
address = "127.0.0.1:{port.t}"
[load]
request = "SET {key} {sqe}"
)",
                "9:11:", "unknown placeholder {sqe}"},
        BadCase{"template", R"([[target]]
name = "t"
command = ["sleep", "9"]
[[target.file]]
name = "c"
template_file = "no-such.conf.in"
)",
                "9:17:", "does not exist"},
        BadCase{"terminator", R"([[target]]
name = "t"
command = ["sleep", "9"]
address = "127.0.0.1:{port.t}"
[load]
terminator = "\r"
)",
                "9:14:", "must be \"\\n\" (the default) or \"\\r\\n\""},
        BadCase{"framing", R"([[target]]
name = "t"
command = ["sleep", "9"]
address = "127.0.0.1:{port.t}"
[load]
reply_lines = 2
reply_end = "END"
)",
                "9:15:", "give either 'reply_lines' or 'reply_end'"},
        BadCase{"loadkeys", R"([[target]]
name = "t"
command = ["sleep", "9"]
address = "127.0.0.1:{port.t}"
[load]
connections = 8
keys = 2
[load.readback]
request = "GET {key}"
expect = "VALUE {seq}"
)",
                "8:1:", "keys (2) must be >= connections (8)"},
        BadCase{"filepath", R"([[target]]
name = "t"
command = ["sleep", "9"]
[[target.file]]
name = "c"
path = "../c.conf"
template = "x"
)",
                "9:8:", "relative, no '..'"}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return std::string(p.param.name); });

// --- fault list ----------------------------------------------------------------------------

TEST(FaultListTest, ColumnsAreAlignedAndNeverRunTogether) {
  auto r = Duende("fault list");
  ASSERT_EQ(r.code, 0) << r.out;
  std::istringstream in(r.out);
  std::string line;
  std::vector<size_t> starts;  // columns of TYPE, DEFAULT, MEANING in the header
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind("    PARAMETER", 0) == 0) {
      std::vector<size_t> s = {line.find("TYPE"), line.find("DEFAULT"), line.find("MEANING")};
      if (!starts.empty()) {
        EXPECT_EQ(s, starts) << "every kind's table has the same columns: " << line;
      }
      starts = s;
      continue;
    }
    if (line.rfind("    ", 0) != 0 || starts.empty()) continue;
    ++rows;
    for (size_t col : starts) {
      ASSERT_GT(line.size(), col) << line;
      // Two spaces before each column, and the column's text starts right there.
      EXPECT_EQ(line.substr(col - 2, 2), "  ") << "column at " << col << " in: " << line;
      EXPECT_NE(line[col], ' ') << "column at " << col << " in: " << line;
    }
  }
  EXPECT_GT(rows, 20) << r.out;
}

}  // namespace
