#include "duende/adapters/native_adapter.h"

#include <signal.h>
#include <unistd.h>

#include "duende/framework/clock.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::Error;
using framework::Result;
using framework::ServiceState;

Result<std::unique_ptr<NativeAdapter>> NativeAdapter::Create(const DaemonConfig& config,
                                                             const DaemonConfig& service_config,
                                                             framework::SupervisorOptions options) {
  auto sup = framework::Supervisor::Create(std::move(options));
  if (!sup.ok()) return sup.error();
  DUENDE_TRY((*sup)->Add(service_config, /*start=*/false));
  return std::unique_ptr<NativeAdapter>(new NativeAdapter(config, std::move(*sup)));
}

NativeAdapter::NativeAdapter(DaemonConfig config, std::unique_ptr<framework::Supervisor> s)
    : config_(std::move(config)), supervisor_(std::move(s)) {}

NativeAdapter::~NativeAdapter() { (void)Remove(); }

Result<void> NativeAdapter::Start() {
  if (!loop_.joinable()) {
    loop_ = std::thread([this] { (void)supervisor_->Run(); });
  }
  return supervisor_->Start(config_.name);
}

Result<void> NativeAdapter::Stop() {
  DUENDE_TRY(supervisor_->Stop(config_.name));
  const int64_t deadline =
      framework::MonotonicNs() + (config_.shutdown_timeout + std::chrono::seconds(5)).count();
  while (framework::MonotonicNs() < deadline) {
    auto st = supervisor_->Status(config_.name);
    if (!st.ok()) return st.error();
    if (st->state == ServiceState::kStopped || st->state == ServiceState::kExited ||
        st->state == ServiceState::kFailed) {
      return {};
    }
    ::usleep(5000);
  }
  return Error{std::make_error_code(std::errc::timed_out), config_.name + " did not stop"};
}

Result<void> NativeAdapter::Kill(int signal) {
  auto st = supervisor_->Status(config_.name);
  if (!st.ok()) return st.error();
  if (st->pid <= 0 || ::kill(st->pid, signal) != 0) {
    return Error{std::make_error_code(std::errc::no_such_process),
                 config_.name + " has no running process"};
  }
  return {};
}

Result<framework::ServiceStatus> NativeAdapter::Status() {
  return supervisor_->Status(config_.name);
}

void NativeAdapter::Subscribe(EventCallback callback) {
  supervisor_->Subscribe(std::move(callback));
}

Result<void> NativeAdapter::Remove() {
  if (removed_) return {};
  removed_ = true;
  supervisor_->Shutdown();
  if (loop_.joinable()) loop_.join();
  return {};
}

}  // namespace duende::adapters
