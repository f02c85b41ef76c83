// Coverage-based test selection, ignore markers, --since, timeouts, the [mutate] config.
#include "duende/mutate/engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"
#include "duende/framework/unique_fd.h"
#include "duende/mutate/mutate_config.h"
#include "duende/mutate/test_runner.h"
#include "support/temp_dir.h"

namespace duende::mutate {
namespace {

namespace fs = std::filesystem;
using duende::testing::TempDir;

TEST(SelectTestsTest, OnlyCoveringTestsFastestFirst) {
  // test 0 (slow) reaches 1 and 2, test 1 (fast) reaches 2 and 3, test 2 reaches nothing.
  auto sel = SelectTests({{1, 2}, {2, 3}, {}}, {900, 100, 5});
  ASSERT_EQ(sel.size(), 3u);
  EXPECT_EQ(sel[1], (std::vector<uint32_t>{0}));
  EXPECT_EQ(sel[2], (std::vector<uint32_t>{1, 0}));
  EXPECT_EQ(sel[3], (std::vector<uint32_t>{1}));
  EXPECT_EQ(sel.count(4), 0u) << "an uncovered mutant has no tests: no coverage";
}

TEST(ReadTraceTest, DeduplicatesAndSkipsGarbage) {
  TempDir dir;
  std::ofstream(fs::path(dir.path()) / "t") << "3\n1\n3\nxx\n\n7\n12";
  std::vector<uint32_t> ids;
  ReadTrace((fs::path(dir.path()) / "t").string(), &ids);
  EXPECT_EQ(ids, (std::vector<uint32_t>{3, 1, 7, 12}));
  ReadTrace((fs::path(dir.path()) / "missing").string(), &ids);
  EXPECT_EQ(ids.size(), 4u);
}

TEST(IgnoreMarkersTest, SameLineOrLineBefore) {
  std::string text =
      "int a = x < y;  // duende-mutate: ignore(equivalent here)\n"
      "  // duende-mutate: ignore\n"
      "int b = x < y;\n"
      "int c = x < y;\n";
  std::vector<Mutant> ms(3);
  for (uint32_t i = 0; i < 3; ++i) ms[i].start.line = i + 1;
  ms[1].start.line = 3;
  ms[2].start.line = 4;
  std::vector<Mutant*> ptrs = {&ms[0], &ms[1], &ms[2]};
  EXPECT_EQ(ApplyIgnoreMarkers(text, ptrs), 2u);
  EXPECT_EQ(ms[0].status, Status::kIgnored);
  EXPECT_EQ(ms[0].detail, "equivalent here");
  EXPECT_EQ(ms[1].status, Status::kIgnored);
  EXPECT_EQ(ms[1].detail, "marked equivalent");
  EXPECT_EQ(ms[2].status, Status::kPending);
}

TEST(ChangedLinesTest, ReadsGitHunks) {
  TempDir dir;
  std::string d = dir.path();
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", d, "-c", "user.name=t", "-c", "user.email=t@t"});
    std::string out;
    auto st = RunCaptured(args, d, &out);
    ASSERT_TRUE(st.ok() && st->success()) << out;
  };
  git({"init", "-q"});
  std::ofstream(fs::path(dir.path()) / "a.cc") << "1\n2\n3\n4\n5\n6\n";
  git({"add", "a.cc"});
  git({"commit", "-q", "-m", "x"});
  std::ofstream(fs::path(dir.path()) / "a.cc") << "1\nTWO\n3\n4\nFIVE\nFIVE2\n6\n";
  auto lines = ChangedLines(d, "HEAD", (fs::path(dir.path()) / "a.cc").string());
  ASSERT_TRUE(lines.ok()) << lines.error().Message();
  EXPECT_EQ(*lines, (std::vector<std::pair<uint32_t, uint32_t>>{{2, 2}, {5, 6}}));
  auto bad = ChangedLines(d, "no-such-rev", (fs::path(dir.path()) / "a.cc").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, std::errc::invalid_argument);
}

bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST(RunTestTest, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string pidfile = (fs::path(dir.path()) / "pid").string();
  TestCase t;
  t.name = "hang";
  t.argv = {"sh", "-c", "sleep 60 & echo $! > " + pidfile + "; wait"};
  int64_t t0 = framework::MonotonicNs();
  auto r = RunTest(t, {}, std::chrono::milliseconds(300));
  int64_t took = framework::MonotonicNs() - t0;
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->kind, TestOutcome::Kind::kTimedOut);
  EXPECT_GE(took, 300'000'000);
  EXPECT_LT(took, 10'000'000'000);
  pid_t grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  for (int i = 0; i < 200 && Alive(grandchild); ++i) usleep(10000);
  EXPECT_FALSE(Alive(grandchild)) << "the test's background child survived the timeout";
}

// Each test run has a $TMPDIR of its own that is gone afterwards, whatever the test left in it
// (a test failing under a mutant skips its cleanup).
TEST(RunTestTest, EachRunHasItsOwnTmpdirRemovedAfterwards) {
  TempDir dir;
  const std::string seen = (fs::path(dir.path()) / "tmpdir").string();
  TestCase t;
  t.name = "litter";
  t.argv = {"sh", "-c", "echo \"$TMPDIR\" > " + seen + "; mkdir \"$TMPDIR/left\"; exit 1"};
  auto r = RunTest(t, {}, std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->kind, TestOutcome::Kind::kFailed);
  std::string tmpdir;
  std::ifstream(seen) >> tmpdir;
  EXPECT_EQ(tmpdir.rfind(framework::TempDir() + "/duende-mutate-test-", 0), 0u) << tmpdir;
  EXPECT_FALSE(fs::exists(tmpdir)) << tmpdir;
  // A test that sets its own TMPDIR keeps it.
  t.env = {"TMPDIR=" + dir.path()};
  t.argv = {"sh", "-c", "echo \"$TMPDIR\" > " + seen};
  ASSERT_TRUE(RunTest(t, {}, std::chrono::seconds(10)).ok());
  std::ifstream(seen) >> tmpdir;
  EXPECT_EQ(tmpdir, dir.path());
}

// A process the test started in a session of its own (as a supervisor's services are) is not
// in the test's process group; a mutant that breaks cleanup would leave it running. It is
// found by the test run's token in its environment and killed.
TEST(RunTestTest, AProcessThatLeftTheTestsGroupIsKilledAfterTheTest) {
  TempDir dir;
  std::string pidfile = (fs::path(dir.path()) / "pid").string();
  TestCase t;
  t.name = "escape";
  t.argv = {"sh", "-c", "setsid sleep 60 & echo $! > " + pidfile + "; sleep 0.2; exit 0"};
  auto r = RunTest(t, {}, std::chrono::seconds(10));
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->kind, TestOutcome::Kind::kPassed);
  pid_t escaped = 0;
  std::ifstream(pidfile) >> escaped;
  ASSERT_GT(escaped, 0);
  for (int i = 0; i < 200 && Alive(escaped); ++i) usleep(10000);
  EXPECT_FALSE(Alive(escaped)) << "the setsid'd sleep outlived the test";
  EXPECT_GE(r->leftovers, 1u);
}

TEST(RunTestTest, PassFailAndWillFail) {
  TestCase t;
  t.argv = {"sh", "-c", "exit $CODE"};
  t.env = {"CODE=0"};
  auto pass = RunTest(t, {}, std::chrono::seconds(10));
  ASSERT_TRUE(pass.ok());
  EXPECT_EQ(pass->kind, TestOutcome::Kind::kPassed);
  auto fail = RunTest(t, {"CODE=3"}, std::chrono::seconds(10));
  ASSERT_TRUE(fail.ok());
  EXPECT_EQ(fail->kind, TestOutcome::Kind::kFailed);
  EXPECT_EQ(fail->status.code, 3);
  t.will_fail = true;
  auto inverted = RunTest(t, {"CODE=3"}, std::chrono::seconds(10));
  ASSERT_TRUE(inverted.ok());
  EXPECT_EQ(inverted->kind, TestOutcome::Kind::kPassed);
  t.argv = {"/nonexistent/test"};
  EXPECT_FALSE(RunTest(t, {}, std::chrono::seconds(1)).ok());
}

TEST(MutateConfigTest, ReadsTheMutateSection) {
  TempDir dir;
  std::ofstream(fs::path(dir.path()) / "gates.toml") << R"([tier1]
steps = ["x"]

[mutate]
compile_db = "build/compile_commands.json"
files = ["framework/src/*.cc"]
operators = ["default", "bitwise"]
jobs = 2
min_score = 55.5
max_survivors = 40
time_budget = "10m"
timeout_margin = "2s"
json_report = "out/mutate.json"

[[mutate.ignore]]
file = "framework/src/clock.cc"
line = 12
reason = "equivalent"

[[mutate.ignore]]
file = "framework/src/clock.cc"
line = 30
column = 7
reason = "only the mutant at column 7"
)";
  MutateConfig cfg;
  auto r = LoadMutateConfig((fs::path(dir.path()) / "gates.toml").string(), &cfg);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(cfg.options.compile_db,
            (fs::path(dir.path()) / "build/compile_commands.json").string());
  EXPECT_EQ(cfg.options.files, std::vector<std::string>{"framework/src/*.cc"});
  EXPECT_EQ(cfg.options.operators,
            kDefaultOperators | static_cast<OperatorSet>(Operator::kBitwise));
  EXPECT_EQ(cfg.options.jobs, 2);
  EXPECT_EQ(cfg.options.time_budget, std::chrono::minutes(10));
  EXPECT_EQ(cfg.options.timeout_margin, std::chrono::seconds(2));
  EXPECT_DOUBLE_EQ(*cfg.gate.min_score, 55.5);
  EXPECT_EQ(*cfg.gate.max_survivors, 40u);
  EXPECT_EQ(cfg.reports.json, (fs::path(dir.path()) / "out/mutate.json").string());
  ASSERT_EQ(cfg.options.ignore.size(), 2u);
  EXPECT_EQ(cfg.options.ignore[0].line, 12u);
  EXPECT_EQ(cfg.options.ignore[0].column, 0u) << "no column: the whole line";
  EXPECT_EQ(cfg.options.ignore[1].line, 30u);
  EXPECT_EQ(cfg.options.ignore[1].column, 7u);
}

// The equivalent mutants tier 3 ignores (ci/mutate-framework.toml) name places that exist: a
// line of a file in this tree, and a column within that line. After an edit moves code, the
// entry that no longer points at its line fails here, not silently in the gate (`duende mutate
// --config ci/mutate-framework.toml -p build/ci --list 'framework/src/*.cc'` shows what each
// entry takes).
TEST(MutateConfigTest, TheShippedEquivalentMutantsNameLinesThatExist) {
  const std::string src = DUENDE_SOURCE_DIR;
  MutateConfig cfg;
  auto r = LoadMutateConfig(src + "/ci/mutate-framework.toml", &cfg);
  ASSERT_TRUE(r.ok()) << r.error().Message();
  ASSERT_GT(cfg.options.ignore.size(), 50u);
  for (const auto& e : cfg.options.ignore) {
    std::ifstream in(src + "/" + e.file);
    ASSERT_TRUE(in.good()) << e.file;
    std::string line;
    for (uint32_t n = 0; n < e.line && std::getline(in, line); ++n) {
    }
    ASSERT_TRUE(in.good()) << e.file << ":" << e.line << " is past the end";
    EXPECT_FALSE(line.empty()) << e.file << ":" << e.line << " is an empty line";
    EXPECT_LE(e.column, line.size()) << e.file << ":" << e.line << ":" << e.column;
    EXPECT_FALSE(e.reason.empty()) << e.file << ":" << e.line;
  }
}

TEST(MutateConfigTest, BadValuesNameTheirPlace) {
  TempDir dir;
  std::string path = (fs::path(dir.path()) / "gates.toml").string();
  std::ofstream(path) << "[mutate]\ncompile_db = \"b/compile_commands.json\"\nmin_scor = 50\n"
                         "jobs = 0\noperators = [\"relationl\"]\n";
  MutateConfig cfg;
  auto r = LoadMutateConfig(path, &cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::invalid_argument);
  const std::string& msg = r.error().context;
  EXPECT_NE(msg.find(path + ":3:1: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'min_score'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path + ":4:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown mutation operator 'relationl'"), std::string::npos) << msg;
}

TEST(MutateConfigTest, MissingSectionIsAnError) {
  TempDir dir;
  std::string path = (fs::path(dir.path()) / "gates.toml").string();
  std::ofstream(path) << "[tier1]\nsteps = []\n";
  MutateConfig cfg;
  auto r = LoadMutateConfig(path, &cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("mutate"), std::string::npos) << r.error().context;
}

}  // namespace
}  // namespace duende::mutate

namespace duende::mutate {
namespace {

// A killed `duende mutate` cannot remove its copy of the tree; the next run (or duende
// doctor) does, once nobody holds the directory's .owner lock.
TEST(StaleWorkDirTest, OnlyDirsWhoseOwnerIsGoneAreRemoved) {
  // Where RemoveStaleWorkDirs looks: $TMPDIR (each test program has its own).
  std::string t1 = framework::TempDir() + "/duende-mutate-XXXXXX", t2 = t1;
  ASSERT_NE(::mkdtemp(t1.data()), nullptr);
  ASSERT_NE(::mkdtemp(t2.data()), nullptr);
  const std::string live = t1, dead = t2;
  std::ofstream(live + "/.owner") << "";
  std::ofstream(dead + "/.owner") << "";
  // The live run's lock is held by another process, as a running mutate holds its own.
  framework::SpawnOptions o;
  o.argv = {"sh", "-c", "exec 9>>\"$0\" && flock 9 && exec sleep 30", live + "/.owner"};
  auto holder = framework::Spawn(o);
  ASSERT_TRUE(holder.ok());
  for (int i = 0; i < 200; ++i) {  // until flock has the lock
    framework::UniqueFd fd(::open((live + "/.owner").c_str(), O_RDONLY | O_CLOEXEC));
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) break;
    ::flock(fd.get(), LOCK_UN);
    ::usleep(5000);
  }
  EXPECT_GE(RemoveStaleWorkDirs(), 1);
  EXPECT_TRUE(std::filesystem::exists(live));
  EXPECT_FALSE(std::filesystem::exists(dead));
  ASSERT_TRUE(framework::SignalPidfd(holder->pidfd.get(), SIGKILL).ok());
  (void)framework::WaitExit(holder->pidfd.get());
  EXPECT_GE(RemoveStaleWorkDirs(), 1);
  EXPECT_FALSE(std::filesystem::exists(live));
}

}  // namespace
}  // namespace duende::mutate
