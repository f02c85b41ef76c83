#include "duende/adapters/microvm_image.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "duende/framework/address.h"
#include "duende/framework/command.h"
#include "duende/framework/io.h"
#include "duende/framework/process.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/unique_fd.h"
#include "text_util.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::ErrnoError;
using framework::Error;
using framework::MessageError;
using framework::Result;
using framework::UniqueFd;

namespace {

Error Missing(const std::string& what) {
  return Error{std::make_error_code(std::errc::no_such_file_or_directory), what};
}

// The newest /boot/vmlinuz-RELEASE, by version order ("" when there is none).
std::string NewestKernel() {
  std::vector<std::string> names;
  if (DIR* d = ::opendir("/boot")) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("vmlinuz-", 0) == 0) names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return ::strverscmp(a.c_str(), b.c_str()) < 0;
  });
  return names.empty() ? "" : "/boot/" + names.back();
}

// Kernel modules the guest needs, by name: the virtio-mmio transport and its devices, and ext4
// with the crc32c it asks the crypto API for (the guest has no modprobe to find it).
constexpr const char* kGuestModules[] = {"virtio_mmio", "virtio_console", "virtio_blk",
                                         "virtio_net",  "crc32c_generic", "ext4"};

std::string ModuleName(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  base = base.substr(0, base.find(".ko"));
  std::replace(base.begin(), base.end(), '-', '_');
  return base;
}

// The guest modules and their dependencies from modules.dep, each after what it needs.
// Built-in modules (modules.builtin) need nothing. Errors: a module that is neither.
Result<std::vector<std::string>> ModuleLoadOrder(const std::string& modules_dir) {
  auto dep =
      framework::ReadFileLimited(modules_dir + "/modules.dep", framework::kMaxInputFileBytes);
  if (!dep.ok()) return dep.error();
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> by_name;
  std::istringstream in(*dep);
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string path = line.substr(0, colon);
    std::vector<std::string> deps;
    std::istringstream words(line.substr(colon + 1));
    for (std::string w; words >> w;) deps.push_back(w);
    by_name[ModuleName(path)] = {path, deps};
  }
  std::set<std::string> builtin;
  if (auto b = framework::ReadFileLimited(modules_dir + "/modules.builtin",
                                          framework::kMaxInputFileBytes);
      b.ok()) {
    std::istringstream bin(*b);
    while (std::getline(bin, line)) builtin.insert(ModuleName(line));
  }
  std::vector<std::string> order;
  std::set<std::string> done;
  std::function<Result<void>(const std::string&)> visit =
      [&](const std::string& name) -> Result<void> {
    if (done.count(name) != 0 || builtin.count(name) != 0) return {};
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      return MessageError("kernel module " + name + " is neither built in nor in " + modules_dir +
                          "/modules.dep");
    }
    done.insert(name);
    // modules.dep lists the deepest dependency last; load from there.
    for (auto d = it->second.second.rbegin(); d != it->second.second.rend(); ++d) {
      DUENDE_TRY(visit(ModuleName(*d)));
    }
    order.push_back(it->second.first);
    return {};
  };
  for (const char* m : kGuestModules) DUENDE_TRY(visit(m));
  return order;
}

// --- cpio "newc" (the format the kernel unpacks into its initial root) ---------------------
class CpioWriter {
 public:
  explicit CpioWriter(int fd) : fd_(fd) {}

  Result<void> Dir(const std::string& path) {
    if (!dirs_.insert(path).second) return {};
    return Entry(path, 040755, "");
  }
  /// `path` absolute; its parent directories are added first.
  Result<void> File(const std::string& path, const std::string& data, uint32_t mode) {
    for (size_t slash = path.find('/', 1); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      DUENDE_TRY(Dir(path.substr(0, slash)));
    }
    if (!files_.insert(path).second) return {};
    return Entry(path, 0100000 | mode, data);
  }
  Result<void> Finish() { return Entry("TRAILER!!!", 0, ""); }

 private:
  Result<void> Entry(const std::string& path, uint32_t mode, const std::string& data) {
    std::string name = path[0] == '/' ? path.substr(1) : path;
    char header[111];
    std::snprintf(header, sizeof header,
                  "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ++ino_, mode, 0u,
                  0u, 1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
                  static_cast<unsigned>(name.size() + 1), 0u);
    std::string out(header, 110);
    out += name;
    out += '\0';
    out.resize((out.size() + 3) & ~size_t{3}, '\0');
    out += data;
    out.resize((out.size() + 3) & ~size_t{3}, '\0');
    return framework::WriteAll(fd_, out);
  }

  int fd_;
  uint32_t ino_ = 0;
  std::set<std::string> dirs_;
  std::set<std::string> files_;
};

// The bytes of `path`, without debug sections when strip(1) can make such a copy in `dir`
// (the guest unpacks every byte of the initramfs into RAM).
Result<std::string> ReadStripped(const std::string& path, const std::string& dir) {
  const std::string tmp = dir + "/strip.tmp";
  auto r = framework::RunCommand({"strip", "--strip-debug", "-o", tmp, path});
  std::string from = (r.ok() && r->status.success()) ? tmp : path;
  auto data = framework::ReadFileLimited(from, size_t{1} << 30);
  ::unlink(tmp.c_str());
  return data;
}

std::string NulJoined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    out += w;
    out += '\0';
  }
  return out;
}

}  // namespace

Result<void> DecompressMicrovmKernel(MicrovmHost* host, const std::string& dir) {
  auto image = framework::ReadFileLimited(host->kernel, size_t{256} << 20);
  if (!image.ok()) return image.error();
  // The first compressed stream with a known magic is the kernel (as Linux's
  // scripts/extract-vmlinux finds it); the decompressors stop at its end.
  struct Format {
    std::string magic;
    std::vector<std::string> argv;
  };
  const Format formats[] = {
      {std::string("\xFD"
                   "7zXZ\0",
                   6),
       {"xz", "-dc", "--single-stream"}},
      {std::string("\x28\xB5\x2F\xFD", 4), {"zstd", "-dcq"}},
      {std::string("\x1F\x8B\x08", 3), {"gzip", "-dcq"}},
  };
  for (const auto& f : formats) {
    size_t at = image->find(f.magic);
    if (at == std::string::npos) continue;
    auto tool = framework::FindExecutable(f.argv[0]);
    if (!tool.ok()) continue;
    const std::string payload = dir + "/vmlinux.payload";
    const std::string out = dir + "/" + kMicrovmKernel;
    {
      UniqueFd fd(
          ::open(payload.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd) return ErrnoError("unable to create " + payload);
      DUENDE_TRY(framework::WriteAll(fd.get(), std::string_view(*image).substr(at)));
    }
    std::string cmd = internal::ShellQuote(*tool);
    for (size_t i = 1; i < f.argv.size(); ++i) cmd += " " + f.argv[i];
    cmd += " < " + internal::ShellQuote(payload) + " > " + internal::ShellQuote(out);
    // gzip and zstd complain about the bytes after the stream; what they wrote is whole.
    (void)framework::RunCommand({"/bin/sh", "-c", cmd});
    ::unlink(payload.c_str());
    char elf[4] = {};
    UniqueFd in(::open(out.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (in && ::read(in.get(), elf, 4) == 4 &&
        std::memcmp(elf,
                    "\x7F"
                    "ELF",
                    4) == 0) {
      host->boot_kernel = out;
      return {};
    }
    ::unlink(out.c_str());
  }
  return MessageError("no decompressible kernel found in " + host->kernel);
}

Result<MicrovmHost> FindMicrovmHost(const MicrovmRenderOptions& options) {
  MicrovmHost h;
  auto qemu = framework::FindExecutable(options.qemu);
  // (FindExecutable takes a path with a slash as it is.)
  if (!qemu.ok() || ::access(qemu->c_str(), X_OK) != 0) {
    return Missing("qemu (" + options.qemu +
                   ") is not installed: apt-get install qemu-system-x86 (the microvm platform "
                   "runs the daemon under qemu -M microvm)");
  }
  h.qemu = *qemu;
  h.kernel = options.kernel.empty() ? NewestKernel() : options.kernel;
  if (h.kernel.empty() || ::access(h.kernel.c_str(), R_OK) != 0) {
    return Missing("no readable guest kernel '" +
                   (h.kernel.empty() ? std::string("/boot/vmlinuz-*") : h.kernel) +
                   "': apt-get install linux-image-amd64");
  }
  h.modules_dir = options.modules_dir;
  if (h.modules_dir.empty()) {
    std::string base = h.kernel.substr(h.kernel.rfind('/') + 1);
    std::string release = base.rfind("vmlinuz-", 0) == 0 ? base.substr(8) : "";
    h.modules_dir = "/lib/modules/" + release;
  }
  if (::access((h.modules_dir + "/modules.dep").c_str(), R_OK) != 0) {
    return Missing("no kernel modules for " + h.kernel + " (" + h.modules_dir +
                   "/modules.dep): apt-get install linux-image-amd64");
  }
  const bool kvm_usable = ::access("/dev/kvm", R_OK | W_OK) == 0;
  h.kvm_note = kvm_usable ? "/dev/kvm is usable" : "/dev/kvm is missing or not writable";
  if (options.accel == "kvm") {
    if (!kvm_usable) {
      return Missing("accel = \"kvm\" but " + h.kvm_note + " (use accel = \"tcg\")");
    }
  } else if (options.accel != "tcg") {
    return MessageError("accel \"" + options.accel + "\" is not tcg or kvm");
  }
  h.accel = options.accel;
  return h;
}

uint16_t MicrovmPort(const DaemonConfig& config, const MicrovmRenderOptions& options) {
  if (options.port != 0) return options.port;
  using Kind = framework::ProbeConfig::Kind;
  for (const auto* p : {&config.health.readiness, &config.health.liveness}) {
    if (p->kind != Kind::kTcp && p->kind != Kind::kHttp) continue;
    if (auto hp = framework::SplitHostPort(p->address)) return hp->port;
  }
  return 0;
}

uint16_t MicrovmRelayPort(uint16_t port) { return port == 1 ? 2 : 1; }

std::vector<std::string> MicrovmQemuArgv(const DaemonConfig& config,
                                         const MicrovmRenderOptions& options,
                                         const MicrovmHost& host, const std::string& dir,
                                         const std::string& cache) {
  std::vector<std::string> a = {host.qemu, "-M", "microvm,isa-serial=on"};
  // cryptomgr.notests: the crypto self-tests cost a fifth of an emulated boot.
  std::string append = "console=ttyS0 panic=-1 quiet rdinit=/init cryptomgr.notests";
  if (host.accel == "kvm") {
    a.insert(a.end(), {"-enable-kvm", "-cpu", "host"});
  } else {
    a.insert(a.end(), {"-accel", "tcg,thread=multi", "-cpu", "max"});
    // microvm has no HPET or ACPI PM timer to calibrate the TSC against, only the PIT, whose
    // quick calibration fails on a busy host and hangs the boot: tell the kernel the rate.
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
      if (line.rfind("cpu MHz", 0) != 0) continue;
      double mhz = std::atof(line.substr(line.find(':') + 1).c_str());
      if (mhz > 0) append += " tsc_early_khz=" + std::to_string(static_cast<long>(mhz * 1000));
      break;
    }
  }
  a.insert(a.end(), {"-m", std::to_string(options.memory_mib), "-smp", std::to_string(options.cpus),
                     "-nodefaults", "-no-user-config", "-nographic", "-no-reboot"});
  a.insert(a.end(), {"-kernel", host.boot_kernel.empty() ? host.kernel : host.boot_kernel,
                     "-initrd", dir + "/" + kMicrovmInitramfs, "-append", append});
  a.insert(a.end(), {"-chardev", "file,id=con,path=" + dir + "/" + kMicrovmConsole + ",append=on",
                     "-serial", "chardev:con"});
  a.insert(a.end(),
           {"-chardev", "socket,id=ctl,path=" + dir + "/" + kMicrovmControl, "-device",
            "virtio-serial-device", "-device", "virtserialport,chardev=ctl,name=duende.ctl"});
  if (!options.data_mount.empty()) {
    a.insert(a.end(),
             {"-drive",
              "id=data,file=" + dir + "/" + kMicrovmDisk + ",format=raw,if=none,cache=" + cache,
              "-device", "virtio-blk-device,drive=data"});
  }
  if (uint16_t port = MicrovmPort(config, options); port != 0) {
    // restrict=on: the guest reaches nothing outside; only the forwarded port comes in, and
    // only from the host's loopback.
    a.insert(a.end(), {"-netdev",
                       "user,id=net,restrict=on,hostfwd=tcp:127.0.0.1:" + std::to_string(port) +
                           "-10.0.2.15:" + std::to_string(MicrovmRelayPort(port)),
                       "-device", "virtio-net-device,netdev=net"});
  }
  return a;
}

Result<void> WriteMicrovmInitramfs(const DaemonConfig& config, const MicrovmRenderOptions& options,
                                   const MicrovmHost& host, const std::string& init,
                                   const std::string& dir) {
  DUENDE_TRY(CheckRenderable(config));
  auto exe = framework::FindExecutable(config.command[0]);
  if (!exe.ok()) return exe.error();
  auto modules = ModuleLoadOrder(host.modules_dir);
  if (!modules.ok()) return modules.error();

  const std::string path = dir + "/" + kMicrovmInitramfs;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError("unable to create " + path);
  CpioWriter cpio(fd.get());
  for (const char* d : {"/proc", "/sys", "/dev", "/tmp", "/run", "/duende"}) {
    DUENDE_TRY(cpio.Dir(d));
  }
  auto init_data = framework::ReadFileLimited(init, size_t{64} << 20);
  if (!init_data.ok()) return init_data.error();
  DUENDE_TRY(cpio.File("/init", *init_data, 0755));

  // The daemon and the libraries ldd resolves (the dynamic loader included, printed as a bare
  // absolute path), each at its own absolute path.
  std::vector<std::string> files = {*exe};
  auto ldd = framework::RunCommand({"ldd", *exe});
  if (!ldd.ok()) return ldd.error();
  std::istringstream lines(ldd->out);
  for (std::string line; std::getline(lines, line);) {
    size_t arrow = line.find("=> /");
    size_t start = arrow != std::string::npos ? arrow + 3 : line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] != '/') continue;
    files.push_back(line.substr(start, line.find(' ', start) - start));
  }
  for (const auto& f : files) {
    auto data = ReadStripped(f, dir);
    if (!data.ok()) return data.error();
    DUENDE_TRY(cpio.File(f, *data, 0755));
  }
  std::string module_list;
  for (const auto& m : *modules) {
    const std::string full = host.modules_dir + "/" + m;
    auto data = framework::ReadFileLimited(full, size_t{64} << 20);
    if (!data.ok()) return data.error();
    DUENDE_TRY(cpio.File(full, *data, 0644));
    module_list += full + "\n";
  }
  DUENDE_TRY(cpio.File("/duende/modules", module_list, 0644));

  std::vector<std::string> argv = config.command;
  argv[0] = *exe;
  DUENDE_TRY(cpio.File("/duende/argv", NulJoined(argv), 0644));
  std::vector<std::string> env;
  for (const auto& [k, v] : internal::PlatformEnv(config)) env.push_back(k + "=" + v);
  DUENDE_TRY(cpio.File("/duende/env", NulJoined(env), 0644));
  const uint16_t port = MicrovmPort(config, options);
  std::string settings =
      "port " + std::to_string(port) + "\nrelay " + std::to_string(MicrovmRelayPort(port)) + "\n";
  if (!options.data_mount.empty()) settings += "data " + options.data_mount + "\n";
  if (!config.working_dir.empty()) settings += "workdir " + config.working_dir + "\n";
  DUENDE_TRY(cpio.File("/duende/settings", settings, 0644));
  DUENDE_TRY(cpio.Finish());
  if (::fsync(fd.get()) != 0) return ErrnoError("unable to write " + path);
  return {};
}

Result<void> MakeMicrovmDisk(const MicrovmRenderOptions& options, const std::string& dir) {
  const std::string path = dir + "/" + kMicrovmDisk;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return {};
  auto mkfs = framework::FindExecutable("mkfs.ext4");
  if (!mkfs.ok()) {
    return Missing(
        "mkfs.ext4 is not installed: apt-get install e2fsprogs (the microvm data "
        "disk is ext4)");
  }
  {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return ErrnoError("unable to create " + path);
    if (::ftruncate(fd.get(), static_cast<off_t>(options.disk_mib << 20)) != 0) {
      return ErrnoError("unable to size " + path);
    }
  }
  auto r = framework::RunChecked({*mkfs, "-q", "-F", "-m", "0", "-L", "duende-data", path});
  if (!r.ok()) return r.error();
  return {};
}

std::string MicrovmDefaultCache(const std::string& dir) {
  const std::string probe = dir + "/.direct-probe";
  int fd =
      ::open(probe.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_DIRECT, 0600);
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
    return "none";
  }
  ::unlink(probe.c_str());
  return "writethrough";
}

Result<std::string> RenderMicrovm(const DaemonConfig& config, const MicrovmRenderOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  auto host = FindMicrovmHost(options);
  if (!host.ok()) return host.error();
  host->boot_kernel = "$VM_DIR/" + std::string(kMicrovmKernel);
  auto argv = MicrovmQemuArgv(config, options, *host, "$VM_DIR",
                              options.cache.empty() ? "none" : options.cache);
  std::string out = "# " + config.name +
                    ": one boot of its microVM; $VM_DIR holds the initramfs (the guest init, "
                    "the daemon and its libraries), the data disk, the control socket and "
                    "vmlinux (" +
                    host->kernel + " decompressed)\n";
  out += internal::ShellQuote(argv[0]);
  for (size_t i = 1; i < argv.size(); ++i) {
    out += (argv[i][0] == '-' ? " \\\n  " : " ") + (argv[i].find("$VM_DIR") != std::string::npos
                                                        ? "\"" + argv[i] + "\""
                                                        : internal::ShellQuote(argv[i]));
  }
  out += '\n';
  return out;
}

}  // namespace duende::adapters
