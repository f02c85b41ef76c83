// `duende run --control PATH`: a control socket for `duende top` while scenarios run. It
// answers "status" with the run's load, faults and targets (the RunTally's figures plus what
// each target's processes cost now); nothing else, so it cannot change the run.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "control_socket.h"
#include "duende/framework/event_loop.h"
#include "duende/framework/result.h"
#include "duende/framework/supervisor.h"
#include "run_metrics.h"

namespace duende::cli {

class RunControl {
 public:
  /// Listens on `path` (mode 0600: root and our uid only; a stale socket of ours is replaced,
  /// any other file refused) and serves it on a thread of its own. Start it after the run's
  /// signals are blocked: the thread inherits the mask. Errors: as ListenControlSocket.
  static framework::Result<std::unique_ptr<RunControl>> Start(const std::string& path,
                                                              const RunTally& tally);
  /// Stops serving and removes the socket.
  ~RunControl();
  RunControl(const RunControl&) = delete;
  RunControl& operator=(const RunControl&) = delete;

  /// The scenario's supervisor (RunOptions::on_supervisor), nullptr between scenarios.
  void SetSupervisor(framework::Supervisor* sup);

 private:
  RunControl(std::string path, const RunTally& tally) : path_(std::move(path)), tally_(tally) {}
  std::string Handle(const std::string& line);

  std::string path_;
  const RunTally& tally_;
  std::unique_ptr<framework::EventLoop> loop_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  // Held while a status asks the supervisor, so SetSupervisor(nullptr) waits for it.
  std::mutex mu_;
  framework::Supervisor* sup_ = nullptr;
};

}  // namespace duende::cli
