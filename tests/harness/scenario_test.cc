#include "duende/harness/scenario.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "duende/framework/temp_dir.h"

namespace duende::harness {
namespace {

const char* kValid = R"(
[scenario]
name = "kill-under-load"
description = "kill -9 under load"
duration = "3s"
seed = 7

[[target]]
name = "kvd"
command = ["kvd", "--port", "{port.kvd}"]
address = "127.0.0.1:{port.kvd}"
[target.restart]
policy = "always"
[target.restart.backoff]
initial = "20ms"
jitter = "none"
[target.readiness]
kind = "notify"

[load]
rate = 300
[load.readback]
request = "GET {key}"
expect = "^VALUE {seq}$"

[[fault]]
kind = "kill"
at = "1s"
signal = "SIGKILL"

[[fault]]
kind = "kill"
at = "1500ms"
repeat = 3
every = "200ms"

[[check]]
kind = "no_lost_writes"

[[check]]
kind = "restart_within"
within = "500ms"

[[check]]
kind = "exit_codes"
allowed = [0, "SIGKILL", "TERM"]
)";

std::string Errors(const std::string& text, std::vector<std::string> overrides = {}) {
  auto s = ParseScenario(text, "s.toml", overrides);
  if (s.ok()) return "";
  return s.error().context;
}

TEST(ScenarioTest, ParsesEveryTable) {
  auto s = ParseScenario(kValid, "s.toml");
  ASSERT_TRUE(s.ok()) << s.error().Message();
  EXPECT_EQ(s->meta.name, "kill-under-load");
  EXPECT_EQ(s->meta.duration, std::chrono::seconds(3));
  EXPECT_EQ(s->meta.seed, 7u);
  ASSERT_EQ(s->targets.size(), 1u);
  EXPECT_EQ(s->targets[0].command.size(), 3u);
  EXPECT_EQ(s->targets[0].daemon.restart.backoff.initial, std::chrono::milliseconds(20));
  EXPECT_EQ(s->targets[0].daemon.health.readiness.kind, framework::ProbeConfig::Kind::kNotify);
  ASSERT_TRUE(s->load.has_value());
  EXPECT_EQ(s->load->target, "kvd");
  EXPECT_DOUBLE_EQ(s->load->rate, 300);
  ASSERT_EQ(s->faults.size(), 2u);
  EXPECT_EQ(s->faults[0].name, "kill");
  EXPECT_EQ(s->faults[1].name, "kill-2");
  EXPECT_EQ(s->faults[0].target, "kvd");
  EXPECT_EQ((*s->faults[0].table)["signal"].value<std::string>(), "SIGKILL");
  EXPECT_EQ(InjectionTimes(s->faults[1]).size(), 3u);
  EXPECT_EQ(TimelineEnd(*s), std::chrono::milliseconds(1900));
  ASSERT_EQ(s->checks.size(), 3u);
  EXPECT_EQ(s->checks[1].within, std::chrono::milliseconds(500));
  EXPECT_EQ(s->checks[2].allowed, (std::vector<std::string>{"0", "SIGKILL", "SIGTERM"}));
}

TEST(ScenarioTest, ReportsEveryProblemWithPositionAndFix) {
  std::string text = kValid;
  text.replace(text.find("policy = \"always\""), 6, "polcy ");
  text.replace(text.find("within = \"500ms\""), 16, "within = \"soon\"");
  text += "\n[[check]]\nkind = \"availabilty\"\n";
  std::string e = Errors(text);
  EXPECT_NE(e.find("s.toml:13:1: unknown key 'polcy' in [[target]] #1.restart; did you mean "
                   "'policy'?"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("s.toml:42:10: 'within' in [[check]] #2 must be a duration"), std::string::npos)
      << e;
  EXPECT_NE(e.find("did you mean \"availability\"?"), std::string::npos) << e;
}

TEST(ScenarioTest, RejectsUndefinedTargetsAndLateFaults) {
  std::string text = kValid;
  text += "\n[[fault]]\nkind = \"pause\"\ntarget = \"kvdd\"\nat = \"10s\"\n";
  std::string e = Errors(text);
  EXPECT_NE(e.find("which is not a [[target]]; did you mean \"kvd\"?"), std::string::npos) << e;
  EXPECT_NE(e.find("after the scenario's duration"), std::string::npos) << e;
}

TEST(ScenarioTest, RejectsMissingReadbackForLostWriteCheck) {
  std::string text = kValid;
  text.erase(text.find("[load.readback]"), std::string("[load.readback]\nrequest = \"GET {key}\"\n"
                                                       "expect = \"^VALUE {seq}$\"\n")
                                               .size());
  EXPECT_NE(Errors(text).find("no_lost_writes needs [load.readback]"), std::string::npos);
}

TEST(ScenarioTest, RejectsMissingSections) {
  std::string e = Errors("[scenario]\nduration = 3\n");
  EXPECT_NE(e.find("missing required key 'name'"), std::string::npos) << e;
  EXPECT_NE(e.find("missing required key 'target'"), std::string::npos) << e;
  e = Errors("[scenario]\nname = \"x\"\n[[target]]\nname = \"a\"\n");
  EXPECT_NE(e.find("missing required key 'command'"), std::string::npos) << e;
  e = Errors("[scenario]\nname = \"x\"\n[[target]]\nname = \"a\"\ncommand = \"sleep 1\"\n");
  EXPECT_NE(e.find("only with shell = true"), std::string::npos) << e;
  EXPECT_EQ(Errors("[scenario]\nname = \"x\"\n[[target]]\nname = \"a\"\nshell = true\n"
                   "command = \"sleep 1\"\n"),
            "");
}

TEST(ScenarioTest, SyntaxErrorNamesPosition) {
  std::string e = Errors("[scenario]\nname = \n");
  EXPECT_EQ(e.rfind("s.toml:2:", 0), 0u) << e;
}

TEST(ScenarioTest, OverridesReachEveryTable) {
  auto s = ParseScenario(
      kValid, "s.toml",
      {"scenario.duration=5s", "load.rate=1000", "fault.kill.at=2s", "fault.1.signal=SIGTERM",
       "target.kvd.fiu=true", "check.restart_within.within=\"1s\"", "load.mode=closed"});
  ASSERT_TRUE(s.ok()) << s.error().Message();
  EXPECT_EQ(s->meta.duration, std::chrono::seconds(5));
  EXPECT_DOUBLE_EQ(s->load->rate, 1000);
  EXPECT_EQ(s->load->mode, "closed");
  EXPECT_EQ(s->faults[0].at, std::chrono::seconds(2));
  EXPECT_EQ((*s->faults[1].table)["signal"].value<std::string>(), "SIGTERM");
  EXPECT_TRUE(s->targets[0].fiu);
  EXPECT_EQ(s->checks[1].within, std::chrono::seconds(1));
}

TEST(ScenarioTest, BadOverridesAreUsageErrors) {
  EXPECT_NE(Errors(kValid, {"load.rate"}).find("expected key.path=value"), std::string::npos);
  EXPECT_NE(Errors(kValid, {"fault.nosuch.at=1s"}).find("no element 'nosuch'"), std::string::npos);
  EXPECT_NE(Errors(kValid, {"fault.at=1s"}).find("is an array of tables"), std::string::npos);
  EXPECT_NE(Errors(kValid, {"scenario.name.x=1"}).find("is a value, not a table"),
            std::string::npos);
  // An override of an unknown key is caught like a typo in the file.
  EXPECT_NE(Errors(kValid, {"load.rat=5"}).find("did you mean 'rate'?"), std::string::npos);
}

// Any key of the valid scenario with one character changed is reported as unknown with a
// did-you-mean (or, when the typo happens to hit another valid key, the file still parses).
RC_GTEST_PROP(ScenarioTest, MisspelledKeyIsReportedWithItsPosition, ()) {
  const std::vector<std::string> keys = {"description", "duration", "command",   "address",
                                         "jitter",      "initial",  "readiness", "rate",
                                         "within",      "allowed",  "request"};
  const std::string key = *rc::gen::elementOf(keys);
  const size_t i = *rc::gen::inRange<size_t>(0, key.size());
  const char c = *rc::gen::inRange('a', static_cast<char>('z' + 1));
  std::string bad = key;
  bad[i] = c;
  RC_PRE(bad != key);
  std::string text = kValid;
  size_t at = text.find("\n" + key + " ");
  if (at == std::string::npos)
    at = text.find("[target." + key + "]") + 8;  // table header
  else
    at += 1;
  text.replace(at, key.size(), bad);
  std::string e = Errors(text);
  RC_ASSERT(!e.empty());
  RC_ASSERT(e.find("s.toml:") == 0);
  RC_ASSERT(e.find("unknown key '" + bad + "'") != std::string::npos ||
            e.find("missing required key '" + key + "'") != std::string::npos);
}

RC_GTEST_PROP(ScenarioTest, RepeatedFaultsInjectEveryInterval, ()) {
  const auto repeat = *rc::gen::inRange<uint32_t>(1, 50);
  const auto every_ms = *rc::gen::inRange<int>(1, 1000);
  const auto at_ms = *rc::gen::inRange<int>(0, 1000);
  FaultSpec f;
  f.at = std::chrono::milliseconds(at_ms);
  f.repeat = repeat;
  f.every = std::chrono::milliseconds(every_ms);
  auto times = InjectionTimes(f);
  RC_ASSERT(times.size() == repeat);
  RC_ASSERT(times.front() == f.at);
  for (size_t k = 1; k < times.size(); ++k) RC_ASSERT(times[k] - times[k - 1] == f.every);
}

RC_GTEST_PROP(ScenarioTest, IntegerOverrideRoundTrips, ()) {
  const auto rate = *rc::gen::inRange<int>(1, 1000000);
  auto s = ParseScenario(kValid, "s.toml", {"load.rate=" + std::to_string(rate)});
  RC_ASSERT(s.ok());
  RC_ASSERT(s->load->rate == static_cast<double>(rate));
}

int RunDuende(const std::string& args) {
  std::string cmd =
      std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende " + args + " >/dev/null 2>&1";
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ValidateCommandTest, ExitCodes) {
  auto scratch = framework::PrivateTempDir::Make("duende-validate-test");
  ASSERT_TRUE(scratch.ok()) << scratch.error().Message();
  std::string dir = scratch->path();
  std::string good = dir + "/good.toml", bad = dir + "/bad.toml";
  // validate also checks that the target's program exists: `true` does.
  std::string valid = kValid;
  valid.replace(valid.find("[\"kvd\""), 6, "[\"true\"");
  std::ofstream(good) << valid;
  std::ofstream(bad) << valid + "\n[[check]]\nkind = \"nope\"\n";
  EXPECT_EQ(RunDuende("validate " + good), 0);
  EXPECT_EQ(RunDuende("validate " + bad), 2);
  EXPECT_EQ(RunDuende("validate " + good + " --set load.rate=oops"), 2);
  EXPECT_EQ(RunDuende("validate " + dir + "/missing.toml"), 2);
  EXPECT_EQ(RunDuende("validate"), 2);
}

TEST(ValidateCommandTest, EveryShippedScenarioIsValid) {
  const std::string dir = std::string(DUENDE_SOURCE_DIR) + "/scenarios";
  EXPECT_EQ(RunDuende("validate " + dir + "/*.toml " + dir + "/self-test/*.toml " + dir +
                      "/examples/*.toml " + dir + "/cluster/*.toml"),
            0);
}

}  // namespace
}  // namespace duende::harness

namespace duende::harness {
namespace {

const char* kMemcached = R"([scenario]
name = "mc"
[[target]]
name = "mc"
command = ["memcached", "-p", "{port.mc}"]
address = "127.0.0.1:{port.mc}"
[[target.file]]
name = "conf"
template_file = "mc.conf.in"
mode = 0o640
[load]
terminator = "\r\n"
value = "v{seq}"
request = "set {key} 0 0 {len}\r\n{value}"
expect = "STORED"
[load.readback]
request = "get {key}"
reply_end = "END"
expect = "VALUE {key} 0 {len}\n{value}\nEND"
[[steady_state.probe]]
kind = "request"
address = "127.0.0.1:{port.mc}"
send = "version"
terminator = "\r\n"
reply_lines = 1
)";

TEST(ScenarioProtocolTest, ReadsFramingValueAndFileKeys) {
  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/mc.conf.in") << "port {port.mc}\n";
  auto s = ParseScenario(kMemcached, dir + "/mc.toml");
  ASSERT_TRUE(s.ok()) << s.error().Message();
  const LoadSpec& l = *s->load;
  EXPECT_EQ(l.terminator, "\r\n");
  EXPECT_EQ(l.value, "v{seq}");
  EXPECT_EQ(l.reply_lines, 1u);
  EXPECT_EQ(l.readback_reply_end, "END");
  ASSERT_EQ(s->targets[0].files.size(), 1u);
  const FileSpec& f = s->targets[0].files[0];
  EXPECT_EQ(f.text, "port {port.mc}\n");  // read relative to the scenario file
  EXPECT_EQ(f.path, "files/conf");
  EXPECT_EQ(f.mode, 0640u);
  EXPECT_EQ(FindFile(*s, "conf"), &f);
  EXPECT_EQ(s->steady_state.probes[0].terminator, "\r\n");
  std::remove((dir + "/mc.conf.in").c_str());
}

TEST(ScenarioProtocolTest, DefaultExpectsMatchWhatEachProtocolReplies) {
  std::string http = std::string(kValid);
  http.replace(http.find("rate = 300"), 10, "protocol = \"http\"");
  http.erase(http.find("[load.readback]"), http.find("[[fault]]") - http.find("[load.readback]"));
  http.erase(http.find("[[check]]\nkind = \"no_lost_writes\""), 34);
  auto h = ParseScenario(http, "h.toml");
  ASSERT_TRUE(h.ok()) << h.error().Message();
  EXPECT_EQ(h->load->expect, "");  // any body of a 2xx reply
  auto r = ParseScenario(kValid, "r.toml", {"load.protocol=\"redis\""});
  ASSERT_TRUE(r.ok()) << r.error().Message();
  EXPECT_EQ(r->load->expect, "OK");  // "+OK" reads as OK
}

TEST(ScenarioProtocolTest, FramingKeysBelongToTcpLine) {
  auto s = ParseScenario(kValid, "s.toml", {"load.protocol=\"redis\"", "load.reply_end=\"END\""});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().context.find("applies to protocol = \"tcp-line\" only"), std::string::npos)
      << s.error().context;
}

TEST(ScenarioProtocolTest, DuplicateFilePathsAreRejected) {
  std::string two = std::string(kValid) +
                    "\n[[target.file]]\nname = \"a\"\npath = \"x.conf\"\ntemplate = \"1\"\n"
                    "[[target.file]]\nname = \"b\"\npath = \"x.conf\"\ntemplate = \"2\"\n";
  auto s = ParseScenario(two, "s.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().context.find("two [[target.file]] tables write \"x.conf\""),
            std::string::npos)
      << s.error().context;
}

}  // namespace
}  // namespace duende::harness
