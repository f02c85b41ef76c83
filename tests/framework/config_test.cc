#include "duende/framework/config.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <regex>

#include "duende/framework/temp_dir.h"
#include "duende/framework/toml_reader.h"

namespace duende::framework {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Result<DaemonConfig> Parse(std::string_view text) { return ParseDaemonConfig(text, "t.toml"); }

std::string ErrorOf(std::string_view text) {
  auto c = Parse(text);
  if (c.ok()) return "(parsed fine)";
  EXPECT_EQ(c.error().code, std::errc::invalid_argument);
  return c.error().context;
}

TEST(ConfigTest, EmptyFileGivesDefaults) {
  auto c = Parse("");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  DaemonConfig defaults;
  defaults.source_file = "t.toml";
  EXPECT_EQ(*c, defaults);
  EXPECT_EQ(c->shutdown_timeout, seconds(10));
  EXPECT_EQ(c->restart.policy, RestartConfig::Policy::kOnFailure);
}

TEST(ConfigTest, ReadsEverySection) {
  auto c = Parse(R"(
name = "kvd"
description = "key-value daemon"
command = ["/usr/bin/kvd", "--port", "7000"]
env = { KVD_MODE = "fast", LANG = "C" }
working_dir = "/var/lib/kvd"
user = "nobody"
group = "nogroup"
pid_file = "/run/kvd.pid"
shutdown_timeout = "3s"
stop_signal = "SIGINT"

[resources]
memory_max = "256MiB"
cpu_quota = 0.5
pids_max = 64
open_files = 1024
lock_memory = true
lock_memory_required = true
lock_on_fault = true

[restart]
policy = "always"
prevent_exit_codes = [78, 3]
start_limit_burst = 7
start_limit_interval = "20s"

[restart.backoff]
initial = "50ms"
multiplier = 1.5
max = "5s"
jitter = "equal"
immediate_first_restart = true

[health]
watchdog = "2s"
[health.readiness]
kind = "tcp"
address = "127.0.0.1:7000"
grace_period = "5s"
[health.liveness]
kind = "http"
address = "127.0.0.1:7001"
path = "/healthz"
failure_threshold = 2

[log]
file = "/var/log/kvd/kvd.log"
max_bytes = "1MiB"
keep = 3
level = "debug"

[app]
durable = false
anything = { nested = 1 }
)");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->name, "kvd");
  EXPECT_EQ(c->command.size(), 3u);
  EXPECT_EQ(c->env[0], (std::pair<std::string, std::string>{"KVD_MODE", "fast"}));
  EXPECT_EQ(c->stop_signal, SIGINT);
  EXPECT_EQ(c->shutdown_timeout, seconds(3));
  EXPECT_EQ(c->resources.memory_max, 256u << 20);
  EXPECT_EQ(c->resources.cpu_quota, 0.5);
  EXPECT_TRUE(c->resources.lock_on_fault);
  EXPECT_EQ(c->restart.policy, RestartConfig::Policy::kAlways);
  EXPECT_EQ(c->restart.prevent_exit_codes, (std::vector<int>{78, 3}));
  EXPECT_EQ(c->restart.backoff.initial, milliseconds(50));
  EXPECT_EQ(c->restart.backoff.jitter, BackoffConfig::Jitter::kEqual);
  EXPECT_EQ(c->health.readiness.kind, ProbeConfig::Kind::kTcp);
  EXPECT_EQ(c->health.liveness.http_path, "/healthz");
  EXPECT_EQ(c->health.watchdog, seconds(2));
  EXPECT_EQ(c->log.level, LogConfig::Level::kDebug);
  EXPECT_EQ(c->app["durable"].value<bool>(), false);
}

TEST(ConfigTest, UnknownKeysGetDidYouMeanAtTheirPosition) {
  EXPECT_EQ(ErrorOf("[resources]\nlock_memroy = true\n"),
            "t.toml:2:1: unknown key 'lock_memroy' in [resources]; did you mean 'lock_memory'?");
  EXPECT_EQ(ErrorOf("shutdown_timout = \"1s\"\n"),
            "t.toml:1:1: unknown key 'shutdown_timout'; did you mean 'shutdown_timeout'?");
  EXPECT_EQ(ErrorOf("[restart.backof]\ninitial = \"1s\"\n"),
            "t.toml:1:10: unknown key 'backof' in [restart]; did you mean 'backoff'?");
}

TEST(ConfigTest, EveryProblemIsReportedOnceWithItsFix) {
  std::string err = ErrorOf(R"(name = "my daemon"
shutdown_timeout = "soon"
stop_signal = "SIGKILL"
[restart]
policy = "alwys"
[restart.backoff]
initial = "10s"
max = "1s"
[health.readiness]
kind = "tcp"
[log]
level = "loud"
)");
  EXPECT_EQ(err,
            "t.toml:1:8: 'name' is \"my daemon\"; it must be letters, digits, '_', '.' or '-' "
            "(for example \"kvd\")\n"
            "t.toml:2:20: 'shutdown_timeout' must be a duration such as \"5s\", \"250ms\" or "
            "\"2m\", not \"soon\"\n"
            "t.toml:3:15: 'stop_signal' must be a catchable signal name or number such as "
            "\"SIGTERM\", \"SIGINT\" or 15\n"
            "t.toml:5:10: 'policy' in [restart] is \"alwys\"; it must be one of \"never\", "
            "\"on-failure\", \"always\"; did you mean \"always\"?\n"
            "t.toml:8:7: 'max' in [restart].backoff (1.00s) is smaller than 'initial' (10.00s); "
            "raise max or lower initial\n"
            "t.toml:9:1: missing required key 'address' in [health].readiness (add address = "
            "\"...\")\n"
            "t.toml:12:9: 'level' in [log] is \"loud\"; it must be one of \"debug\", \"info\", "
            "\"warn\", \"error\"");
}

TEST(ConfigTest, CrossFieldRulesNameTheFix) {
  EXPECT_EQ(ErrorOf("[resources]\nlock_memory_required = true\n"),
            "t.toml:2:24: 'lock_memory_required' in [resources] needs lock_memory = true (add "
            "it, or remove lock_memory_required)");
  EXPECT_EQ(ErrorOf("[health.liveness]\nkind = \"notify\"\n"),
            "t.toml:2:8: 'kind' in [health].liveness is \"notify\"; it must be one of \"none\", "
            "\"tcp\", \"http\", \"command\", \"daemon\"");
  EXPECT_EQ(ErrorOf("[health.readiness]\nkind = \"notify\"\naddress = \"x:1\"\n"),
            "t.toml:3:11: 'address' in [health].readiness is only used by kind = \"tcp\" or "
            "\"http\" probes; remove it");
  EXPECT_EQ(ErrorOf("working_dir = \"relative\"\n"),
            "t.toml:1:15: 'working_dir' is \"relative\"; it must be an absolute path such as "
            "\"/var/lib/kvd\"");
}

TEST(ConfigTest, SyntaxErrorHasPosition) {
  std::string err = ErrorOf("name = \"kvd\"\n[resources\n");
  EXPECT_TRUE(err.rfind("t.toml:2:", 0) == 0) << err;
}

TEST(ConfigTest, LoadReportsMissingFileWithErrno) {
  auto c = LoadDaemonConfig("/nonexistent/duende.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code.value(), ENOENT);
  EXPECT_NE(c.error().Message().find("/nonexistent/duende.toml"), std::string::npos);
}

TEST(ConfigTest, LoadNamesTheFileInMessages) {
  auto dir = PrivateTempDir::Make("duende-config-test");
  ASSERT_TRUE(dir.ok()) << dir.error().Message();
  std::string path = dir->path() + "/bad.toml";
  std::ofstream(path) << "[log]\nkeep = -1\n";
  auto c = LoadDaemonConfig(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().context, path + ":2:8: 'keep' in [log] is -1; it must be between 0 and 1000");
}

TEST(ConfigTest, EnvOverridesMlock) {
  DaemonConfig c;
  ::setenv("DUENDE_MLOCK_REQUIRED", "yes", 1);
  ASSERT_TRUE(ApplyEnvOverrides(c).ok());
  EXPECT_TRUE(c.resources.lock_memory);
  EXPECT_TRUE(c.resources.lock_memory_required);
  ::setenv("DUENDE_MLOCK_REQUIRED", "0", 1);
  ::setenv("DUENDE_MLOCK", "off", 1);
  ASSERT_TRUE(ApplyEnvOverrides(c).ok());
  EXPECT_FALSE(c.resources.lock_memory);
  EXPECT_FALSE(c.resources.lock_memory_required);
  ::setenv("DUENDE_MLOCK", "maybe", 1);
  auto r = ApplyEnvOverrides(c);
  ::unsetenv("DUENDE_MLOCK");
  ::unsetenv("DUENDE_MLOCK_REQUIRED");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context,
            "environment variable DUENDE_MLOCK=\"maybe\" is invalid; use 1/true/yes/on or "
            "0/false/no/off");
}

TEST(ConfigTest, FalseWordsOfTheEnvironmentOverrides) {
  for (const char* word : {"0", "false", "no", "off", "OFF", "False"}) {
    DaemonConfig c;
    c.resources.lock_memory = true;
    ::setenv("DUENDE_MLOCK", word, 1);
    auto r = ApplyEnvOverrides(c);
    ::unsetenv("DUENDE_MLOCK");
    ASSERT_TRUE(r.ok()) << word << ": " << r.error().Message();
    EXPECT_FALSE(c.resources.lock_memory) << word;
  }
  for (const char* word : {"1", "true", "yes", "on", "ON"}) {
    DaemonConfig c;
    ::setenv("DUENDE_MLOCK", word, 1);
    auto r = ApplyEnvOverrides(c);
    ::unsetenv("DUENDE_MLOCK");
    ASSERT_TRUE(r.ok()) << word << ": " << r.error().Message();
    EXPECT_TRUE(c.resources.lock_memory) << word;
  }
}

TEST(ConfigTest, NamesOfVariablesAndAccountsAreChecked) {
  EXPECT_EQ(ErrorOf("[env]\n1ABC = \"x\"\n"),
            "t.toml:1:1: environment variable name '1ABC' in 'env' is invalid; use letters, "
            "digits and '_', not starting with a digit");
  EXPECT_NE(ErrorOf("[env]\n\"\" = \"x\"\n").find("environment variable name '' in 'env'"),
            std::string::npos);
  ASSERT_TRUE(Parse("[env]\nA_1 = \"x\"\n").ok());
  for (const char* bad : {"a:b", "a/b", "a b", "a\\tb"}) {
    const std::string text = "user = \"" + std::string(bad) + "\"\ngroup = \"" + bad + "\"\n";
    const std::string err = ErrorOf(text);
    EXPECT_NE(err.find("t.toml:1:8: 'user' is \""), std::string::npos) << bad << ": " << err;
    EXPECT_NE(err.find("t.toml:2:9: 'group' is \""), std::string::npos) << bad << ": " << err;
  }
  auto ok = Parse("user = \"nobody\"\ngroup = \"65534\"\n");
  ASSERT_TRUE(ok.ok()) << ok.error().Message();
  EXPECT_EQ(ok->user, "nobody");
  EXPECT_EQ(ok->group, "65534");
}

TEST(ConfigTest, CommandsMustNameAProgram) {
  for (const char* cmd : {"[]", "[\"\"]", "[\"\", \"--port\"]"}) {
    EXPECT_NE(ErrorOf("command = " + std::string(cmd) + "\n")
                  .find("t.toml:1:11: 'command' must name a program"),
              std::string::npos)
        << cmd;
    const std::string probe =
        "[health.liveness]\nkind = \"command\"\ncommand = " + std::string(cmd) + "\n";
    EXPECT_NE(ErrorOf(probe).find("'command' in [health].liveness must name a program"),
              std::string::npos)
        << cmd;
  }
}

TEST(ConfigTest, CommandAndEnvAreCheckedAgainstTheExecLimits) {
  // One argument past MAX_ARG_STRLEN (128 KiB) would make execve fail with E2BIG.
  const std::string big(200 * 1024, 'a');
  EXPECT_NE(ErrorOf("command = [\"/bin/true\", \"" + big + "\"]\n")
                .find("t.toml:1:11: 'command': argument 1 is 204800 bytes"),
            std::string::npos);
  EXPECT_NE(ErrorOf("command = [\"/bin/true\"]\n[env]\nBIG = \"" + big + "\"\n")
                .find("'env': environment variable BIG is"),
            std::string::npos);
}

TEST(ConfigTest, PreventExitCodesAreZeroTo255) {
  auto ok = Parse("[restart]\nprevent_exit_codes = [0, 78, 255]\n");
  ASSERT_TRUE(ok.ok()) << ok.error().Message();
  EXPECT_EQ(ok->restart.prevent_exit_codes, (std::vector<int>{0, 78, 255}));
  for (const char* bad : {"[-1]", "[256]", "[\"78\"]", "[1, 2.5]", "78"}) {
    EXPECT_NE(ErrorOf("[restart]\nprevent_exit_codes = " + std::string(bad) + "\n")
                  .find("'prevent_exit_codes' in [restart] must be an array of exit codes 0..255"),
              std::string::npos)
        << bad;
  }
}

TEST(ConfigTest, HttpPathBesidePathIsOneError) {
  const std::string err = ErrorOf(
      "[health.readiness]\nkind = \"http\"\naddress = \"127.0.0.1:80\"\npath = \"/a\"\n"
      "http_path = \"/b\"\n");
  EXPECT_EQ(err,
            "t.toml:5:13: give 'path' in [health].readiness, not also its old spelling "
            "'http_path'");
}

TEST(ConfigTest, DeprecationWarningsGoToStderr) {
  testing::internal::CaptureStderr();
  auto parsed = ParseDaemonConfig(
      "[health.readiness]\nkind = \"http\"\naddress = \"127.0.0.1:80\"\nhttp_path = \"/h\"\n",
      "parsed.toml");
  const std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(parsed.ok()) << parsed.error().Message();
  EXPECT_EQ(parsed->health.readiness.http_path, "/h");
  EXPECT_NE(err.find("parsed.toml:4:13: warning: 'http_path' in [health].readiness is deprecated"),
            std::string::npos)
      << err;

  auto dir = PrivateTempDir::Make("duende-config-test");
  ASSERT_TRUE(dir.ok());
  const std::string path = dir->path() + "/loaded.toml";
  std::ofstream(path) << "[health.liveness]\nkind = \"http\"\naddress = \"127.0.0.1:80\"\n"
                         "http_path = \"/live\"\n";
  testing::internal::CaptureStderr();
  auto loaded = LoadDaemonConfig(path);
  const std::string load_err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(loaded.ok()) << loaded.error().Message();
  EXPECT_NE(load_err.find(path + ":4:13: warning: 'http_path' in [health].liveness is deprecated"),
            std::string::npos)
      << load_err;
}

TEST(ConfigTest, ProbeAddressMayHoldRunVariables) {
  auto read = [](const std::string& text, bool variables, ProbeConfig* out) {
    auto table = ParseTomlString(text, "s.toml");
    EXPECT_TRUE(table.ok());
    auto diags = std::make_shared<Diagnostics>();
    TomlReader r(table.value(), "s.toml", "[probe]", diags);
    ConfigReadOptions options;
    options.variables = variables;
    ReadProbeConfig(r, out, true, options);
    return diags->ToString();
  };
  ProbeConfig p;
  EXPECT_EQ(read("kind = \"tcp\"\naddress = \"127.0.0.1:{port.kvd}\"\n", true, &p), "");
  EXPECT_EQ(p.address, "127.0.0.1:{port.kvd}");  // kept as written, expanded later
  ProbeConfig host;
  EXPECT_EQ(read("kind = \"tcp\"\naddress = \"{host}:{port}\"\n", true, &host), "");
  EXPECT_EQ(host.address, "{host}:{port}");
  // Without variables, or with a brace that is never closed, the text is checked as it is.
  ProbeConfig q;
  EXPECT_NE(read("kind = \"tcp\"\naddress = \"127.0.0.1:{port.kvd}\"\n", false, &q), "");
  EXPECT_NE(read("kind = \"tcp\"\naddress = \"127.0.0.1:{port\"\n", true, &q), "");
  EXPECT_NE(read("kind = \"tcp\"\naddress = \"127.0.0.1:{port}x\"\n", true, &q), "");
}

TEST(ConfigTest, SandboxAccountFillsTheTopLevelOneOrMustAgree) {
  auto c = Parse("[sandbox]\nuser = \"nobody\"\ngroup = \"nogroup\"\n");
  ASSERT_TRUE(c.ok()) << c.error().Message();
  EXPECT_EQ(c->user, "nobody");
  EXPECT_EQ(c->group, "nogroup");
  auto same = Parse("user = \"nobody\"\n[sandbox]\nuser = \"nobody\"\n");
  ASSERT_TRUE(same.ok()) << same.error().Message();
  EXPECT_EQ(same->user, "nobody");
  EXPECT_EQ(ErrorOf("user = \"root\"\n[sandbox]\nuser = \"nobody\"\n"),
            "t.toml:1:8: 'user' is \"root\" but [sandbox] says \"nobody\"; write it once");
}

TEST(ConfigTest, FormattedSizesUseTheLargestExactUnit) {
  DaemonConfig c;
  c.resources.memory_max = uint64_t{3} << 30;
  c.resources.address_space = uint64_t{5} << 20;
  c.resources.core_size = uint64_t{7} << 10;
  c.log.max_bytes = 1000;
  const std::string text = FormatDaemonConfig(c);
  EXPECT_NE(text.find("memory_max = \"3GiB\""), std::string::npos) << text;
  EXPECT_NE(text.find("address_space = \"5MiB\""), std::string::npos) << text;
  EXPECT_NE(text.find("core_size = \"7KiB\""), std::string::npos) << text;
  EXPECT_NE(text.find("max_bytes = \"1000\""), std::string::npos) << text;
  c.resources.core_size = 0;
  EXPECT_NE(FormatDaemonConfig(c).find("core_size = \"0\""), std::string::npos);
}

// ---- generators ----

rc::Gen<std::string> PrintableString() {
  return rc::gen::container<std::string>(rc::gen::inRange<char>(' ', '~'));
}

rc::Gen<std::string> Identifier() {
  return rc::gen::nonEmpty(rc::gen::container<std::string>(
      rc::gen::elementOf(std::string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"))));
}

rc::Gen<std::chrono::nanoseconds> GenDuration(int64_t min_ns) {
  // Mixed units, all exactly representable as "<n><unit>".
  return rc::gen::map(
      rc::gen::pair(rc::gen::inRange<int64_t>(0, 100000), rc::gen::inRange<int>(0, 6)),
      [min_ns](std::pair<int64_t, int> p) {
        static constexpr int64_t kScale[] = {
            1, 1'000, 1'000'000, 1'000'000'000, 60'000'000'000, 3'600'000'000'000};
        // Beyond 2^53 ns (104 days) a duration text no longer converts exactly; cap below half.
        int64_t ns = std::min<int64_t>(p.first * kScale[p.second], int64_t{1} << 51);
        return std::chrono::nanoseconds(std::max(ns, min_ns));
      });
}

rc::Gen<ProbeConfig> GenProbe(bool readiness) {
  return rc::gen::exec([readiness] {
    ProbeConfig p;
    int kind = *rc::gen::inRange(0, 6);
    if (!readiness && kind == 1) kind = 0;
    p.kind = static_cast<ProbeConfig::Kind>(kind);
    if (p.kind == ProbeConfig::Kind::kTcp || p.kind == ProbeConfig::Kind::kHttp) {
      p.address = "127.0.0.1:" + std::to_string(*rc::gen::inRange(1, 65536));
    }
    if (p.kind == ProbeConfig::Kind::kHttp) p.http_path = "/" + *PrintableString();
    if (p.kind == ProbeConfig::Kind::kCommand) {
      p.command = *rc::gen::nonEmpty(
          rc::gen::container<std::vector<std::string>>(rc::gen::nonEmpty(PrintableString())));
    }
    p.interval = *GenDuration(1);
    p.timeout = *GenDuration(1);
    p.failure_threshold = *rc::gen::inRange<uint32_t>(1, 1001);
    p.grace_period = *GenDuration(0);
    return p;
  });
}

rc::Gen<DaemonConfig> GenConfig() {
  return rc::gen::exec([] {
    DaemonConfig c;
    c.source_file = "gen.toml";
    if (*rc::gen::arbitrary<bool>()) c.name = *Identifier() + "-1.x";
    c.description = *PrintableString();
    if (*rc::gen::arbitrary<bool>()) {
      c.command = *rc::gen::nonEmpty(
          rc::gen::container<std::vector<std::string>>(rc::gen::nonEmpty(PrintableString())));
    }
    // TOML tables have no order: env comes back sorted by name.
    auto env_keys = *rc::gen::unique<std::vector<std::string>>(Identifier());
    std::sort(env_keys.begin(), env_keys.end());
    for (const auto& k : env_keys) c.env.emplace_back(k, *PrintableString());
    if (*rc::gen::arbitrary<bool>()) c.working_dir = "/" + *PrintableString();
    if (*rc::gen::arbitrary<bool>()) c.user = *Identifier();
    if (*rc::gen::arbitrary<bool>()) c.group = std::to_string(*rc::gen::inRange(0, 70000));
    if (*rc::gen::arbitrary<bool>()) c.pid_file = "/run/" + *Identifier() + ".pid";
    c.shutdown_timeout = *GenDuration(1);
    c.stop_signal = *rc::gen::element(SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP, SIGRTMIN + 3);

    ResourceConfig& r = c.resources;
    if (*rc::gen::arbitrary<bool>())
      r.memory_max = *rc::gen::inRange<uint64_t>(1 << 20, 1ull << 40);
    if (*rc::gen::arbitrary<bool>()) r.cpu_quota = *rc::gen::inRange(1, 102400) / 100.0;
    if (*rc::gen::arbitrary<bool>()) r.pids_max = *rc::gen::inRange<uint64_t>(1, 4194305);
    if (*rc::gen::arbitrary<bool>()) r.open_files = *rc::gen::inRange<uint64_t>(1, 1 << 30);
    if (*rc::gen::arbitrary<bool>()) {
      r.address_space = *rc::gen::inRange<uint64_t>(1 << 20, 1ull << 44);
    }
    if (*rc::gen::arbitrary<bool>()) r.processes = *rc::gen::inRange<uint64_t>(1, 4194305);
    if (*rc::gen::arbitrary<bool>()) r.core_size = *rc::gen::inRange<uint64_t>(0, 1ull << 40);
    r.lock_memory = *rc::gen::arbitrary<bool>();
    r.lock_memory_required = r.lock_memory && *rc::gen::arbitrary<bool>();
    r.lock_on_fault = r.lock_memory && *rc::gen::arbitrary<bool>();

    RestartConfig& rs = c.restart;
    rs.policy = static_cast<RestartConfig::Policy>(*rc::gen::inRange(0, 3));
    rs.prevent_exit_codes = *rc::gen::container<std::vector<int>>(rc::gen::inRange(0, 256));
    rs.start_limit_burst = *rc::gen::inRange<uint32_t>(1, 10001);
    rs.start_limit_interval = *GenDuration(1);
    rs.start_limit_retry_after = *GenDuration(0);
    rs.backoff.initial = *GenDuration(0);
    rs.backoff.max = rs.backoff.initial + *GenDuration(0);
    rs.backoff.multiplier = *rc::gen::inRange(100, 10001) / 100.0;
    rs.backoff.jitter = static_cast<BackoffConfig::Jitter>(*rc::gen::inRange(0, 4));
    rs.backoff.reset_after = *GenDuration(0);
    rs.backoff.immediate_first_restart = *rc::gen::arbitrary<bool>();

    c.health.readiness = *GenProbe(true);
    c.health.liveness = *GenProbe(false);
    c.health.watchdog = *GenDuration(0);

    if (*rc::gen::arbitrary<bool>()) c.log.file = "/var/log/" + *Identifier();
    c.log.max_bytes = *rc::gen::element<uint64_t>(0, 1024, 4097, 10u << 20, 3ull << 30);
    c.log.keep = *rc::gen::inRange<uint32_t>(0, 1001);
    c.log.level = static_cast<LogConfig::Level>(*rc::gen::inRange(0, 4));

    for (const auto& k : *rc::gen::unique<std::vector<std::string>>(Identifier())) {
      if (*rc::gen::arbitrary<bool>()) {
        c.app.insert(k, *PrintableString());
      } else {
        c.app.insert(k, *rc::gen::arbitrary<int64_t>());
      }
    }
    return c;
  });
}

RC_GTEST_PROP(ConfigTest, RenderedConfigParsesBackEqual, ()) {
  DaemonConfig c = *GenConfig();
  std::string text = FormatDaemonConfig(c);
  auto back = ParseDaemonConfig(text, "gen.toml");
  RC_ASSERT(back.ok());
  if (!(*back == c))
    RC_FAIL("round trip differs:\n" + text + "\n---\n" + FormatDaemonConfig(*back));
}

// Every line of an error must start with "file:line:col: ".
bool AllPositioned(const std::string& message) {
  static const std::regex kLine(R"(^gen\.toml:[0-9]+:[0-9]+: .+$)");
  std::istringstream in(message);
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    if (!std::regex_match(line, kLine)) return false;
    any = true;
  }
  return any;
}

RC_GTEST_PROP(ConfigTest, ArbitraryTextNeverCrashesAndErrorsArePositioned, ()) {
  const std::string alphabet = "abcdefgilmnorstxy_=[]{}\"'.,:#0123456789- \n\t\\";
  std::string text = *rc::gen::container<std::string>(rc::gen::elementOf(alphabet));
  auto c = ParseDaemonConfig(text, "gen.toml");
  if (!c.ok()) RC_ASSERT(AllPositioned(c.error().context));
}

RC_GTEST_PROP(ConfigTest, CorruptedValidConfigIsRejectedWithPosition, ()) {
  DaemonConfig c = *GenConfig();
  c.app = toml::table{};  // [app] is free-form: anything is valid there
  std::string text = FormatDaemonConfig(c);
  // Pick a "key = value" line and corrupt its value or its key.
  static const std::regex kAssignment(R"(^\s*([A-Za-z_]+) = .*$)");
  std::vector<std::string> lines;
  std::vector<std::string> sections;  // the [section] each line is in
  std::istringstream in(text);
  std::string section;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '[') section = line;
    lines.push_back(line);
    sections.push_back(section);
  }
  std::vector<size_t> assignments;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (std::regex_match(lines[i], kAssignment)) assignments.push_back(i);
  }
  RC_PRE(!assignments.empty());
  size_t i = *rc::gen::elementOf(assignments);
  std::smatch m;
  std::regex_match(lines[i], m, kAssignment);
  const std::string key = m[1];
  const std::string indent = lines[i].substr(0, lines[i].find(key));
  int how = *rc::gen::inRange(0, 3);
  if (how == 0) {
    lines[i] = indent + key + "x = 1";  // unknown key
  } else if (how == 1) {
    lines[i] = indent + key + " = { bad = 1 }";  // a table where a scalar belongs
  } else {
    lines[i] = indent + key + " = \"\\u0007\"";  // a control character
  }
  std::string corrupted;
  for (const auto& l : lines) corrupted += l + "\n";
  auto back = ParseDaemonConfig(corrupted, "gen.toml");
  // Free text stays valid: the [env] table's names and values, and a few plain strings.
  const std::string& sec = sections[i];
  bool free_text = sec == "[env]" && how != 1;
  if (how == 2) {
    free_text |= sec.empty() && (key == "description" || key == "pid_file");
    free_text |= sec == "[log]" && key == "file";
  }
  if (free_text) return;
  RC_ASSERT(!back.ok());
  RC_ASSERT(AllPositioned(back.error().Message()));
}

}  // namespace
}  // namespace duende::framework

namespace duende::framework {
namespace {

// The complete example of docs/config.md is a valid config.
TEST(ConfigTest, DocumentedExampleIsValid) {
  std::ifstream in(std::string(DUENDE_SOURCE_DIR) + "/docs/config.md");
  std::stringstream doc;
  doc << in.rdbuf();
  std::string text = doc.str();
  size_t start = text.find("```toml\n");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  size_t end = text.find("```", start);
  auto c = ParseDaemonConfig(text.substr(start, end - start), "docs/config.md");
  ASSERT_TRUE(c.ok()) << c.error().context;
  EXPECT_EQ(c->name, "kvd");
  EXPECT_EQ(c->health.liveness.command.size(), 1u);
  EXPECT_EQ(c->app["port"].value<int64_t>(), 7000);
}

}  // namespace
}  // namespace duende::framework
