// Cluster scenarios end to end: three etcd members in network namespaces under partitions
// (scenarios/cluster/etcd-partition.toml must PASS the linearizability check), the stale-read
// self-test pair (serializable reads from an isolated member must FAIL it, linearizable reads
// PASS), and the validation of [[node]] tables (file:line:col, exit 2).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "duende/faults/node_network.h"
#include "duende/framework/process.h"
#include "duende/model/event_log.h"
#include "support/cli.h"
#include "support/temp_dir.h"

namespace duende::harness {
namespace {

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kScenarios = std::string(DUENDE_SOURCE_DIR) + "/scenarios";

struct Outcome {
  int code = -1;
  std::string out;
  std::vector<model::Event> events;
};

Outcome RunScenarioFile(const std::string& scenario, const std::string& dir) {
  const std::string events = dir + "/events.jsonl";
  Outcome o;
  auto r = testing::RunCli(kDuende + " run " + scenario + " --events " + events);
  o.code = r.code;
  o.out = r.out;
  auto ev = model::ReadEventLog(events);
  if (ev.ok()) o.events = std::move(ev).value();
  std::filesystem::remove(events);
  return o;
}

std::string CheckVerdict(const Outcome& o, const std::string& check) {
  for (const auto& e : o.events) {
    if (e.type == "check.result" && e.target == check) return e.data.value("verdict", "");
  }
  return "(missing)";
}

void SkipWithoutCluster() {
  if (std::string why = faults::NodeEnvironmentProblem(); !why.empty()) GTEST_SKIP() << why;
  if (!framework::FindExecutable("etcd").ok()) GTEST_SKIP() << "etcd-server is not installed";
}

// No namespace or link of a finished run is left.
void ExpectNothingLeft(const Outcome& o) {
  for (const auto& e : o.events) {
    if (e.type != "nodes.created") continue;
    for (const auto& n : e.data["nodes"]) {
      EXPECT_FALSE(std::filesystem::exists("/run/netns/" + n["netns"].get<std::string>()));
    }
    EXPECT_FALSE(std::filesystem::exists("/sys/class/net/" + e.data["bridge"].get<std::string>()));
  }
}

// The fault `name` acted on the leader its [fault.select] found: the one member whose /metrics
// said etcd_server_is_leader 1 when it fired. Returns that member.
std::string ExpectChoseTheLeader(const Outcome& o, const std::string& name) {
  for (const auto& e : o.events) {
    if (e.type != "fault.injected" || e.target != name) continue;
    const auto& sel = e.data["select"];
    EXPECT_EQ(sel.value("passed", nlohmann::json()).size(), 1u) << name << ": " << sel.dump();
    const std::string chosen = sel.value("chosen", "");
    EXPECT_NE(
        sel["candidates"][chosen].value("detail", "").find("matched 'etcd_server_is_leader 1'"),
        std::string::npos)
        << name << ": " << sel.dump();
    EXPECT_NE(o.out.find("fault " + name + ": " + e.data.value("kind", "") +
                         (e.data.value("kind", "") == "partition" ? "" : " on " + chosen) +
                         " injected (leader by probe http GET /metrics: " + chosen + " passed"),
              std::string::npos)
        << o.out;
    return chosen;
  }
  ADD_FAILURE() << "no fault.injected of " << name << "\n" << o.out;
  return "";
}

// `target` exited by SIGKILL at or after `from_ns` and was spawned again after that.
void ExpectKilledAndRestarted(const Outcome& o, const std::string& target, int64_t from_ns) {
  int64_t killed = 0;
  bool restarted = false;
  for (const auto& e : o.events) {
    if (e.target != target || e.ts_ns < from_ns) continue;
    if (killed == 0 && e.type == "target.exited" && e.data.value("signal", 0) == 9) {
      killed = e.ts_ns;
    }
    if (killed != 0 && e.type == "target.spawned") restarted = true;
  }
  EXPECT_NE(killed, 0) << target << " was not SIGKILLed\n" << o.out;
  EXPECT_TRUE(restarted) << target << " was not restarted\n" << o.out;
}

TEST(ClusterTest, EtcdUnderPartitionsAndKillsIsLinearizable) {
  SkipWithoutCluster();
  testing::TempDir dir;
  auto o = RunScenarioFile(kScenarios + "/cluster/etcd-partition.toml", dir.path());
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_EQ(CheckVerdict(o, "linearizable"), "PASS") << o.out;
  EXPECT_EQ(CheckVerdict(o, "faults-took-effect"), "PASS") << o.out;
  // The load went to every node, and the history says which.
  std::set<std::string> nodes;
  for (const auto& e : o.events) {
    if (e.type != "load.ops") continue;
    for (const auto& row : e.data.at("ops")) {
      if (row.size() == 11) nodes.insert(row[10].template get<std::string>());
    }
  }
  EXPECT_EQ(nodes, (std::set<std::string>{"n1", "n2", "n3"}));
  // The leader of the moment was isolated (its node alone on one side), then killed twice:
  // each fault acted on the member whose metrics said it was the leader when it fired.
  const std::string isolated = ExpectChoseTheLeader(o, "isolate-leader");
  for (const auto& e : o.events) {
    if (e.type != "fault.fired" || e.target != "isolate-leader") continue;
    const std::string ev = e.data.value("evidence", "");
    const std::string node = "n" + isolated.substr(isolated.size() - 1);  // etcd-nK runs on nK
    EXPECT_TRUE(ev.rfind(node + " | ", 0) == 0 ||
                ev.find(" | " + node + " (cut") != std::string::npos)
        << ev;
  }
  for (const char* fault : {"kill-leader", "kill-leader-again"}) {
    const std::string leader = ExpectChoseTheLeader(o, fault);
    for (const auto& e : o.events) {
      if (e.type == "fault.injected" && e.target == fault) {
        ExpectKilledAndRestarted(o, leader, e.ts_ns);
      }
    }
  }
  ExpectNothingLeft(o);
}

TEST(ClusterTest, StaleReadsFromAnIsolatedMemberFailLinearizability) {
  SkipWithoutCluster();
  testing::TempDir dir;
  auto planted = RunScenarioFile(kScenarios + "/self-test/stale-read-planted.toml", dir.path());
  EXPECT_EQ(planted.code, 1) << planted.out;
  EXPECT_EQ(CheckVerdict(planted, "linearizable"), "FAIL") << planted.out;
  auto healthy = RunScenarioFile(kScenarios + "/self-test/stale-read-healthy.toml", dir.path());
  EXPECT_EQ(healthy.code, 0) << healthy.out;
  EXPECT_EQ(CheckVerdict(healthy, "linearizable"), "PASS") << healthy.out;
  ExpectNothingLeft(planted);
  ExpectNothingLeft(healthy);
}

constexpr const char* kHead = R"([scenario]
name = "c"
duration = "2s"

[[node]]
name = "n1"

[[node]]
name = "n2"
)";

// Target a on n1 and target b on `second`.
std::string Targets(const std::string& second) {
  return "\n[[target]]\nname = \"a\"\nnode = \"n1\"\ncommand = [\"/bin/sleep\", \"5\"]\n"
         "\n[[target]]\nname = \"b\"\nnode = \"" +
         second + "\"\ncommand = [\"/bin/sleep\", \"5\"]\n";
}

TEST(ClusterValidateTest, NodeWithoutTargetIsAnError) {
  testing::TempDir dir;
  auto r =
      testing::RunCli(kDuende + " validate " + dir.Write("cluster.toml", std::string(kHead) + R"(
[[target]]
name = "a"
node = "n1"
command = ["sleep", "5"]
)"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("cluster.toml:9:8: node \"n2\" runs no target"), std::string::npos) << r.out;
}

TEST(ClusterValidateTest, UnknownNodesAndBadAddressesAreErrors) {
  testing::TempDir dir;
  auto r = testing::RunCli(kDuende + " validate " +
                           dir.Write("cluster.toml", std::string(kHead) + "addr = \"10.0.0.5\"\n" +
                                                         Targets("n3") +
                                                         R"(
[[fault]]
kind = "partition"
at = "1s"
groups = [["n1"], ["n4"]]
)"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(":10:8: addr = \"10.0.0.5\" is not a node address"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(":19:8: 'node' in [[target]] #2 is \"n3\", which is not a [[node]]"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("'groups' names \"n4\", which is not a [[node]]"), std::string::npos)
      << r.out;
}

TEST(ClusterValidateTest, AddressOverlappingAHostRouteIsAnError) {
  if (std::string why = faults::NodeEnvironmentProblem(); !why.empty()) GTEST_SKIP() << why;
  // A host route in the testing range: an empty bridge (named as duende's own links are, so a
  // crash leaves nothing a heal would refuse) with an address in a random free /24.
  uint32_t net = 0;
  const auto routes = faults::HostRoutes();
  for (uint32_t i = static_cast<uint32_t>(::getpid()) % 512, k = 0; k < 512 && net == 0; ++k) {
    const uint32_t c = 0xC6120000u | (((i + k) % 512) << 8);
    if (faults::OverlappingRoute(routes, c, 0xFFFFFF00u) == nullptr) net = c;
  }
  ASSERT_NE(net, 0u);
  char link[16];
  std::snprintf(link, sizeof link, "dn%08x9", static_cast<unsigned>(::getpid()));
  ASSERT_TRUE(faults::RunIp({"link", "add", link, "type", "bridge"}).ok());
  ASSERT_TRUE(
      faults::RunIp({"addr", "add", faults::FormatIpv4(net | 1) + "/24", "dev", link}).ok());
  ASSERT_TRUE(faults::RunIp({"link", "set", link, "up"}).ok());
  testing::TempDir dir;
  auto r = testing::RunCli(kDuende + " validate " +
                           dir.Write("cluster.toml", std::string(kHead) + "addr = \"" +
                                                         faults::FormatIpv4(net | 20) + "\"\n" +
                                                         Targets("n2")));
  (void)faults::RunIp({"link", "delete", link});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(":10:8: addr = \"" + faults::FormatIpv4(net | 20) + "\": its network " +
                       faults::FormatIpv4(net) + "/24 overlaps the host's route to " +
                       faults::FormatIpv4(net) + " on " + link),
            std::string::npos)
      << r.out;
}

TEST(ClusterValidateTest, PartitionNeedsNodes) {
  testing::TempDir dir;
  auto r = testing::RunCli(kDuende + " validate " + dir.Write("cluster.toml", R"([scenario]
name = "c"
duration = "2s"

[[target]]
name = "a"
command = ["sleep", "5"]

[[fault]]
kind = "partition"
)"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find(":10:8: a partition cuts links between [[node]]s"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("toxic = \"partition\""), std::string::npos) << r.out;
}

TEST(ClusterTest, ExploreFindsAndShrinksAPartitionScheduleThatExposesStaleReads) {
  SkipWithoutCluster();
  // The shipped exploration, read with serializable (stale-capable) ranges.
  std::ifstream in(kScenarios + "/explore/etcd-partition.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string linearizable = R"({"key":"azA="})";
  ASSERT_NE(text.find(linearizable), std::string::npos);
  text.replace(text.find(linearizable), linearizable.size(),
               R"({"key":"azA=","serializable":true})");
  testing::TempDir dir;
  const std::string file = dir.Write("stale.toml", text);
  auto r = testing::RunCli(kDuende + " explore --quiet " + file +
                           " --runs 8 --seed 3 --shrink-replays 1 --final-replays 0 --out " +
                           dir.path() + "/out");
  EXPECT_EQ(r.code, 1) << r.out;
  std::ifstream minimal(dir.path() + "/out/minimal.toml");
  std::string plan((std::istreambuf_iterator<char>(minimal)), std::istreambuf_iterator<char>());
  size_t faults = 0;
  for (size_t at = plan.find("[[fault]]"); at != std::string::npos;
       at = plan.find("[[fault]]", at + 1)) {
    ++faults;
  }
  EXPECT_EQ(faults, 1u) << "one partition is enough to expose a stale read:\n" << plan;
  EXPECT_NE(plan.find("kind = \"partition\""), std::string::npos) << plan;
}

TEST(ClusterValidateTest, MissingIpIsAnEnvironmentFailure) {
  testing::TempDir dir;
  // The nodes are made before any target's program is looked up.
  const std::string file = dir.Write("cluster.toml", std::string(kHead) + Targets("n2"));
  auto r = testing::RunCli("env PATH=/nonexistent " + kDuende + " run --quiet " + file);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("ip is not installed"), std::string::npos) << r.out;
}

TEST(ClusterValidateTest, ShippedExplorationOfPartitionsIsValid) {
  auto r = testing::RunCli(kDuende + " validate " + kScenarios + "/explore/etcd-partition.toml");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("up to 3 fault(s) from 2 kind(s)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace duende::harness
