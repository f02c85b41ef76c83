#include "duende/faults/node_network.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>

#include "duende/framework/command.h"
#include "duende/framework/process.h"

namespace duende::faults {

using framework::Result;

namespace {

constexpr uint32_t kRangeNet = (198u << 24) | (18u << 16);  // 198.18.0.0/15
constexpr uint32_t kRangeMask = 0xFFFE0000u;
constexpr uint32_t kSubnetMask = 0xFFFFFF00u;

}  // namespace

Result<std::string> RunIp(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  framework::CommandOptions o;
  o.timeout = std::chrono::seconds(10);
  o.max_capture = 64 << 10;
  auto r = framework::RunCommand(argv, o);
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  if (!r.ok()) {
    if (r.error().code == std::errc::no_such_file_or_directory) {
      return framework::ErrnoError(
          "unable to run ip: not installed (install iproute2: apt-get install iproute2)", ENOENT);
    }
    return r.error();
  }
  if (r->timed_out || r->status.signaled || r->status.code != 0) {
    std::string err = r->err.empty() ? r->out : r->err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    const int code = err.find("Operation not permitted") != std::string::npos ? EPERM : EIO;
    std::string why = code == EPERM
                          ? " (nodes need root: CAP_SYS_ADMIN for namespaces and CAP_NET_ADMIN "
                            "for links and routes)"
                          : "";
    return framework::ErrnoError(cmd + " failed: " + err + why, code);
  }
  return r->out;
}

std::vector<HostRoute> HostRoutes() {
  std::vector<HostRoute> out;
  std::ifstream in("/proc/net/route");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string dev, dest, gw, flags, refcnt, use, metric, mask;
    if (!(f >> dev >> dest >> gw >> flags >> refcnt >> use >> metric >> mask)) continue;
    // Little-endian hex of the network-order address.
    auto swap = [](const std::string& hex) {
      uint32_t v = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
      return __builtin_bswap32(v);
    };
    out.push_back({swap(dest), swap(mask), dev});
  }
  return out;
}

const HostRoute* OverlappingRoute(const std::vector<HostRoute>& routes, uint32_t net,
                                  uint32_t mask) {
  for (const auto& r : routes) {
    if (r.mask == 0) continue;  // a default route overlaps everything and decides nothing
    const uint32_t common = r.mask & mask;
    if ((r.dest & common) == (net & common)) return &r;
  }
  return nullptr;
}

bool ParseIpv4(const std::string& text, uint32_t* out) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(text.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
  if (a > 255 || b > 255 || c > 255 || d > 255) return false;
  if (FormatIpv4((a << 24) | (b << 16) | (c << 8) | d) != text) return false;  // no "01"
  *out = (a << 24) | (b << 16) | (c << 8) | d;
  return true;
}

std::string FormatIpv4(uint32_t addr) {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 255) + "." +
         std::to_string((addr >> 8) & 255) + "." + std::to_string(addr & 255);
}

bool IsNodeAddress(uint32_t addr) {
  const uint32_t host = addr & 255;
  return (addr & kRangeMask) == kRangeNet && host > 1 && host < 255;
}

std::string NodeEnvironmentProblem() {
  for (const char* tool : {"ip", "nsenter"}) {
    if (!framework::FindExecutable(tool).ok()) {
      return std::string(tool) + " is not installed (nodes need iproute2's ip and util-linux's " +
             "nsenter)";
    }
  }
  if (::geteuid() != 0) {
    return "nodes need root (CAP_SYS_ADMIN to create network namespaces, CAP_NET_ADMIN for "
           "links and routes); run duende as root or drop the [[node]] tables";
  }
  return "";
}

const std::vector<std::string>& PartitionModes() {
  static const std::vector<std::string> kModes = {"isolate", "halves", "majority-minority",
                                                  "bridge", "ring"};
  return kModes;
}

std::vector<std::pair<size_t, size_t>> PartitionCuts(
    const std::string& mode, size_t n, std::mt19937_64& rng, int isolated,
    const std::vector<std::vector<size_t>>& groups) {
  std::vector<int> group(n, -1);  // per node; -1: reaches everyone
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::pair<size_t, size_t>> cuts;
  auto cut_between_groups = [&] {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        if (group[i] >= 0 && group[j] >= 0 && group[i] != group[j]) cuts.emplace_back(i, j);
      }
    }
  };
  if (n < 2) return cuts;
  if (mode == "isolate") {
    const size_t lone = isolated >= 0 && static_cast<size_t>(isolated) < n
                            ? static_cast<size_t>(isolated)
                            : order[0];
    for (size_t i = 0; i < n; ++i) group[i] = i == lone ? 0 : 1;
    cut_between_groups();
  } else if (mode == "halves" || mode == "majority-minority") {
    size_t small = n / 2;
    if (mode == "majority-minority") {
      const size_t most = std::max<size_t>(1, (n - 1) / 2);
      small = 1 + static_cast<size_t>(rng() % most);
    }
    for (size_t k = 0; k < n; ++k) group[order[k]] = k < small ? 0 : 1;
    cut_between_groups();
  } else if (mode == "bridge") {
    const size_t half = (n - 1) / 2;
    for (size_t k = 0; k < n; ++k) group[order[k]] = k < half ? 0 : k == half ? -1 : 1;
    cut_between_groups();
  } else if (mode == "ring") {
    const size_t reach = (n / 2 + 1) / 2;
    std::vector<size_t> pos(n);
    for (size_t k = 0; k < n; ++k) pos[order[k]] = k;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        const size_t d = pos[i] > pos[j] ? pos[i] - pos[j] : pos[j] - pos[i];
        if (std::min(d, n - d) > reach) cuts.emplace_back(i, j);
      }
    }
  } else if (mode == "groups") {
    for (size_t g = 0; g < groups.size(); ++g) {
      for (size_t i : groups[g]) {
        if (i < n) group[i] = static_cast<int>(g);
      }
    }
    cut_between_groups();
  }
  return cuts;
}

std::string DescribePartition(const std::vector<std::string>& names,
                              const std::vector<std::pair<size_t, size_t>>& cuts) {
  const size_t n = names.size();
  if (cuts.empty()) return "no link cut";
  std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, true));
  for (const auto& [a, b] : cuts) {
    if (a < n && b < n) reach[a][b] = reach[b][a] = false;
  }
  auto join = [&](const std::vector<size_t>& nodes) {
    std::string out;
    for (size_t i : nodes) out += (out.empty() ? "" : " ") + names[i];
    return out;
  };
  std::vector<size_t> everywhere;           // nodes no cut touches
  std::vector<std::vector<size_t>> groups;  // the others, by what they reach
  for (size_t i = 0; i < n; ++i) {
    if (std::find(reach[i].begin(), reach[i].end(), false) == reach[i].end()) {
      everywhere.push_back(i);
      continue;
    }
    auto same = std::find_if(groups.begin(), groups.end(),
                             [&](const std::vector<size_t>& g) { return reach[g[0]] == reach[i]; });
    if (same == groups.end()) {
      groups.push_back({i});
    } else {
      same->push_back(i);
    }
  }
  // Clean groups: each reaches exactly its own members and the untouched nodes.
  bool clean = true;
  for (const auto& g : groups) {
    for (size_t j = 0; j < n; ++j) {
      const bool member = std::find(g.begin(), g.end(), j) != g.end() ||
                          std::find(everywhere.begin(), everywhere.end(), j) != everywhere.end();
      clean = clean && reach[g[0]][j] == member;
    }
  }
  std::string out;
  if (clean) {
    for (const auto& g : groups) out += (out.empty() ? "" : " | ") + join(g);
    if (!everywhere.empty()) {
      out += "; " + join(everywhere) + (everywhere.size() == 1 ? " reaches" : " reach") +
             " every group";
    }
    return out;
  }
  for (size_t i = 0; i < n; ++i) {
    std::vector<size_t> seen;
    for (size_t j = 0; j < n; ++j) {
      if (j != i && reach[i][j]) seen.push_back(j);
    }
    out +=
        (out.empty() ? "" : "; ") + names[i] + " reaches " + (seen.empty() ? "none" : join(seen));
  }
  return out;
}

// --- NodeNetwork

Result<std::unique_ptr<NodeNetwork>> NodeNetwork::Create(const std::vector<NodeDef>& defs,
                                                         UndoJournal* journal, uint64_t seed) {
  if (std::string why = NodeEnvironmentProblem(); !why.empty()) {
    return framework::ErrnoError(why, ::geteuid() != 0 ? EPERM : ENOENT);
  }
  std::unique_ptr<NodeNetwork> net(new NodeNetwork());
  net->journal_ = journal;
  if (auto r = net->Build(defs, seed); !r.ok()) {
    (void)net->Remove();
    return r.error();
  }
  return net;
}

NodeNetwork::~NodeNetwork() { (void)Remove(); }

Result<void> NodeNetwork::Add(const std::string& what, const UndoAction& undo,
                              const std::vector<std::string>& ip_args) {
  uint64_t id = 0;
  if (journal_ != nullptr) {
    auto j = journal_->Begin(undo);
    if (!j.ok()) return j.error();
    id = *j;
  }
  made_.emplace_back(id, undo);
  auto r = RunIp(ip_args);
  if (!r.ok())
    return framework::Error{r.error().code, "creating " + what + ": " + r.error().context};
  return {};
}

Result<void> NodeNetwork::Build(const std::vector<NodeDef>& defs, uint64_t seed) {
  std::mt19937_64 rng(seed ^ (static_cast<uint64_t>(::getpid()) << 20) ^ std::random_device{}());
  char tag[9];
  std::snprintf(tag, sizeof tag, "%08x", static_cast<unsigned>(rng() & 0xFFFFFFFFu));
  const std::string prefix = "duende-" + std::to_string(::getpid()) + "-" + tag + "-";
  // The /24: that of the addresses given, else a random free one of 198.18.0.0/15.
  const auto routes = HostRoutes();
  uint32_t subnet = 0;
  std::vector<uint32_t> given(defs.size(), 0);
  for (size_t i = 0; i < defs.size(); ++i) {
    if (defs[i].addr.empty()) continue;
    if (!ParseIpv4(defs[i].addr, &given[i]) || !IsNodeAddress(given[i])) {
      return framework::ErrnoError("node " + defs[i].name + ": address " + defs[i].addr +
                                       " is not a node address in 198.18.0.0/15",
                                   EINVAL);
    }
    if (subnet == 0) subnet = given[i] & kSubnetMask;
    if ((given[i] & kSubnetMask) != subnet) {
      return framework::ErrnoError("node addresses must share one /24", EINVAL);
    }
  }
  if (subnet != 0) {
    if (const HostRoute* r = OverlappingRoute(routes, subnet, kSubnetMask)) {
      return framework::ErrnoError("the nodes' network " + FormatIpv4(subnet) +
                                       "/24 overlaps the host's route to " + FormatIpv4(r->dest) +
                                       " on " + r->dev + " (another run, or a real network?)",
                                   EADDRINUSE);
    }
  } else {
    for (int attempt = 0; attempt < 512 && subnet == 0; ++attempt) {
      const uint32_t candidate = kRangeNet | (static_cast<uint32_t>(rng() % 512) << 8);
      if (OverlappingRoute(routes, candidate, kSubnetMask) == nullptr) subnet = candidate;
    }
    if (subnet == 0) {
      return framework::ErrnoError("no free /24 is left in 198.18.0.0/15 for the nodes",
                                   EADDRINUSE);
    }
  }
  host_addr_ = FormatIpv4(subnet | 1);
  bridge_ = std::string("dn") + tag + "b";
  DUENDE_TRY(
      Add("bridge " + bridge_, {"link", {bridge_}}, {"link", "add", bridge_, "type", "bridge"}));
  DUENDE_TRY(RunIp({"addr", "add", host_addr_ + "/24", "dev", bridge_}));
  DUENDE_TRY(RunIp({"link", "set", bridge_, "up"}));
  uint32_t next_host = 10;
  for (size_t i = 0; i < defs.size(); ++i) {
    NodeInfo n;
    n.name = defs[i].name;
    n.netns = prefix + defs[i].name;
    n.host_link = std::string("dn") + tag + std::to_string(i);
    uint32_t addr = given[i];
    while (addr == 0) {
      if (next_host > 254) return framework::MessageError("more nodes than addresses in one /24");
      const uint32_t c = subnet | next_host++;
      if (std::find(given.begin(), given.end(), c) == given.end()) addr = c;
    }
    n.addr = FormatIpv4(addr);
    DUENDE_TRY(Add("namespace " + n.netns, {"netns", {n.netns}}, {"netns", "add", n.netns}));
    DUENDE_TRY(Add(
        "link " + n.host_link, {"link", {n.host_link}},
        {"link", "add", n.host_link, "type", "veth", "peer", "name", "eth0", "netns", n.netns}));
    DUENDE_TRY(RunIp({"link", "set", n.host_link, "master", bridge_, "up"}));
    DUENDE_TRY(RunIp({"-n", n.netns, "addr", "add", n.addr + "/24", "dev", "eth0"}));
    DUENDE_TRY(RunIp({"-n", n.netns, "link", "set", "eth0", "up"}));
    DUENDE_TRY(RunIp({"-n", n.netns, "link", "set", "lo", "up"}));
    DUENDE_TRY(RunIp({"-n", n.netns, "route", "add", "default", "via", host_addr_}));
    nodes_.push_back(std::move(n));
  }
  return {};
}

Result<void> NodeNetwork::Remove() {
  if (removed_) return {};
  removed_ = true;
  Result<void> out;
  // Newest first: the namespaces (taking their veth ends and routes with them), then the bridge.
  for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
    auto r = Undo(it->second);
    if (!r.ok()) {
      out = r;
      continue;
    }
    if (journal_ != nullptr && it->first != 0) journal_->Done(it->first);
  }
  made_.clear();
  return out;
}

const NodeInfo* NodeNetwork::Find(const std::string& name) const {
  const int i = IndexOf(name);
  return i < 0 ? nullptr : &nodes_[static_cast<size_t>(i)];
}

int NodeNetwork::IndexOf(const std::string& name) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

Result<void> NodeNetwork::Cut(size_t a, size_t b) {
  DUENDE_TRY(RunIp(
      {"-n", nodes_.at(a).netns, "route", "replace", "blackhole", nodes_.at(b).addr + "/32"}));
  auto r =
      RunIp({"-n", nodes_.at(b).netns, "route", "replace", "blackhole", nodes_.at(a).addr + "/32"});
  if (!r.ok()) {
    (void)Join(a, b);
    return r.error();
  }
  return {};
}

Result<void> NodeNetwork::Join(size_t a, size_t b) {
  Result<void> out;
  for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
    const std::string& ns = nodes_.at(x).netns;
    const std::string peer = nodes_.at(y).addr;
    auto have = Blackholes(x);
    if (std::find(have.begin(), have.end(), peer) == have.end()) continue;
    if (auto r = RunIp({"-n", ns, "route", "del", "blackhole", peer + "/32"}); !r.ok()) {
      out = r.error();
    }
  }
  return out;
}

std::vector<std::string> NodeNetwork::Blackholes(size_t i) const {
  std::vector<std::string> out;
  auto r = RunIp({"-n", nodes_.at(i).netns, "route", "show", "type", "blackhole"});
  if (!r.ok()) return out;
  std::istringstream in(*r);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string type, addr;
    f >> type >> addr;
    if (type == "blackhole" && !addr.empty()) out.push_back(addr);
  }
  return out;
}

}  // namespace duende::faults
