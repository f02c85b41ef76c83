// duende-fixture-kvd as a real process: protocol, durability under kill -9 (and the unsafe
// twin that must lose writes), WAL faults through libfiu, reload, pid file race, concurrency.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
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
    Proc kvd = Proc::Start({fiu_run, "-x", "-c",
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
    for (const char* suffix : {".in", ".out"}) {
      std::filesystem::remove("/tmp/fiu-ctrl-" + std::to_string(kvd.pid()) + suffix);
    }
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
