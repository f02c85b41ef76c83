#include "duende/harness/fault_kinds.h"

#include "duende/adapters/platform.h"
#include "duende/faults/fault.h"

namespace duende::harness {

// The kinds of the faults/ catalogue, with their parameter checks, so that `duende validate`
// rejects an unknown kind or a bad parameter with file:line:col before anything runs.
const FaultKindTable& DefaultFaultKinds() {
  static const FaultKindTable kTable = [] {
    FaultKindTable t;
    for (const auto& k : faults::Catalogue()) t.kinds.push_back(k.kind);
    t.kinds.push_back(kPowerLossKind);
    t.validate = faults::CheckFaultParams;
    return t;
  }();
  return kTable;
}

std::string PlatformRefusesFault(const std::string& kind, const toml::table& fault,
                                 const std::string& platform) {
  auto p = adapters::ParsePlatform(platform);
  if (!p) return "";  // reported at the target's platform key
  const adapters::AdapterTraits t = adapters::TraitsOf(*p);
  if (!t.runs) return "";  // reported at the target's platform key
  const std::string on = "platform " + platform;
  if (kind == kPowerLossKind) {
    return t.power_loss ? ""
                        : on + " has no power to cut (power-loss needs platform = \"microvm\")";
  }
  if (kind == "kill" || kind == "pause") {
    // Through the adapter where the host pid is not the daemon's (microvm: qemu).
    return t.host_pid || t.signals ? "" : on + " gives the host no pid of the daemon to signal";
  }
  if (kind == "crash" || kind == "fds") {
    return t.host_pid ? ""
                      : on + " gives the host no pid of the daemon's process (" + kind +
                            " acts on the process itself); use kill or pause";
  }
  if (kind == "disk" && *p != adapters::Platform::kNative &&
      fault["mode"].value_or(std::string("enospc")) == "full") {
    return on +
           " mounts the daemon's filesystems itself; disk mode \"full\" fills a private "
           "tmpfs that only a native target gets ([target.data_tmpfs]); use mode "
           "\"enospc\" here";
  }
  if (kind == "syscall" || kind == "clock" || kind == "disk") {
    return t.preload ? ""
                     : on + " cannot load duende's preload shims (libfiu, libfaketime) into the "
                            "daemon (no host libc between it and its system calls); run it on "
                            "native, systemd or oci";
  }
  if (kind == "oom" || kind == "pids" ||
      (kind == "cpu" && fault["mode"].value_or(std::string("burn")) == "quota")) {
    return t.cgroup ? ""
                    : on + " keeps the daemon in a cgroup of its own that duende does not limit; "
                           "set [target.resources] (the platform applies them) or run it on "
                           "native";
  }
  return "";  // network (the proxy is on the host side), memory and cpu burn (host pressure)
}

}  // namespace duende::harness
