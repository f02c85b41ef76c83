// Hostile numbers in every kind of input duende reads: each is a file:line:col error that names
// the allowed range, never an overflow that validates (before: `at = inf` and
// `at = 9999999999` were accepted, the latter as a negative time after int64 wrapped).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "duende/framework/config.h"
#include "duende/framework/supervisor.h"
#include "duende/harness/explore.h"
#include "duende/harness/gate.h"
#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

// A scenario that validates; each case replaces the marked line.
constexpr const char* kScenario = R"([scenario]
name = "s"
duration = "3s"
[[target]]
name = "t"
command = ["true"]
#TARGET#
[[fault]]
kind = "kill"
at = "1s"
#FAULT#
[load]
rate = 10
#LOAD#
)";

constexpr const char* kDaemon = R"(name = "d"
#TOP#
[health.readiness]
kind = "tcp"
address = "127.0.0.1:7000"
#READINESS#
)";

constexpr const char* kServices = R"([[service]]
name = "svc"
command = ["true"]
#SERVICE#
)";

constexpr const char* kGates = R"([[tier]]
number = 1
  [[tier.step]]
  name = "build"
  kind = "command"
  run = ["true"]
  #STEP#
)";

constexpr const char* kExplore = R"([scenario]
name = "e"
duration = "2s"
[[target]]
name = "kvd"
command = ["true"]
[[check]]
kind = "no_orphans"
[explore]
#EXPLORE#
[[explore.fault]]
kind = "kill"
#EFAULT#
)";

std::string Fill(std::string text, const std::string& marker, const std::string& line) {
  const std::string tag = "#" + marker + "#";
  const size_t at = text.find(tag);
  if (at == std::string::npos) return text;
  text.replace(at, tag.size(), line);
  return text;  // the other markers stay: they are TOML comments
}

std::string ScenarioErrors(const std::string& text, const std::vector<std::string>& sets = {}) {
  auto s = ParseScenario(text, "s.toml", sets);
  return s.ok() ? "" : s.error().Message();
}

std::string DaemonErrors(const std::string& text) {
  auto c = framework::ParseDaemonConfig(text, "d.toml");
  return c.ok() ? "" : c.error().Message();
}

std::string ServicesErrors(const std::string& text) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/duende-hostile-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "mkdtemp failed";
  const std::string dir = buf.data();
  std::ofstream(dir + "/services.toml") << text;
  auto f = framework::LoadServicesFile(dir + "/services.toml");
  std::filesystem::remove_all(dir);
  if (f.ok()) return "";
  // Messages name the file by its full path: keep the part from the file name on.
  std::string m = f.error().Message();
  for (size_t at = m.find(dir + "/"); at != std::string::npos; at = m.find(dir + "/")) {
    m.erase(at, dir.size() + 1);
  }
  return m;
}

std::string GateErrors(const std::string& text) {
  auto c = ParseGateConfig(text, "gates.toml", ".");
  return c.ok() ? "" : c.error().Message();
}

std::string ExploreErrors(const std::string& text) {
  auto e = ParseExploreScenario(text, "e.toml");
  return e.ok() ? "" : e.error().Message();
}

struct Case {
  const char* input;  // which reader
  std::function<std::string()> errors;
  std::string expected;  // a substring of the messages, position included
};

constexpr const char* kDurationRange = "between 0s and 365 days";

std::vector<Case> Cases() {
  auto scenario = [](const std::string& marker, const std::string& line) {
    return [=] { return ScenarioErrors(Fill(kScenario, marker, line)); };
  };
  auto daemon = [](const std::string& marker, const std::string& line) {
    return [=] { return DaemonErrors(Fill(kDaemon, marker, line)); };
  };
  // The fault's `at = "1s"` (line 10) written as `value`.
  auto at = [](const std::string& value) {
    return [=] {
      std::string t = kScenario;
      t.replace(t.find("at = \"1s\""), 9, "at = " + value);
      return ScenarioErrors(t);
    };
  };
  auto overrides = [](std::vector<std::string> sets) {
    return [=] { return ScenarioErrors(Fill(kScenario, "", ""), sets); };
  };
  std::string range = kDurationRange;
  return {
      // Scenarios: fault times (line 10 is the fault's `at`, line 11 the added key).
      {"scenario duration = inf", scenario("FAULT", "duration = inf"),
       "s.toml:11:12: 'duration' in [[fault]] #1 is inf (seconds); it must be a duration " + range},
      {"scenario at = inf", at("inf"),
       "s.toml:10:6: 'at' in [[fault]] #1 is inf (seconds); it must be a duration " + range},
      {"scenario at = 9999999999", at("9999999999"),
       "s.toml:10:6: 'at' in [[fault]] #1 is 9999999999 (seconds); it must be a duration " + range},
      {"scenario at = 1e300", at("1e300"), "s.toml:10:6: 'at' in [[fault]] #1 is 1e+300 (seconds)"},
      {"scenario at = nan", at("nan"),
       "s.toml:10:6: 'at' in [[fault]] #1 is nan (seconds); it must be a duration " + range},
      {"scenario at as text", at("\"9999999999s\""),
       "s.toml:10:6: 'at' in [[fault]] #1 is \"9999999999s\"; it must be a duration " + range},
      {"scenario negative load timeout", scenario("LOAD", "timeout = \"-5s\""),
       "s.toml:14:11: 'timeout' in [load] is \"-5s\"; it must be a duration " + range},
      {"scenario every * repeat past int64", scenario("FAULT", "repeat = 10000\nevery = \"300d\""),
       "after the scenario's duration"},
      {"scenario huge retry count", scenario("FAULT", "repeat = 99999999999"),
       "s.toml:11:10: 'repeat' in [[fault]] #1 is 99999999999; it must be between 1 and 10000"},
      {"scenario size past 2^63",
       scenario("TARGET", "[target.resources]\nmemory_max = \"9000000000G\""),
       "s.toml:8:14: 'memory_max' in [[target]] #1.resources is \"9000000000G\"; it must be a size "
       "between 0 bytes and 2^63-1 bytes"},
      {"scenario negative size", scenario("TARGET", "[target.resources]\ncore_size = -1"),
       "s.toml:8:13: 'core_size' in [[target]] #1.resources is -1; it must be a size"},
      {"scenario zero probe interval",
       scenario("TARGET", "[target.readiness]\nkind = \"tcp\"\ninterval = \"0s\""),
       "s.toml:9:12: 'interval' in [[target]] #1.readiness must be greater than 0"},
      {"scenario backoff of 400 days",
       scenario("TARGET", "[target.restart.backoff]\nmax = \"400d\""),
       "s.toml:8:7: 'max' in [[target]] #1.restart.backoff is \"400d\"; it must be a duration " +
           range},
      // Patterns run on RE2: what it lacks is an error at the key, not a surprise at run time.
      {"scenario backreference", scenario("LOAD", "expect = \"(OK) \\\\1\""),
       "s.toml:14:10: 'expect' in [load]: '(OK) \\1' uses a backreference (\\1); patterns run "
       "on RE2"},
      // --set overrides land in the same readers; a huge index neither throws nor allocates.
      {"--set fault.0.at=inf", overrides({"fault.0.at=inf"}),
       "'at' in [[fault]] #1 is inf (seconds); it must be a duration " + range},
      {"--set huge index", overrides({"target.99999999999999999999.name=x"}),
       "--set target.99999999999999999999.name=x: no element '99999999999999999999' in "
       "[[target]] (use its index 0..0 or its name)"},
      {"--set bracket index", overrides({"target.arg[99999999]=x"}),
       "--set target.arg[99999999]=x: 'target' is an array of tables; name an element"},
      {"--set index past the end", overrides({"target.99999999.name=x"}),
       "no element '99999999' in [[target]] (use its index 0..0 or its name)"},
      // Daemon configs (framework/config.cc).
      {"daemon shutdown_timeout = inf", daemon("TOP", "shutdown_timeout = inf"),
       "d.toml:2:20: 'shutdown_timeout' is inf (seconds); it must be a duration " + range},
      {"daemon interval = -1", daemon("READINESS", "interval = -1"),
       "d.toml:6:12: 'interval' in [health].readiness is -1 (seconds); it must be a duration " +
           range},
      {"daemon memory_max 2^64", daemon("TOP", "[resources]\nmemory_max = \"16777216TiB\""),
       "d.toml:3:14: 'memory_max' in [resources] is \"16777216TiB\"; it must be a size between"},
      {"daemon restart burst", daemon("TOP", "[restart]\nstart_limit_burst = 9999999999"),
       "d.toml:3:21: 'start_limit_burst' in [restart] is 9999999999; it must be between 1 and "
       "10000"},
      // services.toml of `duende supervise`.
      {"services stop timeout",
       [] { return ServicesErrors(Fill(kServices, "SERVICE", "shutdown_timeout = 9999999999")); },
       "services.toml:4:20: 'shutdown_timeout' in [[service]] #1 is 9999999999 (seconds); it must "
       "be a duration " +
           range},
      // gates.toml.
      {"gates timeout", [] { return GateErrors(Fill(kGates, "STEP", "timeout = 1e300")); },
       "gates.toml:7:13: 'timeout' in [[step]] #1 is 1e+300 (seconds); it must be a duration " +
           range},
      // [explore] bounds.
      {"explore window",
       [] {
         return ExploreErrors(Fill(kExplore, "EXPLORE", "window = [\"0s\", \"9999999999s\"]"));
       },
       "e.toml:10:10: give the span of injection times as [start, end]"},
      {"explore step", [] { return ExploreErrors(Fill(kExplore, "EXPLORE", "step = inf")); },
       "e.toml:10:8: 'step' in [explore] is inf (seconds); it must be a duration " + range},
      {"explore int range",
       [] {
         return ExploreErrors(
             Fill(kExplore, "EFAULT", "signal = { min = 1, max = 9223372036854775807 }"));
       },
       "an integer range must lie between -9007199254740992 and 9007199254740992"},
  };
}

TEST(HostileInputTest, OutOfRangeNumbersAreErrorsWithTheRangeInEveryInput) {
  for (const auto& c : Cases()) {
    const std::string errors = c.errors();
    EXPECT_NE(errors.find(c.expected), std::string::npos)
        << c.input << "\n  expected: " << c.expected << "\n  got: " << errors;
  }
}

// The same inputs with sane values validate: the cases above fail for the number alone.
TEST(HostileInputTest, TheSameInputsWithSaneNumbersValidate) {
  EXPECT_EQ(ScenarioErrors(Fill(kScenario, "FAULT", "duration = 1.5")), "");
  EXPECT_EQ(ScenarioErrors(Fill(kScenario, "TARGET", "[target.resources]\nmemory_max = \"1G\"")),
            "");
  EXPECT_EQ(ScenarioErrors(Fill(kScenario, "", ""), {"fault.0.at=2"}), "");
  EXPECT_EQ(DaemonErrors(Fill(kDaemon, "TOP", "shutdown_timeout = \"364d\"")), "");
  EXPECT_EQ(GateErrors(Fill(kGates, "STEP", "timeout = 600")), "");
  EXPECT_EQ(ExploreErrors(Fill(kExplore, "EXPLORE", "window = [\"0s\", \"1s\"]")), "");
  EXPECT_EQ(ServicesErrors(Fill(kServices, "SERVICE", "shutdown_timeout = 30")), "");
}

// An env value or argument past the kernel's limits fails at validation, not as 44 restarts.
TEST(HostileInputTest, ArgvAndEnvPastExecLimitsAreValidationErrors) {
  const std::string big(1 << 20, 'x');
  std::string errors = ScenarioErrors(Fill(kScenario, "TARGET", "env = { BIG = \"" + big + "\" }"));
  EXPECT_NE(errors.find("s.toml:7:7: 'env' in [[target]] #1: environment variable BIG is 1048580 "
                        "bytes (NAME=value); Linux limits one environment string to 131071 bytes "
                        "(MAX_ARG_STRLEN), so execve would fail with E2BIG"),
            std::string::npos)
      << errors.substr(0, 400);
  std::string t = kScenario;
  t.replace(t.find("command = [\"true\"]"), 18, "command = [\"true\", \"" + big + "\"]");
  errors = ScenarioErrors(t);
  EXPECT_NE(errors.find("s.toml:6:11: 'command' in [[target]] #1: argument 1 is 1048576 bytes"),
            std::string::npos)
      << errors.substr(0, 400);
  // Many strings each under the per-string limit, together past ARG_MAX.
  std::string many = "env = { ";
  const long arg_max = ::sysconf(_SC_ARG_MAX);
  const std::string chunk(100000, 'y');
  for (long i = 0; i * 100000 < arg_max + 100000; ++i) {
    many += (i == 0 ? "" : ", ") + std::string("V") + std::to_string(i) + " = \"" + chunk + "\"";
  }
  many += " }";
  errors = ScenarioErrors(Fill(kScenario, "TARGET", many));
  EXPECT_NE(errors.find("execve accepts at most " + std::to_string(arg_max) + " (ARG_MAX)"),
            std::string::npos)
      << errors.substr(0, 400);
  // Daemon configs and services files check the same.
  errors = DaemonErrors("name = \"d\"\ncommand = [\"true\"]\nenv = { BIG = \"" + big + "\" }\n");
  EXPECT_NE(errors.find("d.toml:3:7: 'env': environment variable BIG is 1048580 bytes"),
            std::string::npos)
      << errors.substr(0, 400);
  // Just under the limit is fine.
  EXPECT_EQ(ScenarioErrors(Fill(kScenario, "TARGET",
                                "env = { B = \"" + std::string(131072 - 4, 'z') + "\" }")),
            "");
}

}  // namespace
}  // namespace duende::harness
