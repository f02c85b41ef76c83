// The services file `duende supervise` reads ([supervisor] and [[service]] tables), the
// control socket's default path and the one-line form of a supervisor event: what the
// supervisor shows its user before and around running anything.
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "duende/framework/supervisor.h"
#include "support/as_nobody.h"

namespace duende::framework {
namespace {

constexpr char kOneService[] = "[[service]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n";

Result<ServicesFile> Parse(const std::string& supervisor_table, const std::string& path = "s.toml",
                           const PlatformCheck& check = {}) {
  return ParseServicesFile("[supervisor]\n" + supervisor_table + kOneService, path, check);
}

// The message of a refused file ("" when it was accepted).
std::string Refusal(const Result<ServicesFile>& r) { return r.ok() ? "" : r.error().context; }

TEST(ServicesFileTest, RelativePathsAreTakenFromTheFilesDirectory) {
  auto r = Parse("control_socket = \"ctl.sock\"\nlog_dir = \"logs\"\n", "/etc/duende/s.toml");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_socket, "/etc/duende/ctl.sock");
  EXPECT_EQ(r->options.log_dir, "/etc/duende/logs");
  // A file named without a directory is in the current one.
  r = Parse("control_socket = \"ctl.sock\"\nlog_dir = \"logs\"\n", "s.toml");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_socket, "./ctl.sock");
  EXPECT_EQ(r->options.log_dir, "./logs");
  // Absolute paths are kept as written.
  r = Parse("control_socket = \"/run/x/ctl.sock\"\nlog_dir = \"/var/log/x\"\n",
            "/etc/duende/s.toml");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_socket, "/run/x/ctl.sock");
  EXPECT_EQ(r->options.log_dir, "/var/log/x");
}

TEST(ServicesFileTest, ControlTimeoutMustBePositive) {
  auto r = Parse("control_timeout = \"2s\"\n");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_timeout, std::chrono::seconds(2));
  EXPECT_NE(Refusal(Parse("control_timeout = \"0s\"\n"))
                .find("s.toml:2:19: control_timeout must be positive, e.g. \"5s\""),
            std::string::npos)
      << Refusal(Parse("control_timeout = \"0s\"\n"));
}

TEST(ServicesFileTest, ControlGroupIsANameOrANumber) {
  // Decimal gids are taken as they are, whether or not /etc/group names them.
  auto r = Parse("control_group = \"0\"\n");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_group, gid_t{0});
  r = Parse("control_group = \"123456789\"\n");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_group, gid_t{123456789});
  r = Parse("control_group = \"7\"\n");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_group, gid_t{7});
  // A name is looked up: the group of gid 0 exists on every machine.
  const group* g0 = ::getgrgid(0);
  ASSERT_NE(g0, nullptr);
  const std::string root_group = g0->gr_name;
  r = Parse("control_group = \"" + root_group + "\"\n");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->control_group, gid_t{0});
  // Ten digits are past any gid this reads; an unknown name is no group.
  for (const std::string bad : {"1234567890", "duende-no-such-group", ""}) {
    const std::string why = Refusal(Parse("control_group = \"" + bad + "\"\n"));
    EXPECT_NE(why.find("s.toml:2:17: no group named '" + bad + "' on this machine"),
              std::string::npos)
        << bad << ": " << why;
  }
}

TEST(ServicesFileTest, UnknownKeysAreRefusedWhereTheyAre) {
  EXPECT_NE(Refusal(Parse("bogus = 1\n")).find("s.toml:2:1:"), std::string::npos)
      << Refusal(Parse("bogus = 1\n"));
  const std::string top =
      Refusal(ParseServicesFile(std::string("bogus = 1\n") + kOneService, "s.toml"));
  EXPECT_NE(top.find("s.toml:1:1:"), std::string::npos) << top;
}

TEST(ServicesFileTest, EveryServiceIsReadAndNamesAreUnique) {
  auto r = ParseServicesFile(
      "[[service]]\nname = \"a\"\ncommand = [\"/bin/a\"]\n"
      "[[service]]\nname = \"b\"\ncommand = [\"/bin/b\"]\n",
      "s.toml");
  ASSERT_TRUE(r.ok()) << r.error().Message();
  ASSERT_EQ(r->services.size(), 2u);
  EXPECT_EQ(r->services[0].name, "a");
  EXPECT_EQ(r->services[1].command, std::vector<std::string>{"/bin/b"});
  EXPECT_EQ(r->platforms, (std::vector<std::string>{"", ""}));
  const std::string dup =
      Refusal(ParseServicesFile("[[service]]\nname = \"a\"\ncommand = [\"/bin/a\"]\n"
                                "[[service]]\nname = \"a\"\ncommand = [\"/bin/b\"]\n",
                                "s.toml"));
  EXPECT_NE(dup.find("s.toml:5:8: a service named 'a' is already defined"), std::string::npos)
      << dup;
}

TEST(ServicesFileTest, APlatformTheCallerRefusesIsReportedAtItsKey) {
  const PlatformCheck check = [](const std::string& platform, const DaemonConfig&) {
    return platform == "systemd" ? std::string() : "no " + platform + " here";
  };
  auto ok = ParseServicesFile(
      "[[service]]\nname = \"a\"\ncommand = [\"/bin/a\"]\nplatform = \"systemd\"\n", "s.toml",
      check);
  ASSERT_TRUE(ok.ok()) << ok.error().Message();
  EXPECT_EQ(ok->platforms, std::vector<std::string>{"systemd"});
  const std::string why = Refusal(ParseServicesFile(
      "[[service]]\nname = \"a\"\ncommand = [\"/bin/a\"]\nplatform = \"oci\"\n", "s.toml", check));
  EXPECT_NE(why.find("s.toml:4:12: no oci here"), std::string::npos) << why;
}

TEST(ServicesFileTest, WarningsAreShownWhenTheFileIsAccepted) {
  ::testing::internal::CaptureStderr();
  auto r = ParseServicesFile(
      std::string(kOneService) +
          "[service.health.readiness]\nkind = \"http\"\naddress = \"127.0.0.1:8080\"\n"
          "http_path = \"/ready\"\n",
      "warned-services.toml");
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_NE(err.find("warned-services.toml:7:13: warning: 'http_path'"), std::string::npos) << err;
}

// DefaultControlSocket() as uid 65534, with TMPDIR set to `tmpdir` (unset when null) and no
// XDG_RUNTIME_DIR: 0 when it returned `want`.
int DefaultAsNobody(const char* tmpdir, const std::string& want) {
  return duende::testing::RunAsNobody([&] {
    ::unsetenv("XDG_RUNTIME_DIR");
    if (tmpdir == nullptr) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", tmpdir, 1);
    }
    return DefaultControlSocket() == want ? 0 : 1;
  });
}

TEST(DefaultControlSocketTest, XdgRuntimeDirThenRootsRunThenAPrivateTmpDir) {
  if (::geteuid() != 0) GTEST_SKIP() << "the /run and nobody cases need root";
  const char* old_xdg = std::getenv("XDG_RUNTIME_DIR");
  const std::string saved = old_xdg != nullptr ? old_xdg : "";
  ::setenv("XDG_RUNTIME_DIR", "/run/user/42", 1);
  EXPECT_EQ(DefaultControlSocket(), "/run/user/42/duende-supervise.sock");
  ::setenv("XDG_RUNTIME_DIR", "relative/dir", 1);  // not a usable runtime dir
  EXPECT_EQ(DefaultControlSocket(), "/run/duende/supervise.sock");
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(DefaultControlSocket(), "/run/duende/supervise.sock");
  if (old_xdg != nullptr) ::setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
  EXPECT_EQ(DefaultAsNobody("/var/tmp", "/var/tmp/duende-65534/supervise.sock"), 0);
  EXPECT_EQ(DefaultAsNobody(nullptr, "/tmp/duende-65534/supervise.sock"), 0);
  EXPECT_EQ(DefaultAsNobody("relative", "/tmp/duende-65534/supervise.sock"), 0);
}

ServiceEvent Event(EventType type, pid_t pid, std::string detail, ServiceState state) {
  ServiceEvent e;
  e.service = "kvd";
  e.type = type;
  e.pid = pid;
  e.detail = std::move(detail);
  e.state = state;
  e.delay = std::chrono::milliseconds(40);  // only a scheduled restart shows its delay
  return e;
}

TEST(ServiceEventTest, ToStringNamesWhatHappenedAndWhy) {
  ServiceEvent e =
      Event(EventType::kExited, 4242, "not shown: the exit says it", ServiceState::kBackoff);
  e.exit = ExitStatus{};
  e.exit->signaled = true;
  e.exit->signal = SIGKILL;
  EXPECT_EQ(e.ToString(), "kvd: exited (pid 4242): killed by signal 9 (SIGKILL) [backoff]");
  // pid 0: no process.
  EXPECT_EQ(Event(EventType::kRestartScheduled, 0, "exited with code 1", ServiceState::kBackoff)
                .ToString(),
            "kvd: restart_scheduled in 40.0ms: exited with code 1 [backoff]");
  EXPECT_EQ(Event(EventType::kStopped, -1, "", ServiceState::kStopped).ToString(),
            "kvd: stopped [stopped]");
}

}  // namespace
}  // namespace duende::framework
