// kind = "daemon" probes: a framework daemon's HealthCheck() reaches the Supervisor over the
// health channel (health_channel.h). Real processes: duende-fixture-healthflip (unhealthy
// while a flag file exists), and programs not built on the framework.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "duende/framework/config.h"
#include "duende/framework/health_channel.h"
#include "duende/framework/process.h"
#include "duende/framework/supervisor.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
using testing::Eventually;

// The Supervisor on its own thread, with the details of its health-failed events.
class Running {
 public:
  Running() {
    SupervisorOptions o;
    o.seed = 20261206;
    auto s = Supervisor::Create(o);
    EXPECT_TRUE(s.ok()) << s.error().Message();
    sup_ = std::move(*s);
    sup_->Subscribe([this](const ServiceEvent& e) {
      if (e.type != EventType::kHealthFailed) return;
      std::lock_guard lock(mu_);
      failures_.push_back(e.service + ": " + e.detail);
    });
    thread_ = std::thread([this] { EXPECT_TRUE(sup_->Run().ok()); });
  }
  ~Running() {
    sup_->Shutdown();
    thread_.join();
  }
  Supervisor& operator*() { return *sup_; }
  Supervisor* operator->() { return sup_.get(); }
  /// "service: detail" of each health failure.
  std::vector<std::string> Failures() {
    std::lock_guard lock(mu_);
    return failures_;
  }
  bool FailedService(const std::string& name) {
    for (const auto& f : Failures()) {
      if (f.rfind(name + ": ", 0) == 0) return true;
    }
    return false;
  }

 private:
  std::unique_ptr<Supervisor> sup_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> failures_;
};

DaemonConfig Watched(const std::string& name, std::vector<std::string> command) {
  DaemonConfig c;
  c.name = name;
  c.command = std::move(command);
  c.shutdown_timeout = std::chrono::seconds(2);
  c.restart.policy = RestartConfig::Policy::kAlways;
  c.restart.backoff.jitter = BackoffConfig::Jitter::kNone;
  c.restart.backoff.initial = milliseconds(10);
  c.restart.start_limit_burst = 100;
  c.health.liveness.kind = ProbeConfig::Kind::kDaemon;
  c.health.liveness.interval = milliseconds(50);
  c.health.liveness.timeout = milliseconds(500);
  c.health.liveness.failure_threshold = 3;
  return c;
}

// A healthflip daemon with its config in `dir`, unhealthy while dir/sick exists.
DaemonConfig Flip(const testing::TempDir& dir, const std::string& name,
                  std::vector<std::string> extra = {}) {
  std::ofstream(dir / "flip.toml") << "[app]\nunhealthy_file = \"" << (dir / "sick") << "\"\n";
  std::vector<std::string> cmd = {HEALTHFLIP_PATH, "--config", dir / "flip.toml"};
  for (auto& e : extra) cmd.push_back(e);
  return Watched(name, cmd);
}

TEST(DaemonHealthTest, UnhealthyFrameworkDaemonIsRestartedAndHealthyOneIsNot) {
  testing::TempDir dir("daemon-health");
  Running sup;
  ASSERT_TRUE(sup->Add(Flip(dir, "flip"), true).ok());
  ASSERT_TRUE(Eventually([&] { return sup->Status("flip")->state == ServiceState::kRunning; },
                         milliseconds(10000)));
  const pid_t first = sup->Status("flip")->pid;
  // Healthy: a dozen probes answered, nothing restarted.
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_TRUE(sup.Failures().empty()) << sup.Failures()[0];
  EXPECT_EQ(sup->Status("flip")->spawns, 1u);
  EXPECT_EQ(sup->Status("flip")->pid, first);

  std::ofstream(dir / "sick") << "disk on fire\n";
  ASSERT_TRUE(Eventually([&] { return !sup.Failures().empty(); }, milliseconds(10000)));
  ::unlink((dir / "sick").c_str());
  const std::string why = sup.Failures()[0];
  EXPECT_NE(why.find("flip: liveness probe failed 3 times in a row: daemon health: unhealthy "
                     "(flag: unhealthy: disk on fire)"),
            std::string::npos)
      << why;
  ASSERT_TRUE(Eventually([&] { return sup->Status("flip")->spawns >= 2; }, milliseconds(10000)));
  EXPECT_NE(sup->Status("flip")->pid, first);
  EXPECT_NE(::kill(first, 0), 0);  // the unhealthy one is gone
}

TEST(DaemonHealthTest, ChannelIsCloseOnExecInTheDaemonAndNotInherited) {
  testing::TempDir dir("daemon-health");
  Running sup;
  ASSERT_TRUE(sup->Add(Flip(dir, "flip", {"--spawn-child"}), true).ok());
  ASSERT_TRUE(Eventually([&] { return sup->Status("flip")->state == ServiceState::kRunning; },
                         milliseconds(10000)));
  const pid_t pid = sup->Status("flip")->pid;
  // fd 3 is the socket, marked close-on-exec by the framework once taken (at its start-up,
  // which may still be running).
  auto fd3_flags = [&] {
    std::ifstream info("/proc/" + std::to_string(pid) + "/fdinfo/3");
    std::string line;
    while (std::getline(info, line)) {
      if (line.rfind("flags:", 0) == 0) return std::stoul(line.substr(6), nullptr, 8);
    }
    return 0ul;
  };
  EXPECT_TRUE(Eventually([&] { return (fd3_flags() & O_CLOEXEC) != 0; }, milliseconds(5000)))
      << std::oct << fd3_flags();
  char target[64] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(pid) + "/fd/3").c_str(), target, 63), 0);
  EXPECT_EQ(std::string(target).rfind("socket:", 0), 0u) << target;
  // Its `sleep` child holds no socket at all.
  pid_t child = -1;
  ASSERT_TRUE(Eventually(
      [&] {
        std::ifstream kids("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                           "/children");
        return static_cast<bool>(kids >> child);
      },
      milliseconds(5000)));
  for (int fd = 0; fd < 64; ++fd) {
    char t[64] = {};
    if (::readlink(("/proc/" + std::to_string(child) + "/fd/" + std::to_string(fd)).c_str(), t,
                   63) > 0) {
      EXPECT_EQ(std::string(t).rfind("socket:", 0), std::string::npos) << "fd " << fd << " " << t;
    }
  }
}

TEST(DaemonHealthTest, ProgramNotOnTheFrameworkFailsWithTheReason) {
  Running sup;
  // Keeps fd 3 open and never answers: the probes time out.
  ASSERT_TRUE(sup->Add(Watched("mute", {"/bin/sleep", "1000"}), true).ok());
  // Closes fd 3 at once.
  ASSERT_TRUE(
      sup->Add(Watched("closer", {"/bin/sh", "-c", "exec 3>&-; exec sleep 1000"}), true).ok());
  ASSERT_TRUE(Eventually([&] { return sup.FailedService("mute") && sup.FailedService("closer"); },
                         milliseconds(15000)));
  std::string all;
  for (const auto& f : sup.Failures()) all += f + "\n";
  EXPECT_NE(all.find("mute: liveness probe failed 3 times in a row: timed out after 500.0ms "
                     "with no report on the health channel"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("closer: liveness probe failed 3 times in a row: the program closed its "
                     "health channel"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("kind = \"daemon\" needs a program built on duende::framework"),
            std::string::npos)
      << all;
}

TEST(DaemonHealthTest, ReadinessOfKindDaemonWaitsForTheFirstAnswer) {
  testing::TempDir dir("daemon-health");
  Running sup;
  DaemonConfig c = Flip(dir, "flip");
  c.health.readiness = c.health.liveness;
  c.health.readiness.grace_period = std::chrono::seconds(10);
  ASSERT_TRUE(sup->Add(c, true).ok());
  ASSERT_TRUE(Eventually([&] { return sup->Status("flip")->ready; }, milliseconds(10000)));
  // A program that never answers never becomes ready.
  DaemonConfig mute = Watched("mute", {"/bin/sleep", "1000"});
  mute.health.readiness = mute.health.liveness;
  mute.health.readiness.grace_period = std::chrono::seconds(10);
  ASSERT_TRUE(sup->Add(mute, true).ok());
  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_FALSE(sup->Status("mute")->ready);
}

// The same through `duende supervise`: its log shows the health failure with the daemon's
// reason, and the service's log shows a second start.
TEST(DaemonHealthTest, DuendeSuperviseRestartsAnUnhealthyDaemon) {
  testing::TempDir dir("daemon-health-cli");
  std::ofstream(dir / "flip.toml") << "[app]\nunhealthy_file = \"" << (dir / "sick") << "\"\n";
  std::ofstream(dir / "services.toml")
      << "[supervisor]\nlog_dir = \"" << (dir / "logs") << "\"\n[[service]]\nname = \"flip\"\n"
      << "command = [\"" << HEALTHFLIP_PATH << "\", \"--config\", \"" << (dir / "flip.toml")
      << "\"]\n[service.health.liveness]\nkind = \"daemon\"\ninterval = \"50ms\"\n"
      << "timeout = \"500ms\"\nfailure_threshold = 3\n";
  UniqueFd out(
      ::open((dir / "supervise.out").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(out);
  SpawnOptions o;
  o.argv = {DUENDE_PATH, "supervise", dir / "services.toml"};
  o.stdout_fd = out.get();
  o.stderr_fd = out.get();
  auto sup = Spawn(o);
  ASSERT_TRUE(sup.ok()) << sup.error().Message();
  auto starts = [&] {
    std::ifstream log(dir / "logs/flip.log");
    std::string line;
    int n = 0;
    while (std::getline(log, line)) n += line.find("info: ready") != std::string::npos;
    return n;
  };
  auto output = [&] {
    std::ifstream in(dir / "supervise.out");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_TRUE(Eventually([&] { return starts() == 1; }, milliseconds(10000))) << output();
  std::this_thread::sleep_for(milliseconds(700));
  EXPECT_EQ(starts(), 1) << output();  // healthy: never restarted
  std::ofstream(dir / "sick") << "queue stuck\n";
  EXPECT_TRUE(Eventually([&] { return starts() >= 2; }, milliseconds(10000))) << output();
  ::unlink((dir / "sick").c_str());
  EXPECT_NE(output().find("daemon health: unhealthy (flag: unhealthy: queue stuck)"),
            std::string::npos)
      << output();
  ASSERT_TRUE(SignalPidfd(sup->pidfd.get(), SIGTERM).ok());
  auto status = WaitExit(sup->pidfd.get());
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->success()) << status->ToString();
}

TEST(HealthChannelTest, RequestsAndRepliesRoundTripAndAreBounded) {
  HealthReport sick;
  sick.Add({"wal", HealthState::kUnhealthy, "fsync: EIO", {}});
  auto reply = HealthReply(HealthRequest(42), sick);
  ASSERT_TRUE(reply.has_value());
  auto a = ParseHealthReply(*reply);
  ASSERT_TRUE(a.ok()) << a.error().Message();
  EXPECT_EQ(a->seq, 42u);
  EXPECT_EQ(a->state, HealthState::kUnhealthy);
  EXPECT_NE(a->text.find("fsync: EIO"), std::string::npos) << a->text;
  // A huge report is cut to the bound, still parseable.
  HealthReport big;
  big.Add({"x", HealthState::kDegraded, std::string(5000, 'x'), {}});
  reply = HealthReply(HealthRequest(7), big);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->size(), kHealthReplyMax);
  EXPECT_EQ(ParseHealthReply(*reply)->state, HealthState::kDegraded);
  // The largest sequence number (20 digits) is one.
  reply = HealthReply("health 18446744073709551615", sick);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->rfind("18446744073709551615 unhealthy", 0), 0u) << *reply;
  // Not requests: no reply.
  for (const std::string& bad : std::vector<std::string>{
           "", "health", "health x", "health 1 2", "HEALTH 1", "health 99999999999999999999999",
           "health " + std::string(100, '1')}) {
    EXPECT_FALSE(HealthReply(bad, big).has_value()) << bad;
  }
  for (const std::string& bad :
       std::vector<std::string>{"", "1", "1 fine x", "x healthy y", std::string(2000, '1')}) {
    EXPECT_FALSE(ParseHealthReply(bad).ok()) << bad;
  }
}

TEST(HealthChannelTest, DaemonSideRefusesWhatIsNotAChannel) {
  auto take = [](const std::string& value) {
    ::setenv(kHealthFdEnv, value.c_str(), 1);
    auto r = TakeHealthChannelFromEnvironment();
    EXPECT_EQ(std::getenv(kHealthFdEnv), nullptr);  // removed either way
    return r;
  };
  ::unsetenv(kHealthFdEnv);
  auto none = TakeHealthChannelFromEnvironment();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_NE(take("1").error().Message().find("not a descriptor number"), std::string::npos);
  EXPECT_NE(take("x3").error().Message().find("not a descriptor number"), std::string::npos);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  EXPECT_NE(take(std::to_string(p[0])).error().Message().find("not an open socket"),
            std::string::npos);
  ::close(p[0]);
  ::close(p[1]);
  int s[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
  EXPECT_NE(take(std::to_string(s[0])).error().Message().find("SOCK_SEQPACKET"), std::string::npos);
  ::close(s[0]);
  ::close(s[1]);
  // A real channel is taken, and the request it carries is answered.
  auto ch = CreateHealthChannel();
  ASSERT_TRUE(ch.ok());
  const int theirs = ch->second.get();
  auto got = take(std::to_string(theirs));
  ASSERT_TRUE(got.ok()) << got.error().Message();
  ASSERT_TRUE(got->has_value());
  (void)ch->second.Release();  // now owned by `got`
  const std::string req = HealthRequest(5);
  ASSERT_EQ(::send(ch->first.get(), req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  EXPECT_TRUE(AnswerHealthRequests((*got)->get(), [] { return HealthReport{}; }));
  char buf[kHealthReplyMax];
  ssize_t n = ::recv(ch->first.get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).rfind("5 healthy", 0), 0u);
  ch->first.Reset();  // the supervisor went away
  EXPECT_FALSE(AnswerHealthRequests((*got)->get(), [] { return HealthReport{}; }));
}

// A flood of requests cannot hold the daemon's control thread: one call answers 16, the next
// call the rest.
TEST(HealthChannelTest, OneCallAnswersAtMostSixteenRequests) {
  auto ch = CreateHealthChannel();
  ASSERT_TRUE(ch.ok());
  for (uint64_t i = 0; i < 20; ++i) {
    const std::string req = HealthRequest(i);
    ASSERT_EQ(::send(ch->first.get(), req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  }
  auto replies = [&] {
    int n = 0;
    char buf[kHealthReplyMax];
    while (::recv(ch->first.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) ++n;
    return n;
  };
  EXPECT_TRUE(AnswerHealthRequests(ch->second.get(), [] { return HealthReport{}; }));
  EXPECT_EQ(replies(), 16);
  EXPECT_TRUE(AnswerHealthRequests(ch->second.get(), [] { return HealthReport{}; }));
  EXPECT_EQ(replies(), 4);
}

TEST(HealthChannelTest, ConfigReadsKindDaemon) {
  auto c = ParseDaemonConfig(
      "name = \"d\"\ncommand = [\"/bin/true\"]\n[health.liveness]\nkind = \"daemon\"\n"
      "[health.readiness]\nkind = \"daemon\"\n",
      "d.toml");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->health.liveness.kind, ProbeConfig::Kind::kDaemon);
  EXPECT_EQ(c->health.readiness.kind, ProbeConfig::Kind::kDaemon);
  EXPECT_STREQ(ProbeKindName(ProbeConfig::Kind::kDaemon), "daemon");
  auto bad = ParseDaemonConfig(
      "name = \"d\"\ncommand = [\"/bin/true\"]\n[health.liveness]\nkind = \"daemon\"\n"
      "address = \"127.0.0.1:1\"\n",
      "d.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().Message().find("d.toml:5:1"), std::string::npos) << bad.error().Message();
}

}  // namespace
}  // namespace duende::framework
