// `duende supervise` and `duende ctl` end to end: real processes, a real control socket.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "duende/framework/clock.h"
#include "duende/framework/process.h"
#include "support/as_nobody.h"
#include "support/cli.h"

namespace duende::framework {
namespace {

using duende::testing::RunArgv;
using Output = duende::testing::CommandOutput;

class SuperviseCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/duende-supervise-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (sup_.pidfd) {
      ::kill(sup_.pid, SIGKILL);
      (void)WaitExit(sup_.pidfd.get());
    }
    for (const char* f : {"services.toml", "bad.toml", "ctl.sock", "logs/a.log", "logs/b.log",
                          "xdg/duende-supervise.sock", "reply.sock"}) {
      ::unlink((dir_ + "/" + f).c_str());
    }
    ::rmdir((dir_ + "/logs").c_str());
    ::rmdir((dir_ + "/xdg").c_str());
    ::rmdir(dir_.c_str());
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  Output Ctl(std::vector<std::string> args) {
    std::vector<std::string> argv = {DUENDE_PATH, "ctl", "--socket", dir_ + "/ctl.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunArgv(argv);
  }
  nlohmann::json StatusJson() {
    Output o = Ctl({"status", "--json"});
    EXPECT_EQ(o.code, 0) << o.err;
    return nlohmann::json::parse(o.out, nullptr, false);
  }
  // Waits until `pred(status json)` holds (the supervisor runs in another process).
  bool WaitStatus(const std::function<bool(const nlohmann::json&)>& pred) {
    for (int i = 0; i < 200; ++i) {
      if (::access((dir_ + "/ctl.sock").c_str(), F_OK) == 0) {
        auto j = StatusJson();
        if (!j.is_discarded() && pred(j)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  // Starts `duende supervise` on services.toml with one stamp service "a".
  void StartSupervisor(const std::string& supervisor_table, std::vector<std::string> env = {},
                       std::vector<RlimitSetting> limits = {}) {
    Write("services.toml", "[supervisor]\n" + supervisor_table + "\n[[service]]\nname = \"a\"\n" +
                               "command = [\"" + STAMP_PATH + "\"]\n");
    SpawnOptions o;
    o.argv = {DUENDE_PATH, "supervise", "--quiet", dir_ + "/services.toml"};
    o.env_overrides = std::move(env);
    o.rlimits = std::move(limits);
    auto child = Spawn(o);
    ASSERT_TRUE(child.ok());
    sup_ = std::move(*child);
  }

  std::string dir_;
  Child sup_;
};

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// Connects to `addr`, sends `request`, returns the reply ("" on EOF at once); "connect: <errno>"
// when the connection itself fails. Plain syscalls and a fixed buffer: runs as nobody too.
int Exchange(const sockaddr_un& addr, const char* request, char* reply, size_t reply_size) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, request, std::strlen(request), MSG_NOSIGNAL);
  size_t got = 0;
  ssize_t n = 0;
  while (got + 1 < reply_size && (n = ::read(fd, reply + got, reply_size - 1 - got)) > 0) {
    got += static_cast<size_t>(n);
  }
  reply[got] = '\0';
  ::close(fd);
  return static_cast<int>(got);
}

// CPU time (user + system, clock ticks) of `pid` so far.
long CpuTicks(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  long utime = 0;
  long stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// By default the socket lies in a private directory ($XDG_RUNTIME_DIR here): another user
// cannot even reach it, while the owner's ctl works. A directory others can enter is refused.
TEST_F(SuperviseCliTest, TheDefaultSocketIsInAPrivateDirectoryOthersCannotReach) {
  ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
  const std::string xdg = dir_ + "/xdg";
  ASSERT_EQ(::mkdir(xdg.c_str(), 0755), 0);
  Write("services.toml",
        std::string("[[service]]\nname = \"a\"\ncommand = [\"") + STAMP_PATH + "\"]\n");
  Output refused = RunArgv({"/usr/bin/env", "XDG_RUNTIME_DIR=" + xdg, DUENDE_PATH, "supervise",
                            "--quiet", dir_ + "/services.toml"});
  EXPECT_EQ(refused.code, 3);
  EXPECT_NE(refused.err.find("directory " + xdg + " is owned by uid 0 with mode 0755"),
            std::string::npos)
      << refused.err;
  ASSERT_EQ(::chmod(xdg.c_str(), 0700), 0);
  StartSupervisor("", {"XDG_RUNTIME_DIR=" + xdg});
  const std::string sock = xdg + "/duende-supervise.sock";
  Output ok;
  for (int i = 0; i < 200; ++i) {
    ok = RunArgv({"/usr/bin/env", "XDG_RUNTIME_DIR=" + xdg, DUENDE_PATH, "ctl", "status"});
    if (ok.code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(ok.code, 0) << ok.err;
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const sockaddr_un addr = UnixAddress(sock);
  EXPECT_EQ(testing::RunAsNobody([&] {
              char reply[256];
              return Exchange(addr, "stop a\n", reply, sizeof reply) == -EACCES ? 0 : 1;
            }),
            0);
}

// Even where the file permissions let another user in (a careless chmod), the supervisor
// checks the peer's credentials: nobody is refused and its command has no effect.
TEST_F(SuperviseCliTest, PeerCredentialsRefuseOtherUsers) {
  StartSupervisor("control_socket = \"ctl.sock\"\n");
  ASSERT_TRUE(WaitStatus([](const nlohmann::json& j) {
    return j["services"].size() == 1 && j["services"][0]["state"] == "running";
  }));
  const int pid = StatusJson()["services"][0]["pid"];
  ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
  ASSERT_EQ(::chmod((dir_ + "/ctl.sock").c_str(), 0666), 0);
  const sockaddr_un addr = UnixAddress(dir_ + "/ctl.sock");
  EXPECT_EQ(testing::RunAsNobody([&] {
              char reply[512];
              int n = Exchange(addr, "stop a\n", reply, sizeof reply);
              if (n <= 0) return 1;
              return std::strstr(reply, "\"ok\":false") != nullptr &&
                             std::strstr(reply, "permission denied: uid 65534") != nullptr
                         ? 0
                         : 2;
            }),
            0);
  auto j = StatusJson();
  EXPECT_EQ(j["services"][0]["state"], "running");
  EXPECT_EQ(j["services"][0]["pid"], pid);
}

// control_group admits a group's members (nobody's group 65534 here).
TEST_F(SuperviseCliTest, AControlGroupAdmitsItsMembers) {
  StartSupervisor("control_socket = \"ctl.sock\"\ncontrol_group = \"65534\"\n");
  ASSERT_TRUE(WaitStatus([](const nlohmann::json& j) { return j["services"].size() == 1; }));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/ctl.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(st.st_gid, 65534u);
  ASSERT_EQ(::chmod(dir_.c_str(), 0711), 0);
  const sockaddr_un addr = UnixAddress(dir_ + "/ctl.sock");
  EXPECT_EQ(testing::RunAsNobody([&] {
              char reply[4096];
              int n = Exchange(addr, "status\n", reply, sizeof reply);
              return n > 0 && std::strstr(reply, "\"ok\":true") != nullptr ? 0 : 1;
            }),
            0);
  Write("bad.toml",
        "[supervisor]\ncontrol_group = \"no-such-group-here\"\n[[service]]\n"
        "name = \"a\"\ncommand = [\"true\"]\n");
  Output bad = RunArgv({DUENDE_PATH, "supervise", dir_ + "/bad.toml"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find(dir_ + "/bad.toml:2:17: no group named 'no-such-group-here'"),
            std::string::npos)
      << bad.err;
}

// A client that connects and sends nothing holds one connection, not the supervisor: others
// are served meanwhile, and it is closed after control_timeout.
TEST_F(SuperviseCliTest, ASilentClientDoesNotStallTheSupervisor) {
  StartSupervisor("control_socket = \"ctl.sock\"\ncontrol_timeout = \"2s\"\n");
  ASSERT_TRUE(WaitStatus([](const nlohmann::json& j) { return j["services"].size() == 1; }));
  int silent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un addr = UnixAddress(dir_ + "/ctl.sock");
  ASSERT_EQ(::connect(silent, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  const int64_t t0 = MonotonicNs();
  Output o = Ctl({"status"});
  EXPECT_EQ(o.code, 0) << o.err;
  char b;
  if (MonotonicNs() - t0 < 1'500'000'000) {  // served while the silent one was still held
    EXPECT_EQ(::recv(silent, &b, 1, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
  }
  timeval tv{15, 0};
  ASSERT_EQ(::setsockopt(silent, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  EXPECT_EQ(::recv(silent, &b, 1, 0), 0);  // EOF: the supervisor closed it
  ::close(silent);
}

// Out of descriptors, accept fails with EMFILE while the listener stays readable: the
// supervisor must rest, not spin. Its CPU time while exhausted stays small, and it serves
// again once descriptors are free.
TEST_F(SuperviseCliTest, EmfileOnAcceptDoesNotSpin) {
  StartSupervisor("control_socket = \"ctl.sock\"\ncontrol_timeout = \"20s\"\n", {},
                  {RlimitSetting{RLIMIT_NOFILE, 24, 24}});
  ASSERT_TRUE(WaitStatus([](const nlohmann::json& j) { return j["services"].size() == 1; }));
  const sockaddr_un addr = UnixAddress(dir_ + "/ctl.sock");
  std::vector<int> silent;
  for (int i = 0; i < 40; ++i) {  // more than its descriptors; the rest wait in the backlog
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    silent.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const long before = CpuTicks(sup_.pid);
  const int64_t t0 = MonotonicNs();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long used = CpuTicks(sup_.pid) - before;
  const double wall_s = static_cast<double>(MonotonicNs() - t0) / 1e9;
  const long hz = ::sysconf(_SC_CLK_TCK);
  std::cerr << "supervisor CPU while out of descriptors: " << used << " ticks (" << hz << "/s) in "
            << wall_s << " s\n";
  // A spinning loop takes a core (100 ticks/s) or what a loaded machine leaves it; resting
  // 200 ms between tries costs next to nothing.
  EXPECT_LT(used, hz / 10) << "the supervisor spins while accept fails with EMFILE";
  for (int fd : silent) ::close(fd);
  Output o;
  for (int i = 0; i < 100; ++i) {
    o = Ctl({"status"});
    if (o.code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(o.code, 0) << o.err;
}

// Replies are data from another process: nonsense makes ctl exit 3 with a message, never
// abort (an uncaught JSON type error would be SIGABRT).
TEST_F(SuperviseCliTest, MalformedRepliesAreErrorsInCtl) {
  const std::string path = dir_ + "/reply.sock";
  const std::vector<std::pair<std::string, std::string>> replies = {
      {"not json at all\n", "not JSON"},
      {"[1,2]\n", "not a JSON object"},
      {"{\"ok\":\"yes\"}\n", "no boolean \"ok\""},
      {"{\"ok\":true}\n", "no \"services\" array"},
      {"{\"ok\":true,\"services\":[{\"name\":5}]}\n", "a service has no string \"name\""},
      {"{\"ok\":true,\"services\":[{\"name\":\"a\",\"state\":\"x\",\"reason\":\"\","
       "\"status\":\"\",\"pid\":\"1\"}]}\n",
       "a service has no integer \"pid\""},
      {"{\"ok\":false,\"error\":7}\n", "\"error\" is not a string"},
      {"", "not JSON"},
  };
  for (const auto& [reply, why] : replies) {
    int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = UnixAddress(path);
    ::unlink(path.c_str());
    ASSERT_EQ(::bind(lfd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(lfd, 4), 0);
    std::thread server([&, lfd] {
      int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      char buf[256];
      (void)::read(c, buf, sizeof buf);
      (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    });
    Output o = RunArgv({DUENDE_PATH, "ctl", "--socket", path, "status"});
    server.join();
    ::close(lfd);
    EXPECT_EQ(o.code, 3) << reply << o.err;
    EXPECT_NE(o.err.find("malformed reply from " + path + ": " + why), std::string::npos)
        << reply << o.err;
  }
}

TEST_F(SuperviseCliTest, BadServicesFileExitsTwoWithPositions) {
  Write("bad.toml",
        "[supervisor]\ncontrol_sockt = \"x\"\n\n[[service]]\nname = \"a\"\n"
        "command = [\"true\"]\n[service.restart]\npolicy = \"sometimes\"\n");
  Output o = RunArgv({DUENDE_PATH, "supervise", dir_ + "/bad.toml"});
  EXPECT_EQ(o.code, 2);
  const std::string f = dir_ + "/bad.toml";
  EXPECT_NE(o.err.find(f + ":2:1: unknown key 'control_sockt' in [supervisor]; did you mean "
                           "'control_socket'?"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.err.find(f + ":8:10: 'policy'"), std::string::npos) << o.err;
  EXPECT_EQ(RunArgv({DUENDE_PATH, "supervise", dir_ + "/missing.toml"}).code, 2);
}

// A service's STATUS= text is the service's, not ours: bytes that are not UTF-8 are shown
// replaced, and the supervisor (whose control replies are JSON) keeps serving. Before, the
// first `status` after such a notification threw in the supervisor and ended it.
TEST_F(SuperviseCliTest, AServiceStatusThatIsNotUtf8DoesNotEndTheSupervisor) {
  const std::string script =
      "import os, socket, time\n"
      "a = os.environ['NOTIFY_SOCKET']\n"
      "a = '\\0' + a[1:] if a.startswith('@') else a\n"
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
      "s.sendto(b'READY=1\\nSTATUS=bad \\xff\\xfe bytes', a)\n"
      "time.sleep(60)\n";
  Write("notify.py", script);
  Write("services.toml", std::string("[supervisor]\ncontrol_socket = \"ctl.sock\"\n\n") +
                             "[[service]]\nname = \"a\"\ncommand = [\"python3\", \"" + dir_ +
                             "/notify.py\"]\n[service.health.readiness]\nkind = \"notify\"\n");
  SpawnOptions o;
  o.argv = {DUENDE_PATH, "supervise", "--quiet", dir_ + "/services.toml"};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  sup_ = std::move(*child);
  ASSERT_TRUE(WaitStatus([](const nlohmann::json& j) {
    return j["services"].size() == 1 && j["services"][0]["state"] == "running";
  }));
  for (int i = 0; i < 3; ++i) {
    Output table = Ctl({"status"});
    EXPECT_EQ(table.code, 0) << table.err;
  }
  auto j = StatusJson();
  EXPECT_NE(j["services"][0]["status"].get<std::string>().find("bad"), std::string::npos) << j;
  EXPECT_EQ(::kill(sup_.pid, 0), 0);  // still serving
  ::unlink((dir_ + "/notify.py").c_str());
}

TEST_F(SuperviseCliTest, CtlControlsARunningSupervisorAndSigtermStopsAll) {
  Write("services.toml", std::string("[supervisor]\ncontrol_socket = \"ctl.sock\"\n") +
                             "log_dir = \"logs\"\n\n[[service]]\nname = \"a\"\ncommand = [\"" +
                             STAMP_PATH + "\", \"--print\", \"hello\"]\n\n[[service]]\n" +
                             "name = \"b\"\ncommand = [\"" + STAMP_PATH + "\", \"--notify\"]\n" +
                             "[service.health.readiness]\nkind = \"notify\"\n");
  SpawnOptions o;
  o.argv = {DUENDE_PATH, "supervise", "--quiet", dir_ + "/services.toml"};
  auto child = Spawn(o);
  ASSERT_TRUE(child.ok());
  sup_ = std::move(*child);
  auto all_running = [](const nlohmann::json& j) {
    for (const auto& s : j["services"]) {
      if (s["state"] != "running") return false;
    }
    return j["services"].size() == 2;
  };
  ASSERT_TRUE(WaitStatus(all_running));
  auto j = StatusJson();
  const int pid_a = j["services"][0]["pid"];
  const int pid_b = j["services"][1]["pid"];
  EXPECT_EQ(::getpgid(pid_a), pid_a);  // own process group

  Output table = Ctl({"status"});
  EXPECT_EQ(table.code, 0);
  EXPECT_EQ(table.out.rfind("NAME", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("running"), std::string::npos);

  Output stop = Ctl({"stop", "a"});
  EXPECT_EQ(stop.code, 0) << stop.err;
  ASSERT_TRUE(
      WaitStatus([](const nlohmann::json& s) { return s["services"][0]["state"] == "stopped"; }));
  EXPECT_EQ(::kill(pid_a, 0), -1);
  EXPECT_EQ(Ctl({"start", "a"}).code, 0);
  ASSERT_TRUE(WaitStatus(all_running));
  EXPECT_EQ(Ctl({"restart", "b"}).code, 0);
  ASSERT_TRUE(WaitStatus(
      [&](const nlohmann::json& s) { return all_running(s) && s["services"][1]["pid"] != pid_b; }));
  Output unknown = Ctl({"stop", "nosuch"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_EQ(unknown.err, "duende: error: no service named 'nosuch'\n");

  // The child's output went to its log file.
  std::ifstream log(dir_ + "/logs/a.log");
  std::string first;
  std::getline(log, first);
  EXPECT_EQ(first, "hello");

  auto last = StatusJson();
  ASSERT_EQ(::kill(sup_.pid, SIGTERM), 0);
  auto st = WaitExit(sup_.pidfd.get());
  sup_.pidfd.Reset();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->signaled);
  EXPECT_EQ(st->code, 0);
  for (const auto& s : last["services"]) EXPECT_EQ(::kill(s["pid"].get<int>(), 0), -1);
  EXPECT_NE(::access((dir_ + "/ctl.sock").c_str(), F_OK), 0);  // socket removed
  EXPECT_EQ(Ctl({"status"}).code, 3);                          // nobody listening
}

}  // namespace
}  // namespace duende::framework
