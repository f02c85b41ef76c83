#include "duende/framework/daemon_context.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "duende/framework/daemon.h"
#include "duende/framework/log.h"

namespace duende::framework {

Result<std::unique_ptr<DaemonContext>> DaemonContext::Create(Daemon& daemon, DaemonConfig config,
                                                             Notifier* notifier) {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!fd) return ErrnoError("unable to create an eventfd");
  return std::unique_ptr<DaemonContext>(
      new DaemonContext(daemon, std::move(config), notifier, std::move(fd)));
}

DaemonContext::DaemonContext(Daemon& daemon, DaemonConfig config, Notifier* notifier,
                             UniqueFd wake_fd)
    : daemon_(daemon),
      config_(std::move(config)),
      notifier_(notifier),
      wake_fd_(std::move(wake_fd)) {}

DaemonContext::~DaemonContext() = default;

void DaemonContext::Wake() {
  // eventfd_write() rather than write(): a write fault injected into the daemon (libfiu's
  // posix/io/rw/write) must not stop it from waking up for SIGTERM.
  ::eventfd_write(wake_fd_.get(), 1);
}

void DaemonContext::ConsumeWake() {
  eventfd_t value = 0;
  ::eventfd_read(wake_fd_.get(), &value);
}

bool DaemonContext::WaitForShutdown(std::chrono::nanoseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (ReloadRequested()) {
      // The result is logged by ApplyReload(); the daemon keeps running either way.
      [[maybe_unused]] auto r = ApplyReload();
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_until(lock, deadline,
                       [this] { return ShouldShutdown() || pending_.has_value(); })) {
      if (ShouldShutdown()) return true;
      continue;  // a reload arrived
    }
    return ShouldShutdown();
  }
}

void DaemonContext::RequestShutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
  Wake();
}

void DaemonContext::OfferReload(DaemonConfig config) {
  {
    std::lock_guard lock(mu_);
    pending_ = std::move(config);
    reload_pending_.store(true, std::memory_order_release);
  }
  if (notifier_ != nullptr) [[maybe_unused]]
    auto r = notifier_->Reloading();
  cv_.notify_all();
  Wake();
}

Result<void> DaemonContext::ApplyReload() {
  std::optional<DaemonConfig> next;
  {
    std::lock_guard lock(mu_);
    next = std::move(pending_);
    pending_.reset();
    reload_pending_.store(false, std::memory_order_release);
  }
  if (!next) return {};
  auto r = daemon_.Reload(*next);
  if (!r.ok()) {
    LogError("reload rejected: " + r.error().Message() + "; keeping the current config");
    NotifyReady("reload rejected; running with the previous config");
    return r;
  }
  config_ = std::move(*next);
  if (auto l = ConfigureLog(config_.name.empty() ? daemon_.Name() : config_.name, config_.log);
      !l.ok()) {
    LogError("reload: " + l.error().Message() + "; logging stays where it was");
  }
  LogInfo("reloaded config" +
          (config_.source_file.empty() ? std::string() : " from " + config_.source_file));
  NotifyReady("reloaded");
  return {};
}

void DaemonContext::NotifyReady(std::string_view status) {
  bool was_ready = ready_.exchange(true, std::memory_order_acq_rel);
  if (!was_ready) LogInfo("ready" + (status.empty() ? std::string() : ": " + std::string(status)));
  if (notifier_ == nullptr) return;
  if (auto r = notifier_->Ready(status); !r.ok()) LogWarn(r.error().Message());
}

void DaemonContext::NotifyStatus(std::string_view status) {
  if (notifier_ == nullptr) return;
  if (auto r = notifier_->Status(status); !r.ok()) LogWarn(r.error().Message());
}

void DaemonContext::WatchdogPing() {
  if (notifier_ == nullptr) return;
  if (auto r = notifier_->Watchdog(); !r.ok()) LogWarn(r.error().Message());
}

}  // namespace duende::framework
