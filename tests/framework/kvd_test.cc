// duende-fixture-kvd as a real process: protocol, durability under kill -9 (and the unsafe
// twin that must lose writes), WAL faults through libfiu, reload, pid file race, concurrency.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_test_util.h"
#include "duende/framework/exit_code.h"
#include "duende/framework/pid_file.h"
#include "support/sanitizer_skip.h"

namespace duende::framework {
namespace {

using namespace std::chrono_literals;
using testing_util::KvClient;
using testing_util::Proc;
using testing_util::ReadFile;
using testing_util::TempDir;

Proc StartKvd(const TempDir& dir, std::vector<std::string> args,
              const std::string& err_name = "stderr", std::vector<std::string> env = {}) {
  args.insert(args.begin(), KVD_PATH);
  return Proc::Start(args, dir / err_name, std::move(env));
}

TEST(KvdTest, AnswersTheLineProtocol) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  KvClient c(port);
  EXPECT_EQ(c.Call("PING"), "PONG");
  EXPECT_EQ(c.Call("GET k"), "NOTFOUND");
  EXPECT_EQ(c.Call("SET k hello world"), "OK");
  EXPECT_EQ(c.Call("GET k"), "VALUE hello world");
  EXPECT_EQ(c.Call("SET k2"), "ERR usage: SET key value");
  EXPECT_EQ(c.Call("NOPE").rfind("ERR unknown command 'NOPE'", 0), 0u);
  EXPECT_EQ(c.Call("HEALTH").rfind("HEALTH healthy (wal: healthy; listener: healthy)", 0), 0u);
  std::string stats = c.Call("STATS");
  EXPECT_NE(stats.find("requests=8 errors=2"), std::string::npos) << stats;  // STATS counts too
  EXPECT_NE(stats.find("keys=1"), std::string::npos) << stats;
  kvd.Kill(SIGTERM);
  auto s = kvd.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 0) << kvd.Stderr();
}

// Writes `per_conn` keys on each of `conns` connections; returns the acknowledged ones.
std::vector<std::string> WriteKeys(int port, int conns, int per_conn) {
  std::vector<std::vector<std::string>> acked(static_cast<size_t>(conns));
  std::vector<std::thread> threads;
  for (int t = 0; t < conns; ++t) {
    threads.emplace_back([&, t] {
      KvClient c(port);
      for (int i = 0; i < per_conn; ++i) {
        std::string key = "k" + std::to_string(t) + "_" + std::to_string(i);
        if (c.Call("SET " + key + " v" + key) == "OK") acked[static_cast<size_t>(t)].push_back(key);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::string> all;
  for (auto& a : acked) all.insert(all.end(), a.begin(), a.end());
  return all;
}

size_t CountMissing(int port, const std::vector<std::string>& keys) {
  KvClient c(port);
  size_t missing = 0;
  for (const auto& k : keys) {
    if (c.Call("GET " + k) != "VALUE v" + k) ++missing;
  }
  return missing;
}

TEST(KvdTest, AcknowledgedWritesSurviveKill9) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path(), "--durable", "true"});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  std::vector<std::string> acked = WriteKeys(port, 8, 100);
  ASSERT_EQ(acked.size(), 800u);
  kvd.Kill(SIGKILL);
  auto s = kvd.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->signaled);

  Proc again = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()}, "stderr2");
  int port2 = again.WaitListening();
  ASSERT_NE(port2, 0) << again.Stderr();
  EXPECT_EQ(CountMissing(port2, acked), 0u);
  EXPECT_NE(again.Stderr().find("replayed 800 records, 800 keys"), std::string::npos)
      << again.Stderr();
}

// --sync none writes each record with write(2) before the OK and never fsyncs it: the page
// cache outlives a killed process, so kill -9 loses nothing (a power loss does: that half is
// proven in a VM, adapters_microvm_test).
TEST(KvdTest, SyncNoneKeepsAcknowledgedWritesAcrossKill9) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path(), "--sync", "none"});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  std::vector<std::string> acked = WriteKeys(port, 4, 100);
  ASSERT_EQ(acked.size(), 400u);
  kvd.Kill(SIGKILL);
  ASSERT_TRUE(kvd.Wait(10s));
  Proc again = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()}, "stderr2");
  int port2 = again.WaitListening();
  ASSERT_NE(port2, 0) << again.Stderr();
  EXPECT_EQ(CountMissing(port2, acked), 0u);
}

TEST(KvdTest, SyncTakesOnlyItsThreeModes) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path(), "--sync", "sometimes"});
  auto s = kvd.Wait(10s);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->signaled);
  EXPECT_NE(s->code, 0);
  EXPECT_NE(kvd.Stderr().find("--sync sometimes: give fsync, buffer or none"), std::string::npos)
      << kvd.Stderr();
}

// The twin that proves the durability test can fail: acknowledged writes still in the
// userspace buffer are gone after kill -9.
TEST(KvdTest, NonDurableModeLosesAcknowledgedWritesUnderKill9) {
  size_t lost = 0;
  for (int attempt = 0; attempt < 3 && lost == 0; ++attempt) {
    TempDir dir;
    Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path(), "--durable", "false"});
    int port = kvd.WaitListening();
    ASSERT_NE(port, 0) << kvd.Stderr();
    std::vector<std::string> acked = WriteKeys(port, 4, 200);
    ASSERT_EQ(acked.size(), 800u);
    kvd.Kill(SIGKILL);  // right after the last OK: the last 100ms are only in the buffer
    ASSERT_TRUE(kvd.Wait(10s));
    Proc again = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()}, "stderr2");
    int port2 = again.WaitListening();
    ASSERT_NE(port2, 0) << again.Stderr();
    lost = CountMissing(port2, acked);
  }
  EXPECT_GT(lost, 0u) << "durable = false lost nothing: the kill -9 durability test could not "
                         "tell a safe kvd from an unsafe one";
}

TEST(KvdTest, NonDurableModeKeepsEverythingOnGracefulStop) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path(), "--durable", "false"});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0);
  std::vector<std::string> acked = WriteKeys(port, 2, 100);
  kvd.Kill(SIGTERM);
  ASSERT_TRUE(kvd.Wait(10s));
  Proc again = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()}, "stderr2");
  int port2 = again.WaitListening();
  ASSERT_NE(port2, 0);
  EXPECT_EQ(CountMissing(port2, acked), 0u);
}

TEST(KvdTest, TornWalTailIsCutAndLaterWritesSurvive) {
  TempDir dir;
  {
    std::ofstream wal(dir / "kvd.wal");
    wal << "00000000 broken";  // a record cut mid-write, no newline, bad checksum
  }
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  EXPECT_NE(kvd.Stderr().find("cutting a torn tail of 15 bytes at offset 0"), std::string::npos)
      << kvd.Stderr();
  KvClient c(port);
  ASSERT_EQ(c.Call("SET a 1"), "OK");
  kvd.Kill(SIGKILL);
  ASSERT_TRUE(kvd.Wait(10s));
  Proc again = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()}, "stderr2");
  int port2 = again.WaitListening();
  ASSERT_NE(port2, 0);
  EXPECT_EQ(KvClient(port2).Call("GET a"), "VALUE 1");
}

// The kvd process traced by strace: its pid (strace's only child).
pid_t TracedChild(pid_t strace_pid) {
  for (int i = 0; i < 500; ++i) {
    std::string children = ReadFile("/proc/" + std::to_string(strace_pid) + "/task/" +
                                    std::to_string(strace_pid) + "/children");
    if (!children.empty()) return static_cast<pid_t>(std::atoi(children.c_str()));
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

// The fd returned by the first line of `trace` at or after `from` that holds every one of
// `parts` (an openat), and that line's index; {-1, npos} when none.
std::pair<int, size_t> OpenedFd(const std::vector<std::string>& trace, size_t from,
                                const std::vector<std::string>& parts) {
  for (size_t i = from; i < trace.size(); ++i) {
    bool all = true;
    for (const auto& p : parts) all = all && trace[i].find(p) != std::string::npos;
    size_t eq = trace[i].rfind(") = ");
    if (all && eq != std::string::npos) return {std::atoi(trace[i].c_str() + eq + 4), i};
  }
  return {-1, std::string::npos};
}

// Whether a line at or after `from` shows `call` (e.g. "fsync(9)") succeeding (strace pads
// the result: "fsync(9)          = 0"); its index, or npos.
size_t SucceededAt(const std::vector<std::string>& trace, size_t from, const std::string& call) {
  for (size_t i = from; i < trace.size(); ++i) {
    const size_t at = trace[i].find(" " + call);
    if (at == std::string::npos) continue;
    const size_t eq = trace[i].find(" = ", at);
    if (eq != std::string::npos && trace[i].compare(eq, 4, " = 0") == 0) return i;
  }
  return std::string::npos;
}

bool HasLineAfter(const std::vector<std::string>& trace, size_t from, const std::string& call) {
  return SucceededAt(trace, from, call) != std::string::npos;
}

// Runs kvd under strace until it listens, stops it with SIGTERM; returns the trace lines.
std::vector<std::string> TraceKvd(const TempDir& dir, const std::string& name) {
  const std::string out = dir / (name + ".strace");
  Proc p = Proc::Start({"/usr/bin/strace", "-f", "-qq", "-e", "trace=openat,fsync,ftruncate", "-o",
                        out, KVD_PATH, "--port", "0", "--data-dir", dir.path()},
                       dir / (name + ".stderr"));
  EXPECT_NE(p.WaitListening(), 0) << p.Stderr();
  const pid_t kvd = TracedChild(p.pid());
  EXPECT_GT(kvd, 0);
  if (kvd > 0) ::kill(kvd, SIGTERM);  // strace itself would detach and leave kvd running
  EXPECT_TRUE(p.Wait(10s));
  std::vector<std::string> lines;
  std::istringstream in(ReadFile(out));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A new WAL's directory entry, and the cut of a torn tail, are on disk before kvd answers: the
// directory is fsynced after the WAL is created and after a torn tail is truncated.
TEST(KvdTest, WalCreationAndTornTailCutAreFsyncedWithTheirDirectory) {
  if (::access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "strace is not installed";
  TempDir dir;
  auto first = TraceKvd(dir, "create");
  auto [wal, at] = OpenedFd(first, 0, {"/kvd.wal\"", "O_CREAT", "O_EXCL", "O_NOFOLLOW"});
  ASSERT_GE(wal, 0) << ::testing::PrintToString(first);
  auto [dirfd, dir_at] = OpenedFd(first, at, {"\"" + dir.path() + "\"", "O_DIRECTORY"});
  ASSERT_GE(dirfd, 0) << ::testing::PrintToString(first);
  EXPECT_TRUE(HasLineAfter(first, dir_at, "fsync(" + std::to_string(dirfd) + ")"))
      << ::testing::PrintToString(first);

  {
    std::ofstream tail(dir / "kvd.wal", std::ios::app);
    tail << "00000000 torn";
  }
  auto second = TraceKvd(dir, "cut");
  auto [wal2, open_at] = OpenedFd(second, 0, {"/kvd.wal\"", "O_RDWR"});
  ASSERT_GE(wal2, 0) << ::testing::PrintToString(second);
  EXPECT_EQ(OpenedFd(second, 0, {"/kvd.wal\"", "O_CREAT"}).first, -1) << "the WAL existed";
  const size_t cut = SucceededAt(second, open_at, "ftruncate(" + std::to_string(wal2) + ", 0)");
  ASSERT_NE(cut, std::string::npos) << ::testing::PrintToString(second);
  EXPECT_TRUE(HasLineAfter(second, cut, "fsync(" + std::to_string(wal2) + ")"));
  auto [dirfd2, dir2_at] = OpenedFd(second, cut, {"\"" + dir.path() + "\"", "O_DIRECTORY"});
  ASSERT_GE(dirfd2, 0) << ::testing::PrintToString(second);
  EXPECT_TRUE(HasLineAfter(second, dir2_at, "fsync(" + std::to_string(dirfd2) + ")"));
}

// A client that sends 100 MiB without a newline is answered "ERR line too long" and
// disconnected after about 1 MiB; kvd's peak memory stays far below what it was sent, and it
// keeps serving everyone else.
TEST(KvdTest, AClientSendingWithoutNewlineIsCutOffAndMemoryStaysBounded) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  constexpr size_t kTotal = 100u << 20;
  const std::string chunk(1 << 20, 'x');
  size_t sent = 0;
  int send_errno = 0;
  while (sent < kTotal) {
    ssize_t n = ::send(fd.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n < 0) {
      send_errno = errno;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  EXPECT_LT(sent, kTotal) << "kvd kept reading a line without end";
  EXPECT_TRUE(send_errno == EPIPE || send_errno == ECONNRESET) << std::strerror(send_errno);
  const std::string status = ReadFile("/proc/" + std::to_string(kvd.pid()) + "/status");
  const size_t hwm = status.find("VmHWM:");
  ASSERT_NE(hwm, std::string::npos);
  const long peak_kb = std::atol(status.c_str() + hwm + 6);
  EXPECT_LT(peak_kb, 64 * 1024) << "kvd's peak RSS: " << peak_kb << " kB after " << sent
                                << " bytes sent";
  EXPECT_EQ(KvClient(port).Call("PING"), "PONG");
  EXPECT_NE(kvd.Stderr().find("closing a connection that sent"), std::string::npos) << kvd.Stderr();
  kvd.Kill(SIGTERM);
  auto st = kvd.Wait(10s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->code, 0) << kvd.Stderr();
}

// libfiu makes the WAL's fsync()/write() fail: the SET is answered with the errno and not
// acknowledged, and the value is not there after a restart either.
TEST(KvdTest, FailedWalSyscallsAnswerErrAndAreNotApplied) {
  std::string fiu_run = "/usr/bin/fiu-run";
  if (!std::filesystem::exists(fiu_run)) GTEST_SKIP() << "fiu-run (fiu-utils) is not installed";
  // fiu-run puts libfiu's preloads ahead of the sanitizer runtime (duende's own launcher,
  // faults::PrepareFiuSpawn, puts the runtime first; FiuSanitizerTest covers that).
  DUENDE_SKIP_UNDER_SANITIZER("fiu-run preloads libfiu ahead of the sanitizer runtime");
  struct Case {
    std::string point;
    int err;
    std::string expect;
  };
  for (const Case& fault : {Case{"posix/io/sync/fsync", EIO, "ERR Input/output error"},
                            Case{"posix/io/rw/write", ENOSPC, "ERR No space left on device"}}) {
    SCOPED_TRACE(fault.point);
    TempDir dir;
    // An existing WAL: creating one fsyncs the directory, which the fault would fail at start.
    std::ofstream(dir / "kvd.wal").flush();
    Proc kvd = Proc::Start({fiu_run, "-x", "-f", dir / "fiu-ctrl", "-c",
                            "enable name=" + fault.point + ",failinfo=" + std::to_string(fault.err),
                            KVD_PATH, "--port", "0", "--data-dir", dir.path()},
                           dir / "stderr");
    int port = kvd.WaitListening();
    ASSERT_NE(port, 0) << kvd.Stderr();
    KvClient c(port);
    EXPECT_EQ(c.Call("SET lost 1"), fault.expect);
    EXPECT_EQ(c.Call("GET lost"), "NOTFOUND");
    EXPECT_EQ(c.Call("HEALTH").rfind("HEALTH degraded (wal: degraded: last WAL write failed", 0),
              0u);
    kvd.Kill(SIGKILL);
    ASSERT_TRUE(kvd.Wait(10s));
    Proc again = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()}, "stderr2");
    int port2 = again.WaitListening();
    ASSERT_NE(port2, 0);
    EXPECT_EQ(KvClient(port2).Call("GET lost"), "NOTFOUND");
  }
}

TEST(KvdTest, SighupReloadAppliesGoodConfigAndKeepsOldOnBadOne) {
  TempDir dir;
  std::string cfg = dir / "kvd.toml";
  std::ofstream(cfg) << "name = \"kvd\"\n[app]\ndurable = true\ndata_dir = \"" << dir.path()
                     << "\"\n";
  Proc kvd = StartKvd(dir, {"--config", cfg});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  KvClient c(port);
  EXPECT_NE(c.Call("INFO").find("durable=true keys=0 generation=0"), std::string::npos);

  std::ofstream(cfg, std::ios::trunc)
      << "name = \"kvd\"\n[app]\ndurable = false\ndata_dir = \"" << dir.path() << "\"\n";
  kvd.Kill(SIGHUP);
  std::string info;
  for (int i = 0; i < 100 && info.find("generation=1") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    info = c.Call("INFO");
  }
  EXPECT_NE(info.find("durable=false keys=0 generation=1"), std::string::npos) << info;

  std::ofstream(cfg, std::ios::trunc) << "name = \"kvd\"\n[app]\ndurabel = true\n";
  kvd.Kill(SIGHUP);
  std::string err;
  for (int i = 0; i < 100 && err.find("keeping the current config") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    err = kvd.Stderr();
  }
  EXPECT_NE(err.find(cfg + ":3:1: unknown key 'durabel' in [app]; did you mean 'durable'?"),
            std::string::npos)
      << err;
  EXPECT_NE(c.Call("INFO").find("durable=false keys=0 generation=1"), std::string::npos);
  EXPECT_EQ(c.Call("SET still works"), "OK");
}

TEST(KvdTest, TwoInstancesStartedAtOnceWithOnePidFileExactlyOneRuns) {
  TempDir dir;
  std::string cfg = dir / "kvd.toml";
  std::string pid_file = dir / "kvd.pid";
  std::ofstream(cfg) << "pid_file = \"" << pid_file << "\"\n[app]\ndata_dir = \"" << dir.path()
                     << "\"\n";
  for (int round = 0; round < 3; ++round) {
    Proc a = StartKvd(dir, {"--config", cfg}, "a");
    Proc b = StartKvd(dir, {"--config", cfg}, "b");
    // The loser exits at once with 3; the winner keeps running.
    std::optional<ExitStatus> sa, sb;
    for (int i = 0; i < 300 && !sa && !sb; ++i) {
      sa = a.Wait(5ms);
      sb = b.Wait(5ms);
    }
    // Give the winner a moment to show it does not exit too.
    if (sa) sb = b.Wait(200ms);
    if (sb) sa = a.Wait(200ms);
    ASSERT_TRUE(sa.has_value() != sb.has_value())
        << "round " << round << ": a " << (sa ? sa->ToString() : "runs") << ", b "
        << (sb ? sb->ToString() : "runs") << "\n"
        << a.Stderr() << b.Stderr();
    Proc& winner = sa ? b : a;
    Proc& loser = sa ? a : b;
    EXPECT_EQ((sa ? sa : sb)->code, kExitEnvironment);
    EXPECT_NE(loser.Stderr().find("already running as pid " + std::to_string(winner.pid())),
              std::string::npos)
        << loser.Stderr();
    EXPECT_NE(winner.WaitListening(), 0);
    EXPECT_EQ(PidFile::ReadPid(pid_file), winner.pid());
    winner.Kill(SIGTERM);
    ASSERT_TRUE(winner.Wait(10s));
    EXPECT_FALSE(std::filesystem::exists(pid_file));
  }
}

TEST(KvdTest, ServesFiftyConcurrentConnections) {
  TempDir dir;
  Proc kvd = StartKvd(dir, {"--port", "0", "--data-dir", dir.path()});
  int port = kvd.WaitListening();
  ASSERT_NE(port, 0);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 50; ++t) {
    threads.emplace_back([&, t] {
      KvClient c(port);
      for (int i = 0; i < 40; ++i) {
        std::string k = "c" + std::to_string(t) + "_" + std::to_string(i);
        if (c.Call("SET " + k + " " + std::to_string(i)) != "OK") ++wrong;
        if (c.Call("GET " + k) != "VALUE " + std::to_string(i)) ++wrong;
        if (c.Call("PING") != "PONG") ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  std::string stats = KvClient(port).Call("STATS");
  EXPECT_NE(stats.find("requests=6001 errors=0"), std::string::npos) << stats;  // + STATS
}

}  // namespace
}  // namespace duende::framework

namespace duende::framework {
namespace {

using namespace std::chrono_literals;
using testing_util::KvClient;
using testing_util::Proc;
using testing_util::TempDir;

// kvd's upstream link under [policy.breaker]: SETs are forwarded (the upstream holds them);
// with the upstream SIGSTOPped the first 3 answer at the 100 ms timeout and the open breaker
// refuses the next at once; once the upstream runs again, the first SET after open_for is the
// trial and closes the breaker.
TEST(KvdTest, UpstreamBreakerOpensOnTimeoutsAndClosesAfterATrial) {
  TempDir dir;
  Proc store =
      Proc::Start({KVD_PATH, "--port", "0", "--storage", "memory", "--data-dir", dir / "store"},
                  dir / "store.err");
  const int store_port = store.WaitListening();
  ASSERT_NE(store_port, 0) << store.Stderr();
  dir.Write("front.toml",
            "[policy.breaker]\nfailure_threshold = 3\nopen_for = \"300ms\"\njitter = 0\n");
  Proc kvd = Proc::Start(
      {KVD_PATH, "--config", dir / "front.toml", "--port", "0", "--storage", "memory", "--data-dir",
       dir / "front", "--upstream-port", std::to_string(store_port), "--upstream-timeout", "100ms"},
      dir / "front.err");
  const int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  KvClient c(port);
  EXPECT_EQ(c.Call("SET a 1"), "OK");
  EXPECT_EQ(KvClient(store_port).Call("GET a"), "VALUE 1") << "the SET was not forwarded";
  store.Kill(SIGSTOP);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.Call("SET b " + std::to_string(i)), "ERR upstream timeout");
  EXPECT_EQ(c.Call("SET b 9"), "ERR upstream unavailable (circuit open)");
  store.Kill(SIGCONT);
  std::string reply;
  for (int i = 0; i < 100 && (reply = c.Call("SET c 3")) != "OK"; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(reply, "OK");
  EXPECT_EQ(KvClient(store_port).Call("GET c"), "VALUE 3");
  kvd.Kill(SIGTERM);
  ASSERT_TRUE(kvd.Wait(10s));
  const std::string log = kvd.Stderr();
  EXPECT_NE(log.find("upstream breaker: open for 300.0ms"), std::string::npos) << log;
  EXPECT_NE(log.find("upstream breaker: closed"), std::string::npos) << log;
}

// [policy.rate_limit] answers BUSY at once past the burst; PING is never refused (probes).
TEST(KvdTest, RateLimitAnswersBusyPastTheBurst) {
  TempDir dir;
  dir.Write("kvd.toml", "[policy.rate_limit]\nrate = 0.001\nburst = 3\n");
  Proc kvd = Proc::Start({KVD_PATH, "--config", dir / "kvd.toml", "--port", "0", "--storage",
                          "memory", "--data-dir", dir.path()},
                         dir / "stderr");
  const int port = kvd.WaitListening();
  ASSERT_NE(port, 0) << kvd.Stderr();
  KvClient c(port);
  EXPECT_EQ(c.Call("SET a 1"), "OK");
  EXPECT_EQ(c.Call("GET a"), "VALUE 1");
  EXPECT_EQ(c.Call("SET b 2"), "OK");
  EXPECT_EQ(c.Call("SET c 3"), "BUSY rate limited");
  EXPECT_EQ(c.Call("GET a"), "BUSY rate limited");
  EXPECT_EQ(c.Call("PING"), "PONG");
}

}  // namespace
}  // namespace duende::framework
