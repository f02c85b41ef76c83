#include "duende/adapters/microvm_adapter.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "duende/faults/undo_journal.h"
#include "duende/framework/command.h"
#include "duende/framework/install_location.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/temp_dir.h"

namespace duende::adapters {

using framework::DaemonConfig;
using framework::Error;
using framework::Result;

namespace {

// $env when set, else `program` in PREFIX/libexec/duende of the install or the build tree's
// adapters/ (framework/install_location.h).
std::string FirstExisting(const char* env, const char* program) {
  if (const char* e = std::getenv(env); e != nullptr && *e != '\0') return e;
  return framework::FindRuntimeFile(framework::RuntimeDir::kPrograms, program, X_OK);
}

Error NoVm(const std::string& name) {
  return Error{std::make_error_code(std::errc::no_such_process), name + " has no VM running"};
}

// The parent pid of `pid` from /proc/PID/stat (field 4), or -1.
pid_t ParentOf(pid_t pid) {
  auto stat = framework::ReadFileLimited("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat.ok()) return -1;
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 4 >= stat->size()) return -1;
  return static_cast<pid_t>(std::atoi(stat->c_str() + paren + 4));
}

}  // namespace

std::string MicrovmInitPath() {
  return FirstExisting("DUENDE_MICROVM_INIT", "duende-microvm-init");
}

std::string MicrovmRunnerPath() {
  return FirstExisting("DUENDE_MICROVM_RUNNER", "duende-microvm-runner");
}

MicrovmAdapter::MicrovmAdapter(DaemonConfig config, std::string dir)
    : config_(std::move(config)), dir_(std::move(dir)) {}

Result<std::unique_ptr<MicrovmAdapter>> MicrovmAdapter::Create(const DaemonConfig& config,
                                                               const AdapterOptions& options) {
  DUENDE_TRY(CheckRenderable(config));
  const MicrovmRenderOptions& vm = options.render.microvm;
  auto host = FindMicrovmHost(vm);
  if (!host.ok()) return host.error();
  const std::string init = MicrovmInitPath();
  const std::string runner = MicrovmRunnerPath();
  if (init.empty() || runner.empty()) {
    return Error{std::make_error_code(std::errc::no_such_file_or_directory),
                 "duende-microvm-init or duende-microvm-runner is not built (set "
                 "DUENDE_MICROVM_INIT and DUENDE_MICROVM_RUNNER, or build duende's adapters)"};
  }

  // The private directory: named duende-* (what `duende doctor` may remove), mode 0700.
  std::string parent = vm.state_dir.empty() ? framework::TempDir() : vm.state_dir;
  std::string tmpl = parent + "/duende-microvm-" + config.name + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return framework::ErrnoError("unable to create " + tmpl);
  std::unique_ptr<MicrovmAdapter> a(new MicrovmAdapter(config, buf.data()));
  a->removed_ = false;
  if (options.microvm_journal) {
    auto j = faults::UndoJournal::Create();
    if (j.ok()) {
      a->journal_ = std::move(*j);
      auto id = a->journal_->Begin({"dir", {a->dir_}});
      if (id.ok()) a->journal_id_ = *id;
    }
  }
  if (auto d = DecompressMicrovmKernel(&*host, a->dir_); !d.ok()) {
    std::fprintf(stderr, "duende: %s: booting the compressed kernel (slower under TCG)\n",
                 d.error().Message().c_str());
  }
  DUENDE_TRY(WriteMicrovmInitramfs(config, vm, *host, init, a->dir_));
  if (!vm.data_mount.empty()) DUENDE_TRY(MakeMicrovmDisk(vm, a->dir_));
  a->cache_ = vm.cache.empty() ? MicrovmDefaultCache(a->dir_) : vm.cache;
  a->qemu_argv_ = MicrovmQemuArgv(config, vm, *host, a->dir_, a->cache_);

  DaemonConfig service = config;
  service.command = {runner,
                     "--control",
                     a->dir_ + "/" + kMicrovmControl,
                     "--pid-file",
                     a->dir_ + "/" + kMicrovmQemuPid,
                     "--"};
  service.command.insert(service.command.end(), a->qemu_argv_.begin(), a->qemu_argv_.end());
  // What the guest does is set inside it; the host only runs the runner. The guest says when
  // the daemon is ready (it probes the port from inside: through qemu's forwarding a connect
  // succeeds even with nothing listening).
  service.env.clear();
  service.working_dir.clear();
  service.user.clear();
  service.group.clear();
  service.pid_file.clear();
  service.resources = framework::ResourceConfig{};
  service.health = framework::HealthConfig{};
  service.health.readiness.kind = framework::ProbeConfig::Kind::kNotify;
  service.health.readiness.grace_period = config.health.readiness.grace_period;
  // The stop signal reaches the runner, which hands it to the daemon inside.
  auto inner = NativeAdapter::Create(config, service);
  if (!inner.ok()) return inner.error();
  a->inner_ = std::move(*inner);
  return a;
}

MicrovmAdapter::~MicrovmAdapter() { (void)Remove(); }

Result<void> MicrovmAdapter::Start() { return inner_->Start(); }

Result<void> MicrovmAdapter::Stop() { return inner_->Stop(); }

Result<void> MicrovmAdapter::Kill(int signal) {
  auto st = inner_->Status();
  if (!st.ok()) return st.error();
  if (st->pid <= 0) return NoVm(config_.name);
  sigval value{};
  value.sival_int = signal;
  if (::sigqueue(st->pid, SIGRTMIN, value) != 0) return NoVm(config_.name);
  return {};
}

pid_t MicrovmAdapter::QemuPid() {
  auto st = inner_->Status();
  if (!st.ok() || st->pid <= 0) return -1;
  auto text = framework::ReadFileLimited(dir_ + "/" + kMicrovmQemuPid, 64);
  if (!text.ok()) return -1;
  pid_t pid = static_cast<pid_t>(std::atoi(text->c_str()));
  // Only the runner's own child: a stale file of an earlier boot names a pid that may be
  // anybody's by now.
  if (pid <= 0 || ParentOf(pid) != st->pid) return -1;
  return pid;
}

Result<void> MicrovmAdapter::PowerLoss() {
  pid_t qemu = QemuPid();
  if (qemu <= 0) return NoVm(config_.name);
  power_cuts_.fetch_add(1);
  if (::kill(qemu, SIGKILL) != 0) {
    power_cuts_.fetch_sub(1);
    return NoVm(config_.name);
  }
  return {};
}

Result<framework::ServiceStatus> MicrovmAdapter::Status() {
  auto st = inner_->Status();
  if (!st.ok()) return st;
  if (st->pid > 0) st->pid = QemuPid();
  return st;
}

void MicrovmAdapter::Subscribe(EventCallback callback) {
  inner_->Subscribe([this, cb = std::move(callback)](const framework::ServiceEvent& ev) {
    framework::ServiceEvent e = ev;
    // A power loss is the runner's death by SIGKILL after qemu's: say so.
    if (e.type == framework::EventType::kExited && e.exit && e.exit->signaled &&
        e.exit->signal == SIGKILL && power_cuts_.load() > 0) {
      power_cuts_.fetch_sub(1);
      e.detail = "power loss (qemu killed)";
    }
    cb(e);
  });
}

Result<void> MicrovmAdapter::Remove() {
  if (removed_) return {};
  removed_ = true;
  Result<void> stopped;
  if (inner_) {
    stopped = inner_->Stop();
    (void)inner_->Remove();
  }
  if (const char* keep = std::getenv("DUENDE_MICROVM_KEEP"); keep != nullptr && *keep == '1') {
    std::fprintf(stderr, "duende: kept the microVM directory %s (DUENDE_MICROVM_KEEP=1)\n",
                 dir_.c_str());
    return stopped;
  }
  if (!dir_.empty()) {
    auto undone = faults::Undo({"dir", {dir_}});
    if (!undone.ok()) (void)framework::RunCommand({"rm", "-rf", "--one-file-system", dir_});
    if (journal_ && ::access(dir_.c_str(), F_OK) != 0) journal_->Done(journal_id_);
  }
  return stopped;
}

}  // namespace duende::adapters
