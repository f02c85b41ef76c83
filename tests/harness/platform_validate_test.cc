// `[[target]] platform = ...`: what `duende validate` accepts and what it refuses, before
// anything runs: a platform without an adapter here, a render-only one, and a fault the
// platform cannot take, each with file:line:col naming the platform.
#include <gtest/gtest.h>

#include <string>

#include "duende/harness/fault_kinds.h"
#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

std::string Scenario(const std::string& platform, const std::string& faults,
                     const std::string& target_extra = "") {
  return "[scenario]\nname = \"p\"\nduration = \"5s\"\n"
         "[[target]]\nname = \"kvd\"\nplatform = \"" +
         platform +
         "\"\n"
         "command = [\"duende-fixture-kvd\", \"--port\", \"{port.kvd}\"]\n"
         "address = \"127.0.0.1:{port.kvd}\"\n" +
         target_extra + faults;
}

// "" when it parses, else the file:line:col lines.
std::string Errors(const std::string& text) {
  auto s = ParseScenario(text, "s.toml", {}, DefaultFaultKinds());
  return s.ok() ? "" : s.error().context;
}

constexpr const char* kKill = "[[fault]]\nkind = \"kill\"\nat = \"1s\"\n";
constexpr const char* kPowerLoss = "[[fault]]\nkind = \"power-loss\"\nat = \"1s\"\n";
constexpr const char* kSyscall =
    "[[fault]]\nkind = \"syscall\"\npoint = \"posix/io/rw/write\"\nat = \"1s\"\n";
constexpr const char* kOom = "[[fault]]\nkind = \"oom\"\nat = \"1s\"\n";
constexpr const char* kDiskFull =
    "[[fault]]\nkind = \"disk\"\nmode = \"full\"\npath = \"/data\"\nat = \"1s\"\n";
constexpr const char* kPids = "[[fault]]\nkind = \"pids\"\nat = \"1s\"\n";

TEST(PlatformValidateTest, RunnablePlatformsTakeSignalAndNetworkFaults) {
  for (const char* p : {"native", "systemd", "oci"}) {
    auto s = ParseScenario(Scenario(p, kKill), "s.toml", {}, DefaultFaultKinds());
    ASSERT_TRUE(s.ok()) << p << ": " << s.error().context;
    EXPECT_EQ(s->targets[0].platform, p);
  }
  // The default is native.
  auto s = ParseScenario(
      "[scenario]\nname = \"p\"\n[[target]]\nname = \"a\"\ncommand = [\"true\"]\n", "s.toml");
  ASSERT_TRUE(s.ok()) << s.error().context;
  EXPECT_EQ(s->targets[0].platform, "native");
}

TEST(PlatformValidateTest, APlatformThatDoesNotRunHereIsNamedAtItsKey) {
  EXPECT_NE(Errors(Scenario("docker", ""))
                .find("s.toml:6:12: target kvd: platform \"docker\" is "
                      "render-only"),
            std::string::npos);
  const std::string e = Errors(Scenario("bsd", ""));
  EXPECT_NE(e.find("unknown platform \"bsd\""), std::string::npos) << e;
  EXPECT_NE(e.find("native, systemd, oci, microvm, wasi"), std::string::npos) << e;
}

// The platforms with a runtime of their own take what reaches them: a microVM has power to cut
// and takes kill and pause through its adapter, but no host process for crash, no preload shim
// and no cgroup of duende's; wasi's runtime is a host process (kill, pause, crash) without
// shims or cgroups.
TEST(PlatformValidateTest, MicrovmAndWasiTakeWhatReachesThem) {
  EXPECT_EQ(Errors(Scenario("microvm", kPowerLoss)), "");
  EXPECT_EQ(Errors(Scenario("microvm", kKill)), "");
  EXPECT_NE(Errors(Scenario("microvm", kSyscall)).find("platform microvm cannot load"),
            std::string::npos)
      << Errors(Scenario("microvm", kSyscall));
  EXPECT_NE(Errors(Scenario("microvm", kOom)).find("fault kind \"oom\" cannot act"),
            std::string::npos);
  for (const char* p : {"systemd", "oci"}) {
    EXPECT_NE(Errors(Scenario(p, kDiskFull)).find("disk mode \"full\" fills a private tmpfs"),
              std::string::npos)
        << Errors(Scenario(p, kDiskFull));
  }
  EXPECT_NE(Errors(Scenario("wasi", kPids)).find("fault kind \"pids\" cannot act"),
            std::string::npos)
      << Errors(Scenario("wasi", kPids));
  EXPECT_EQ(Errors(Scenario("wasi", "")), "");
  EXPECT_NE(Errors(Scenario("wasi", kPowerLoss)).find("platform wasi has no power to cut"),
            std::string::npos);
  EXPECT_NE(Errors(Scenario("wasi", kSyscall)).find("platform wasi cannot load"),
            std::string::npos);
}

TEST(PlatformValidateTest, PowerLossNeedsAPlatformWithPower) {
  for (const char* p : {"native", "systemd", "oci"}) {
    const std::string e = Errors(Scenario(p, kPowerLoss));
    EXPECT_NE(e.find("s.toml:10:8: fault kind \"power-loss\" cannot act on target kvd: platform " +
                     std::string(p) + " has no power to cut"),
              std::string::npos)
        << e;
  }
}

TEST(PlatformValidateTest, FaultsAPlatformCannotTakeAreRefusedNamingIt) {
  EXPECT_EQ(Errors(Scenario("systemd", kSyscall)), "");
  EXPECT_EQ(Errors(Scenario("oci", kSyscall)), "");
  EXPECT_NE(Errors(Scenario("wasi", kSyscall))
                .find("fault kind \"syscall\" cannot act on target kvd: platform wasi cannot load"),
            std::string::npos);
  // The daemon's cgroup: the container's own group on oci, a borrowed one where the platform
  // has none duende may limit (PlatformTargetsTest runs them).
  for (const char* p : {"native", "systemd", "oci"}) EXPECT_EQ(Errors(Scenario(p, kOom)), "") << p;
  EXPECT_EQ(Errors(Scenario("oci", "", "fiu = true\n")), "");
  EXPECT_NE(Errors(Scenario("microvm", "", "fiu = true\n"))
                .find("s.toml:9:7: fiu = true: platform microvm"),
            std::string::npos)
      << Errors(Scenario("microvm", "", "fiu = true\n"));
  EXPECT_NE(Errors(Scenario("systemd", "", "external = true\n"))
                .find("an external target is not started by duende"),
            std::string::npos);
}

}  // namespace
}  // namespace duende::harness
