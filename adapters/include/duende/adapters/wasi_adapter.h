// WasiAdapter: runs a daemon compiled to wasm32-wasi (WASI preview 1) under Node's node:wasi.
//
// The config's command is the module and its arguments (["kvd.wasm", "--data-dir", "/d"]).
// The runtime is `node duende-wasi-run.mjs ...` (the runner script is shipped inside duende
// and written into the adapter's private directory). Node has no restart policy, so the native
// Supervisor supervises the runtime process, as the OCI adapter does with `runc run`: kill,
// pause (SIGSTOP/SIGCONT) and restart act on it, and Status().pid is its pid.
//
// WASI preview 1 cannot listen on a socket: the module speaks a line protocol on stdin/stdout
// (one reply line per request line, after a one-line banner when it is ready), and duende
// bridges the target's TCP address to it (see src/wasi_bridge.h), so loads, probes and
// read-backs reach it as they reach a native daemon. [resources] memory_max becomes the
// module's maximum linear memory (64 KiB pages); exceeding it traps inside the module, and the
// `exited` event (code kWasiTrapExitCode) carries the trap's message in its detail.
#pragma once

#include <netinet/in.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "duende/adapters/adapter.h"
#include "duende/adapters/native_adapter.h"
#include "duende/adapters/render.h"

namespace duende::adapters {

namespace internal {
class WasiBridge;
}

/// The runtime's exit code when the module trapped (EX_SOFTWARE).
inline constexpr int kWasiTrapExitCode = 70;
/// The size of one page of WebAssembly linear memory.
inline constexpr uint64_t kWasmPageBytes = 64 * 1024;

/// Whether this machine can run WASI modules: `node` runs and is Node 20 or newer. Returns
/// "node v20.20.2 (node:wasi, WASI preview 1)". Errors: ENOENT "node not found: ... (Debian
/// package nodejs)"; function_not_supported for an older Node.
framework::Result<std::string> CheckWasiRuntime(const std::string& node = "node");

/// Whether this machine can build wasm32-wasi modules with Debian's clang-14: the compiler,
/// lld, wasi-libc, libc++ and the wasm32 builtins. Returns a summary; errors: ENOENT naming
/// the missing Debian packages.
framework::Result<std::string> CheckWasmToolchain();

/// The TCP address the bridge opens for the module: options.address, else the address of the
/// config's tcp/http readiness or liveness probe. Only loopback addresses (127.0.0.0/8).
/// Errors: invalid_argument saying what to set.
framework::Result<sockaddr_in> WasiAddress(const framework::DaemonConfig& config,
                                           const WasiRenderOptions& options);

/// What WasiAddress() would refuse, without the file name ("" = nothing; then `*out`, when
/// given, is the address).
std::string WasiAddressProblem(const framework::DaemonConfig& config,
                               const WasiRenderOptions& options, sockaddr_in* out = nullptr);

/// The runtime invocation (argv of the process the supervisor runs): node, the runner in
/// options.run_dir, the FIFOs, the memory limit in pages, the preopens, the module's
/// environment and the module with its arguments. Errors: invalid_argument (no command, a
/// memory_max below one page, a preopen not written GUEST=HOST).
framework::Result<std::vector<std::string>> WasiCommand(const framework::DaemonConfig& config,
                                                        const WasiRenderOptions& options);

/// `duende adapter render --platform wasi`: comment lines (what bridges what) and the shell
/// command line of WasiCommand().
framework::Result<std::string> RenderWasiInvocation(const framework::DaemonConfig& config,
                                                    const WasiRenderOptions& options);

/// What the wasi platform keeps of a config (see Translation): memory_max rounded down to
/// whole pages; address_space, lock_memory and pid_file are not expressed.
Translation TranslateForWasi(const framework::DaemonConfig& config);

class WasiAdapter final : public Adapter {
 public:
  /// Checks the runtime (CheckWasiRuntime) and the module file, creates the working
  /// directory when missing (mode 0700; the runtime preopens it), makes the private directory
  /// (runner script, FIFOs) and the bridge. Errors: the runtime's; ENOENT for a missing
  /// module; invalid_argument as WasiCommand() and WasiAddress().
  static framework::Result<std::unique_ptr<WasiAdapter>> Create(
      const framework::DaemonConfig& config, const AdapterOptions& options);
  ~WasiAdapter() override;

  Platform platform() const override { return Platform::kWasi; }
  const framework::DaemonConfig& config() const override { return config_; }
  framework::Result<void> Start() override;
  framework::Result<void> Stop() override;
  /// Signals the runtime process (SIGKILL ends the module at once; SIGSTOP/SIGCONT pause it).
  framework::Result<void> Kill(int signal) override;
  /// The supervisor's view; pid = the runtime process.
  framework::Result<framework::ServiceStatus> Status() override;
  /// Events of the runtime process; an `exited` with code kWasiTrapExitCode has the trap's
  /// message in `detail` ("wasm trap: RuntimeError: unreachable (linear memory ...)"). Without
  /// a readiness probe in the config, `ready` comes when the module printed its banner (a tcp
  /// probe of the bridge's address every 10 ms), not at spawn.
  void Subscribe(EventCallback callback) override;
  /// Stops, closes the bridge and removes the private directory.
  framework::Result<void> Remove() override;

  /// The runtime invocation the supervisor runs.
  const std::vector<std::string>& command() const { return command_; }
  /// The private directory (runner script, FIFOs "in" and "out", the trap file).
  const std::string& run_dir() const { return run_dir_; }
  /// The message of the module's last trap ("" when it never trapped).
  std::string LastTrap();
  /// True while the bridge's address is open (the module printed its banner).
  bool Listening();

 private:
  WasiAdapter(framework::DaemonConfig config, std::string run_dir);
  void OnEvent(const framework::ServiceEvent& ev);

  framework::DaemonConfig config_;
  std::string run_dir_;
  std::vector<std::string> command_;
  std::unique_ptr<internal::WasiBridge> bridge_;
  std::unique_ptr<NativeAdapter> inner_;
  std::mutex mu_;
  std::vector<EventCallback> callbacks_;
  std::string last_trap_;
  bool removed_ = false;
};

}  // namespace duende::adapters
