// MicrovmAdapter: runs a daemon in a qemu microVM of its own (the daemon and its libraries
// in an initramfs, a small static init as PID 1, an ext4 data disk on virtio-blk that lasts
// across the VM's restarts, the daemon's port forwarded from the host's loopback).
//
// qemu has no restart policy, so the native Supervisor supervises the VM, as the OCI adapter
// supervises `runc run`: its service is duende-microvm-runner, which runs one boot of qemu in
// the foreground, turns the guest's "READY" into sd_notify READY=1, forwards signals to the
// daemon inside and ends as the daemon ended. Every restart is a fresh boot (the guest's RAM,
// page cache included, is gone; the disk stays). docs/adapters.md, "microvm".
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "duende/adapters/adapter.h"
#include "duende/adapters/microvm_image.h"
#include "duende/adapters/native_adapter.h"

namespace duende::faults {
class UndoJournal;
}

namespace duende::adapters {

class MicrovmAdapter final : public Adapter {
 public:
  /// Makes the VM's private directory (journaled for `duende doctor` when options.journal),
  /// the initramfs and the data disk. Errors: FindMicrovmHost's (qemu or kernel missing, with
  /// the Debian package), WriteMicrovmInitramfs's, MakeMicrovmDisk's; ENOENT when the guest
  /// init or the runner program is not built.
  static framework::Result<std::unique_ptr<MicrovmAdapter>> Create(
      const framework::DaemonConfig& config, const AdapterOptions& options);
  ~MicrovmAdapter() override;

  Platform platform() const override { return Platform::kMicrovm; }
  const framework::DaemonConfig& config() const override { return config_; }
  /// Boots the VM (returns once qemu is being started; `ready` follows the guest's report).
  framework::Result<void> Start() override;
  /// The stop signal goes to the daemon inside; the guest syncs and powers off; qemu is
  /// killed after shutdown_timeout. No restart.
  framework::Result<void> Stop() override;
  /// `signal` to the daemon inside the guest (through the control channel), any signal,
  /// SIGKILL included. Errors: ESRCH when no VM runs.
  framework::Result<void> Kill(int signal) override;
  /// SIGKILL to qemu: the guest's RAM, page cache included, is gone; the disk keeps what the
  /// guest had written to it. The restart policy then applies (a power loss is a death by
  /// SIGKILL). Errors: ESRCH when no VM runs.
  framework::Result<void> PowerLoss() override;
  /// The supervisor's view, with pid = the qemu process on the host (-1 while none runs).
  framework::Result<framework::ServiceStatus> Status() override;
  void Subscribe(EventCallback callback) override;
  /// Stops, then removes the private directory (disk included).
  framework::Result<void> Remove() override;

  /// The private directory: initramfs.cpio, data.img, ctl.sock, console.log, qemu.pid.
  const std::string& dir() const { return dir_; }
  /// The guest's console (kernel messages and the daemon's stdout/stderr, every boot).
  std::string console_log() const { return dir_ + "/" + kMicrovmConsole; }
  /// qemu's argv for one boot.
  const std::vector<std::string>& qemu_argv() const { return qemu_argv_; }
  /// The data disk's qemu cache mode.
  const std::string& cache() const { return cache_; }
  /// The host-side qemu pid, or -1.
  pid_t QemuPid();

 private:
  MicrovmAdapter(framework::DaemonConfig config, std::string dir);

  framework::DaemonConfig config_;
  std::string dir_;
  std::string cache_;
  std::vector<std::string> qemu_argv_;
  std::unique_ptr<faults::UndoJournal> journal_;
  uint64_t journal_id_ = 0;
  std::unique_ptr<NativeAdapter> inner_;
  std::atomic<int> power_cuts_{0};
  bool removed_ = false;
};

/// Where the guest init and the runner are: $DUENDE_MICROVM_INIT / $DUENDE_MICROVM_RUNNER,
/// else the build tree, else the install prefix. "" when none exists.
std::string MicrovmInitPath();
std::string MicrovmRunnerPath();

}  // namespace duende::adapters
