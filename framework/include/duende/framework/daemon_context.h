// DaemonContext: what the driver tells a running daemon, and what the daemon tells back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "duende/framework/config.h"
#include "duende/framework/mlock.h"
#include "duende/framework/notify.h"
#include "duende/framework/unique_fd.h"

namespace duende::framework {

class Daemon;

class DaemonContext {
 public:
  /// A context for `daemon` starting with `config`; `notifier` may be disabled.
  /// Errors: eventfd() errno.
  static Result<std::unique_ptr<DaemonContext>> Create(Daemon& daemon, DaemonConfig config,
                                                       Notifier* notifier);

  DaemonContext(const DaemonContext&) = delete;
  DaemonContext& operator=(const DaemonContext&) = delete;
  ~DaemonContext();

  /// True once a stop was requested (SIGTERM, SIGINT, RequestShutdown()).
  bool ShouldShutdown() const { return shutdown_.load(std::memory_order_acquire); }

  /// Sleeps until a stop is requested or `timeout` passes; returns ShouldShutdown().
  /// A pending reload is applied (ApplyReload()) on the way, so a loop of WaitForShutdown()
  /// calls gets SIGHUP reloads for free.
  bool WaitForShutdown(std::chrono::nanoseconds timeout);

  /// True when SIGHUP brought a valid new config that ApplyReload() has not applied yet.
  bool ReloadRequested() const { return reload_pending_.load(std::memory_order_acquire); }

  /// Hands the pending config to Daemon::Reload() on this thread; on success it becomes
  /// config() and READY=1 is sent again. Errors: the daemon's (the old config stays).
  /// Without a pending reload it does nothing.
  Result<void> ApplyReload();

  /// An eventfd that turns readable when a stop or a reload is requested, for daemons that
  /// sleep in epoll/poll. Call ConsumeWake() after it fired, then check the flags.
  int wake_fd() const { return wake_fd_.get(); }
  void ConsumeWake();

  /// Tells the service manager (sd_notify READY=1) and the log that the daemon serves.
  void NotifyReady(std::string_view status = {});
  /// STATUS= for the service manager.
  void NotifyStatus(std::string_view status);
  /// WATCHDOG=1 (the driver also pings at half WATCHDOG_USEC while HealthCheck() is not
  /// unhealthy).
  void WatchdogPing();
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  /// The daemon asks itself to stop (as SIGTERM would).
  void RequestShutdown();

  /// The config in force (replaced by ApplyReload()). Read it on the daemon's thread.
  const DaemonConfig& config() const { return config_; }
  /// What LockMemory() reported before Init().
  const MlockStatus& mlock_status() const { return mlock_status_; }

  // --- for the driver ---
  void set_mlock_status(MlockStatus status) { mlock_status_ = status; }
  /// Offers a validated config for reload (RELOADING=1 is sent, the daemon is woken).
  void OfferReload(DaemonConfig config);

 private:
  DaemonContext(Daemon& daemon, DaemonConfig config, Notifier* notifier, UniqueFd wake_fd);
  void Wake();

  Daemon& daemon_;
  DaemonConfig config_;
  Notifier* notifier_;
  UniqueFd wake_fd_;
  MlockStatus mlock_status_;
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> reload_pending_{false};
  std::atomic<bool> ready_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<DaemonConfig> pending_;  // guarded by mu_
};

}  // namespace duende::framework
