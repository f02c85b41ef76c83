// The `partition` fault: cuts links between the nodes of a cluster scenario (node_network.h)
// with blackhole routes inside their namespaces, as Jepsen's partition nemeses do. Unlike the
// `network` fault's "partition" toxic (a proxy in front of one target on loopback that stops
// forwarding), it acts between nodes: node-to-node traffic stops, the harness still reaches
// every node.
#include <algorithm>
#include <random>

#include "duende/faults/node_network.h"
#include "fault_base.h"

namespace duende::faults::internal {

using framework::Result;
using framework::TomlReader;

namespace {

struct PartitionSpec {
  std::string mode = "halves";
  std::string node;                              // isolate: the node cut off ("" = random)
  std::vector<std::vector<std::string>> groups;  // mode "groups"
};

class PartitionFault : public FaultBase {
 public:
  PartitionFault(FaultEnv& env, PartitionSpec spec)
      : FaultBase("partition", env), spec_(std::move(spec)), nodes_(env.nodes) {}
  ~PartitionFault() override { (void)Heal(); }

  Result<void> Inject(const TargetRef&) override {
    if (nodes_ == nullptr || nodes_->nodes().size() < 2) {
      return framework::ErrnoError(
          "a partition needs a scenario with two or more [[node]] tables (it cuts links "
          "between nodes)",
          EINVAL);
    }
    const auto& nodes = nodes_->nodes();
    std::mt19937_64 rng(seed_ * 1000003u + serial_);
    std::vector<std::vector<size_t>> groups;
    for (const auto& g : spec_.groups) {
      groups.emplace_back();
      for (const auto& name : g) {
        const int i = nodes_->IndexOf(name);
        if (i < 0) return framework::ErrnoError("partition: no node named " + name, EINVAL);
        groups.back().push_back(static_cast<size_t>(i));
      }
    }
    const int isolated = spec_.node.empty() ? -1 : nodes_->IndexOf(spec_.node);
    cuts_ = PartitionCuts(spec_.groups.empty() ? spec_.mode : "groups", nodes.size(), rng, isolated,
                          groups);
    MarkInjected();
    for (size_t k = 0; k < cuts_.size(); ++k) {
      if (auto r = nodes_->Cut(cuts_[k].first, cuts_[k].second); !r.ok()) {
        cuts_.resize(k);
        (void)Heal();
        return r.error();
      }
    }
    // Which nodes are cut from which first ("n1 | n2 n3"), then the links.
    std::vector<std::string> names;
    for (const auto& node : nodes) names.push_back(node.name);
    std::string line = DescribePartition(names, cuts_) + " (cut";
    for (const auto& [a, b] : cuts_) line += " " + nodes[a].name + "-" + nodes[b].name;
    line += ")";
    if (cuts_.empty())
      line = "mode " + spec_.mode + " cut no link among " + std::to_string(nodes.size()) + " nodes";
    Evidence(line);
    // Took effect when the routes are really in place in the namespaces.
    size_t seen = 0;
    for (const auto& [a, b] : cuts_) {
      // Each side's table: a route missing on either side leaves packets one way.
      const auto from_a = nodes_->Blackholes(a);
      const auto from_b = nodes_->Blackholes(b);
      if (std::find(from_a.begin(), from_a.end(), nodes[b].addr) != from_a.end() &&
          std::find(from_b.begin(), from_b.end(), nodes[a].addr) != from_b.end()) {
        ++seen;
      }
    }
    record_.took_effect = !cuts_.empty() && seen == cuts_.size();
    if (record_.took_effect) {
      Evidence(std::to_string(seen) + " link(s) blackholed in both namespaces");
    }
    return {};
  }

  Result<void> Heal() override {
    if (nodes_ == nullptr || cuts_.empty()) return {};
    Result<void> out;
    for (const auto& [a, b] : cuts_) {
      if (auto r = nodes_->Join(a, b); !r.ok()) out = r;
    }
    cuts_.clear();
    MarkHealed();
    return out;
  }

 private:
  PartitionSpec spec_;
  NodeNetwork* nodes_;
  std::vector<std::pair<size_t, size_t>> cuts_;
};

}  // namespace

std::unique_ptr<Fault> MakePartition(TomlReader& r, FaultEnv* env) {
  PartitionSpec s;
  s.mode = r.Enum("mode", PartitionModes()).value_or("halves");
  s.node = r.String("node").value_or("");
  if (!s.node.empty() && s.mode != "isolate") {
    r.Fail("node", "'node' names the node a partition isolates: it needs mode = \"isolate\"");
  }
  if (r.Has("groups")) {
    r.Accept("groups");
    const toml::array* outer = r.table()["groups"].as_array();
    bool ok = outer != nullptr && outer->size() >= 2;
    if (ok) {
      for (const auto& g : *outer) {
        const toml::array* inner = g.as_array();
        if (inner == nullptr || inner->empty()) {
          ok = false;
          break;
        }
        s.groups.emplace_back();
        for (const auto& n : *inner) {
          if (!n.is_string()) {
            ok = false;
            break;
          }
          s.groups.back().push_back(*n.value<std::string>());
        }
      }
    }
    if (!ok) {
      r.Fail("groups",
             "'groups' is two or more lists of node names, e.g. groups = [[\"n1\"], "
             "[\"n2\", \"n3\"]]");
    }
    if (r.Has("mode")) r.Fail("mode", "give either 'mode' or 'groups', not both");
  }
  if (env == nullptr) return nullptr;
  return std::make_unique<PartitionFault>(*env, s);
}

}  // namespace duende::faults::internal
