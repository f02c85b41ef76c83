#include "duende/harness/gate.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "duende/framework/temp_dir.h"
#include "duende/reporters/reporter.h"
#include "support/temp_dir.h"

namespace duende::harness {
namespace {

namespace fs = std::filesystem;
using duende::testing::TempDir;
using model::Verdict;

std::string Errors(const std::string& toml) {
  auto c = ParseGateConfig(toml, "gates.toml", ".");
  return c.ok() ? "" : c.error().context;
}

constexpr const char* kValid = R"(
[vars]
build = "build/ci"

[defaults]
timeout = "2m"

[[tier]]
number = 1
name = "on save"

  [[tier.step]]
  name = "build"
  kind = "command"
  run = ["cmake", "--build", "${build}"]
  timeout = "10m"

  [[tier.step]]
  name = "fast tests"
  kind = "command"
  run = ["ctest", "--test-dir", "${build}", "-L", "fast"]
  env = { GTEST_COLOR = "no" }

[[tier]]
number = 2
  [[tier.step]]
  name = "coverage"
  kind = "coverage"
  build_dir = "build/coverage"
  threshold = [{ path = "framework/", lines = 80, branches = 50 }, { lines = 60 }]

  [[tier.step]]
  name = "smoke"
  kind = "scenario"
  path = "scenarios"
  args = ["--seed", "1"]

[[tier]]
number = 3
  [[tier.step]]
  name = "explore"
  kind = "explore"
  path = "scenarios/kill.toml"
  budget = "60s"

  [[tier.step]]
  name = "mutants"
  kind = "mutation"
  min_score = 0.6
)";

TEST(GateConfigTest, ReadsEveryStepKind) {
  auto c = ParseGateConfig(kValid, "gates.toml", "/proj");
  ASSERT_TRUE(c.ok()) << c.error().context;
  ASSERT_EQ(c->tiers.size(), 3u);
  const GateTier* t1 = c->FindTier(1);
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->name, "on save");
  ASSERT_EQ(t1->steps.size(), 2u);
  EXPECT_EQ(t1->steps[0].argv, (std::vector<std::string>{"cmake", "--build", "build/ci"}));
  EXPECT_EQ(t1->steps[0].timeout, std::chrono::minutes(10));
  EXPECT_EQ(t1->steps[1].timeout, std::chrono::minutes(2));
  EXPECT_EQ(t1->steps[1].env, (std::vector<std::string>{"GTEST_COLOR=no"}));
  EXPECT_EQ(t1->steps[0].pos.line, 12u);
  const GateTier* t2 = c->FindTier(2);
  ASSERT_EQ(t2->steps[0].kind, GateStepKind::kCoverage);
  ASSERT_EQ(t2->steps[0].thresholds.size(), 2u);
  EXPECT_EQ(t2->steps[0].thresholds[0].path, "framework/");
  EXPECT_EQ(t2->steps[0].thresholds[0].min_lines, 80);
  EXPECT_EQ(t2->steps[0].thresholds[0].min_branches, 50);
  EXPECT_EQ(t2->steps[0].thresholds[1].path, "");
  EXPECT_EQ(t2->steps[0].root, ".");
  EXPECT_EQ(t2->steps[1].kind, GateStepKind::kScenario);
  EXPECT_EQ(c->FindTier(3)->steps[0].budget, "60s");
  EXPECT_DOUBLE_EQ(c->FindTier(3)->steps[1].min_score, 0.6);
  EXPECT_EQ(c->FindTier(4), nullptr);
}

TEST(GateConfigTest, SetOverridesVars) {
  auto c = ParseGateConfig(kValid, "gates.toml", ".", {"build=out/x"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->FindTier(1)->steps[0].argv[2], "out/x");
  EXPECT_FALSE(ParseGateConfig(kValid, "gates.toml", ".", {"nonsense"}).ok());
}

TEST(GateConfigTest, UnknownKindIsPositionedWithSuggestion) {
  std::string e = Errors(R"([[tier]]
number = 1
[[tier.step]]
name = "x"
kind = "comand"
run = ["true"]
)");
  EXPECT_EQ(e,
            "gates.toml:5:8: 'kind' in [[step]] #1 is \"comand\"; it must be one of \"command\", "
            "\"scenario\", \"explore\", \"coverage\", \"mutation\"; did you mean \"command\"?");
}

TEST(GateConfigTest, BadThresholdsArePositioned) {
  std::string e = Errors(R"([[tier]]
number = 2
[[tier.step]]
name = "cov"
kind = "coverage"
build_dir = "b"
threshold = [{ path = "framework/", lines = 120 }]
[[tier.step]]
name = "mut"
kind = "mutation"
min_score = "high"
)");
  EXPECT_NE(e.find("gates.toml:7:"), std::string::npos) << e;
  EXPECT_NE(e.find("'lines'"), std::string::npos) << e;
  EXPECT_NE(e.find("between 0 and 100"), std::string::npos) << e;
  EXPECT_NE(e.find("gates.toml:11:13: 'min_score'"), std::string::npos) << e;
  EXPECT_NE(e.find("must be a number"), std::string::npos) << e;
}

TEST(GateConfigTest, KeysOfAnotherKindAreUnknown) {
  std::string e = Errors(R"([[tier]]
number = 1
[[tier.step]]
name = "x"
kind = "command"
run = ["true"]
min_score = 0.5
)");
  EXPECT_NE(e.find("gates.toml:7:1: unknown key 'min_score'"), std::string::npos) << e;
}

TEST(GateConfigTest, OtherMistakes) {
  EXPECT_NE(Errors("[[tier]]\nnumber = 1\n[[tier.step]]\nname = \"x\"\nkind = \"command\"\n"
                   "run = [\"${nope}\"]\n")
                .find("undefined variable ${nope} in 'run' of [[step]] #1; define it in [vars]"),
            std::string::npos);
  EXPECT_NE(Errors("[[tier]]\nnumber = 1\n[[tier]]\nnumber = 1\n").find("defined twice"),
            std::string::npos);
  EXPECT_NE(Errors("[[tier]]\nnumber = 12\n").find("gates.toml:2:10"), std::string::npos);
  EXPECT_NE(Errors("[[tier]]\nnumber = 1\n[[tier.step]]\nname = \"x\"\nkind = \"command\"\n"
                   "run = []\n")
                .find("must name a program"),
            std::string::npos);
  EXPECT_NE(Errors("[[tier]]\nnumber = 1\n[[tier.step]]\nname = \"a\"\nkind = \"command\"\n"
                   "run = [\"true\"]\n[[tier.step]]\nname = \"a\"\nkind = \"command\"\n"
                   "run = [\"true\"]\n")
                .find("appears twice"),
            std::string::npos);
  EXPECT_NE(Errors("[[tier]]\nnumber = 1\ntimeout = 3\n").find("unknown key 'timeout'"),
            std::string::npos);
}

TEST(GateConfigTest, LoadResolvesBaseDirAndReportsMissingFile) {
  TempDir d;
  std::string p = d.Write("gates.toml",
                          "[[tier]]\nnumber = 1\n[[tier.step]]\nname = \"t\"\n"
                          "kind = \"command\"\nrun = [\"true\"]\n");
  auto c = LoadGateConfig(p);
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->base_dir, d.path());
  auto missing = LoadGateConfig(d.path() + "/nope.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
}

TEST(GateCoverageTest, ParsesGcovrSummaryAndSumsByPrefix) {
  auto files = ParseGcovrSummary(R"({"files":[
    {"filename":"framework/a.cc","line_total":10,"line_covered":8,"branch_total":4,"branch_covered":1},
    {"filename":"framework/b.cc","line_total":30,"line_covered":12},
    {"filename":"harness/c.cc","line_total":5,"line_covered":5}],"line_total":45})");
  ASSERT_TRUE(files.ok());
  FileCoverage fw = SumCoverage(*files, "framework/");
  EXPECT_EQ(fw.lines_total, 40);
  EXPECT_EQ(fw.lines_covered, 20);
  EXPECT_EQ(fw.branches_covered, 1);
  EXPECT_EQ(SumCoverage(*files, "").lines_total, 45);
  EXPECT_EQ(SumCoverage(*files, "faults/").lines_total, 0);
  EXPECT_FALSE(ParseGcovrSummary("{}").ok());
  EXPECT_FALSE(ParseGcovrSummary("not json").ok());
}

// ---- Running tiers -------------------------------------------------------------------

struct Ran {
  model::ScenarioResult result;
  std::vector<model::Event> live;
};

Ran RunTier(const std::string& toml, const TempDir& d, int tier = 1, std::string duende = "") {
  auto c = ParseGateConfig(toml, d.path() + "/gates.toml", d.path());
  EXPECT_TRUE(c.ok()) << c.error().context;
  Ran ran;
  GateOptions o;
  o.duende_path = duende;
  o.log_dir = d.path() + "/logs";
  o.on_event = [&](const model::Event& e) { ran.live.push_back(e); };
  ran.result = RunGateTier(*c, *c->FindTier(tier), o);
  return ran;
}

const model::CheckResult& Check(const Ran& r, const std::string& name) {
  for (const auto& c : r.result.checks) {
    if (c.name == name) return c;
  }
  static model::CheckResult none;
  ADD_FAILURE() << "no check " << name;
  return none;
}

// Running (a killed orphan may stay a zombie until init reaps it: that counts as dead).
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return false;
  size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

pid_t ReadPid(const std::string& path) {
  pid_t pid = 0;
  std::ifstream(path) >> pid;
  return pid;
}

TEST(GateRunTest, CommandsPassFailAndKeepEvidence) {
  TempDir d;
  Ran r = RunTier(R"([[tier]]
number = 1
name = "on save"
[[tier.step]]
name = "ok"
kind = "command"
run = ["true"]
[[tier.step]]
name = "fails"
kind = "command"
run = ["sh", "-c", "echo first line; echo 'the reason it failed' >&2; exit 3"]
[[tier.step]]
name = "no-such-program"
kind = "command"
run = ["/nonexistent/program"]
[[tier.step]]
name = "in-cwd"
kind = "command"
run = ["sh", "-c", "test -f marker && test \"$GREETING\" = hi"]
cwd = "sub"
env = { GREETING = "hi" }
)",
                  [&] {
                    d.Write("sub/marker", "");
                    return std::cref(d);
                  }());
  EXPECT_EQ(r.result.name, "tier 1: on save");
  ASSERT_EQ(r.result.checks.size(), 4u);
  EXPECT_EQ(Check(r, "ok").verdict, Verdict::kPass);
  EXPECT_EQ(Check(r, "ok").measured, "exited with code 0");
  const auto& f = Check(r, "fails");
  EXPECT_EQ(f.verdict, Verdict::kFail);
  EXPECT_EQ(f.measured, "exited with code 3");
  EXPECT_EQ(f.threshold, "exit 0");
  ASSERT_GE(f.evidence.size(), 3u);
  EXPECT_EQ(f.evidence[0], "first line");
  EXPECT_EQ(f.evidence[1], "the reason it failed");
  EXPECT_EQ(f.evidence.back(), "full output: " + d.path() + "/logs/tier1-fails.log");
  std::ifstream log(d.path() + "/logs/tier1-fails.log");
  std::stringstream ss;
  ss << log.rdbuf();
  EXPECT_NE(ss.str().find("the reason it failed"), std::string::npos);
  EXPECT_EQ(Check(r, "no-such-program").verdict, Verdict::kError);
  EXPECT_NE(Check(r, "no-such-program").evidence[0].find("No such file or directory"),
            std::string::npos);
  EXPECT_EQ(Check(r, "in-cwd").verdict, Verdict::kPass);
  EXPECT_EQ(r.result.verdict, Verdict::kError);
  // Live events: started/finished around each step, in order.
  ASSERT_GE(r.live.size(), 2u);
  EXPECT_EQ(r.live.front().type, "run.started");
  EXPECT_EQ(r.live[1].type, "gate.step.started");
  EXPECT_EQ(r.live.back().type, "run.finished");
}

TEST(GateRunTest, TimeoutStopsTheWholeProcessGroup) {
  TempDir d;
  std::string pids = d.path() + "/pids";
  auto t0 = std::chrono::steady_clock::now();
  Ran r = RunTier(R"([[tier]]
number = 1
[[tier.step]]
name = "hangs"
kind = "command"
timeout = "300ms"
run = ["sh", "-c", "sleep 60 & echo $! > pids; trap '' TERM; sleep 60"]
)",
                  d);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& c = Check(r, "hangs");
  EXPECT_EQ(c.verdict, Verdict::kFail);
  EXPECT_EQ(c.measured, "timed out");
  EXPECT_EQ(c.evidence[0], "stopped after the timeout of 300.0ms");
  // sh ignores TERM: it is KILLed after the grace period, and its background child too.
  EXPECT_LT(secs, 20);
  pid_t bg = ReadPid(pids);
  ASSERT_GT(bg, 0);
  for (int i = 0; i < 100 && Alive(bg); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(bg)) << "background child " << bg << " survived the step";
}

TEST(GateRunTest, LeftoverChildrenOfAFinishedStepAreStopped) {
  TempDir d;
  Ran r = RunTier(R"([[tier]]
number = 1
[[tier.step]]
name = "leaves-a-child"
kind = "command"
run = ["sh", "-c", "sleep 60 > /dev/null 2>&1 & echo $! > pid; exit 0"]
)",
                  d);
  EXPECT_EQ(Check(r, "leaves-a-child").verdict, Verdict::kPass);
  pid_t bg = ReadPid(d.path() + "/pid");
  ASSERT_GT(bg, 0);
  for (int i = 0; i < 100 && Alive(bg); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(Alive(bg));
}

// A stand-in for `duende` whose verbs are scripted: run passes for files named *pass*,
// fails for *fail*; explore and mutate do not exist (like a build without them).
std::string FakeDuende(const TempDir& d) {
  return d.Write("fake-duende", R"sh(#!/bin/sh
verb=$1; shift
case "$verb" in
  run)
    case "$1" in
      *pass*) echo "scenario $1: PASS"; exit 0 ;;
      *fail*) echo "scenario $1: FAIL: 3 lost writes"; exit 1 ;;
      *) echo "duende: error: $1:1:1: bad scenario" >&2; exit 2 ;;
    esac ;;
  *) echo "duende: error: unknown verb '$verb' (see 'duende help')" >&2; exit 2 ;;
esac
)sh",
                 true);
}

TEST(GateRunTest, ScenarioStepsRunEachFileOfADirectory) {
  TempDir d;
  d.Write("scn/a-pass.toml", "");
  d.Write("scn/b-fail.toml", "");
  d.Write("scn/c-pass.toml", "");
  d.Write("scn/notes.txt", "");
  d.Write("one/x-pass.toml", "");
  Ran r = RunTier(R"([[tier]]
number = 2
[[tier.step]]
name = "smoke"
kind = "scenario"
path = "scn"
[[tier.step]]
name = "single"
kind = "scenario"
path = "one/x-pass.toml"
[[tier.step]]
name = "missing"
kind = "scenario"
path = "nowhere"
)",
                  d, 2, FakeDuende(d));
  const auto& smoke = Check(r, "smoke");
  EXPECT_EQ(smoke.verdict, Verdict::kFail);
  EXPECT_EQ(smoke.measured, "2 of 3 passed");
  ASSERT_GE(smoke.evidence.size(), 2u);
  EXPECT_EQ(smoke.evidence[0], "b-fail.toml: exited with code 1");
  EXPECT_NE(smoke.evidence[1].find("3 lost writes"), std::string::npos);
  EXPECT_EQ(Check(r, "single").verdict, Verdict::kPass);
  EXPECT_EQ(Check(r, "single").measured, "1 of 1 passed");
  EXPECT_EQ(Check(r, "missing").verdict, Verdict::kError);
}

TEST(GateRunTest, MissingVerbIsAStepErrorNotACrash) {
  TempDir d;
  d.Write("s.toml", "");
  Ran r = RunTier(R"([[tier]]
number = 3
[[tier.step]]
name = "explore"
kind = "explore"
path = "s.toml"
budget = "10s"
[[tier.step]]
name = "mutants"
kind = "mutation"
min_score = 0.5
)",
                  d, 3, FakeDuende(d));
  EXPECT_EQ(Check(r, "explore").verdict, Verdict::kError);
  EXPECT_EQ(Check(r, "explore").measured, "no 'explore' verb");
  EXPECT_EQ(Check(r, "explore").threshold, "no failing plan within 10s");
  EXPECT_EQ(Check(r, "mutants").verdict, Verdict::kError);
  EXPECT_EQ(Check(r, "mutants").threshold, "score >= 50%");
}

TEST(GateRunTest, CoverageMeasuredByGcovrAgainstThresholds) {
  if (access("/usr/bin/gcovr", X_OK) != 0) GTEST_SKIP() << "gcovr is not installed";
  TempDir d;
  d.Write("src/lib/a.c", "int f(int x) {\n  if (x) {\n    return 1;\n  }\n  return 2;\n}\n");
  d.Write("src/main.c",
          "int f(int);\nint g(void) { return 7; }\nint main(void) { return f(0) - 2; }\n");
  std::string build = "cd " + d.path() +
                      " && mkdir -p build && cd build && cc --coverage -o t ../src/main.c "
                      "../src/lib/a.c && ./t";
  ASSERT_EQ(system(build.c_str()), 0);
  Ran r = RunTier(R"([[tier]]
number = 2
[[tier.step]]
name = "cov-ok"
kind = "coverage"
build_dir = "build"
threshold = [{ path = "src/lib/", lines = 75 }]
[[tier.step]]
name = "cov-low"
kind = "coverage"
build_dir = "build"
threshold = [{ path = "src/lib/", lines = 75, branches = 100 }, { path = "src/main.c", lines = 90 }]
[[tier.step]]
name = "cov-nothing"
kind = "coverage"
build_dir = "build"
threshold = [{ path = "faults/", lines = 10 }]
)",
                  d, 2);
  const auto& ok = Check(r, "cov-ok");
  EXPECT_EQ(ok.verdict, Verdict::kPass) << ok.measured;
  // a.c: 3 of 4 lines ran (the "return 1" did not); main.c: g() never ran.
  EXPECT_EQ(ok.measured, "src/lib/ 75.0%");
  EXPECT_EQ(ok.threshold, "src/lib/ lines >= 75.0%");
  const auto& low = Check(r, "cov-low");
  EXPECT_EQ(low.verdict, Verdict::kFail);
  ASSERT_EQ(low.evidence.size(), 2u);
  EXPECT_NE(low.evidence[0].find("branches 50.0% (1/2) BELOW THRESHOLD"), std::string::npos)
      << low.evidence[0];
  EXPECT_NE(low.evidence[1].find("src/main.c: lines 50.0% (1/2)"), std::string::npos)
      << low.evidence[1];
  EXPECT_EQ(Check(r, "cov-nothing").verdict, Verdict::kError);
}

// Without --log-dir, gcovr's summary goes to a fresh private directory (0700, under $TMPDIR),
// never to the old fixed $TMPDIR/tierN-NAME-gcovr.json, where another user could plant a link
// for root's gcovr to write through; the directory is gone after the step.
TEST(GateRunTest, CoverageSummaryGoesToAPrivateDirectoryNotAFixedName) {
  TempDir d;
  const std::string victim = d.Write("victim", "root's\n");
  auto tmp = framework::PrivateTempDir::Make("duende-gate-tmpdir-test");
  ASSERT_TRUE(tmp.ok());
  const std::string planted = tmp->path() + "/tier2-cov-gcovr.json";
  ASSERT_EQ(::symlink(victim.c_str(), planted.c_str()), 0);
  // A stand-in for gcovr: notes where it was told to write, the mode of that directory, and
  // writes a summary there.
  const std::string told_path = d.path() + "/told";
  const std::string fake = d.Write("fake-gcovr", "#!/bin/sh\nTOLD='" + told_path + "'\n" + R"sh(
while [ $# -gt 0 ]; do
  if [ "$1" = --json-summary ]; then out=$2; fi
  shift
done
echo "$out" > "$TOLD"
stat -c %a "$(dirname "$out")" >> "$TOLD"
echo '{"files": [{"filename": "a.c", "line_total": 2, "line_covered": 2}]}' > "$out"
)sh",
                                   /*exec=*/true);
  auto c = ParseGateConfig(R"([[tier]]
number = 2
[[tier.step]]
name = "cov"
kind = "coverage"
build_dir = "."
threshold = [{ lines = 50 }]
)",
                           d.path() + "/gates.toml", d.path());
  ASSERT_TRUE(c.ok()) << c.error().context;
  ::setenv("TMPDIR", tmp->path().c_str(), 1);
  GateOptions o;
  o.gcovr_path = fake;  // and no log_dir
  auto result = RunGateTier(*c, *c->FindTier(2), o);
  ::unsetenv("TMPDIR");
  ASSERT_EQ(result.checks.size(), 1u);
  EXPECT_EQ(result.checks[0].verdict, Verdict::kPass) << result.checks[0].measured;
  std::ifstream told(told_path);
  std::string out, mode;
  std::getline(told, out);
  std::getline(told, mode);
  EXPECT_EQ(out.rfind(tmp->path() + "/duende-gcovr-", 0), 0u) << out;
  EXPECT_EQ(mode, "700");
  EXPECT_FALSE(fs::exists(fs::path(out).parent_path())) << "the private directory was left";
  std::ifstream v(victim);
  std::string text((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "root's\n");
}

}  // namespace
}  // namespace duende::harness
