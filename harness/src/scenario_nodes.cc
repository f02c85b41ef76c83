// [[node]] tables and the keys that refer to nodes ([[target]] node, [load] spread/nodes,
// [[fault]] node and a partition's groups). docs/cluster.md.
#include <set>

#include "duende/faults/node_network.h"
#include "scenario_read.h"

namespace duende::harness::internal {

using framework::TomlReader;

namespace {

std::string NodeHint(const std::string& name, const Scenario& s) {
  std::vector<std::string> names;
  for (const auto& n : s.nodes) names.push_back(n.name);
  if (names.empty()) return " (declare it with a [[node]] table: name = \"" + name + "\")";
  const std::string close = framework::DidYouMean(name, names);
  return close.empty() ? "" : "; did you mean \"" + close + "\"?";
}

const NodeSpec* FindNode(const Scenario& s, const std::string& name) {
  for (const auto& n : s.nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

// Nodes share one /24 whose .1 is the host's; chosen addresses start at .10 and end at .254.
constexpr size_t kMaxNodes = 200;

}  // namespace

void ReadNodes(TomlReader& root, std::vector<TomlReader>& targets, Scenario& s) {
  auto tables = root.TableArray("node");
  std::set<std::string> names;
  uint32_t subnet = 0;
  // The host's routes are read only for a scenario with nodes.
  const auto routes = tables.empty() ? std::vector<faults::HostRoute>{} : faults::HostRoutes();
  for (auto& r : tables) {
    if (tables.size() > kMaxNodes && &r == &tables[kMaxNodes]) {
      r.Fail("name", "this is node " + std::to_string(kMaxNodes + 1) + " of " +
                         std::to_string(tables.size()) + "; a scenario has at most " +
                         std::to_string(kMaxNodes) + " nodes (they share one /24)");
    }
    NodeSpec n;
    n.pos = r.pos();
    n.name = r.String("name", true).value_or("");
    CheckName(r, "name", n.name);
    if (n.name.size() > 32) r.Fail("name", "node name \"" + n.name + "\" is longer than 32 bytes");
    if (!n.name.empty() && !names.insert(n.name).second) {
      r.Fail("name", "node name \"" + n.name + "\" is used twice; node names must be unique");
    }
    n.addr = r.String("addr").value_or("");
    uint32_t ip = 0;
    if (r.Has("addr")) {
      if (!faults::ParseIpv4(n.addr, &ip) || !faults::IsNodeAddress(ip)) {
        r.Fail("addr", "addr = \"" + n.addr +
                           "\" is not a node address: give one of 198.18.0.0/15 (the range "
                           "reserved for testing) other than .0, .1 and .255 of its /24, or "
                           "leave addr out to have one chosen");
      } else if (subnet != 0 && (ip & 0xFFFFFF00u) != subnet) {
        r.Fail("addr", "addr = \"" + n.addr + "\" is not in " + faults::FormatIpv4(subnet) +
                           "/24 like the other nodes' addresses (all nodes share one bridge)");
      } else if (subnet == 0) {
        subnet = ip & 0xFFFFFF00u;
        if (const auto* route = faults::OverlappingRoute(routes, subnet, 0xFFFFFF00u)) {
          r.Fail("addr", "addr = \"" + n.addr + "\": its network " + faults::FormatIpv4(subnet) +
                             "/24 overlaps the host's route to " + faults::FormatIpv4(route->dest) +
                             " on " + route->dev +
                             "; pick another /24 of 198.18.0.0/15, or leave addr out");
        }
      }
    }
    r.Finish();
    s.nodes.push_back(std::move(n));
  }
  std::set<std::string> used;
  for (size_t i = 0; i < s.targets.size() && i < targets.size(); ++i) {
    TargetSpec& t = s.targets[i];
    if (t.node.empty()) continue;
    if (FindNode(s, t.node) == nullptr) {
      targets[i].Fail("node", "'node' in " + targets[i].where() + " is \"" + t.node +
                                  "\", which is not a [[node]]" + NodeHint(t.node, s));
      continue;
    }
    used.insert(t.node);
    if (t.external || t.platform != "native") {
      targets[i].Fail("node",
                      "a target on a node is started by duende inside the node's "
                      "network namespace: remove external = true / platform, or node");
    }
  }
  for (size_t i = 0; i < s.nodes.size(); ++i) {
    if (!s.nodes[i].name.empty() && used.count(s.nodes[i].name) == 0) {
      tables[i].Fail("name", "node \"" + s.nodes[i].name +
                                 "\" runs no target: give a [[target]] node = \"" +
                                 s.nodes[i].name + "\", or remove the node");
    }
  }
}

void CheckLoadNodes(TomlReader& load, const Scenario& s) {
  if (!s.load) return;
  const LoadSpec& l = *s.load;
  if (l.spread.empty()) {
    if (load.Has("nodes"))
      load.Fail("nodes",
                "'nodes' in [load] needs spread = \"round-robin\", "
                "\"random\" or \"pinned\"");
    return;
  }
  if (s.nodes.empty()) {
    load.Fail("spread", "spread in [load] spreads the load over [[node]]s; this scenario has none");
    return;
  }
  if (!l.address.empty()) {
    load.Fail("address",
              "with spread, the load reaches each node at the address of the target "
              "that runs on it: remove 'address'");
  }
  std::vector<std::string> over = l.nodes;
  if (over.empty()) {
    for (const auto& n : s.nodes) over.push_back(n.name);
  }
  for (const auto& name : over) {
    if (FindNode(s, name) == nullptr) {
      load.Fail("nodes",
                "[load] nodes names \"" + name + "\", which is not a [[node]]" + NodeHint(name, s));
      continue;
    }
    size_t with_address = 0;
    for (const auto& t : s.targets) with_address += t.node == name && !t.address.empty();
    if (with_address != 1) {
      load.Fail("spread", "the load reaches node " + name + " at the address of its target: node " +
                              name + " has " + std::to_string(with_address) +
                              " targets with an address; give exactly one an address");
    }
  }
}

std::vector<std::string> ResolveFaultNode(TomlReader& f, FaultSpec& spec, const Scenario& s) {
  std::vector<std::string> others;
  if (spec.kind == "partition") {
    if (s.nodes.size() < 2) {
      f.Fail("kind",
             "a partition cuts links between [[node]]s: this scenario needs two or more "
             "(the network fault's toxic = \"partition\" cuts one target off behind a "
             "proxy instead)");
    }
    if (!spec.node.empty() && FindNode(s, spec.node) == nullptr) {
      f.Fail("node", "'node' in " + f.where() + " is \"" + spec.node + "\", which is not a " +
                         "[[node]]" + NodeHint(spec.node, s));
    }
    if (const toml::array* groups = f.table()["groups"].as_array()) {
      std::set<std::string> seen;
      for (const auto& g : *groups) {
        const toml::array* inner = g.as_array();
        if (inner == nullptr) continue;
        for (const auto& n : *inner) {
          auto name = n.value<std::string>();
          if (!name) continue;
          if (FindNode(s, *name) == nullptr) {
            f.Fail("groups", "'groups' names \"" + *name + "\", which is not a [[node]]" +
                                 NodeHint(*name, s));
          } else if (!seen.insert(*name).second) {
            f.Fail("groups", "'groups' names node \"" + *name + "\" twice; groups are disjoint");
          }
        }
      }
    }
    return others;
  }
  if (spec.node.empty()) return others;
  if (FindNode(s, spec.node) == nullptr) {
    f.Fail("node", "'node' in " + f.where() + " is \"" + spec.node + "\", which is not a " +
                       "[[node]]" + NodeHint(spec.node, s));
    return others;
  }
  if (f.Has("target")) {
    f.Fail("node", "give either 'target' or 'node' (a fault on a node acts on its targets)");
    return others;
  }
  for (const auto& t : s.targets) {
    if (t.node != spec.node) continue;
    if (spec.target.empty()) {
      spec.target = t.name;
    } else {
      others.push_back(t.name);
    }
  }
  return others;
}

}  // namespace duende::harness::internal
