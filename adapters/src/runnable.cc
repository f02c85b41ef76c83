// RunnablePlatforms(): what `duende adapter detect` lists under "runs here".
#include <sys/stat.h>
#include <unistd.h>

#include "duende/adapters/microvm_image.h"
#include "duende/adapters/platform.h"
#include "duende/adapters/wasi_adapter.h"
#include "duende/framework/process.h"

namespace duende::adapters {

std::vector<Runnable> RunnablePlatforms() {
  std::vector<Runnable> out;
  out.push_back({Platform::kNative, true, "duende's own supervisor"});

  struct stat st {};
  Runnable systemd{Platform::kSystemd, false, ""};
  if (::stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode)) {
    systemd.ok = true;
    systemd.reason = "systemd is PID 1 (the system manager)";
  } else if (auto s = framework::FindExecutable("systemd-run"); s.ok()) {
    systemd.ok = true;
    systemd.reason = "systemd is not PID 1; a private user manager can run (SystemdUserManager)";
  } else {
    systemd.reason = "systemd is not installed: apt-get install systemd";
  }
  out.push_back(systemd);

  Runnable oci{Platform::kOci, false, ""};
  if (auto runc = framework::FindExecutable("runc"); runc.ok()) {
    oci.ok = ::geteuid() == 0;
    oci.reason = oci.ok ? "runc at " + *runc : "runc at " + *runc + " needs root here";
  } else {
    oci.reason = "runc is not installed: apt-get install runc";
  }
  out.push_back(oci);

  Runnable vm{Platform::kMicrovm, false, ""};
  if (auto host = FindMicrovmHost({}); host.ok()) {
    vm.ok = true;
    vm.reason = "qemu " + host->qemu + ", kernel " + host->kernel + ", TCG (" + host->kvm_note +
                "; KVM only when asked for)";
  } else {
    vm.reason = host.error().Message();
  }
  out.push_back(vm);

  // wasi runs where Node 20 is; building modules (the kvd.wasm fixture) needs the toolchain too.
  Runnable wasi{Platform::kWasi, false, ""};
  auto runtime = CheckWasiRuntime();
  auto toolchain = CheckWasmToolchain();
  wasi.ok = runtime.ok();
  wasi.reason = (runtime.ok() ? *runtime : runtime.error().context) + "; " +
                (toolchain.ok() ? "builds modules: " + *toolchain
                                : "cannot build modules: " + toolchain.error().context);
  out.push_back(wasi);
  return out;
}

}  // namespace duende::adapters
