// Nodes in network namespaces and partitions between them: which links each partition mode
// cuts (pure), and, on real namespaces, that a cut really stops packets between two nodes
// (connects fail or time out) while the host still reaches both, and that a heal restores it.
#include "duende/faults/node_network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "duende/faults/fault.h"
#include "duende/framework/unique_fd.h"

namespace duende::faults {
namespace {

using Cuts = std::vector<std::pair<size_t, size_t>>;

// For each node, the nodes it still reaches (itself included).
std::vector<std::set<size_t>> Reach(size_t n, const Cuts& cuts) {
  std::vector<std::set<size_t>> out(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const auto p = std::make_pair(std::min(i, j), std::max(i, j));
      if (std::find(cuts.begin(), cuts.end(), p) == cuts.end()) out[i].insert(j);
    }
  }
  return out;
}

TEST(PartitionCutsTest, IsolateCutsOneNodeFromAllOthers) {
  std::mt19937_64 rng(7);
  auto cuts = PartitionCuts("isolate", 5, rng, 3, {});
  ASSERT_EQ(cuts.size(), 4u);
  for (const auto& [a, b] : cuts) EXPECT_TRUE(a == 3 || b == 3);
}

TEST(PartitionCutsTest, HalvesAndMajorityMinoritySplitInTwo) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    auto reach = Reach(5, PartitionCuts("halves", 5, rng, -1, {}));
    std::multiset<size_t> sizes;
    for (const auto& r : reach) sizes.insert(r.size());
    EXPECT_EQ(sizes, (std::multiset<size_t>{2, 2, 3, 3, 3})) << seed;
    auto minority = Reach(5, PartitionCuts("majority-minority", 5, rng, -1, {}));
    size_t in_majority = 0;
    for (const auto& r : minority) in_majority += r.size() >= 3;
    EXPECT_GE(in_majority, 3u) << seed;
    EXPECT_LT(in_majority, 5u) << seed;
  }
}

TEST(PartitionCutsTest, BridgeNodeSeesBothHalves) {
  std::mt19937_64 rng(3);
  auto reach = Reach(5, PartitionCuts("bridge", 5, rng, -1, {}));
  size_t bridges = 0;
  for (const auto& r : reach) {
    if (r.size() == 5)
      ++bridges;
    else
      EXPECT_EQ(r.size(), 3u);  // its half (2) and the bridge
  }
  EXPECT_EQ(bridges, 1u);
}

TEST(PartitionCutsTest, RingGivesEveryNodeADifferentMajority) {
  for (size_t n : {5u, 7u}) {
    std::mt19937_64 rng(n);
    auto reach = Reach(n, PartitionCuts("ring", n, rng, -1, {}));
    std::set<std::set<size_t>> distinct;
    for (const auto& r : reach) {
      EXPECT_GT(r.size(), n / 2) << "each node sees a majority";
      EXPECT_LT(r.size(), n);
      distinct.insert(r);
    }
    EXPECT_EQ(distinct.size(), n) << "no two nodes see the same majority";
  }
}

TEST(PartitionCutsTest, ExplicitGroupsCutBetweenGroupsOnly) {
  std::mt19937_64 rng(1);
  auto cuts = PartitionCuts("groups", 4, rng, -1, {{0}, {1, 2}});
  EXPECT_EQ(cuts, (Cuts{{0, 1}, {0, 2}}));  // node 3 is in no group: it keeps every link
}

// Messages name which nodes are cut from which: the groups, a node that reaches every group,
// or, for a ring (no clean groups), what each node still reaches.
TEST(DescribePartitionTest, NamesTheGroupsOrEachNodesReach) {
  const std::vector<std::string> names = {"n1", "n2", "n3", "n4", "n5"};
  std::mt19937_64 rng(3);
  EXPECT_EQ(DescribePartition({"n1", "n2", "n3"}, PartitionCuts("isolate", 3, rng, 1, {})),
            "n1 n3 | n2");
  EXPECT_EQ(DescribePartition(names, PartitionCuts("groups", 5, rng, -1, {{0, 4}, {1}, {2}})),
            "n1 n5 | n2 | n3; n4 reaches every group");
  // Halves: two groups that together hold every node.
  const std::string halves = DescribePartition(names, PartitionCuts("halves", 5, rng, -1, {}));
  EXPECT_EQ(std::count(halves.begin(), halves.end(), '|'), 1) << halves;
  EXPECT_EQ(std::count(halves.begin(), halves.end(), 'n'), 5) << halves;
  // A ring of five: each node reaches its two neighbours only.
  const std::string ring = DescribePartition(names, {{0, 2}, {0, 3}, {1, 3}, {1, 4}, {2, 4}});
  EXPECT_EQ(ring,
            "n1 reaches n2 n5; n2 reaches n1 n3; n3 reaches n2 n4; n4 reaches n3 n5; "
            "n5 reaches n1 n4");
  EXPECT_EQ(DescribePartition(names, {}), "no link cut");
}

TEST(NodeAddressTest, OverlapAndRange) {
  uint32_t a = 0;
  ASSERT_TRUE(ParseIpv4("198.19.4.20", &a));
  EXPECT_TRUE(IsNodeAddress(a));
  ASSERT_TRUE(ParseIpv4("198.20.0.5", &a));
  EXPECT_FALSE(IsNodeAddress(a));
  ASSERT_TRUE(ParseIpv4("198.18.3.1", &a));
  EXPECT_FALSE(IsNodeAddress(a)) << ".1 is the host's address on the bridge";
  EXPECT_FALSE(ParseIpv4("198.18.3.01", &a));
  std::vector<HostRoute> routes = {{0, 0, "eth0"}, {0xC6120000u, 0xFFFE0000u, "vpn0"}};
  uint32_t net = 0;
  ASSERT_TRUE(ParseIpv4("198.18.9.0", &net));
  const HostRoute* r = OverlappingRoute(routes, net, 0xFFFFFF00u);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->dev, "vpn0");
  routes.pop_back();
  EXPECT_EQ(OverlappingRoute(routes, net, 0xFFFFFF00u), nullptr)
      << "a default route decides nothing";
}

// Runs `fn` on a thread that joined `netns` (setns affects the calling thread only).
template <typename Fn>
auto InNetns(const std::string& netns, Fn fn) {
  return std::async(std::launch::async,
                    [netns, fn] {
                      framework::UniqueFd ns(
                          ::open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC));
                      if (!ns || ::setns(ns.get(), CLONE_NEWNET) != 0) return decltype(fn())();
                      return fn();
                    })
      .get();
}

framework::UniqueFd ListenOn(const std::string& addr, uint16_t* port) {
  framework::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return framework::UniqueFd();
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// A connect within 700 ms (the SYN-ACK of a cut link never comes back).
bool Connects(const std::string& addr, uint16_t port) {
  framework::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, 700) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

class NodeNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = NodeEnvironmentProblem(); !why.empty()) GTEST_SKIP() << why;
    char dir[] = "/tmp/duende-nodes-journal-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    auto j = UndoJournal::Create(dir_);
    ASSERT_TRUE(j.ok()) << j.error().Message();
    journal_ = std::move(j).value();
  }
  void TearDown() override {
    journal_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<UndoJournal> journal_;
};

TEST_F(NodeNetworkTest, PartitionStopsPacketsBetweenNodesAndHealRestoresThem) {
  auto net = NodeNetwork::Create({{"n1", ""}, {"n2", ""}, {"n3", ""}}, journal_.get(), 42);
  ASSERT_TRUE(net.ok()) << net.error().Message();
  const auto nodes = (*net)->nodes();
  ASSERT_EQ(nodes.size(), 3u);
  for (const auto& n : nodes) {
    EXPECT_TRUE(std::filesystem::exists("/run/netns/" + n.netns)) << n.netns;
    EXPECT_TRUE(std::filesystem::exists("/sys/class/net/" + n.host_link)) << n.host_link;
  }
  EXPECT_EQ(journal_->Pending().size(), 7u) << "the bridge, and a namespace and a link per node";

  // Listeners on n2 and n1, each inside its node.
  uint16_t port2 = 0, port1 = 0;
  framework::UniqueFd l2 = InNetns(nodes[1].netns, [&] { return ListenOn(nodes[1].addr, &port2); });
  framework::UniqueFd l1 = InNetns(nodes[0].netns, [&] { return ListenOn(nodes[0].addr, &port1); });
  ASSERT_TRUE(l2 && l1);
  auto from = [&](size_t i, size_t to, uint16_t port) {
    return InNetns(nodes[i].netns, [&] { return Connects(nodes[to].addr, port); });
  };
  EXPECT_TRUE(from(0, 1, port2)) << "n1 -> n2 before the cut";
  EXPECT_TRUE(Connects(nodes[1].addr, port2)) << "host -> n2";

  // Through the fault kind, as a scenario uses it: isolate n1.
  FaultEnv env;
  env.seed = 1;
  env.journal = journal_.get();
  env.nodes = net->get();
  auto table = framework::ParseTomlString("mode = \"isolate\"\nnode = \"n1\"", "partition");
  ASSERT_TRUE(table.ok());
  framework::TomlReader reader(*table, "partition", "[[fault]]",
                               std::make_shared<framework::Diagnostics>());
  auto fault = CreateFault("partition", reader, env);
  ASSERT_TRUE(fault.ok()) << fault.error().Message();
  ASSERT_TRUE((*fault)->Inject(TargetRef{}).ok());
  EXPECT_TRUE((*fault)->Record().took_effect);
  EXPECT_FALSE(from(0, 1, port2)) << "n1 -> n2 while n1 is isolated";
  EXPECT_FALSE(from(1, 0, port1)) << "n2 -> n1 while n1 is isolated";
  EXPECT_FALSE(from(2, 0, port1)) << "n3 -> n1 while n1 is isolated";
  EXPECT_TRUE(from(2, 1, port2)) << "n3 -> n2: the majority still talks";
  EXPECT_TRUE(Connects(nodes[0].addr, port1)) << "the host still reaches the isolated node";

  ASSERT_TRUE((*fault)->Heal().ok());
  EXPECT_TRUE(from(0, 1, port2)) << "n1 -> n2 after the heal";
  EXPECT_TRUE(from(1, 0, port1)) << "n2 -> n1 after the heal";

  l1.Reset();
  l2.Reset();
  ASSERT_TRUE((*net)->Remove().ok());
  for (const auto& n : nodes) {
    EXPECT_FALSE(std::filesystem::exists("/run/netns/" + n.netns)) << n.netns;
    EXPECT_FALSE(std::filesystem::exists("/sys/class/net/" + n.host_link)) << n.host_link;
  }
  EXPECT_FALSE(std::filesystem::exists("/sys/class/net/" + (*net)->bridge()));
  EXPECT_TRUE(journal_->Pending().empty());
}

TEST(NodeUndoTest, RefusesNamesThatAreNotDuendes) {
  EXPECT_FALSE(Undo({"netns", {"production"}}).ok());
  EXPECT_FALSE(Undo({"netns", {"duende-x/../../etc"}}).ok());
  EXPECT_FALSE(Undo({"link", {"eth0"}}).ok());
  EXPECT_FALSE(Undo({"link", {"dnsmasq0"}}).ok());
  EXPECT_TRUE(Undo({"link", {"dn0000abcd7"}}).ok()) << "ours, and already gone";
  EXPECT_TRUE(Undo({"netns", {"duende-0-gone-n1"}}).ok()) << "ours, and already gone";
}

}  // namespace
}  // namespace duende::faults
