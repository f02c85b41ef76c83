// The command line's two contracts, checked against what every verb does:
// - the README's exit-code table (framework/exit_code.h, model::ExitCodeFor): each verb
//   exits with the code the table names for each outcome it can have: passed, failed, bad
//   usage or input, the environment failed, interrupted;
// - each verb's --help: a verb (or subcommand) that lists -q prints no progress lines with it,
//   and one that lists a report option (--events, --junit, --json, --html, --markdown) writes
//   that file. The verbs and their options are read from `duende help` and `--help`, so a new
//   verb or option without a case here fails the test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "duende/framework/exit_code.h"
#include "duende/framework/process.h"
#include "duende/framework/unique_fd.h"
#include "duende/model/model.h"
#include "support/cli.h"
#include "support/files.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace duende::harness {
namespace {

using duende::testing::CommandOutput;
using duende::testing::Eventually;
using duende::testing::ReadFile;
using duende::testing::RunArgv;
using duende::testing::TempDir;
using model::Verdict;
using namespace std::chrono_literals;

const std::string kDuende = DUENDE_PATH;
const std::string kFixtures = "DUENDE_FIXTURES_DIR=" + std::string(DUENDE_BINARY_DIR) + "/fixtures";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// A target that prints "hello" and sleeps: the "hello" check passes, `--set
// check.hello.pattern=^bye$` makes it fail.
std::string Scenario(const std::string& name, const std::string& duration) {
  return "[scenario]\nname = \"" + name + "\"\nduration = \"" + duration +
         "\"\n"
         "[[target]]\nname = \"t\"\ncommand = [\"sh\", \"-c\", \"echo hello; exec sleep 30\"]\n"
         "[[check]]\nname = \"hello\"\nkind = \"log_matches\"\npattern = \"^hello$\"\n";
}

// Scenario files, event logs of finished runs and a gates file, written once for the suite.
class CliContractTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("cli-contract");
    const TempDir& d = *dir_;
    d.Write("pass.toml", Scenario("tiny", "300ms"));
    d.Write("long.toml", Scenario("long", "30s"));
    // Exits at once and never listens: the run ends in ERROR (exit 3).
    d.Write("error.toml",
            "[scenario]\nname = \"never-ready\"\nduration = \"300ms\"\n"
            "[[target]]\nname = \"t\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n"
            "address = \"127.0.0.1:{port.t}\"\n[target.restart]\npolicy = \"never\"\n"
            "[target.readiness]\nkind = \"tcp\"\ngrace_period = \"2s\"\n");
    d.Write("missing.toml",
            "[scenario]\nname = \"missing\"\nduration = \"300ms\"\n"
            "[[target]]\nname = \"t\"\ncommand = [\"no-such-daemon-xyz\"]\n");
    d.Write("bad.toml", "[scenario]\nname = 5\n");
    d.Write("explore.toml", Scenario("tiny-explore", "300ms") +
                                "[explore]\nmax_faults = 1\nwindow = [\"50ms\", \"200ms\"]\n"
                                "step = \"50ms\"\n[[explore.fault]]\nkind = \"kill\"\n"
                                "signal = [\"SIGKILL\"]\n");
    d.Write("gates.toml",
            "[[tier]]\nnumber = 1\n[[tier.step]]\nname = \"ok\"\nkind = \"command\"\n"
            "run = [\"true\"]\n"
            "[[tier]]\nnumber = 2\n[[tier.step]]\nname = \"fails\"\nkind = \"command\"\n"
            "run = [\"false\"]\n"
            "[[tier]]\nnumber = 3\n[[tier.step]]\nname = \"cannot-start\"\nkind = \"command\"\n"
            "run = [\"/nonexistent/program\"]\n");
    d.Write("services.toml", "[supervisor]\ncontrol_socket = \"" + d / "ctl.sock" +
                                 "\"\n[[service]]\nname = \"s\"\ncommand = [\"sleep\", \"30\"]\n");
    d.Write("daemon.toml", "name = \"d\"\ncommand = [\"sleep\", \"30\"]\n");
    d.Write("daemon-never.toml",
            "name = \"d\"\ncommand = [\"sleep\", \"30\"]\n[restart]\npolicy = \"never\"\n");
    // Event logs of a passing, a failing, an errored and an interrupted run.
    Duende({"run", d / "pass.toml", "-q", "--events", d / "pass.jsonl", "--json", d / "pass.json"});
    Duende({"run", d / "pass.toml", "-q", "--set", "check.hello.pattern=^bye$", "--events",
            d / "fail.jsonl", "--json", d / "fail.json"});
    Duende({"run", d / "error.toml", "-q", "--events", d / "error.jsonl"});
    interrupted_exit_ =
        Interrupt({kDuende, "run", d / "long.toml", "-q", "--events", d / "aborted.jsonl"},
                  d / "aborted.jsonl");
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static CommandOutput Duende(std::vector<std::string> args) {
    args.insert(args.begin(), kDuende);
    return RunArgv(args, dir_->path(), {kFixtures});
  }

  // Starts `argv`, sends SIGINT once `events` holds a target.spawned event, returns its exit
  // code (-1 when it never started a target or did not end within 20 s).
  static int Interrupt(const std::vector<std::string>& argv, const std::string& events) {
    framework::SpawnOptions o;
    o.argv = argv;
    o.env_overrides = {kFixtures};
    o.working_dir = dir_->path();
    o.stdout_fd = -1;
    o.stderr_fd = -1;
    auto child = framework::Spawn(o);
    if (!child.ok()) return -1;
    const bool started = Eventually(
        [&] { return ReadFile(events).find("target.spawned") != std::string::npos; }, 20s);
    (void)framework::SignalPidfd(child->pidfd.get(), started ? SIGINT : SIGKILL);
    auto st = framework::WaitExit(child->pidfd.get());
    if (!started || !st.ok() || st->signaled) return -1;
    return st->code;
  }

  static TempDir* dir_;
  static int interrupted_exit_;
};

TempDir* CliContractTest::dir_ = nullptr;
int CliContractTest::interrupted_exit_ = -1;

// The verbs `duende help` lists.
std::vector<std::string> Verbs() {
  std::vector<std::string> verbs;
  bool in = false;
  for (const auto& line : Lines(RunArgv({kDuende, "help"}).out)) {
    if (line == "verbs:") {
      in = true;
    } else if (in && line.rfind("  ", 0) == 0) {
      verbs.push_back(line.substr(2, line.find(' ', 2) - 2));
    } else if (in) {
      in = false;
    }
  }
  return verbs;
}

// The options a command's --help lists ("-q", "--junit", ...); a report option is listed with
// "FILE" (`ctl --json` prints JSON to stdout: it is not one).
std::set<std::string> HelpOptions(std::vector<std::string> command) {
  command.insert(command.begin(), kDuende);
  command.push_back("--help");
  const std::string help = RunArgv(command).out;
  // CLI11 lists each option on a line of its own: "  -q,--quiet  help", "  --junit TEXT ...".
  std::set<std::string> out;
  for (const auto& line : Lines(help)) {
    std::istringstream in(line);
    std::string names;
    if (!(in >> names) || names[0] != '-' || line[0] != ' ') continue;
    std::string value;
    in >> value;
    std::istringstream split(names);
    for (std::string name; std::getline(split, name, ',');) {
      out.insert(value == "FILE" ? name + " FILE" : name);
    }
  }
  return out;
}

// The commands to check: every verb, and the subcommands that take options of their own.
std::vector<std::vector<std::string>> Commands() {
  std::vector<std::vector<std::string>> out;
  for (const auto& v : Verbs()) out.push_back({v});
  for (auto sub : {std::vector<std::string>{"adapter", "render"},
                   {"adapter", "detect"},
                   {"bench", "restart"},
                   {"fault", "inject"},
                   {"fault", "exec"},
                   {"fault", "list"},
                   {"report", "merge"}}) {
    out.push_back(sub);
  }
  return out;
}

std::string Joined(const std::vector<std::string>& command) {
  std::string s;
  for (const auto& c : command) s += (s.empty() ? "" : " ") + c;
  return s;
}

// --- exit codes --------------------------------------------------------------------------

// The README's table: code -> meaning.
std::map<int, std::string> ReadmeExitCodes() {
  std::map<int, std::string> codes;
  const std::string readme = ReadFile(std::string(DUENDE_SOURCE_DIR) + "/README.md");
  const size_t at = readme.find("### Exit codes (every verb)");
  if (at == std::string::npos) return codes;
  std::istringstream in(readme.substr(at));
  static const std::regex kRow(R"(^\| (\d+) \| (.+) \|$)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, kRow)) codes[std::stoi(m[1])] = m[2];
    if (!codes.empty() && line.empty()) break;
  }
  return codes;
}

TEST(ExitCodeContractTest, TheReadmeTableIsExitCodeH) {
  auto codes = ReadmeExitCodes();
  std::set<int> readme;
  for (const auto& [code, meaning] : codes) readme.insert(code);
  EXPECT_EQ(readme,
            (std::set<int>{framework::kExitOk, framework::kExitFailed, framework::kExitUsage,
                           framework::kExitEnvironment, framework::kExitInterrupted}));
  EXPECT_NE(codes[130].find("interrupted"), std::string::npos) << codes[130];
  // `duende help` names every code of the table.
  const std::string help = RunArgv({kDuende, "help"}).out;
  for (int code : readme) {
    EXPECT_TRUE(
        std::regex_search(help, std::regex("exit codes:.*\\b" + std::to_string(code) + " [a-z]")))
        << code << " missing from `duende help`:\n"
        << help;
  }
}

TEST(ExitCodeContractTest, EveryVerdictHasTheCodeOfTheTable) {
  EXPECT_EQ(model::ExitCodeFor(Verdict::kPass), framework::kExitOk);
  EXPECT_EQ(model::ExitCodeFor(Verdict::kFail), framework::kExitFailed);
  EXPECT_EQ(model::ExitCodeFor(Verdict::kError), framework::kExitEnvironment);
  EXPECT_EQ(model::ExitCodeFor(Verdict::kAborted), framework::kExitInterrupted);
  // An interrupted invocation exits 130 whatever else happened in it.
  EXPECT_EQ(model::Combine({Verdict::kError, Verdict::kAborted}), Verdict::kAborted);
  EXPECT_EQ(model::Combine({Verdict::kFail, Verdict::kError}), Verdict::kError);
}

TEST_F(CliContractTest, EveryVerbRefusesBadUsageWith2AndAnswersHelpWith0) {
  const auto verbs = Verbs();
  ASSERT_GE(verbs.size(), 12u);
  for (const auto& command : Commands()) {
    std::vector<std::string> args = command;
    args.push_back("--no-such-option");
    auto r = Duende(args);
    EXPECT_EQ(r.code, framework::kExitUsage) << Joined(args) << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("duende: error: "), std::string::npos) << Joined(args) << "\n" << r.err;
    args.back() = "--help";
    r = Duende(args);
    EXPECT_EQ(r.code, framework::kExitOk) << Joined(args) << "\n" << r.err;
  }
}

// Each case: a command line and the code the README's table names for its outcome.
struct Case {
  std::vector<std::string> args;
  int code;
};

TEST_F(CliContractTest, EveryVerbExitsWithTheCodeOfItsOutcome) {
  const TempDir& d = *dir_;
  const std::string set_fail = "check.hello.pattern=^bye$";
  const std::string histories = DUENDE_SOURCE_DIR "/tests/harness/histories/";
  const std::vector<Case> cases = {
      {{"version"}, 0},
      {{"check-history", histories + "register-ok.jsonl", "--model", "register"}, 0},
      {{"check-history", histories + "register-stale.jsonl", "--model", "register"}, 1},
      {{"check-history", histories + "register-stale.jsonl", "--model", "queue"}, 2},
      // 40 concurrent indeterminate writes, all read later: more search than a zero budget.
      {{"check-history", histories + "undecided.jsonl", "--model", "register", "--budget", "0"}, 3},
      {{"validate", d / "pass.toml"}, 0},
      {{"validate", d / "bad.toml"}, 2},
      {{"validate", d / "missing.toml"}, 2},  // a program that is not installed: bad input
      {{"run", "-q", d / "pass.toml"}, 0},
      {{"run", "-q", d / "pass.toml", "--set", set_fail}, 1},
      {{"run", "-q", d / "bad.toml"}, 2},
      {{"run", "-q", d / "error.toml"}, 3},
      {{"run", "-q", d / "missing.toml"}, 3},  // the environment lacks the program
      {{"check", d / "pass.jsonl", d / "pass.toml"}, 0},
      {{"check", d / "pass.jsonl", d / "pass.toml", "--set", set_fail}, 1},
      // The check itself decides: the failing run's log passes the scenario's own pattern.
      {{"check", d / "fail.jsonl", d / "pass.toml"}, 0},
      {{"check", d / "error.jsonl", d / "error.toml"}, 3},  // as the run did
      {{"check", d / "aborted.jsonl", d / "long.toml"}, 130},
      {{"check", d / "no-such.jsonl", d / "pass.toml"}, 2},
      {{"report", "-q", d / "pass.jsonl"}, 0},
      {{"report", "-q", d / "fail.jsonl"}, 1},
      {{"report", "-q", d / "error.jsonl"}, 3},
      {{"report", "-q", d / "aborted.jsonl"}, 130},
      {{"report", "-q", d / "no-such.jsonl"}, 2},
      {{"report", "-q", d / "pass.jsonl", "--html", "/nonexistent/x.html"}, 3},
      {{"report", "merge", "-q", d / "pass.json"}, 0},
      {{"report", "merge", "-q", d / "fail.json"}, 1},
      {{"report", "merge", "-q", d / "no-such.json"}, 2},
      {{"report", "merge", "-q", d / "pass.json", d / "pass.json"}, 2},  // the same shard twice
      {{"report", "merge", "-q", d / "pass.json", "--html", "/nonexistent/x.html"}, 3},
      {{"gate", "-q", "--config", d / "gates.toml", "--tier", "1"}, 0},
      {{"gate", "-q", "--config", d / "gates.toml", "--tier", "2"}, 1},
      {{"gate", "-q", "--config", d / "gates.toml", "--tier", "3"}, 3},  // a step cannot run
      {{"gate", "-q", "--config", d / "gates.toml", "--tier", "7"}, 2},
      {{"explore", "-q", d / "pass.toml"}, 2},  // no [explore] table
      {{"explore", "-q", d / "bad.toml"}, 2},
      {{"explore", "-q", d / "explore.toml", "--runs", "1", "--final-replays", "0", "--out",
        d / "explore-out"},
       0},
      {{"fault", "list"}, 0},
      {{"fault", "inject", "kill", "--pid", "0"}, 2},
      {{"fault", "exec", "--", "/nonexistent/program"}, 3},
      {{"supervise", d / "bad.toml"}, 2},
      {{"ctl", "--socket", d / "nobody.sock", "status"}, 3},
      {{"ctl", "--socket", d / "nobody.sock", "stop"}, 2},  // needs a service name
      {{"top", "--once", "--socket", d / "nobody.sock"}, 3},
      {{"top", "--once", "--interval", "1ms", "--socket", d / "nobody.sock"}, 2},
      {{"mutate", "-q", "-p", d / "no-such-dir"}, 2},
      {{"doctor", "--journal-dir", d / "journals"}, 0},
      {{"adapter", "detect"}, 0},
      {{"adapter", "render", "-p", "systemd", d / "daemon.toml"}, 0},
      {{"adapter", "render", "-p", "systemd", d / "bad.toml"}, 2},
      {{"bench", "restart", d / "daemon.toml", "--kills", "1", "--json"}, 0},
      {{"bench", "restart", d / "bad.toml"}, 2},
      {{"bench", "restart", d / "daemon.toml", "-p", "vmware"}, 2},
      {{"bench", "restart", d / "daemon-never.toml", "--kills", "1"}, 3},  // stays down
  };
  std::set<std::string> covered;
  for (const Case& c : cases) {
    auto r = Duende(c.args);
    EXPECT_EQ(r.code, c.code) << Joined(c.args) << "\n" << r.out << r.err;
    covered.insert(c.args[0]);
  }
  EXPECT_EQ(interrupted_exit_, framework::kExitInterrupted) << "duende run, then SIGINT";
  covered.insert("help");
  // Every verb has a case; supervise's 0 and ctl's 0/2 need a running supervisor (below).
  for (const auto& v : Verbs()) EXPECT_EQ(covered.count(v), 1u) << "no exit-code case for " << v;
}

TEST_F(CliContractTest, SuperviseAndCtlExitAsTheTableSays) {
  const TempDir& d = *dir_;
  framework::SpawnOptions o;
  o.argv = {kDuende, "supervise", "-q", d / "services.toml"};
  o.stdout_fd = -1;
  o.stderr_fd = -1;
  auto sup = framework::Spawn(o);
  ASSERT_TRUE(sup.ok());
  const std::string sock = d / "ctl.sock";
  ASSERT_TRUE(Eventually(
      [&] {
        return Duende({"ctl", "--socket", sock, "status"}).code == 0;
      },
      10s));
  EXPECT_EQ(Duende({"ctl", "--socket", sock, "stop", "nosuch"}).code, framework::kExitUsage);
  EXPECT_EQ(Duende({"ctl", "--socket", sock, "restart", "s"}).code, framework::kExitOk);
  ASSERT_TRUE(framework::SignalPidfd(sup->pidfd.get(), SIGTERM).ok());
  auto st = framework::WaitExit(sup->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->ToString(), "exited with code 0");
}

// --- help against behaviour --------------------------------------------------------------

// How to see a command's progress: a command line, and a predicate for a progress line.
struct QuietProbe {
  std::vector<std::string> args;
  std::regex progress;
  std::string result;  ///< a piece of the result that -q still prints
};

TEST_F(CliContractTest, EveryCommandThatListsQuietPrintsNoProgressWithIt) {
  const TempDir& d = *dir_;
  const std::map<std::string, QuietProbe> probes = {
      {"run", {{"run", d / "pass.toml"}, std::regex("^== |t: spawned"), "tiny: PASS"}},
      {"report", {{"report", d / "pass.jsonl"}, std::regex("^== |t: spawned"), "tiny: PASS"}},
      {"report merge",
       {{"report", "merge", d / "pass.json"}, std::regex("^== |t: spawned"), "tiny: PASS"}},
      {"gate",
       {{"gate", "--config", d / "gates.toml", "--tier", "1"},
        std::regex("step ok \\(command\\) started"),
        "tier 1: PASS"}},
      {"explore",
       {{"explore", d / "explore.toml", "--runs", "1", "--final-replays", "0", "--out",
         d / "explore-quiet"},
        std::regex("^plan 1: "),
        "no failure: 1 plans tried"}},
      {"supervise", {{}, std::regex("duende supervise: "), ""}},  // run below: it needs a stop
      {"mutate",
       {{"mutate", "--list", "-p", d / "proj/build", "--source-dir", d / "proj", "a.cc"},
        std::regex("^duende mutate: "),
        "note: mutant"}},
      {"adapter render",
       {{"adapter", "render", "-p", "launchd", d / "daemon-extra.toml"},
        std::regex("duende: warning: "),
        "<key>Label</key>"}},
  };
  // A one-file project for `mutate --list` (parsed with libclang, never built).
  d.Write("proj/a.cc", "int Sign(int x) { return x > 0 ? 1 : 0; }\n");
  d.Write("proj/CMakeLists.txt",
          "cmake_minimum_required(VERSION 3.16)\nproject(p CXX)\nadd_library(p a.cc)\n");
  d.Write("proj/build/compile_commands.json",
          "[{\"directory\": \"" + d / "proj/build" + "\", \"command\": \"c++ -std=c++17 -c " +
              d / "proj/a.cc" + " -o a.o\", \"file\": \"" + d / "proj/a.cc" + "\"}]\n");
  // A config with a setting launchd cannot express, so that a warning is due.
  d.Write("daemon-extra.toml",
          "name = \"d\"\ncommand = [\"sleep\", \"30\"]\n[resources]\nmemory_max = \"64MiB\"\n");
  std::set<std::string> probed;
  for (const auto& command : Commands()) {
    if (HelpOptions(command).count("-q") == 0) continue;
    const std::string name = Joined(command);
    auto it = probes.find(name);
    ASSERT_NE(it, probes.end()) << name << " lists -q but this test has no probe for it";
    probed.insert(name);
    const QuietProbe& p = it->second;
    if (p.args.empty()) continue;
    auto loud = Duende(p.args);
    std::vector<std::string> quiet_args = p.args;
    quiet_args.insert(quiet_args.begin() + static_cast<long>(command.size()), "-q");
    auto quiet = Duende(quiet_args);
    EXPECT_EQ(quiet.code, loud.code) << name;
    const auto loud_lines = Lines(loud.out + loud.err);
    EXPECT_TRUE(std::any_of(loud_lines.begin(), loud_lines.end(),
                            [&](const std::string& l) { return std::regex_search(l, p.progress); }))
        << name << ": the probe shows no progress without -q:\n"
        << loud.out << loud.err;
    for (const auto& line : Lines(quiet.out + quiet.err)) {
      EXPECT_FALSE(std::regex_search(line, p.progress)) << name << " -q printed: " << line;
    }
    EXPECT_NE(quiet.out.find(p.result), std::string::npos) << name << " -q:\n" << quiet.out;
  }
  EXPECT_EQ(probed.size(), probes.size()) << "a probe for a command that no longer lists -q";

  // supervise: service events on stderr without -q, nothing with it.
  for (bool q : {false, true}) {
    const std::string sock = d / (q ? "q.sock" : "loud.sock");
    d.Write("svc.toml", "[supervisor]\ncontrol_socket = \"" + sock +
                            "\"\n[[service]]\nname = \"s\"\ncommand = [\"sleep\", \"30\"]\n");
    const std::string err = d / "supervise.err";
    framework::UniqueFd fd(::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    framework::SpawnOptions o;
    o.argv = {kDuende, "supervise", d / "svc.toml"};
    if (q) o.argv.push_back("-q");
    o.stdout_fd = -1;
    o.stderr_fd = fd.get();
    auto sup = framework::Spawn(o);
    ASSERT_TRUE(sup.ok());
    ASSERT_TRUE(Eventually(
        [&] {
          return Duende({"ctl", "--socket", sock, "status"}).code == 0;
        },
        10s));
    ASSERT_TRUE(framework::SignalPidfd(sup->pidfd.get(), SIGTERM).ok());
    ASSERT_TRUE(framework::WaitExit(sup->pidfd.get()).ok());
    const std::string text = ReadFile(err);
    if (q) {
      EXPECT_EQ(text, "") << "supervise -q printed";
    } else {
      EXPECT_NE(text.find("duende supervise: "), std::string::npos) << text;
    }
  }
}

TEST_F(CliContractTest, EveryCommandThatListsAReportOptionWritesThatFile) {
  const TempDir& d = *dir_;
  const std::vector<std::string> kReportOptions = {"--events", "--junit", "--json", "--html",
                                                   "--markdown"};
  const std::map<std::string, std::vector<std::string>> probes = {
      {"run", {"run", "-q", d / "pass.toml"}},
      {"report", {"report", "-q", d / "pass.jsonl"}},
      {"report merge", {"report", "merge", "-q", d / "pass.json"}},
      {"gate", {"gate", "-q", "--config", d / "gates.toml", "--tier", "1"}},
  };
  // mutate's --json/--junit/--html need a built CMake project with tests: MutateCliTest
  // (tests/mutate/cli_test.cc) writes and checks all three.
  const std::set<std::string> elsewhere = {"mutate"};
  int n = 0;
  for (const auto& command : Commands()) {
    const auto options = HelpOptions(command);
    std::vector<std::string> listed;
    const std::string name = Joined(command);
    for (const auto& o : kReportOptions) {
      if (options.count(o + " FILE") > 0) listed.push_back(o);
      // The same name with another meaning: only ctl's, bench restart's, check-history's and
      // top's --json (the reply, measurements, verdict or frame as one JSON object on stdout).
      if (options.count(o) > 0 && name + " " + o != "ctl --json" &&
          name + " " + o != "bench restart --json" && name + " " + o != "check-history --json" &&
          name + " " + o != "top --json") {
        ADD_FAILURE() << name << " lists " << o << " without a FILE (declare it with "
                      << "AddReportOptions, harness/cli/cli_util.h)";
      }
    }
    if (listed.empty()) continue;
    if (elsewhere.count(name) > 0) continue;
    auto it = probes.find(name);
    ASSERT_NE(it, probes.end()) << name << " lists report options but this test has no probe";
    std::vector<std::string> args = it->second;
    std::vector<std::string> files;
    for (const auto& o : listed) {
      files.push_back(d / (command[0] + "-report" + o.substr(1)));
      std::filesystem::remove(files.back());
      args.push_back(o);
      args.push_back(files.back());
    }
    auto r = Duende(args);
    EXPECT_EQ(r.code, 0) << name << "\n" << r.out << r.err;
    for (size_t i = 0; i < files.size(); ++i) {
      EXPECT_FALSE(ReadFile(files[i]).empty()) << name << " " << listed[i] << " wrote nothing";
      // Where each report went is printed.
      EXPECT_NE(r.out.find(": " + files[i]), std::string::npos) << name << "\n" << r.out;
    }
    ++n;
  }
  EXPECT_EQ(n, static_cast<int>(probes.size()));
}

}  // namespace
}  // namespace duende::harness
