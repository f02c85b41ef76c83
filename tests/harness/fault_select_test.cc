// [fault.select] as the scenario reader takes it: the probe, role, pick, within and the
// candidates (targets, nodes, or every target the probe can reach), and each bad table
// refused with file:line:col and the fix. The runs are in fault_select_run_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "duende/harness/explore.h"
#include "duende/harness/fault_kinds.h"
#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

// Targets a and b with an address, c without; then `faults`.
std::string Targets(const std::string& faults) {
  return R"([scenario]
name = "s"
duration = "5s"

[[target]]
name = "a"
command = ["sleep", "9"]
address = "127.0.0.1:{port.a}"

[[target]]
name = "b"
command = ["sleep", "9"]
address = "127.0.0.1:{port.b}"

[[target]]
name = "c"
command = ["sleep", "9"]
)" + faults;
}

// Three nodes, target eN on node nN (with an address); then `faults`.
std::string Cluster(const std::string& faults) {
  std::string s = "[scenario]\nname = \"c\"\nduration = \"5s\"\n";
  for (int i = 1; i <= 3; ++i) s += "[[node]]\nname = \"n" + std::to_string(i) + "\"\n";
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    s += "[[target]]\nname = \"e" + n + "\"\nnode = \"n" + n +
         "\"\ncommand = [\"sleep\", \"9\"]\naddress = \"{node.n" + n + ".addr}:2379\"\n";
  }
  return s + faults;
}

Scenario Parse(const std::string& text) {
  auto s = ParseScenario(text, "s.toml", {}, DefaultFaultKinds());
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().context);
  return s.ok() ? std::move(s).value() : Scenario{};
}

// "" when it parses, else the file:line:col lines.
std::string Errors(const std::string& text) {
  auto s = ParseScenario(text, "s.toml", {}, DefaultFaultKinds());
  return s.ok() ? "" : s.error().context;
}

// Each of `expected` is in `errors`.
void ExpectAll(const std::string& errors, const std::vector<std::string>& expected) {
  for (const auto& x : expected)
    EXPECT_NE(errors.find(x), std::string::npos) << x << "\n" << errors;
}

TEST(FaultSelectTest, ReadsTheProbeAndDefaultsToEveryTargetWithAnAddress) {
  auto s = Parse(Targets(R"(
[[fault]]
name = "kill-leader"
kind = "kill"
signal = "SIGKILL"
at = "1s"
[fault.select]
role = "leader"
kind = "request"
send = "ROLE"
expect = "^leader$"
within = "2s"
)"));
  ASSERT_EQ(s.faults.size(), 1u);
  const FaultSpec& f = s.faults[0];
  ASSERT_TRUE(f.select.has_value());
  EXPECT_EQ(f.select->role, "leader");
  EXPECT_FALSE(f.select->all);
  EXPECT_EQ(f.select->within, std::chrono::seconds(2));
  EXPECT_EQ(f.select->probe.kind, ProbeSpec::Kind::kRequest);
  EXPECT_EQ(f.select->probe.send, "ROLE");
  EXPECT_EQ(f.select->probe.expect, "^leader$");
  // The probe reaches each candidate at its own address; c has none, so it is no candidate.
  EXPECT_EQ(f.select->probe.address, "{select.address}");
  EXPECT_EQ(f.select->candidates, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f.target, "a");            // the first candidate, until the probe chooses
  EXPECT_EQ(f.select->pos.line, 24u);  // the [fault.select] header
}

TEST(FaultSelectTest, CommandProbesTakeEveryTargetAndTheCandidateVariables) {
  auto s = Parse(Targets(R"(
[[fault]]
kind = "pause"
at = "1s"
duration = "1s"
select = { kind = "command", command = ["test", "{select.target}", "=", "c"], pick = "all", within = "0s" }
)"));
  ASSERT_EQ(s.faults.size(), 1u);
  const auto& sel = *s.faults[0].select;
  EXPECT_TRUE(sel.all);
  EXPECT_EQ(sel.within, std::chrono::nanoseconds{0});
  EXPECT_EQ(sel.probe.address, "");
  EXPECT_EQ(sel.candidates, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(sel.probe.command[1], "{select.target}");
}

TEST(FaultSelectTest, CandidatesFromTargetsAndNodesInOrderOnce) {
  auto s = Parse(Cluster(R"(
[[fault]]
kind = "kill"
at = "1s"
[fault.select]
kind = "http"
path = "/metrics"
expect = '(?s).*(etcd_server_is_leader 1).*'
targets = ["e3"]
nodes = ["n1", "n3"]
)"));
  ASSERT_EQ(s.faults.size(), 1u);  // one fault, not one per node
  EXPECT_EQ(s.faults[0].select->candidates, (std::vector<std::string>{"e3", "e1"}));
  EXPECT_EQ(s.faults[0].target, "e3");
}

TEST(FaultSelectTest, APartitionWithSelectIsolatesTheChosenNode) {
  auto s = Parse(Cluster(R"(
[[fault]]
kind = "partition"
mode = "isolate"
at = "1s"
duration = "1s"
[fault.select]
role = "leader"
kind = "tcp"
)"));
  ASSERT_EQ(s.faults.size(), 1u);
  EXPECT_EQ(s.faults[0].select->candidates, (std::vector<std::string>{"e1", "e2", "e3"}));
  EXPECT_EQ(s.faults[0].node, "");  // made at fire time: the chosen target's node
}

TEST(FaultSelectTest, BadTablesAreRefusedWithThePositionAndTheFix) {
  const std::string e = Errors(Targets(R"(
[[fault]]
kind = "kill"
at = "1s"
target = "a"
[fault.select]
kind = "htp"
pick = "some"
targets = ["a", "bb"]
within = "-1s"
send = "{select.tagret}"
bogus = 1

[[fault]]
kind = "kill"
at = "1s"
select = "leader"

[[fault]]
kind = "kill"
at = "1s"
[fault.select]
kind = "request"
send = "INFO"
targets = ["c"]

[[fault]]
kind = "kill"
at = "1s"
[fault.select]
kind = "command"
command = ["true"]
targets = []
)"));
  ExpectAll(e, {"s.toml:22:10: give either 'target' or [fault.select]",
                "s.toml:24:8: 'kind' in [[fault]] #1.select is \"htp\"",
                "s.toml:25:8: 'pick' in [[fault]] #1.select is \"some\"; it must be one of "
                "\"one\", \"all\"",
                "s.toml:26:11: 'targets' in [[fault]] #1.select names \"bb\", which is not a "
                "[[target]]; did you mean \"b\"?",
                "s.toml:27:10: 'within' in [[fault]] #1.select is \"-1s\"",
                "s.toml:28:8: unknown variable {select.tagret} in 'send' of [[fault]] "
                "#1.select; did you mean {select.target}?",
                "s.toml:29:1: unknown key 'bogus' in [[fault]] #1.select",
                "s.toml:34:10: 'select' in [[fault]] #2 must be a table",
                "s.toml:42:11: candidate c of [[fault]] #3.select has no address for the probe "
                "to reach",
                "s.toml:50:11: an empty list of candidates in [[fault]] #4.select"});
}

TEST(FaultSelectTest, NodeAndPartitionMisuseAreRefused) {
  const std::string e = Errors(Cluster(R"(
[[fault]]
kind = "kill"
at = "1s"
node = "n1"
[fault.select]
kind = "tcp"
nodes = ["n4"]

[[fault]]
kind = "partition"
mode = "halves"
at = "1s"
[fault.select]
kind = "tcp"
pick = "all"
)"));
  ExpectAll(e, {":29:8: give either 'node' or [fault.select] (name the node in its 'nodes'",
                ":32:9: 'nodes' in [[fault]] #1.select names \"n4\", which is not a [[node]]",
                "[fault.select] chooses the node a partition isolates: it needs mode = "
                "\"isolate\"",
                ":40:8: a partition isolates one node: pick = \"one\""});
}

TEST(FaultSelectTest, APartitionCandidateMustRunOnANode) {
  const std::string e = Errors(Cluster(R"(
[[target]]
name = "host"
command = ["sleep", "9"]
address = "127.0.0.1:{port.host}"

[[fault]]
kind = "partition"
mode = "isolate"
at = "1s"
[fault.select]
kind = "tcp"
targets = ["e1", "host"]
)"));
  EXPECT_NE(e.find("candidate host of [[fault]] #1.select runs on no [[node]]"), std::string::npos)
      << e;
}

// The explorer keeps a file's own [[fault]] tables out of its plans but validates them: one
// with [fault.select] is accepted.
TEST(FaultSelectTest, ExplorationScenariosAcceptSelectingFaults) {
  auto es = ParseExploreScenario(Targets(R"(
[[fault]]
kind = "kill"
at = "1s"
[fault.select]
kind = "tcp"

[explore]
window = ["100ms", "1s"]
[[explore.fault]]
kind = "kill"
)"),
                                 "e.toml", DefaultFaultKinds());
  ASSERT_TRUE(es.ok()) << es.error().context;
  ASSERT_EQ(es->scenario.faults.size(), 1u);
  EXPECT_TRUE(es->scenario.faults[0].select.has_value());
}

// An [[explore.fault]] may carry a select table: each planned fault keeps it (and no target),
// so the probe chooses the target when the planned fault fires.
TEST(FaultSelectTest, ExploredFaultsKeepTheirSelectTable) {
  auto es = ParseExploreScenario(Targets(R"(
[explore]
window = ["100ms", "1s"]
[[explore.fault]]
kind = "kill"
signal = ["SIGKILL", "SIGTERM"]
[explore.fault.select]
role = "leader"
kind = "request"
send = "ROLE"
expect = '^leader\n?$'
targets = ["a", "b"]
)"),
                                 "e.toml", DefaultFaultKinds());
  ASSERT_TRUE(es.ok()) << es.error().context;
  PlannedFault f;
  f.kind = "kill";
  f.target = "b";
  f.at_ms = 300;
  for (const auto& p : es->bounds.faults[0].params) {
    f.params.emplace_back(p.name, p.choices.front());  // select: its one choice, the table
  }
  ASSERT_EQ(f.params.size(), 2u);
  const std::string toml = PlanToToml(*es, Plan{{f}});
  EXPECT_NE(toml.find("select = { \"expect\" = \"^leader\\\\n?$\", \"kind\" = \"request\", "
                      "\"role\" = \"leader\", \"send\" = \"ROLE\", \"targets\" = [\"a\", \"b\"] }"),
            std::string::npos)
      << toml;
  EXPECT_EQ(toml.find("target = \"b\""), std::string::npos) << toml;
  auto planned = PlanScenario(*es, Plan{{f}}, DefaultFaultKinds());
  ASSERT_TRUE(planned.ok()) << planned.error().context << "\n" << toml;
  ASSERT_EQ(planned->faults.size(), 1u);
  ASSERT_TRUE(planned->faults[0].select.has_value());
  EXPECT_EQ(planned->faults[0].select->probe.expect, "^leader\\n?$");
  EXPECT_EQ(planned->faults[0].select->candidates, (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(DescribePlan(Plan{{f}}).find("on the target its select probe finds"),
            std::string::npos);
}

}  // namespace
}  // namespace duende::harness
