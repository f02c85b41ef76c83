// The nodes of a cluster scenario during a run: their network namespaces (faults::NodeNetwork)
// made before the targets start and removed after they stopped, targets started inside them
// through nsenter, {node.NAME.addr}, and the load's addresses per node. docs/cluster.md.
#include "duende/faults/node_network.h"
#include "run.h"

namespace duende::harness::internal {

bool Run::CreateNodes() {
  if (s_.nodes.empty()) return true;
  std::vector<faults::NodeDef> defs;
  for (const auto& n : s_.nodes) defs.push_back({n.name, n.addr});
  auto net = faults::NodeNetwork::Create(defs, journal_.get(), seed_);
  if (!net.ok()) {
    Fail("unable to create the nodes' network namespaces: " + net.error().Message());
    return false;
  }
  nodes_ = std::move(net).value();
  env_.nodes = nodes_.get();
  json list = json::array();
  for (const auto& n : nodes_->nodes()) {
    list.push_back({{"name", n.name}, {"addr", n.addr}, {"netns", n.netns}});
  }
  rec_.Record(events::kNodesCreated, "",
              {{"bridge", nodes_->bridge()}, {"host_addr", nodes_->host_addr()}, {"nodes", list}});
  return true;
}

void Run::RemoveNodes() {
  if (!nodes_) return;
  env_.nodes = nullptr;
  auto r = nodes_->Remove();
  rec_.Record(events::kNodesRemoved, "", {{"error", r.ok() ? "" : r.error().Message()}});
  nodes_.reset();
}

std::optional<std::string> Run::NodeVariable(std::string_view name) const {
  // "NAME.addr" / "NAME.netns"
  const size_t dot = name.rfind('.');
  if (!nodes_ || dot == std::string_view::npos) return std::nullopt;
  const faults::NodeInfo* n = nodes_->Find(std::string(name.substr(0, dot)));
  if (n == nullptr) return std::nullopt;
  if (name.substr(dot + 1) == "addr") return n->addr;
  if (name.substr(dot + 1) == "netns") return n->netns;
  return std::nullopt;
}

bool Run::EnterNode(const std::string& target, std::vector<std::string>* command) {
  const std::string& node = targets_.at(target).spec->node;
  if (node.empty()) return true;
  const faults::NodeInfo* n = nodes_ ? nodes_->Find(node) : nullptr;
  auto nsenter = framework::FindExecutable("nsenter");
  if (n == nullptr || !nsenter.ok()) {
    Fail("target " + target + ": unable to start it on node " + node +
         (nsenter.ok() ? "" : ": nsenter (util-linux) is not installed"));
    return false;
  }
  // nsenter joins the namespace and execs the target: the pid stays the target's.
  std::vector<std::string> argv = {*nsenter, "--net=/run/netns/" + n->netns, "--"};
  argv.insert(argv.end(), command->begin(), command->end());
  *command = std::move(argv);
  return true;
}

void Run::SpreadLoad(LoadConfig& c) {
  if (nodes_) {
    for (const auto& n : nodes_->nodes()) c.node_addresses.push_back(n.addr);
  }
  const LoadSpec& l = *s_.load;
  if (l.spread.empty()) return;
  std::vector<std::string> over = l.nodes;
  if (over.empty()) {
    for (const auto& n : s_.nodes) over.push_back(n.name);
  }
  for (const auto& node : over) {
    for (const auto& [name, t] : targets_) {
      if (t.spec->node == node && !t.expanded.address.empty()) {
        c.nodes.emplace_back(node, t.expanded.address);
        break;
      }
    }
  }
  if (!c.nodes.empty()) c.address = c.nodes.front().second;
}

}  // namespace duende::harness::internal
