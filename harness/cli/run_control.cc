#include "run_control.h"

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "duende/framework/clock.h"
#include "status_reply.h"

namespace duende::cli {

using nlohmann::json;

// A status request must be answered well within this (it reads /proc for each target).
constexpr std::chrono::seconds kRequestTimeout{5};

framework::Result<std::unique_ptr<RunControl>> RunControl::Start(const std::string& path,
                                                                 const RunTally& tally) {
  auto listener = ListenControlSocket(path, ControlAccess{}, /*private_dir=*/false);
  if (!listener.ok()) return listener.error();
  auto loop = framework::EventLoop::Create();
  if (!loop.ok()) return loop.error();
  std::unique_ptr<RunControl> rc(new RunControl(path, tally));
  rc->loop_ = std::move(loop).value();
  RunControl* raw = rc.get();
  rc->server_ = std::make_unique<ControlServer>(
      rc->loop_.get(), std::move(listener).value(), ControlAccess{}, kRequestTimeout,
      [raw](const std::string& line) { return raw->Handle(line); });
  if (auto r = rc->server_->Start(); !r.ok()) return r.error();
  rc->thread_ = std::thread([raw] { (void)raw->loop_->Run(); });
  return rc;
}

RunControl::~RunControl() {
  if (loop_) loop_->Quit();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  ::unlink(path_.c_str());
}

void RunControl::SetSupervisor(framework::Supervisor* sup) {
  std::lock_guard lock(mu_);
  sup_ = sup;
}

std::string RunControl::Handle(const std::string& line) {
  json reply;
  if (line != "status") {
    reply["ok"] = false;
    reply["usage"] = true;
    reply["error"] = "unknown request '" + line.substr(0, 64) +
                     "'; the control socket of `duende run` answers only status";
    return ControlReplyLine(reply);
  }
  const RunSnapshot snap = tally_.Snapshot();
  reply["ok"] = true;
  reply["kind"] = "run";
  reply["scenario"] = snap.scenario;
  reply["scenarios_started"] = snap.scenarios_started;
  auto count = [&](const char* outcome) {
    auto it = snap.requests.find(outcome);
    return it == snap.requests.end() ? uint64_t{0} : it->second;
  };
  reply["load"] = {{"ok", count("ok")},
                   {"errors", count("error")},
                   {"timeouts", count("timeout")},
                   {"abandoned", count("abandoned")},
                   {"latency", LatencyJson(snap.latency)}};
  json faults = json::array();
  for (const auto& [name, what] : snap.active_faults) {
    faults.push_back({{"name", name}, {"kind", what.first}, {"on", what.second}});
  }
  reply["faults"] = std::move(faults);
  reply["faults_injected"] = snap.faults_injected;
  json targets = json::array();
  std::set<std::string> listed;
  {
    std::lock_guard lock(mu_);
    if (sup_ != nullptr) {
      for (const auto& st : sup_->StatusAll()) {
        auto restarts = snap.target_restarts.find(st.name);
        json t = {
            {"name", st.name},
            {"state", framework::StateName(st.state)},
            {"pid", st.pid},
            {"restarts", restarts == snap.target_restarts.end() ? st.restarts : restarts->second}};
        if (auto members = sup_->Members(st.name); members.ok()) {
          t["usage"] = UsageJson(framework::SumProcessUsage(*members));
        }
        targets.push_back(std::move(t));
        listed.insert(st.name);
      }
    }
  }
  // Targets on another platform (systemd, a container) are not the supervisor's: what the
  // events say of them.
  for (const auto& [name, up] : snap.target_up) {
    if (listed.count(name) != 0) continue;
    auto restarts = snap.target_restarts.find(name);
    targets.push_back(
        {{"name", name},
         {"state", up ? "up" : "down"},
         {"pid", -1},
         {"restarts", restarts == snap.target_restarts.end() ? 0 : restarts->second}});
  }
  reply["targets"] = std::move(targets);
  reply[kSampledNsKey] = framework::MonotonicNs();
  return ControlReplyLine(reply);
}

}  // namespace duende::cli
