// End-to-end (`duende run`): targets are tracked wholly (a cgroup per target), a daemon that
// forks is followed through its pid_file, readiness counts only the target's own listener, a
// taken port stops the run before anything starts, and two concurrent runs never heal each
// other's resources.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "duende/framework/proc.h"
#include "duende/framework/process.h"
#include "duende/model/event_log.h"
#include "support/temp_dir.h"

namespace duende::harness {
namespace {

namespace fs = std::filesystem;
using duende::testing::TempDir;
using model::Event;

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";
const std::string kFixtures = std::string(DUENDE_BINARY_DIR) + "/fixtures";

struct RunResult {
  int exit_code = -1;
  std::vector<Event> events;
  std::string output;
};

std::string Write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

RunResult ReadRun(int status, const std::string& events, const std::string& out) {
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  auto ev = model::ReadEventLog(events);
  if (ev.ok()) r.events = std::move(ev).value();
  return r;
}

// `duende run SCENARIO` with its own journal directory; the event log is read back.
RunResult RunDuende(const std::string& scenario, const std::string& journal_dir) {
  std::string events = scenario + ".events.jsonl";
  std::string out = scenario + ".out";
  std::string cmd = "DUENDE_JOURNAL_DIR=" + journal_dir + " DUENDE_FIXTURES_DIR=" + kFixtures +
                    " " + kDuende + " run --quiet " + scenario + " --events " + events + " >" +
                    out + " 2>&1";
  return ReadRun(std::system(cmd.c_str()), events, out);
}

std::vector<const Event*> OfType(const RunResult& r, const std::string& type) {
  std::vector<const Event*> out;
  for (const auto& e : r.events) {
    if (e.type == type) out.push_back(&e);
  }
  return out;
}

const Event* Check(const RunResult& r, const std::string& name) {
  for (const auto& e : r.events) {
    if (e.type == "check.result" && e.target == name) return &e;
  }
  return nullptr;
}

// Every pid the target's log or events name (spawned, main_pid, "master/worker pid N").
std::set<pid_t> PidsOfTarget(const RunResult& r) {
  std::set<pid_t> pids;
  std::regex pid_line("(master|worker) pid ([0-9]+)");
  for (const auto& e : r.events) {
    if (e.type == "target.spawned" || e.type == "target.main_pid") {
      pids.insert(e.data.value("pid", 0));
    }
    if (e.type == "target.log") {
      std::smatch m;
      std::string line = e.data.value("line", std::string());
      if (std::regex_search(line, m, pid_line)) pids.insert(std::stoi(m[2]));
    }
  }
  pids.erase(0);
  return pids;
}

// Still running and still a fixture (not a recycled pid).
bool FixtureAlive(pid_t pid) {
  auto p = framework::ReadProcessInfo(pid);
  return p.ok() && p->state != 'Z' && p->comm.rfind("duende-fixture", 0) == 0;
}

std::string ForkingScenario(const std::string& extra_args, bool pid_file,
                            const std::string& faults_and_checks) {
  std::string s = R"([scenario]
name = "forking"
duration = "3s"

[[target]]
name = "d"
command = ["duende-fixture-forking", "--port", "{port.d}", "--pid-file-delay", "30")" +
                  std::string(pid_file ? R"(, "--pid-file", "{run_dir}/d.pid")" : "") + extra_args +
                  R"(]
address = "127.0.0.1:{port.d}"
)" + (pid_file ? "pid_file = \"{run_dir}/d.pid\"\n" : "") +
                  R"([target.readiness]
kind = "tcp"
interval = "20ms"

[load]
rate = 100
timeout = "300ms"
request = "SET {key} {seq}"
expect = "OK"
)" + faults_and_checks;
  return s;
}

TEST(TrackingTest, KillingAForkingDaemonRestartsTheRealDaemonAndLeavesNothing) {
  TempDir d;
  auto r = RunDuende(Write(d.path() + "/s.toml", ForkingScenario("", true, R"(
[[fault]]
kind = "kill"
signal = "SIGKILL"
at = "1s"

[[check]]
kind = "restart_within"
within = "1s"

[[check]]
kind = "no_orphans"
)")),
                     d.path() + "/journal");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // The pid file named the daemon (not the process started, which exited 0) after each start.
  auto main_pids = OfType(r, "target.main_pid");
  ASSERT_EQ(main_pids.size(), 2u) << r.output;
  auto spawned = OfType(r, "target.spawned");
  ASSERT_EQ(spawned.size(), 2u) << r.output;
  const int daemon = main_pids[0]->data.value("pid", 0);
  EXPECT_NE(daemon, spawned[0]->data.value("pid", 0));
  // The kill hit the daemon, which died, and the next daemon is another process.
  auto fired = OfType(r, "fault.fired");
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_NE(fired[0]
                ->data.value("evidence", std::string())
                .find("sent SIGKILL to pid " + std::to_string(daemon)),
            std::string::npos)
      << fired[0]->data.dump();
  auto exited = OfType(r, "target.exited");
  ASSERT_FALSE(exited.empty());
  EXPECT_EQ(exited[0]->data.value("pid", 0), daemon);
  EXPECT_EQ(exited[0]->data.value("signal", 0), SIGKILL);
  EXPECT_NE(main_pids[1]->data.value("pid", 0), daemon);
  // It served again after the restart: the last second of load had no error.
  auto seconds = OfType(r, "load.second");
  ASSERT_FALSE(seconds.empty());
  EXPECT_GT(seconds.back()->data.value("ok", 0), 0) << seconds.back()->data.dump();
  EXPECT_EQ(seconds.back()->data.value("errors", 1), 0) << seconds.back()->data.dump();
  // Nothing of it survived: the killed daemon's workers, the second daemon, its workers.
  auto tracking = OfType(r, "target.tracking");
  ASSERT_EQ(tracking.size(), 1u);
  const auto pids = PidsOfTarget(r);
  EXPECT_GE(pids.size(), 8u) << "2 starts x (started, master, 2 workers)";
  for (pid_t p : pids) EXPECT_FALSE(FixtureAlive(p)) << "pid " << p << " survived";
  EXPECT_EQ(r.events.empty() ? "" : Check(r, "no_orphans")->data.value("verdict", ""), "PASS");
}

TEST(TrackingTest, ADaemonThatForksWithoutPidFileStopsTheRunWithTheRemedy) {
  TempDir d;
  auto r =
      RunDuende(Write(d.path() + "/s.toml", ForkingScenario("", false, "")), d.path() + "/journal");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("exited with code 0 while"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Set pid_file"), std::string::npos) << r.output;
  auto exited = OfType(r, "target.exited");
  ASSERT_FALSE(exited.empty());
  EXPECT_FALSE(exited[0]->data["left_running"].empty()) << exited[0]->data.dump();
  for (pid_t p : PidsOfTarget(r)) EXPECT_FALSE(FixtureAlive(p)) << "pid " << p << " survived";
}

TEST(TrackingTest, NoOrphansListsEveryProcessLeftBehind) {
  TempDir d;
  // Workers that ignore SIGTERM and a master that leaves them at its stop: three orphans.
  auto r = RunDuende(
      Write(d.path() + "/s.toml", ForkingScenario(R"(, "--workers", "3", "--orphan-workers")", true,
                                                  "\n[[check]]\nkind = \"no_orphans\"\n")),
      d.path() + "/journal");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const Event* c = Check(r, "no_orphans");
  ASSERT_NE(c, nullptr) << r.output;
  EXPECT_EQ(c->data.value("verdict", ""), "FAIL");
  std::set<pid_t> workers;
  std::regex worker_line("worker pid ([0-9]+)");
  for (const auto* e : OfType(r, "target.log")) {
    std::smatch m;
    std::string line = e->data.value("line", std::string());
    if (std::regex_search(line, m, worker_line)) workers.insert(std::stoi(m[1]));
  }
  ASSERT_EQ(workers.size(), 3u) << r.output;
  const std::string measured = c->data.value("measured", "");
  EXPECT_NE(measured.find("3 left"), std::string::npos) << measured;
  for (pid_t w : workers) {
    EXPECT_NE(measured.find(std::to_string(w)), std::string::npos) << measured;
    EXPECT_FALSE(FixtureAlive(w)) << "pid " << w << " survived the run";
  }
}

// A listening socket on a free loopback port, held by this test process.
struct Listener {
  int fd = -1;
  uint16_t port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 && ::listen(fd, 16) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
      port = ntohs(sa.sin_port);
    }
  }
  ~Listener() { ::close(fd); }
};

TEST(TrackingTest, APortTakenByAnotherProgramIsExit3NamingItAndNothingGetsReady) {
  TempDir d;
  Listener other;
  ASSERT_NE(other.port, 0);
  const std::string port = std::to_string(other.port);
  auto r = RunDuende(Write(d.path() + "/s.toml", R"([scenario]
name = "port-taken"
duration = "2s"

[[target]]
name = "kvd"
command = ["duende-fixture-kvd", "--port", ")" + port +
                                                     R"(", "--data-dir", "{run_dir}/kvd"]
address = "127.0.0.1:)" + port + R"("
[target.readiness]
kind = "tcp"
)"),
                     d.path() + "/journal");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  const std::string me = "pid " + std::to_string(::getpid());
  EXPECT_NE(r.output.find("port " + port), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("already in use"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(me), std::string::npos) << r.output;
  EXPECT_TRUE(OfType(r, "target.ready").empty()) << r.output;
  EXPECT_TRUE(OfType(r, "target.spawned").empty()) << r.output;
}

TEST(TrackingTest, NginxWithDaemonOnRestartsAfterSigkillServesAndLeavesNothing) {
  if (!framework::FindExecutable("nginx").ok() && ::access("/usr/sbin/nginx", X_OK) != 0) {
    GTEST_SKIP() << "nginx is not installed (ci/deps.sh installs nginx-light)";
  }
  TempDir d;
  Listener probe;  // a free port, released for nginx
  const std::string port = std::to_string(probe.port);
  ::close(probe.fd);
  probe.fd = -1;
  Write(d.path() + "/nginx.conf",
        "daemon on;\nworker_processes 2;\npid " + d.path() + "/nginx.pid;\nerror_log " + d.path() +
            "/error.log;\nevents { worker_connections 64; }\nhttp {\n"
            "  access_log off;\n  client_body_temp_path " +
            d.path() + "/body;\n  proxy_temp_path " + d.path() + "/proxy;\n  fastcgi_temp_path " +
            d.path() + "/fastcgi;\n  uwsgi_temp_path " + d.path() + "/uwsgi;\n  scgi_temp_path " +
            d.path() + "/scgi;\n  server { listen 127.0.0.1:" + port +
            "; location / { return 200 \"OK\"; } }\n}\n");
  auto r = RunDuende(Write(d.path() + "/s.toml", R"([scenario]
name = "nginx-daemon-on"
duration = "4s"

[[target]]
name = "nginx"
command = ["/usr/sbin/nginx", "-c", ")" + d.path() + R"(/nginx.conf", "-p", ")" +
                                                     d.path() + R"(", "-e", ")" + d.path() +
                                                     R"(/error.log"]
address = "127.0.0.1:)" + port + R"("
pid_file = ")" + d.path() + R"(/nginx.pid"
[target.readiness]
kind = "http"
interval = "20ms"

[load]
protocol = "http"
rate = 100
timeout = "300ms"
expect = "OK"

[[fault]]
kind = "kill"
signal = "SIGKILL"
at = "1s"
repeat = 2
every = "1s"

[[check]]
kind = "restart_within"
within = "1s"

[[check]]
kind = "no_orphans"
)"),
                     d.path() + "/journal");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Three masters, each named by the pid file; each kill hit the master of the time.
  auto main_pids = OfType(r, "target.main_pid");
  EXPECT_EQ(main_pids.size(), 3u) << r.output;
  auto fired = OfType(r, "fault.fired");
  ASSERT_EQ(fired.size(), 2u) << r.output;
  for (size_t i = 0; i < fired.size() && i < main_pids.size(); ++i) {
    EXPECT_NE(fired[i]
                  ->data.value("evidence", std::string())
                  .find("to pid " + std::to_string(main_pids[i]->data.value("pid", 0))),
              std::string::npos)
        << fired[i]->data.dump();
  }
  // The restarted nginx really served: the last second of load was all answered.
  auto seconds = OfType(r, "load.second");
  ASSERT_FALSE(seconds.empty());
  EXPECT_GT(seconds.back()->data.value("ok", 0), 0) << seconds.back()->data.dump();
  EXPECT_EQ(seconds.back()->data.value("errors", 1), 0) << seconds.back()->data.dump();
  const Event* c = Check(r, "no_orphans");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->data.value("verdict", ""), "PASS") << c->data.dump();
  // Nothing listens on its port any more and no nginx of this configuration runs.
  EXPECT_TRUE(framework::TcpListenersOnPort(probe.port).empty())
      << framework::PortListeners(probe.port);
  for (const auto& p : framework::ListProcesses()) {
    std::ifstream in("/proc/" + std::to_string(p.pid) + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(cmdline.find(d.path()), std::string::npos) << "pid " << p.pid << " survived";
  }
}

// True once `dir` holds a journal with a cgroup entry (the run's target group is journaled).
bool JournalWithCgroup(const std::string& dir) {
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    std::ifstream in(f.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (f.path().extension() == ".journal" && text.find("\tcgroup\t") != std::string::npos) {
      return true;
    }
  }
  return false;
}

TEST(TrackingTest, ASecondRunNeverHealsALiveRunsResources) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a pid namespace (unshare -p)";
  TempDir d;
  const std::string journal = d.path() + "/journal";
  // Run A lives in a pid namespace of its own: its journal names pid 1 and a start time that,
  // read from outside, look like a dead owner. Only the lock it holds says it is alive. It has
  // a cgroup (its target), libfiu FIFOs and a proxy, and faults on both after 2 s.
  // The same kvd target in both runs, each with its own table keys after it.
  auto kvd = [](const std::string& name, const std::string& duration, const std::string& keys) {
    return "[scenario]\nname = \"" + name + "\"\nduration = \"" + duration +
           "\"\n[[target]]\nname = \"kvd\"\ncommand = [\"duende-fixture-kvd\", \"--port\", "
           "\"{port.kvd}\", \"--data-dir\", \"{run_dir}/kvd\"]\naddress = "
           "\"127.0.0.1:{port.kvd}\"\n" +
           keys + "[target.readiness]\nkind = \"notify\"\n";
  };
  const std::string a =
      Write(d.path() + "/a.toml", kvd("a", "4s", "fiu = true\nproxy = true\n") + R"(
[load]
rate = 100
timeout = "300ms"
request = "SET {key} {seq}"
expect = "OK"

[[fault]]
kind = "syscall"
point = "posix/io/rw/write"
errno = "ENOSPC"
at = "2000ms"
duration = "300ms"

[[fault]]
kind = "network"
toxic = "down"
at = "2800ms"
duration = "300ms"

[[check]]
kind = "exit_codes"
allowed = [0]

[[check]]
kind = "no_orphans"
)");
  const std::string b = Write(d.path() + "/b.toml", kvd("b", "1s", "") + R"(
[[fault]]
kind = "kill"
signal = "SIGKILL"
at = "300ms"
)");
  framework::SpawnOptions o;
  o.argv = {"unshare", "-p",      "-f", "-m",       "--mount-proc",     kDuende,
            "run",     "--quiet", a,    "--events", a + ".events.jsonl"};
  o.env_overrides = {"DUENDE_JOURNAL_DIR=" + journal, "DUENDE_FIXTURES_DIR=" + kFixtures};
  int out = ::open((a + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  o.stdout_fd = out;
  o.stderr_fd = out;
  auto child = framework::Spawn(o);
  ::close(out);
  ASSERT_TRUE(child.ok()) << child.error().Message();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!JournalWithCgroup(journal) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(JournalWithCgroup(journal)) << "run A did not journal its target's cgroup";
  auto rb = RunDuende(b, journal);
  auto status = framework::WaitExit(child->pidfd.get());
  ASSERT_TRUE(status.ok());
  int raw = status->signaled ? 0 : (status->code << 8);
  auto ra = ReadRun(raw, a + ".events.jsonl", a + ".out");
  EXPECT_EQ(rb.exit_code, 0) << rb.output;
  EXPECT_TRUE(OfType(rb, "run.healed_leftovers").empty())
      << OfType(rb, "run.healed_leftovers")[0]->data.dump();
  // A never lost its target, its FIFOs or its proxy: both faults worked, the target exited
  // once (at its stop), and it passed.
  EXPECT_EQ(ra.exit_code, 0) << ra.output;
  EXPECT_EQ(OfType(ra, "target.spawned").size(), 1u) << ra.output;
  auto healed = OfType(ra, "fault.healed");
  EXPECT_EQ(healed.size(), 2u) << ra.output;
  for (const auto* h : healed) EXPECT_TRUE(h->data.value("took_effect", false)) << h->data.dump();
  EXPECT_TRUE(OfType(ra, "fault.error").empty()) << ra.output;
}

}  // namespace
}  // namespace duende::harness
