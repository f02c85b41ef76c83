// Real qemu microVMs (TCG, Debian's kernel): kvd boots in its own VM, serves through the
// forwarded port, is killed inside the guest and comes back with its disk; a power loss
// (qemu SIGKILLed) loses what was written and not fsynced, and keeps what was; nothing of a
// VM survives its adapter, nor a harness killed by SIGKILL.
#include "duende/adapters/microvm_adapter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "duende/faults/undo_journal.h"
#include "duende/framework/clock.h"
#include "duende/framework/command.h"
#include "duende/framework/read_limits.h"
#include "duende/framework/temp_dir.h"
#include "test_util.h"

namespace duende::adapters {
namespace {

using framework::DaemonConfig;
using framework::EventType;
using testing::Alive;
using testing::Events;
using testing::Eventually;

constexpr auto kBoot = std::chrono::seconds(40);  // TCG boot is ~2 s; a loaded host is slower

uint16_t FreePort() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    return 0;
  }
  ::close(s);
  return ntohs(a.sin_port);
}

// One kvd request over TCP; "" when the connection failed.
std::string Ask(uint16_t port, const std::string& line) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string reply;
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string req = line + "\n";
    if (::write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char c;
      while (::read(s, &c, 1) == 1 && c != '\n') reply += c;
    }
  }
  ::close(s);
  return reply;
}

std::string SkipReason() {
  auto host = FindMicrovmHost({});
  if (!host.ok()) return host.error().Message();
  if (MicrovmInitPath().empty() || MicrovmRunnerPath().empty()) return "guest init not built";
  return "";
}

DaemonConfig Kvd(uint16_t port, const std::string& sync) {
  DaemonConfig c;
  c.name = "vm-kvd";
  c.command = {KVD_PATH, "--port", std::to_string(port), "--data-dir", "/data/kvd", "--sync", sync};
  c.health.readiness.kind = framework::ProbeConfig::Kind::kTcp;
  c.health.readiness.address = "127.0.0.1:" + std::to_string(port);
  c.health.readiness.grace_period = std::chrono::seconds(60);
  c.restart.policy = framework::RestartConfig::Policy::kAlways;
  c.restart.backoff.initial = std::chrono::milliseconds(20);
  c.restart.backoff.jitter = framework::BackoffConfig::Jitter::kNone;
  c.shutdown_timeout = std::chrono::seconds(5);
  return c;
}

struct Vm {
  Events events;  // outlives the adapter, whose Remove() still reports events
  std::unique_ptr<MicrovmAdapter> adapter;
  uint16_t port = 0;
  std::string Console() {
    auto t = framework::ReadFileLimited(adapter->console_log(), 1 << 20);
    return t.ok() ? *t : "(no console log)";
  }
  std::string Why() { return events.Dump() + "--- console:\n" + Console(); }
};

// Boots kvd (--sync `sync`) in a VM and waits until it is ready.
void Boot(Vm* vm, const std::string& sync) {
  vm->port = FreePort();
  ASSERT_NE(vm->port, 0);
  auto a = MicrovmAdapter::Create(Kvd(vm->port, sync), AdapterOptions{});
  ASSERT_TRUE(a.ok()) << a.error().Message();
  vm->adapter = std::move(*a);
  vm->adapter->Subscribe(vm->events.Callback());
  ASSERT_TRUE(vm->adapter->Start().ok());
  ASSERT_TRUE(vm->events.WaitFor(EventType::kReady, 1, kBoot)) << vm->Why();
}

void WaitReadyAgain(Vm* vm, size_t n) {
  ASSERT_TRUE(vm->events.WaitFor(EventType::kReady, n, kBoot)) << vm->Why();
}

TEST(MicrovmAdapterTest, KvdInItsVmServesIsKilledInsideAndComesBackWithItsDisk) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  Vm vm;
  ASSERT_NO_FATAL_FAILURE(Boot(&vm, "fsync"));
  const std::string dir = vm.adapter->dir();
  // Root's VM files are nobody else's to read or replace.
  struct stat mode {};
  ASSERT_EQ(::lstat(dir.c_str(), &mode), 0);
  EXPECT_TRUE(S_ISDIR(mode.st_mode));
  EXPECT_EQ(mode.st_mode & 077, 0u) << std::oct << mode.st_mode;
  EXPECT_EQ(mode.st_uid, ::geteuid());
  for (const char* f : {kMicrovmInitramfs, kMicrovmDisk}) {
    ASSERT_EQ(::lstat((dir + "/" + f).c_str(), &mode), 0) << f;
    EXPECT_EQ(mode.st_mode & 077, 0u) << f << " " << std::oct << mode.st_mode;
  }
  EXPECT_EQ(Ask(vm.port, "SET color blue"), "OK") << vm.Why();

  // Status().pid is qemu on the host.
  auto st = vm.adapter->Status();
  ASSERT_TRUE(st.ok());
  const pid_t qemu = st->pid;
  ASSERT_GT(qemu, 0);
  auto comm = framework::ReadFileLimited("/proc/" + std::to_string(qemu) + "/comm", 64);
  ASSERT_TRUE(comm.ok());
  EXPECT_EQ(comm->rfind("qemu-system", 0), 0u) << *comm;
  EXPECT_TRUE(st->ready);

  // SIGKILL reaches kvd inside the guest: its death (not qemu's) is the exit reported.
  ASSERT_TRUE(vm.adapter->Kill(SIGKILL).ok());
  ASSERT_TRUE(vm.events.WaitFor(EventType::kExited, 1, kBoot)) << vm.Why();
  EXPECT_TRUE(vm.events.SawDeathBy(SIGKILL)) << vm.Why();
  ASSERT_NO_FATAL_FAILURE(WaitReadyAgain(&vm, 2));
  EXPECT_FALSE(Alive(qemu)) << "each restart is a fresh boot";
  EXPECT_EQ(Ask(vm.port, "GET color"), "VALUE blue") << vm.Why();

  // An exit code travels too: SIGTERM makes kvd exit 0 after a graceful stop.
  ASSERT_TRUE(vm.adapter->Kill(SIGTERM).ok());
  ASSERT_TRUE(vm.events.WaitFor(EventType::kExited, 2, kBoot)) << vm.Why();
  auto events = vm.events.All();
  const framework::ServiceEvent* last_exit = nullptr;
  for (const auto& e : events) {
    if (e.type == EventType::kExited) last_exit = &e;
  }
  ASSERT_NE(last_exit, nullptr);
  ASSERT_TRUE(last_exit->exit.has_value());
  EXPECT_FALSE(last_exit->exit->signaled) << vm.Why();
  EXPECT_EQ(last_exit->exit->code, 0) << vm.Why();

  // Remove: no qemu, no directory.
  ASSERT_NO_FATAL_FAILURE(WaitReadyAgain(&vm, 3));
  const pid_t qemu3 = vm.adapter->QemuPid();
  ASSERT_GT(qemu3, 0);
  ASSERT_TRUE(vm.adapter->Remove().ok());
  EXPECT_TRUE(Eventually([&] { return !Alive(qemu3); }, std::chrono::seconds(5)));
  EXPECT_NE(::access(dir.c_str(), F_OK), 0) << dir << " survived Remove()";
}

// A signal sent while the VM still boots is not lost: it waits for the guest and reaches the
// daemon once it runs.
TEST(MicrovmAdapterTest, ASignalSentDuringBootReachesTheDaemon) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  Vm vm;
  vm.port = FreePort();
  auto a = MicrovmAdapter::Create(Kvd(vm.port, "fsync"), AdapterOptions{});
  ASSERT_TRUE(a.ok()) << a.error().Message();
  vm.adapter = std::move(*a);
  vm.adapter->Subscribe(vm.events.Callback());
  ASSERT_TRUE(vm.adapter->Start().ok());
  ASSERT_TRUE(Eventually([&] { return vm.adapter->QemuPid() > 0; }, std::chrono::seconds(10)));
  ASSERT_TRUE(vm.adapter->Kill(SIGKILL).ok());
  ASSERT_TRUE(vm.events.WaitFor(EventType::kExited, 1, kBoot)) << vm.Why();
  EXPECT_TRUE(vm.events.SawDeathBy(SIGKILL)) << vm.Why();
  ASSERT_NO_FATAL_FAILURE(WaitReadyAgain(&vm, 1));
  EXPECT_EQ(Ask(vm.port, "PING"), "PONG") << vm.Why();
}

// kvd --sync none: write(2) without fsync. A process kill loses nothing (the guest syncs
// before it powers off, as a running kernel would write its page cache out); a power loss
// loses the acknowledged write.
TEST(MicrovmAdapterTest, PowerLossLosesWritesNeverFsyncedButNotAProcessKill) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  Vm vm;
  ASSERT_NO_FATAL_FAILURE(Boot(&vm, "none"));
  ASSERT_EQ(Ask(vm.port, "SET survives-kill 1"), "OK") << vm.Why();
  ASSERT_TRUE(vm.adapter->Kill(SIGKILL).ok());
  ASSERT_NO_FATAL_FAILURE(WaitReadyAgain(&vm, 2));
  EXPECT_EQ(Ask(vm.port, "GET survives-kill"), "VALUE 1") << vm.Why();

  ASSERT_EQ(Ask(vm.port, "SET lost-on-power-loss 2"), "OK") << vm.Why();
  const pid_t qemu = vm.adapter->QemuPid();
  ASSERT_TRUE(vm.adapter->PowerLoss().ok());
  ASSERT_NO_FATAL_FAILURE(WaitReadyAgain(&vm, 3));
  EXPECT_FALSE(Alive(qemu));
  EXPECT_EQ(Ask(vm.port, "GET lost-on-power-loss"), "NOTFOUND")
      << "an acknowledged write that was never fsynced survived a power loss: the data "
         "disk's cache mode ("
      << vm.adapter->cache() << ") kept the guest's page cache\n"
      << vm.Why();
  EXPECT_EQ(Ask(vm.port, "GET survives-kill"), "VALUE 1") << vm.Why();
  bool reported = false;
  for (const auto& e : vm.events.All()) {
    reported |= e.type == EventType::kExited && e.detail.find("power loss") != std::string::npos;
  }
  EXPECT_TRUE(reported) << vm.Why();
}

// The power is cut while one client streams SETs to kvd (--sync `sync`); after the reboot,
// counts the SETs answered OK before the cut that are gone. The adapter-level twin of the
// self-test pair scenarios/self-test/power-loss-{planted,healthy}.toml.
void PowerLossUnderLoad(const std::string& sync, int* acked_out, int* lost_out) {
  Vm vm;
  ASSERT_NO_FATAL_FAILURE(Boot(&vm, sync));
  std::atomic<int> acked{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(vm.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{3, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      for (int i = 0; !stop.load(); ++i) {
        std::string req = "SET k" + std::to_string(i) + " v" + std::to_string(i) + "\n";
        if (::write(s, req.data(), req.size()) != static_cast<ssize_t>(req.size())) break;
        std::string reply;
        char c;
        while (::read(s, &c, 1) == 1 && c != '\n') reply += c;
        if (reply != "OK") break;
        acked.store(i + 1);
      }
    }
    ::close(s);
  });
  const bool flowing = Eventually([&] { return acked.load() >= 30; }, std::chrono::seconds(20));
  const bool cut = flowing && vm.adapter->PowerLoss().ok();
  stop.store(true);
  writer.join();
  ASSERT_TRUE(flowing) << vm.Why();
  ASSERT_TRUE(cut) << vm.Why();
  const int n = acked.load();
  ASSERT_NO_FATAL_FAILURE(WaitReadyAgain(&vm, 2));
  int lost = 0;
  for (int i = 0; i < n; ++i) {
    lost += Ask(vm.port, "GET k" + std::to_string(i)) != "VALUE v" + std::to_string(i);
  }
  *acked_out = n;
  *lost_out = lost;
}

TEST(MicrovmAdapterTest, PowerLossUnderLoadKeepsEveryFsyncedAcknowledgedWrite) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  int acked = 0, lost = -1;
  ASSERT_NO_FATAL_FAILURE(PowerLossUnderLoad("fsync", &acked, &lost));
  EXPECT_EQ(lost, 0) << lost << " of " << acked << " acknowledged writes lost";
}

TEST(MicrovmAdapterTest, PowerLossUnderLoadLosesAcknowledgedWritesThatWereNeverFsynced) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  int acked = 0, lost = -1;
  ASSERT_NO_FATAL_FAILURE(PowerLossUnderLoad("none", &acked, &lost));
  EXPECT_GT(lost, 0) << "kvd --sync none lost none of " << acked
                     << " acknowledged writes on power loss: the platform cannot tell a "
                        "write(2) from an fsync";
}

// The harness dies by SIGKILL with a VM running: qemu goes with it (parent-death signals),
// and the journal lets `duende doctor` remove the VM's directory.
TEST(MicrovmAdapterTest, NothingSurvivesAHarnessKilledBySigkill) {
  if (auto why = SkipReason(); !why.empty()) GTEST_SKIP() << why;
  auto journal_dir = framework::MakePrivateTempDir("duende-vmjournal");
  ASSERT_TRUE(journal_dir.ok());
  ::setenv("DUENDE_JOURNAL_DIR", journal_dir->c_str(), 1);
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  const uint16_t port = FreePort();
  // The orphaned runner and qemu come to us, not to a PID 1 that may never reap them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t harness = ::fork();
  ASSERT_GE(harness, 0);
  if (harness == 0) {
    ::close(pipefd[0]);
    auto a = MicrovmAdapter::Create(Kvd(port, "fsync"), AdapterOptions{});
    if (!a.ok()) ::_exit(1);
    Events events;
    (*a)->Subscribe(events.Callback());
    if (!(*a)->Start().ok() || !events.WaitFor(EventType::kReady, 1, kBoot)) ::_exit(2);
    std::string msg = (*a)->dir() + "\n" + std::to_string((*a)->QemuPid()) + "\n";
    (void)!::write(pipefd[1], msg.data(), msg.size());
    ::pause();
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) {
    msg.append(buf, static_cast<size_t>(n));
    if (std::count(msg.begin(), msg.end(), '\n') >= 2) break;
  }
  ::close(pipefd[0]);
  ::kill(harness, SIGKILL);
  int status = 0;
  ::waitpid(harness, &status, 0);
  ::unsetenv("DUENDE_JOURNAL_DIR");
  ASSERT_EQ(std::count(msg.begin(), msg.end(), '\n'), 2) << "the child harness did not boot";
  const std::string dir = msg.substr(0, msg.find('\n'));
  const pid_t qemu = std::atoi(msg.c_str() + msg.find('\n') + 1);
  ASSERT_GT(qemu, 0);
  const uint64_t qemu_start = faults::ProcessStartTime(qemu);
  // Gone or a zombie nobody reaps (this machine's PID 1 may not): either way, not running.
  EXPECT_TRUE(Eventually([&] { return !faults::SameProcessAlive(qemu, qemu_start); },
                         std::chrono::seconds(10)))
      << "qemu " << qemu << " outlived the harness";
  while (::waitpid(-1, &status, WNOHANG) > 0) {
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_EQ(::access(dir.c_str(), F_OK), 0) << "the directory is left for doctor";
  faults::HealReport heal = faults::HealLeftovers(*journal_dir);
  EXPECT_TRUE(heal.errors.empty()) << heal.errors.front();
  EXPECT_NE(::access(dir.c_str(), F_OK), 0) << dir << " survived duende doctor";
  (void)framework::RunCommand({"rm", "-rf", *journal_dir});
}

TEST(MicrovmAdapterTest, PlatformsWithoutPowerRefusePowerLoss) {
  DaemonConfig c;
  c.name = "native-sleeper";
  c.command = {"/bin/sleep", "1000"};
  auto a = MakeAdapter(Platform::kNative, c);
  ASSERT_TRUE(a.ok());
  auto r = (*a)->PowerLoss();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::operation_not_supported);
  EXPECT_NE(r.error().Message().find("platform native has no power to cut"), std::string::npos)
      << r.error().Message();
  EXPECT_NE(r.error().Message().find("microvm"), std::string::npos);
}

TEST(MicrovmAdapterTest, MissingQemuOrKernelNamesTheDebianPackage) {
  MicrovmRenderOptions o;
  o.qemu = "/nonexistent/qemu-system-x86_64";
  auto r = FindMicrovmHost(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::no_such_file_or_directory);
  EXPECT_NE(r.error().Message().find("apt-get install qemu-system-x86"), std::string::npos)
      << r.error().Message();
  if (!framework::FindExecutable("qemu-system-x86_64").ok()) return;
  o = {};
  o.kernel = "/nonexistent/vmlinuz-1";
  r = FindMicrovmHost(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().Message().find("apt-get install linux-image-amd64"), std::string::npos)
      << r.error().Message();
  o = {};
  o.accel = "xen";
  EXPECT_FALSE(FindMicrovmHost(o).ok());
}

}  // namespace
}  // namespace duende::adapters
