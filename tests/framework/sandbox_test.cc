// [sandbox] applied by Spawn() to a real child (duende-fixture-sandbox-probe): each forbidden
// act is tried with and without the sandbox, so every assertion on a refusal has a twin that
// shows the same act succeeding unconfined. We run as root here (platform.md).
#include "duende/framework/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "duende/framework/process.h"
#include "support/temp_dir.h"

namespace duende::framework {
namespace {

struct ProbeRun {
  ExitStatus status;
  std::string out;
  /// /proc/PID/status of the probe, read while it slept (when asked for).
  std::map<std::string, std::string> proc_status;
};

std::map<std::string, std::string> ReadStatus(pid_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    size_t v = line.find_first_not_of(" \t", colon + 1);
    out[line.substr(0, colon)] = v == std::string::npos ? "" : line.substr(v);
  }
  return out;
}

// Runs the probe with `args` under `config` (run as `uid` when given). With `peek`, the probe
// sleeps first and its /proc status is read meanwhile.
ProbeRun Probe(const SandboxConfig& config, std::vector<std::string> args,
               std::optional<uid_t> uid = std::nullopt, bool peek = false) {
  ProbeRun run;
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]);
  UniqueFd w(fds[1]);
  SpawnOptions o;
  o.argv = {SANDBOX_PROBE_PATH};
  if (peek) args.insert(args.begin(), {"sleep", "400"});
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.stdout_fd = w.get();
  if (uid) {
    o.uid = *uid;
    o.gid = *uid;
  }
  auto prepared = PrepareSandbox(config, uid.has_value() && *uid != 0);
  EXPECT_TRUE(prepared.ok()) << prepared.error().Message();
  if (!prepared.ok()) return run;
  o.sandbox = &*prepared;
  auto child = Spawn(o);
  EXPECT_TRUE(child.ok()) << child.error().Message();
  if (!child.ok()) return run;
  w.Reset();
  if (peek) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    run.proc_status = ReadStatus(child->pid);
  }
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(r.get(), buf, sizeof buf)) > 0) run.out.append(buf, static_cast<size_t>(n));
  auto st = WaitExit(child->pidfd.get());
  EXPECT_TRUE(st.ok());
  if (st.ok()) run.status = *st;
  return run;
}

bool Has(const ProbeRun& run, const std::string& line) {
  return run.out.find(line + "\n") != std::string::npos;
}

std::string CapHex(std::initializer_list<int> caps) {
  uint64_t v = 0;
  for (int c : caps) v |= uint64_t{1} << c;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

TEST(SandboxTest, ReadOnlyPathRefusesWritesWithErofsOnlyInsideTheSandbox) {
  testing::TempDir dir("sandbox");
  const std::string file = dir / "f";
  SandboxConfig plain;
  ProbeRun free = Probe(plain, {"write", file});
  EXPECT_TRUE(Has(free, "write " + file + ": ok")) << free.out;

  SandboxConfig ro;
  ro.read_only_paths = {dir.path()};
  ProbeRun confined = Probe(ro, {"write", file});
  EXPECT_TRUE(Has(confined, "write " + file + ": EROFS")) << confined.out;
  EXPECT_TRUE(confined.status.success()) << confined.status.ToString();
  // The read-only mount lived in the child's namespace only: ours is still writable.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
}

TEST(SandboxTest, SubmountsOfAReadOnlyPathAreReadOnlyToo) {
  // A tmpfs under the read-only directory, mounted in a private namespace of a forked child so
  // that the host's mount table never changes.
  testing::TempDir dir("sandbox");
  const std::string sub = dir / "sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("tmpfs", sub.c_str(), "tmpfs", MS_NOSUID, "mode=0700") != 0) {
      _exit(10);
    }
    SandboxConfig ro;
    ro.read_only_paths = {dir.path()};
    ProbeRun run = Probe(ro, {"write", sub + "/f"});
    ProbeRun free = Probe(SandboxConfig{}, {"write", sub + "/f"});
    _exit(Has(run, "write " + sub + "/f: EROFS") && Has(free, "write " + sub + "/f: ok") ? 0 : 11);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: could not set up the submount, 11: not read-only";
}

TEST(SandboxTest, PrivateTmpIsEmptyAndStaysPrivate) {
  char marker[] = "/tmp/duende-sandbox-marker-XXXXXX";  // the host's /tmp is not empty
  ASSERT_NE(::mkdtemp(marker), nullptr);
  ProbeRun free = Probe(SandboxConfig{}, {"ls", "/tmp"});
  ::rmdir(marker);
  EXPECT_FALSE(Has(free, "ls /tmp: 0")) << free.out;
  SandboxConfig c;
  c.private_tmp = true;
  // Written only inside the private /tmp (O_EXCL, and a name of ours should it leak).
  const std::string inside = std::string(marker) + "-inside";
  ProbeRun run = Probe(c, {"ls", "/tmp", "write", inside, "ls", "/var/tmp"});
  EXPECT_TRUE(Has(run, "ls /tmp: 0")) << run.out;
  EXPECT_TRUE(Has(run, "write " + inside + ": ok")) << run.out;
  EXPECT_TRUE(Has(run, "ls /var/tmp: 0")) << run.out;
  EXPECT_NE(::access(inside.c_str(), F_OK), 0) << "the child's /tmp file reached the host";
}

TEST(SandboxTest, NetworkNoneReachesOnlyItsOwnLoopback) {
  // A listener on the host's loopback: reachable unconfined, refused from the namespace
  // (whose loopback is up but has nobody listening).
  int lsn = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lsn, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lsn, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lsn, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(lsn, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  UniqueFd guard(lsn);

  ProbeRun free = Probe(SandboxConfig{}, {"connect", target});
  EXPECT_TRUE(Has(free, "connect " + target + ": ok")) << free.out;

  SandboxConfig c;
  c.network = SandboxConfig::Network::kNone;
  // 198.18.0.1 (testing range): no route at all inside the namespace.
  ProbeRun run = Probe(c, {"connect", target, "connect", "198.18.0.1:9"});
  EXPECT_TRUE(Has(run, "connect " + target + ": ECONNREFUSED")) << run.out;
  EXPECT_TRUE(Has(run, "connect 198.18.0.1:9: ENETUNREACH")) << run.out;
}

TEST(SandboxTest, CapabilitiesKeepOnlyTheListedSetAsRoot) {
  SandboxConfig c;
  c.capabilities = std::vector<std::string>{"CAP_NET_BIND_SERVICE"};
  ProbeRun run = Probe(c, {"raise", std::to_string(CAP_SYS_ADMIN)}, std::nullopt, true);
  EXPECT_EQ(run.proc_status["CapEff"], CapHex({CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(run.proc_status["CapPrm"], CapHex({CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(run.proc_status["CapBnd"], CapHex({CAP_NET_BIND_SERVICE}));
  EXPECT_TRUE(Has(run, "raise 21: EPERM")) << run.out;
  // The same raise succeeds for an unconfined root child.
  ProbeRun free = Probe(SandboxConfig{}, {"raise", std::to_string(CAP_SYS_ADMIN)});
  EXPECT_TRUE(Has(free, "raise 21: ok")) << free.out;
}

TEST(SandboxTest, CapabilitiesSurviveTheSwitchToAnotherUser) {
  SandboxConfig c;
  c.capabilities = std::vector<std::string>{"CAP_NET_BIND_SERVICE"};
  c.no_new_privileges = true;
  ProbeRun run = Probe(c, {"raise", std::to_string(CAP_SYS_ADMIN)}, 65534, true);
  EXPECT_EQ(run.proc_status["Uid"].substr(0, 5), "65534");
  EXPECT_EQ(run.proc_status["CapEff"], CapHex({CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(run.proc_status["CapAmb"], CapHex({CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(run.proc_status["CapBnd"], CapHex({CAP_NET_BIND_SERVICE}));
  EXPECT_EQ(run.proc_status["NoNewPrivs"], "1");
  EXPECT_TRUE(Has(run, "raise 21: EPERM")) << run.out;
  // Without the sandbox, the same switch keeps nothing.
  ProbeRun plain = Probe(SandboxConfig{}, {}, 65534, true);
  EXPECT_EQ(plain.proc_status["CapEff"], CapHex({}));
}

TEST(SandboxTest, NoCapabilitiesEmptiesEveryCapabilitySet) {
  SandboxConfig c;
  c.capabilities = std::vector<std::string>{};
  ProbeRun run = Probe(c, {"write", "/proc/sys/kernel/ns_last_pid"}, std::nullopt, true);
  EXPECT_EQ(run.proc_status["CapEff"], CapHex({}));
  EXPECT_EQ(run.proc_status["CapBnd"], CapHex({}));
  EXPECT_EQ(run.proc_status["Uid"].substr(0, 1), "0");
}

TEST(SandboxTest, SeccompDenyListFailsTheCallWithTheConfiguredErrno) {
  SandboxConfig c;
  c.no_new_privileges = true;
  c.seccomp.mode = SeccompConfig::Mode::kDeny;
  c.seccomp.syscalls = {"uname", "ptrace"};
  c.seccomp.errno_value = EPERM;
  ProbeRun run = Probe(c, {"syscall", "uname", "syscall", "getcwd"}, std::nullopt, true);
  EXPECT_EQ(run.proc_status["NoNewPrivs"], "1");
  EXPECT_EQ(run.proc_status["Seccomp"], "2");
  EXPECT_TRUE(Has(run, "syscall uname: EPERM")) << run.out;
  EXPECT_TRUE(Has(run, "syscall getcwd: ok")) << run.out;
  ProbeRun free = Probe(SandboxConfig{}, {"syscall", "uname"}, std::nullopt, true);
  EXPECT_TRUE(Has(free, "syscall uname: ok")) << free.out;
  EXPECT_EQ(free.proc_status["Seccomp"], "0");
  EXPECT_EQ(free.proc_status["NoNewPrivs"], "0");

  c.seccomp.errno_value = EACCES;
  ProbeRun other = Probe(c, {"syscall", "uname"});
  EXPECT_TRUE(Has(other, "syscall uname: EACCES")) << other.out;
}

TEST(SandboxTest, SeccompKillActionKillsWithSigsys) {
  SandboxConfig c;
  c.seccomp.mode = SeccompConfig::Mode::kDeny;
  c.seccomp.syscalls = {"uname"};
  c.seccomp.action = SeccompConfig::Action::kKill;
  ProbeRun run = Probe(c, {"syscall", "getcwd", "syscall", "uname", "syscall", "getcwd"});
  EXPECT_TRUE(run.status.signaled) << run.status.ToString();
  EXPECT_EQ(run.status.signal, SIGSYS) << run.status.ToString();
  EXPECT_TRUE(Has(run, "syscall getcwd: ok")) << run.out;
  EXPECT_EQ(run.out.find("syscall uname"), std::string::npos) << run.out;
}

TEST(SandboxTest, SeccompAllowListRefusesEverythingElse) {
  // Everything this architecture has, minus uname: the probe still loads and runs.
  SandboxConfig c;
  c.seccomp.mode = SeccompConfig::Mode::kAllow;
  for (int nr = 0; nr < 1024; ++nr) {
    char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == nullptr) continue;
    if (std::string(name) != "uname") c.seccomp.syscalls.emplace_back(name);
    std::free(name);
  }
  ProbeRun run = Probe(c, {"syscall", "uname", "syscall", "getcwd"}, std::nullopt, true);
  EXPECT_TRUE(run.status.success()) << run.status.ToString() << run.out;
  EXPECT_TRUE(Has(run, "syscall uname: EPERM")) << run.out;
  EXPECT_TRUE(Has(run, "syscall getcwd: ok")) << run.out;
  // Root keeps CAP_SYS_ADMIN here, so the filter does not imply no_new_privs.
  EXPECT_EQ(run.proc_status["Seccomp"], "2");
  EXPECT_EQ(run.proc_status["NoNewPrivs"], "0");
}

TEST(SandboxTest, SeccompImpliesNoNewPrivilegesWithoutCapSysAdmin) {
  SandboxConfig c;
  c.seccomp.mode = SeccompConfig::Mode::kDeny;
  c.seccomp.syscalls = {"uname"};
  ProbeRun run = Probe(c, {"syscall", "uname"}, 65534, true);
  EXPECT_TRUE(run.status.success()) << run.status.ToString();
  EXPECT_EQ(run.proc_status["NoNewPrivs"], "1");
  EXPECT_EQ(run.proc_status["Seccomp"], "2");
  EXPECT_TRUE(Has(run, "syscall uname: EPERM")) << run.out;
}

TEST(SandboxTest, AFailedSandboxStepIsASpawnErrorNamingTheStep) {
  SandboxConfig c;
  c.read_only_paths = {"/nonexistent/duende-sandbox-path"};  // past the config's check
  auto prepared = PrepareSandbox(c, false);
  ASSERT_TRUE(prepared.ok()) << prepared.error().Message();
  SpawnOptions o;
  o.argv = {SANDBOX_PROBE_PATH};
  o.sandbox = &*prepared;
  auto child = Spawn(o);
  ASSERT_FALSE(child.ok());
  EXPECT_EQ(child.error().code.value(), ENOENT);
  EXPECT_NE(child.error().Message().find("sandbox: read-only bind mount"), std::string::npos)
      << child.error().Message();
}

// A run variable of a scenario target that expanded to a relative path ("{env.UNSET}/data") is
// refused before any mount: a bind of a relative path would follow the working directory.
TEST(SandboxTest, ARelativeReadOnlyPathIsRefusedWhenPrepared) {
  SandboxConfig c;
  c.read_only_paths = {"data"};
  auto prepared = PrepareSandbox(c, false);
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.error().code, std::errc::invalid_argument);
  EXPECT_NE(prepared.error().Message().find("read-only path \"data\" in [sandbox] is not absolute"),
            std::string::npos)
      << prepared.error().Message();
}

}  // namespace
}  // namespace duende::framework
