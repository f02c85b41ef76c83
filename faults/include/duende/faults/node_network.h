// NodeNetwork: the nodes of a cluster scenario, each a network namespace of its own with one
// address from the testing range 198.18.0.0/15, joined to the host through a veth pair and a
// bridge (the bridge holds the host's address in the nodes' /24, so the harness reaches every
// node). Partitions cut links between nodes with blackhole routes inside their namespaces
// (this kernel has no netem and no iptables; a blackhole route drops what a node would send to
// the cut peer, so a connect from either side times out or fails and nothing gets through).
//
// Namespaces are named "duende-<pid>-<random>-<node>", links "dn<random><n>": unique per run,
// never another user's. Each is journaled (undo types "netns" and "link") before it exists,
// so a harness killed by SIGKILL leaves nothing behind after the next heal; the routes of a
// partition live inside the namespaces and go with them. docs/cluster.md.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "duende/faults/undo_journal.h"
#include "duende/framework/result.h"

namespace duende::faults {

/// A node as a scenario declares it.
struct NodeDef {
  std::string name;  ///< [a-z0-9_-], at most 32 bytes
  std::string addr;  ///< "198.18.7.20", or "" to have one chosen
};

/// A node as created.
struct NodeInfo {
  std::string name;
  std::string netns;      ///< "duende-<pid>-<random>-<name>" (/run/netns/<netns>)
  std::string addr;       ///< its address on the bridge
  std::string host_link;  ///< the host end of its veth pair
};

/// One IPv4 route of the host's main table (from /proc/net/route).
struct HostRoute {
  uint32_t dest = 0;  ///< host byte order
  uint32_t mask = 0;
  std::string dev;
};

/// The host's IPv4 routes; empty when /proc/net/route cannot be read.
std::vector<HostRoute> HostRoutes();

/// The first route of `routes` whose network overlaps `net`/`mask` (host byte order), other
/// than a default route, or nullptr.
const HostRoute* OverlappingRoute(const std::vector<HostRoute>& routes, uint32_t net,
                                  uint32_t mask);

/// Parses a dotted IPv4 address into host byte order; false when it is not one.
bool ParseIpv4(const std::string& text, uint32_t* out);
/// Dotted text of a host-byte-order address.
std::string FormatIpv4(uint32_t addr);
/// True for an address in 198.18.0.0/15 that can be a node's (not the /24's .0, .1 or .255).
bool IsNodeAddress(uint32_t addr);

/// Why this machine cannot create nodes ("" when it can): `ip` (iproute2) or `nsenter`
/// (util-linux) missing, or no CAP_SYS_ADMIN/CAP_NET_ADMIN.
std::string NodeEnvironmentProblem();

/// The pairs of node indexes (i < j) a partition cuts, for `n` nodes:
///   isolate            `isolated` (or a random node when it is -1) from all others
///   halves             a random half (n/2 nodes) from the rest
///   majority-minority  a random minority (1..(n-1)/2 nodes, at least 1) from the majority
///   bridge             two random halves that can both reach one bridge node in the middle
///   ring               nodes in a random ring; each reaches the nodes within (n/2+1)/2 steps,
///                      so every node sees a majority but no two see the same one
///   groups             nodes in different `groups` (indexes) are cut; nodes in none keep
///                      every link
/// `groups` is used when `mode` is "groups". Unknown modes cut nothing.
std::vector<std::pair<size_t, size_t>> PartitionCuts(
    const std::string& mode, size_t n, std::mt19937_64& rng, int isolated,
    const std::vector<std::vector<size_t>>& groups);

/// Which nodes `cuts` (pairs of indexes into `names`) separate, for messages: the groups that
/// reach only each other, "n1 | n2 n3", then the nodes no cut touches ("; n3 reaches every
/// group", a bridge); when the cuts split the nodes into no such groups (a ring), what each node
/// still reaches ("n1 reaches n2 n5; n2 reaches n1 n3; ..."); "no link cut" without cuts.
std::string DescribePartition(const std::vector<std::string>& names,
                              const std::vector<std::pair<size_t, size_t>>& cuts);

/// The partition modes PartitionCuts knows (without "groups").
const std::vector<std::string>& PartitionModes();

class NodeNetwork {
 public:
  /// Creates a bridge and one namespace per node (journaled in `journal` before each exists).
  /// Addresses given must share one /24 of 198.18.0.0/15; otherwise a free /24 of that range
  /// (one no host route overlaps) is chosen with `seed`. Errors: EPERM without privilege,
  /// ENOENT when `ip` is missing, EADDRINUSE when no free /24 is left or a given address
  /// overlaps a host route; what was made is removed again.
  static framework::Result<std::unique_ptr<NodeNetwork>> Create(const std::vector<NodeDef>& defs,
                                                                UndoJournal* journal,
                                                                uint64_t seed);
  ~NodeNetwork();
  NodeNetwork(const NodeNetwork&) = delete;
  NodeNetwork& operator=(const NodeNetwork&) = delete;

  /// Removes the namespaces and the bridge (idempotent); every step is attempted.
  framework::Result<void> Remove();

  const std::vector<NodeInfo>& nodes() const { return nodes_; }
  /// The node named `name`, or nullptr.
  const NodeInfo* Find(const std::string& name) const;
  /// Its index in nodes(), or -1.
  int IndexOf(const std::string& name) const;
  const std::string& bridge() const { return bridge_; }
  const std::string& host_addr() const { return host_addr_; }

  /// Cuts the link between nodes `a` and `b` (indexes) both ways; Join() restores it. Errors:
  /// the `ip route` failure.
  framework::Result<void> Cut(size_t a, size_t b);
  framework::Result<void> Join(size_t a, size_t b);
  /// The blackhole routes in node `i`'s namespace ("198.18.3.11" per line), for evidence.
  std::vector<std::string> Blackholes(size_t i) const;

 private:
  NodeNetwork() = default;
  framework::Result<void> Build(const std::vector<NodeDef>& defs, uint64_t seed);
  framework::Result<void> Add(const std::string& what, const UndoAction& undo,
                              const std::vector<std::string>& ip_args);

  UndoJournal* journal_ = nullptr;
  std::vector<NodeInfo> nodes_;
  std::string bridge_;
  std::string host_addr_;
  std::vector<std::pair<uint64_t, UndoAction>> made_;  // journal id, undo; oldest first
  bool removed_ = false;
};

/// Runs `ip ARGS...`. Errors: ENOENT when ip is missing; otherwise its stderr, with EPERM when
/// it says "Operation not permitted".
framework::Result<std::string> RunIp(const std::vector<std::string>& args);

}  // namespace duende::faults
