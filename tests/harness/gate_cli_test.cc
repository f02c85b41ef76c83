// `duende gate` end to end: console output (golden, with placeholders for times and paths),
// exit codes, JUnit validated against the schema, Markdown.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "duende/framework/process.h"
#include "support/cli.h"
#include "support/golden.h"

namespace duende::harness {
namespace {

namespace fs = std::filesystem;
using duende::testing::MatchesGolden;
using duende::testing::ReadFile;
using duende::testing::RunCli;

class GateCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/duende-gatecli-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::ofstream(dir_ + "/gates.toml") << R"(# a small gates file
[[tier]]
number = 1
name = "demo"
description = "one step passes, one fails"

  [[tier.step]]
  name = "ok"
  kind = "command"
  run = ["true"]

  [[tier.step]]
  name = "fails"
  kind = "command"
  run = ["sh", "-c", "echo boom; exit 1"]

[[tier]]
number = 2
  [[tier.step]]
  name = "only-ok"
  kind = "command"
  run = ["sh", "-c", "exit 0"]

[[tier]]
number = 3
  [[tier.step]]
  name = "explore"
  kind = "explore"
  path = "gates.toml"
  budget = "1s"
)";
  }
  void TearDown() override { fs::remove_all(dir_); }

  testing::CliResult Gate(const std::string& args) {
    return RunCli("cd " + dir_ + " && " + std::string(DUENDE_PATH) + " gate " + args);
  }

  std::string dir_;
};

TEST_F(GateCliTest, ConsoleOutputMatchesGolden) {
  auto r = Gate("--tier 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(MatchesGolden(r.out, "gate_tier1.txt")) << r.out;
}

TEST_F(GateCliTest, PassingTierExitsZero) {
  auto r = Gate("--tier 2 --config gates.toml");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("tier 2: PASS"), std::string::npos) << r.out;
}

// A missing verb as a step ERROR is covered by harness_gate_test with a scripted stand-in
// for duende (this build has every verb).

TEST_F(GateCliTest, JunitAndMarkdownReports) {
  auto r = Gate("--tier 1 --junit out.xml --markdown out.md --events ev.jsonl");
  EXPECT_EQ(r.code, 1);
  std::string xml = ReadFile(dir_ + "/out.xml");
  EXPECT_NE(xml.find("<testcase name=\"fails\" classname=\"tier 1: demo\""), std::string::npos)
      << xml;
  EXPECT_NE(xml.find("boom"), std::string::npos);
  if (RunCli("command -v xmllint").code == 0) {
    auto v = RunCli("xmllint --noout --schema " + std::string(DUENDE_SOURCE_DIR) +
                    "/reporters/schema/junit.xsd " + dir_ + "/out.xml");
    EXPECT_EQ(v.code, 0) << v.out;
  }
  std::string md = ReadFile(dir_ + "/out.md");
  EXPECT_NE(md.find("| fails | command | exited with code 1 | exit 0 | ❌ FAIL |"),
            std::string::npos)
      << md;
  // The tier's events re-render with `duende report`, with the same verdict.
  auto again = RunCli(std::string(DUENDE_PATH) + " report -q " + dir_ + "/ev.jsonl");
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.out.find("fails  command  exited with code 1"), std::string::npos) << again.out;
}

TEST_F(GateCliTest, BadGatesFileIsExit2WithPosition) {
  std::ofstream(dir_ + "/bad.toml") << "[[tier]]\nnumber = 1\n[[tier.step]]\nname = \"x\"\n"
                                       "kind = \"coverage\"\nbuild_dir = \"b\"\n"
                                       "threshold = [{ lines = -5 }]\n";
  auto r = Gate("--tier 1 --config bad.toml");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.out.rfind("duende: error: bad.toml:7:", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("between 0 and 100"), std::string::npos) << r.out;
  r = Gate("--tier 7");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("has no tier 7 (it has 1, 2, 3)"), std::string::npos) << r.out;
  EXPECT_EQ(Gate("").code, 2);
  EXPECT_EQ(Gate("--tier 1 --config missing.toml").code, 2);
}

TEST_F(GateCliTest, ListShowsTiers) {
  auto r = Gate("--list");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out,
            "tier 1: demo\n  ok (command)\n  fails (command)\ntier 2\n  only-ok (command)\n"
            "tier 3\n  explore (explore)\n");
}

// Ctrl-C / SIGTERM of `duende gate`: the running step's process group is stopped, the rest
// is not run, and the reports say ABORTED (exit 130).
TEST_F(GateCliTest, SigtermStopsTheRunningStepAndReportsAborted) {
  std::ofstream(dir_ + "/slow.toml") << R"([[tier]]
number = 1
name = "slow"
  [[tier.step]]
  name = "long"
  kind = "command"
  run = ["sh", "-c", "echo $$ > long.pid; exec sleep 60"]
  [[tier.step]]
  name = "after"
  kind = "command"
  run = ["sh", "-c", "touch after.ran"]
)";
  framework::SpawnOptions o;
  o.argv = {DUENDE_PATH, "gate", "--tier", "1", "--config", "slow.toml", "--junit", "t.xml"};
  o.working_dir = dir_;
  o.stdout_fd = -1;
  o.stderr_fd = -1;
  auto gate = framework::Spawn(o);
  ASSERT_TRUE(gate.ok()) << gate.error().Message();
  pid_t step = 0;
  for (int i = 0; i < 500 && step == 0; ++i) {
    std::ifstream(dir_ + "/long.pid") >> step;
    if (step == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(step, 0) << "the step never started";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(framework::SignalPidfd(gate->pidfd.get(), SIGTERM).ok());
  auto st = framework::WaitExit(gate->pidfd.get());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->code, 130) << st->ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(::kill(step, 0), 0) << "the step's sleep survived the gate";
  EXPECT_FALSE(fs::exists(dir_ + "/after.ran")) << "a step ran after the interrupt";
  std::string junit = ReadFile(dir_ + "/t.xml");
  EXPECT_NE(junit.find("interrupted"), std::string::npos) << junit;
}

}  // namespace
}  // namespace duende::harness
