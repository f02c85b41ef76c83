// What a duende microVM is made of: the host's qemu and kernel (found and checked), the qemu
// command line, and the initramfs (the guest init, the daemon with the shared libraries it
// links, the kernel modules for virtio-mmio, -blk, -net, -console and ext4, and the daemon's
// argv, environment and settings). MicrovmAdapter runs it; `duende adapter render` prints
// the command line. docs/adapters.md, "microvm".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "duende/adapters/render.h"
#include "duende/framework/config.h"
#include "duende/framework/result.h"

namespace duende::adapters {

/// The host's side of a microVM, resolved.
struct MicrovmHost {
  std::string qemu;    ///< absolute path of qemu-system-x86_64
  std::string kernel;  ///< the guest kernel image
  /// What qemu boots: `kernel`, or its uncompressed ELF (PVH entry) after
  /// DecompressMicrovmKernel(): under TCG the guest's own decompression of a bzImage costs
  /// seconds of emulated CPU before the kernel starts.
  std::string boot_kernel;
  std::string modules_dir;  ///< /lib/modules/RELEASE of that kernel
  std::string accel;        ///< "tcg" or "kvm"
  std::string kvm_note;     ///< why KVM is (not) used: "/dev/kvm missing", ...
};

/// Finds qemu, the kernel and its modules for `options`. Errors (errc::no_such_file_or_directory,
/// the message naming the Debian package to install): qemu missing (qemu-system-x86), no
/// readable kernel or no modules for it (linux-image-amd64); invalid_argument for an accel
/// other than tcg/kvm; kvm asked for without a usable /dev/kvm.
framework::Result<MicrovmHost> FindMicrovmHost(const MicrovmRenderOptions& options);

/// The port forwarded to the guest: options.port, else the port of the readiness (else
/// liveness) tcp/http probe address; 0 when there is none.
uint16_t MicrovmPort(const framework::DaemonConfig& config, const MicrovmRenderOptions& options);

/// The port the guest's relay listens on (eth0): any port other than the daemon's.
uint16_t MicrovmRelayPort(uint16_t port);

/// Writes the uncompressed kernel (the ELF inside a bzImage, xz, gzip or zstd) to DIR/vmlinux
/// and points host->boot_kernel at it. Errors: no compressed payload found, the decompressor
/// (xz-utils, gzip, zstd) missing or failing, or not an ELF image afterwards: the caller may
/// boot the bzImage instead.
framework::Result<void> DecompressMicrovmKernel(MicrovmHost* host, const std::string& dir);

/// File names inside a VM's private directory.
inline constexpr const char* kMicrovmInitramfs = "initramfs.cpio";
inline constexpr const char* kMicrovmDisk = "data.img";
inline constexpr const char* kMicrovmControl = "ctl.sock";
inline constexpr const char* kMicrovmConsole = "console.log";
inline constexpr const char* kMicrovmQemuPid = "qemu.pid";
inline constexpr const char* kMicrovmKernel = "vmlinux";

/// qemu's argv for one boot with the VM's files in `dir` and `cache` as the disk's cache mode.
std::vector<std::string> MicrovmQemuArgv(const framework::DaemonConfig& config,
                                         const MicrovmRenderOptions& options,
                                         const MicrovmHost& host, const std::string& dir,
                                         const std::string& cache);

/// Writes DIR/initramfs.cpio (newc, uncompressed) for `config`: `init` as /init, the daemon
/// (command[0], an absolute path or found on PATH) and every library `ldd` resolves for it,
/// each at its own path, debug sections stripped when strip(1) is there. Errors: the daemon
/// not found or not a regular file; ldd's or a read's failure; the write's errno.
framework::Result<void> WriteMicrovmInitramfs(const framework::DaemonConfig& config,
                                              const MicrovmRenderOptions& options,
                                              const MicrovmHost& host, const std::string& init,
                                              const std::string& dir);

/// Creates DIR/data.img (options.disk_mib, ext4 by mkfs.ext4) unless it exists.
/// Errors: mkfs.ext4 missing (e2fsprogs) or failing; the errno of creating the file.
framework::Result<void> MakeMicrovmDisk(const MicrovmRenderOptions& options,
                                        const std::string& dir);

/// "none" when a file in `dir` can be opened with O_DIRECT, else "writethrough".
std::string MicrovmDefaultCache(const std::string& dir);

/// The qemu command line as text (`duende adapter render --platform microvm`), with the
/// private directory written as $VM_DIR. Errors: as CheckRenderable and FindMicrovmHost.
framework::Result<std::string> RenderMicrovm(const framework::DaemonConfig& config,
                                             const MicrovmRenderOptions& options);

}  // namespace duende::adapters
