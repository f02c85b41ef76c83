#include "duende/faults/launch.h"

#include <cerrno>

namespace duende::faults {

framework::Result<void> PreparePrivateTmpfs(framework::SpawnOptions& options,
                                            const std::string& data_dir, uint64_t size_bytes) {
  if (data_dir.empty() || data_dir[0] != '/') {
    return framework::MessageError("the data directory must be an absolute path, not '" + data_dir +
                                   "'");
  }
  auto unshare = framework::FindExecutable("unshare");
  if (!unshare.ok()) {
    return framework::ErrnoError("unable to find unshare (Debian package util-linux)", ENOENT);
  }
  std::vector<std::string> argv = {
      *unshare,
      "-m",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      "mkdir -p \"$0\" && mount -t tmpfs -o size=" + std::to_string(size_bytes) +
          " duende-tmpfs \"$0\" && "
          "exec \"$@\"",
      data_dir};
  argv.insert(argv.end(), options.argv.begin(), options.argv.end());
  options.argv = std::move(argv);
  return {};
}

}  // namespace duende::faults
