// The wasi platform for real: kvd compiled to wasm32-wasi (duende-fixture-kvd.wasm) under
// Node's node:wasi, reached over TCP through the adapter's bridge. SIGKILL under write load
// loses no acknowledged write and the module restarts; SIGSTOP stops replies and SIGCONT
// brings them back; a module past its memory_max traps and the event says so; concurrent
// clients get their own replies.
#include "duende/adapters/wasi_adapter.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "duende/framework/unique_fd.h"
#include "support/as_nobody.h"
#include "support/files.h"
#include "support/line_client.h"
#include "support/temp_dir.h"
#include "test_util.h"

namespace duende::adapters {
namespace {

using duende::testing::FreePort;
using duende::testing::LineClient;
using framework::DaemonConfig;
using framework::EventType;
using framework::UniqueFd;
using testing::Alive;
using testing::Events;
using testing::Eventually;

const std::string kModule = DUENDE_KVD_WASM;

class WasiAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kModule.empty()) {
      GTEST_SKIP() << "duende-fixture-kvd.wasm was not built (no wasm32-wasi toolchain: "
                   << "install clang-14 lld-14 wasi-libc libc++-14-dev-wasm32 "
                   << "libc++abi-14-dev-wasm32 libclang-rt-14-dev-wasm32)";
    }
    if (auto r = CheckWasiRuntime(); !r.ok()) GTEST_SKIP() << r.error().Message();
    port_ = FreePort();
    ASSERT_GT(port_, 0);
    data_ = dir_ / "data";
    ASSERT_EQ(::mkdir(data_.c_str(), 0700), 0);
  }

  DaemonConfig KvdConfig(std::vector<std::string> extra = {}) {
    DaemonConfig c;
    c.name = "kvd-wasm";
    c.command = {kModule, "--data-dir", data_};
    c.command.insert(c.command.end(), extra.begin(), extra.end());
    c.working_dir = data_;
    c.restart.policy = framework::RestartConfig::Policy::kAlways;
    c.restart.backoff.initial = std::chrono::milliseconds(20);
    c.restart.backoff.jitter = framework::BackoffConfig::Jitter::kNone;
    c.restart.backoff.immediate_first_restart = true;
    c.shutdown_timeout = std::chrono::seconds(3);
    return c;
  }

  AdapterOptions Options() {
    AdapterOptions o;
    o.render.wasi.address = "127.0.0.1:" + std::to_string(port_);
    return o;
  }

  std::unique_ptr<WasiAdapter> StartAdapter(const DaemonConfig& c, Events* events) {
    auto a = WasiAdapter::Create(c, Options());
    EXPECT_TRUE(a.ok()) << a.error().Message();
    if (!a.ok()) return nullptr;
    (*a)->Subscribe(events->Callback());
    EXPECT_TRUE((*a)->Start().ok());
    return std::move(*a);
  }

  bool WaitServing(std::chrono::milliseconds timeout = std::chrono::milliseconds(15000)) {
    return Eventually(
        [&] {
          LineClient c;
          return c.Connect(port_) && c.Ask("PING", std::chrono::milliseconds(1000)) == "PONG";
        },
        timeout);
  }

  duende::testing::TempDir dir_{"wasi"};
  std::string data_;
  int port_ = 0;
};

TEST_F(WasiAdapterTest, SigkillUnderWriteLoadLosesNoAcknowledgedWriteAndRestarts) {
  Events events;
  auto a = StartAdapter(KvdConfig(), &events);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitServing()) << events.Dump();
  auto before = a->Status();
  ASSERT_TRUE(before.ok());
  const pid_t first = before->pid;
  ASSERT_TRUE(Alive(first));

  // Four writers, each on its own connection, unique keys; a write counts when OK came back.
  std::mutex mu;
  std::map<std::string, std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      LineClient c;
      bool connected = false;
      for (int i = 0; !stop.load(); ++i) {
        if (!connected) connected = c.Connect(port_);
        if (!connected) {
          ::usleep(5000);
          continue;
        }
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(i);
        std::string reply = c.Ask("SET " + key + " v" + std::to_string(i));
        if (reply == "OK") {
          std::lock_guard<std::mutex> lock(mu);
          acked[key] = "v" + std::to_string(i);
        } else {
          ++errors;
          connected = false;
        }
      }
    });
  }
  ASSERT_TRUE(Eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acked.size() >= 100;
      },
      std::chrono::milliseconds(10000)));
  ASSERT_TRUE(a->Kill(SIGKILL).ok());
  ASSERT_TRUE(events.WaitFor(EventType::kSpawned, 2, std::chrono::seconds(10))) << events.Dump();
  // Writes go on against the restarted module.
  size_t at_kill = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    at_kill = acked.size();
  }
  ASSERT_TRUE(Eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return acked.size() >= at_kill + 50;
      },
      std::chrono::milliseconds(15000)))
      << events.Dump();
  stop.store(true);
  for (auto& t : writers) t.join();

  EXPECT_TRUE(events.SawDeathBy(SIGKILL)) << events.Dump();
  // `ready` means the module answers: once per start, after its spawn.
  ASSERT_TRUE(events.WaitFor(EventType::kReady, 2, std::chrono::seconds(10))) << events.Dump();
  int64_t spawned_ns = 0;
  for (const auto& e : events.All()) {
    if (e.type == EventType::kSpawned) spawned_ns = e.ts_ns;
    if (e.type == EventType::kReady) {
      EXPECT_GT(e.ts_ns - spawned_ns, 10'000'000) << "ready before node could load the module";
    }
  }
  EXPECT_FALSE(Alive(first));
  auto after = a->Status();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->pid, first);
  EXPECT_TRUE(Alive(after->pid));
  EXPECT_GE(errors.load(), 1) << "the kill should have cut at least one request";

  // Every acknowledged write is there, read back over TCP from the restarted module.
  LineClient reader;
  ASSERT_TRUE(reader.Connect(port_));
  size_t missing = 0;
  for (const auto& [key, value] : acked) {
    if (reader.Ask("GET " + key) != "VALUE " + value) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged writes";
  // The WAL lives in the preopened directory, on the host.
  EXPECT_GE(duende::testing::ReadFile(data_ + "/kvd.wal").size(), acked.size() * 10);
  ASSERT_TRUE(a->Remove().ok());
  EXPECT_FALSE(Alive(after->pid));
  EXPECT_FALSE(duende::testing::CanConnect(port_));
}

TEST_F(WasiAdapterTest, PauseStopsRepliesAndResumeBringsThemBack) {
  Events events;
  auto a = StartAdapter(KvdConfig(), &events);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitServing()) << events.Dump();
  LineClient c;
  ASSERT_TRUE(c.Connect(port_));
  ASSERT_EQ(c.Ask("SET paused-key 1"), "OK");

  ASSERT_TRUE(a->Kill(SIGSTOP).ok());
  ASSERT_TRUE(c.Send("SET paused-key 2\nGET paused-key\n"));
  EXPECT_EQ(c.ReadLine(std::chrono::milliseconds(500)), "") << "a stopped module answered";
  // A new connection is accepted (the bridge listens) but is not answered either.
  LineClient other;
  ASSERT_TRUE(other.Connect(port_));
  EXPECT_EQ(other.Ask("PING", std::chrono::milliseconds(300)), "");

  ASSERT_TRUE(a->Kill(SIGCONT).ok());
  EXPECT_EQ(c.ReadLine(std::chrono::milliseconds(5000)), "OK");
  EXPECT_EQ(c.ReadLine(std::chrono::milliseconds(5000)), "VALUE 2");
  EXPECT_EQ(other.ReadLine(std::chrono::milliseconds(5000)), "PONG");
  EXPECT_EQ(events.CountOf(EventType::kExited), 0u) << events.Dump();
}

TEST_F(WasiAdapterTest, ConcurrentClientsGetTheirOwnReplies) {
  Events events;
  auto a = StartAdapter(KvdConfig(), &events);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitServing()) << events.Dump();
  LineClient setup;
  ASSERT_TRUE(setup.Connect(port_));
  constexpr int kClients = 8;
  constexpr int kRequests = 150;
  for (int k = 0; k < kClients; ++k) {
    ASSERT_EQ(setup.Ask("SET owner" + std::to_string(k) + " client" + std::to_string(k)), "OK");
  }
  // Every client pipelines all its requests in one go, all at the same time: the bridge
  // interleaves them on the module's stdin; each must get back only its own answers.
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kClients; ++k) {
    threads.emplace_back([&, k] {
      LineClient c;
      if (!c.Connect(port_)) {
        wrong += kRequests;
        return;
      }
      std::string batch;
      for (int i = 0; i < kRequests; ++i) batch += "GET owner" + std::to_string(k) + "\n";
      c.Send(batch);
      for (int i = 0; i < kRequests; ++i) {
        if (c.ReadLine(std::chrono::milliseconds(5000)) != "VALUE client" + std::to_string(k)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // A request line longer than the limit is refused and its connection closed.
  LineClient big;
  ASSERT_TRUE(big.Connect(port_));
  big.Send(std::string((1u << 20) + 4096, 'x'));  // past kvd's 1 MiB line limit
  EXPECT_NE(big.ReadLine(std::chrono::milliseconds(5000)).find("ERR line too long"),
            std::string::npos);
  EXPECT_EQ(setup.Ask("PING"), "PONG");
}

TEST_F(WasiAdapterTest, MemoryMaxExceededIsReportedAsTheModulesTrap) {
  // Each SET keeps 64 KiB more; 4 MiB of linear memory runs out after a few dozen.
  DaemonConfig c = KvdConfig({"--grow-on-set", "65536"});
  c.resources.memory_max = 4u << 20;
  c.restart.policy = framework::RestartConfig::Policy::kNever;
  Events events;
  auto a = StartAdapter(c, &events);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitServing()) << events.Dump();
  EXPECT_NE(std::find(a->command().begin(), a->command().end(), "64"), a->command().end());
  LineClient client;
  ASSERT_TRUE(client.Connect(port_));
  int ok = 0;
  for (int i = 0; i < 200; ++i) {
    std::string reply = client.Ask("SET grow" + std::to_string(i) + " x");
    if (reply != "OK") break;
    ++ok;
  }
  EXPECT_GT(ok, 5);
  EXPECT_LT(ok, 64) << "4 MiB cannot hold 64 blocks of 64 KiB";
  ASSERT_TRUE(events.WaitFor(EventType::kExited, 1, std::chrono::seconds(10))) << events.Dump();
  framework::ServiceEvent exited;
  for (const auto& e : events.All()) {
    if (e.type == EventType::kExited) exited = e;
  }
  ASSERT_TRUE(exited.exit.has_value());
  EXPECT_FALSE(exited.exit->signaled);
  EXPECT_EQ(exited.exit->code, kWasiTrapExitCode);
  EXPECT_NE(exited.detail.find("wasm trap: RuntimeError"), std::string::npos) << exited.detail;
  EXPECT_NE(exited.detail.find("of a 4.0 MiB limit, reached"), std::string::npos) << exited.detail;
  EXPECT_EQ(a->LastTrap(), exited.detail);
  EXPECT_FALSE(a->Listening());
  EXPECT_FALSE(duende::testing::CanConnect(port_));
}

TEST_F(WasiAdapterTest, RunsAsTheConfiguredUserAndOthersCannotReachTheModulesStdin) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the module as nobody";
  // nobody must reach its data directory: open the test's directory for traversal only.
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0711), 0);
  ASSERT_EQ(::chown(data_.c_str(), duende::testing::kNobody, duende::testing::kNobody), 0);
  DaemonConfig c = KvdConfig();
  c.user = "nobody";
  Events events;
  auto a = StartAdapter(c, &events);
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(WaitServing()) << events.Dump();
  LineClient client;
  ASSERT_TRUE(client.Connect(port_));
  ASSERT_EQ(client.Ask("SET owner nobody"), "OK");  // the WAL is writable by the module
  auto st = a->Status();
  ASSERT_TRUE(st.ok());
  std::string status = duende::testing::ReadFile("/proc/" + std::to_string(st->pid) + "/status");
  EXPECT_NE(status.find("\nUid:\t65534\t"), std::string::npos) << status;

  // Another unprivileged user (nobody's files are the daemon's, so play a different uid)
  // cannot write requests into the module's stdin or replace the runner.
  const std::string in = a->run_dir() + "/in";
  const std::string runner = a->run_dir() + "/duende-wasi-run.mjs";
  const std::string before = duende::testing::ReadFile(runner);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65533) != 0 || ::setuid(65533) != 0) _exit(120);
    int fd = ::open(in.c_str(), O_WRONLY | O_NONBLOCK);
    if (fd >= 0 || errno != EACCES) _exit(1);
    fd = ::open(runner.c_str(), O_WRONLY | O_TRUNC);
    if (fd >= 0 || errno != EACCES) _exit(2);
    _exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << wstatus;
  EXPECT_EQ(duende::testing::ReadFile(runner), before);
  EXPECT_EQ(client.Ask("GET owner"), "VALUE nobody");
}

TEST(WasiRenderTest, InvocationCarriesLimitPreopensEnvAndModule) {
  DaemonConfig c;
  c.name = "kvd";
  c.command = {"/opt/kvd.wasm", "--data-dir", "/var/lib/kvd"};
  c.working_dir = "/var/lib/kvd";
  c.env = {{"MODE", "a b"}};
  c.resources.memory_max = (16u << 20) + 100;
  WasiRenderOptions o;
  o.address = "127.0.0.1:7000";
  auto argv = WasiCommand(c, o);
  ASSERT_TRUE(argv.ok()) << argv.error().Message();
  std::vector<std::string> want = {"node",
                                   "--no-warnings",
                                   "$RUN_DIR/duende-wasi-run.mjs",
                                   "--stdin",
                                   "$RUN_DIR/in",
                                   "--stdout",
                                   "$RUN_DIR/out",
                                   "--trap",
                                   "$RUN_DIR/trap",
                                   "--memory-max-pages",
                                   "256",
                                   "--dir",
                                   "/var/lib/kvd=/var/lib/kvd",
                                   "--env",
                                   "MODE=a b",
                                   "--",
                                   "/opt/kvd.wasm",
                                   "--data-dir",
                                   "/var/lib/kvd"};
  EXPECT_EQ(*argv, want);
  auto text = RenderWasiInvocation(c, o);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("bridges 127.0.0.1:7000"), std::string::npos) << *text;
  EXPECT_NE(text->find("'MODE=a b'"), std::string::npos) << *text;
  auto t = TranslateForWasi(c);
  EXPECT_EQ(*t.config.resources.memory_max, 16u << 20);

  c.resources.memory_max = 1000;
  auto tiny = WasiCommand(c, o);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.error().Message().find("64 KiB pages"), std::string::npos);
  o.dirs = {"nohost"};
  c.resources.memory_max.reset();
  auto bad = WasiCommand(c, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("GUEST=HOST"), std::string::npos);
}

TEST(WasiRenderTest, AddressComesFromTheOptionsOrAProbeAndMustBeLoopback) {
  DaemonConfig c;
  c.name = "kvd";
  c.command = {"/opt/kvd.wasm"};
  WasiRenderOptions o;
  auto none = WasiAddress(c, o);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().Message().find("127.0.0.1:PORT"), std::string::npos);
  c.health.readiness.kind = framework::ProbeConfig::Kind::kTcp;
  c.health.readiness.address = "127.0.0.1:7001";
  auto probe = WasiAddress(c, o);
  ASSERT_TRUE(probe.ok());
  EXPECT_EQ(ntohs(probe->sin_port), 7001);
  o.address = "198.18.0.1:80";
  auto remote = WasiAddress(c, o);
  ASSERT_FALSE(remote.ok());
  EXPECT_NE(remote.error().Message().find("loopback only"), std::string::npos);
}

TEST(WasiRuntimeTest, MissingNodeIsNamedWithItsDebianPackage) {
  auto r = CheckWasiRuntime("duende-no-such-node");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::no_such_file_or_directory);
  EXPECT_NE(r.error().Message().find("Debian package nodejs"), std::string::npos);
  DaemonConfig c;
  c.name = "kvd";
  c.command = {"/opt/kvd.wasm"};
  AdapterOptions o;
  o.render.wasi.node = "duende-no-such-node";
  o.render.wasi.address = "127.0.0.1:7000";
  auto a = MakeAdapter(Platform::kWasi, c, o);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().Message().find("nodejs"), std::string::npos);
}

}  // namespace
}  // namespace duende::adapters
