// The [sandbox] table: what it reads, what it refuses (file:line:col with a did-you-mean), and
// that FormatDaemonConfig writes it back to an equal config.
#include "duende/framework/sandbox_config.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/stat.h>

#include <set>

#include "duende/framework/config.h"
#include "duende/framework/toml_reader.h"
#include "support/temp_dir.h"

namespace duende::framework {
namespace {

Result<DaemonConfig> Parse(std::string_view text) { return ParseDaemonConfig(text, "t.toml"); }

std::string ErrorOf(std::string_view text) {
  auto c = Parse(text);
  if (c.ok()) return "(parsed fine)";
  EXPECT_EQ(c.error().code, std::errc::invalid_argument);
  return c.error().context;
}

TEST(SandboxConfigTest, ReadsEveryKey) {
  auto c = Parse(R"(
name = "kvd"
command = ["/bin/true"]
[sandbox]
no_new_privileges = true
capabilities = ["CAP_NET_BIND_SERVICE", "net_raw", "cap_net_bind_service"]
read_only_paths = ["/usr", "/etc"]
private_tmp = true
network = "none"
user = "nobody"
group = "65534"
[sandbox.seccomp]
deny = ["ptrace", "mount"]
action = "errno"
errno = "EACCES"
)");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  const SandboxConfig& s = c->sandbox;
  EXPECT_TRUE(s.no_new_privileges);
  ASSERT_TRUE(s.capabilities.has_value());
  EXPECT_EQ(*s.capabilities, (std::vector<std::string>{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}));
  EXPECT_EQ(s.read_only_paths, (std::vector<std::string>{"/usr", "/etc"}));
  EXPECT_TRUE(s.private_tmp);
  EXPECT_EQ(s.network, SandboxConfig::Network::kNone);
  EXPECT_EQ(s.seccomp.mode, SeccompConfig::Mode::kDeny);
  EXPECT_EQ(s.seccomp.syscalls, (std::vector<std::string>{"ptrace", "mount"}));
  EXPECT_EQ(s.seccomp.action, SeccompConfig::Action::kErrno);
  EXPECT_EQ(s.seccomp.errno_value, EACCES);
  EXPECT_TRUE(s.confines());
  // The sandbox's account is the daemon's account.
  EXPECT_EQ(c->user, "nobody");
  EXPECT_EQ(c->group, "65534");
}

TEST(SandboxConfigTest, AbsentTableConfinesNothingAndEmptyCapabilitiesDropAll) {
  auto plain = Parse("name = \"a\"\n");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->sandbox.confines());
  EXPECT_FALSE(plain->sandbox.capabilities.has_value());
  auto none = Parse("[sandbox]\ncapabilities = []\n");
  ASSERT_TRUE(none.ok()) << none.error().Message();
  ASSERT_TRUE(none->sandbox.capabilities.has_value());
  EXPECT_TRUE(none->sandbox.capabilities->empty());
  EXPECT_TRUE(none->sandbox.confines());
}

TEST(SandboxConfigTest, FormattedConfigReadsBackEqual) {
  DaemonConfig c;
  c.name = "kvd";
  c.command = {"/bin/true"};
  c.user = "nobody";
  c.sandbox.user = "nobody";
  c.sandbox.no_new_privileges = true;
  c.sandbox.capabilities = std::vector<std::string>{"CAP_CHOWN"};
  c.sandbox.read_only_paths = {"/usr"};
  c.sandbox.private_tmp = true;
  c.sandbox.network = SandboxConfig::Network::kNone;
  c.sandbox.seccomp.mode = SeccompConfig::Mode::kAllow;
  c.sandbox.seccomp.syscalls = {"read", "write"};
  c.sandbox.seccomp.action = SeccompConfig::Action::kKill;
  auto back = Parse(FormatDaemonConfig(c));
  ASSERT_TRUE(back.ok()) << back.error().Message() << "\n" << FormatDaemonConfig(c);
  back->source_file.clear();
  EXPECT_EQ(*back, c) << FormatDaemonConfig(c);
  c.sandbox.seccomp.action = SeccompConfig::Action::kErrno;
  c.sandbox.seccomp.errno_value = ENOSYS;
  back = Parse(FormatDaemonConfig(c));
  ASSERT_TRUE(back.ok()) << back.error().Message();
  EXPECT_EQ(back->sandbox.seccomp.errno_value, ENOSYS);
}

TEST(SandboxConfigTest, UnknownSyscallIsPositionedWithDidYouMean) {
  EXPECT_EQ(ErrorOf("[sandbox.seccomp]\ndeny = [\"mount\", \"ptrase\"]\n"),
            "t.toml:2:18: unknown system call 'ptrase' in 'deny' of [sandbox.seccomp]; did you "
            "mean 'ptrace'? (names as strace prints them, for this architecture)");
}

TEST(SandboxConfigTest, UnknownCapabilityIsPositionedWithDidYouMean) {
  EXPECT_EQ(ErrorOf("[sandbox]\ncapabilities = [\"CAP_NET_BIND_SERVCE\"]\n"),
            "t.toml:2:17: unknown capability 'CAP_NET_BIND_SERVCE' in 'capabilities' of "
            "[sandbox]; did you mean 'CAP_NET_BIND_SERVICE'? (capabilities(7) lists them)");
  // Bare numbers are not names.
  EXPECT_NE(ErrorOf("[sandbox]\ncapabilities = [\"12\"]\n").find("unknown capability '12'"),
            std::string::npos);
}

TEST(SandboxConfigTest, MissingReadOnlyPathIsPositionedWithDidYouMean) {
  testing::TempDir dir("sandbox-config");
  ASSERT_EQ(::mkdir((dir / "data").c_str(), 0700), 0);
  const std::string text = "[sandbox]\nread_only_paths = [\"/usr\", \"" + dir.path() + "/dta\"]\n";
  EXPECT_EQ(ErrorOf(text), "t.toml:2:28: read-only path \"" + dir.path() +
                               "/dta\" in [sandbox] does not exist (No such file or directory): "
                               "create it or remove it from the list; did you mean '" +
                               dir.path() + "/data'?");
  EXPECT_NE(ErrorOf("[sandbox]\nread_only_paths = [\"usr\"]\n")
                .find("t.toml:2:20: 'read_only_paths' in [sandbox] holds \"usr\"; each must be "
                      "an absolute path"),
            std::string::npos);
}

TEST(SandboxConfigTest, UnknownUserAndGroupArePositionedWithDidYouMean) {
  EXPECT_EQ(ErrorOf("[sandbox]\nuser = \"nobdy\"\n"),
            "t.toml:2:8: user 'nobdy' in [sandbox] does not exist on this host; did you mean "
            "'nobody'? (give an existing name, or a uid such as \"65534\")");
  EXPECT_NE(ErrorOf("[sandbox]\ngroup = \"nogrop\"\n")
                .find("t.toml:2:9: group 'nogrop' in [sandbox] does not exist on this host; did "
                      "you mean 'nogroup'?"),
            std::string::npos);
}

TEST(SandboxConfigTest, OtherMistakesAreReported) {
  EXPECT_NE(ErrorOf("[sandbox.seccomp]\nallow = [\"read\"]\ndeny = [\"ptrace\"]\n")
                .find("has both 'allow' and 'deny'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[sandbox.seccomp]\ndeny = [\"ptrace\"]\nerrno = \"EPRM\"\n")
                .find("t.toml:3:9: unknown errno name 'EPRM' in [sandbox.seccomp]; did you mean "
                      "'EPERM'?"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[sandbox.seccomp]\naction = \"kill\"\n").find("needs 'allow' or 'deny'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[sandbox]\nnetwork = \"off\"\n").find("t.toml:2:11: 'network'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[sandbox]\nprivate_tpm = true\n")
                .find("unknown key 'private_tpm' in [sandbox]; did you mean 'private_tmp'?"),
            std::string::npos);
  EXPECT_NE(ErrorOf("user = \"root\"\n[sandbox]\nuser = \"nobody\"\n")
                .find("t.toml:1:8: 'user' is \"root\" but [sandbox] says \"nobody\""),
            std::string::npos);
}

TEST(SandboxConfigTest, NamesResolveBothWays) {
  EXPECT_EQ(CapabilityNumber("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
  EXPECT_EQ(CapabilityNumber("sys_admin"), CAP_SYS_ADMIN);
  EXPECT_EQ(CapabilityNumber("cap_nonsense"), -1);
  EXPECT_EQ(CapabilityName(CAP_NET_BIND_SERVICE), "CAP_NET_BIND_SERVICE");
  EXPECT_GT(SyscallNumber("ptrace"), 0);
  EXPECT_EQ(SyscallNumber("ptrase"), -1);
  EXPECT_EQ(ErrnoNumber("eperm"), EPERM);
  EXPECT_EQ(ErrnoName(EACCES), "EACCES");
}

// Each kind of confinement alone makes a sandbox that confines something.
TEST(SandboxConfigTest, EachConfinementAloneConfines) {
  EXPECT_FALSE(SandboxConfig{}.confines());
  SandboxConfig a;
  a.no_new_privileges = true;
  EXPECT_TRUE(a.confines());
  SandboxConfig b;
  b.capabilities = std::vector<std::string>{};
  EXPECT_TRUE(b.confines());
  SandboxConfig c;
  c.seccomp.mode = SeccompConfig::Mode::kDeny;
  EXPECT_TRUE(c.confines());
  SandboxConfig d;
  d.read_only_paths = {"/usr"};
  EXPECT_TRUE(d.confines());
  SandboxConfig e;
  e.private_tmp = true;
  EXPECT_TRUE(e.confines());
  SandboxConfig f;
  f.network = SandboxConfig::Network::kNone;
  EXPECT_TRUE(f.confines());
}

TEST(SandboxConfigTest, KnownCapabilitiesAreEveryCapabilityOnceByName) {
  auto names = KnownCapabilityNames();
  ASSERT_EQ(names.size(), static_cast<size_t>(cap_max_bits()));
  EXPECT_EQ(names.front(), "CAP_CHOWN");
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(CapabilityNumber(names[i]), static_cast<int>(i)) << names[i];
  }
  // A number libcap would take as a name is not one ("cap_12" no more than "12").
  EXPECT_EQ(CapabilityNumber("cap_12"), -1);
  EXPECT_EQ(CapabilityNumber("12"), -1);
  // Errno names: both ends of the table, any case.
  EXPECT_EQ(ErrnoNumber("EPERM"), EPERM);
  EXPECT_EQ(ErrnoNumber("ehwpoison"), EHWPOISON);
  EXPECT_EQ(ErrnoNumber("ENOTANERRNO"), 0);
}

TEST(SandboxConfigTest, AnUnknownCapabilityWithoutItsPrefixIsSuggestedWithIt) {
  EXPECT_NE(ErrorOf("[sandbox]\ncapabilities = [\"net_bind_servce\"]\n")
                .find("unknown capability 'net_bind_servce' in 'capabilities' of [sandbox]; did "
                      "you mean 'CAP_NET_BIND_SERVICE'?"),
            std::string::npos);
}

TEST(SandboxConfigTest, AMissingReadOnlyPathWithATrailingSlashIsSuggestedFromItsParent) {
  testing::TempDir dir("sandbox-config");
  ASSERT_EQ(::mkdir((dir / "data").c_str(), 0700), 0);
  EXPECT_NE(ErrorOf("[sandbox]\nread_only_paths = [\"" + dir.path() + "/dta/\"]\n")
                .find("did you mean '" + dir.path() + "/data'?"),
            std::string::npos);
}

// A scenario target's paths may hold run variables ("{run_dir}/data", as scenarios/README.md
// shows), checked for shape only; a path without one must exist there too.
TEST(SandboxConfigTest, WithVariablesOnlyAPathHoldingOneIsNotCheckedForExistence) {
  auto read = [](const std::string& path, bool variables) {
    toml::table t = toml::parse("read_only_paths = [\"" + path + "\"]\n");
    auto diags = std::make_shared<Diagnostics>();
    TomlReader r(t, "t.toml", "[sandbox]", diags);
    SandboxConfig c;
    ReadSandboxConfig(r, &c, {.variables = variables});
    return diags->ToString();
  };
  EXPECT_EQ(read("{run_dir}/data", true), "");
  EXPECT_EQ(read("/x/{run_dir}/data", true), "");
  EXPECT_NE(read("/no/such/path/anywhere", true).find("does not exist"), std::string::npos);
  EXPECT_NE(read("data", true)
                .find("holds \"data\"; each must be an absolute path such as "
                      "\"/usr\" or start with a run variable"),
            std::string::npos);
  // Without variables (a daemon config) a brace is just a character of a path.
  EXPECT_NE(read("{run_dir}/data", false).find("each must be an absolute path"), std::string::npos);
  EXPECT_NE(read("/no/{such}/path", false).find("does not exist"), std::string::npos);
}

}  // namespace
}  // namespace duende::framework
