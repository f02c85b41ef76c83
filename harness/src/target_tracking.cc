#include "duende/harness/target_tracking.h"

#include <unistd.h>

#include <algorithm>

#include "duende/framework/proc.h"

namespace duende::harness::internal {
namespace {

void AddPortVariables(const std::string& text, std::set<std::string>* out) {
  size_t i = 0;
  while ((i = text.find("{port.", i)) != std::string::npos) {
    size_t close = text.find('}', i);
    if (close == std::string::npos) return;
    out->insert(text.substr(i + 1, close - i - 1));
    i = close + 1;
  }
}

}  // namespace

std::set<std::string> PortVariables(const TargetSpec& target) {
  std::set<std::string> out;
  for (const auto& a : target.command) AddPortVariables(a, &out);
  for (const auto& [k, v] : target.env) AddPortVariables(v, &out);
  AddPortVariables(target.address, &out);
  AddPortVariables(target.daemon.health.readiness.address, &out);
  AddPortVariables(target.daemon.health.liveness.address, &out);
  // A config file rendered for the target (nginx's `listen {port.web};`) names ports too.
  for (const auto& f : target.files) AddPortVariables(f.text, &out);
  return out;
}

std::string PortTaken(const std::string& name, uint16_t port, const std::string& from,
                      const std::vector<pid_t>& ours) {
  auto listeners = framework::TcpListenersOnPort(port);
  if (listeners.empty()) return "";
  std::set<uint64_t> inodes;
  for (const auto& l : listeners) inodes.insert(l.inode);
  auto holders = framework::SocketHolders(inodes);
  if (!holders.empty() && std::all_of(holders.begin(), holders.end(), [&](pid_t p) {
        return std::find(ours.begin(), ours.end(), p) != ours.end();
      })) {
    return "";
  }
  return "target " + name + ": port " + std::to_string(port) + " (" + from +
         ") is already in use: " + framework::PortListeners(port) +
         "; stop that program or give the target a free port ({port." + name + "})";
}

nlohmann::json LeftoverJson(pid_t pid, const std::string& target) {
  nlohmann::json j = {{"pid", pid}};
  auto info = framework::ReadProcessInfo(pid);
  if (info.ok()) {
    j["ppid"] = info->ppid;
    j["pgid"] = info->pgid;
    j["state"] = std::string(1, info->state);
    j["comm"] = info->comm;
  }
  std::string exe = framework::ProcessExe(pid);
  if (!exe.empty()) j["exe"] = exe;
  if (!target.empty()) j["target"] = target;
  return j;
}

}  // namespace duende::harness::internal
