// `duende adapter render|detect` as a user runs it.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "duende/framework/command.h"
#include "duende/framework/process.h"
#include "duende/framework/temp_dir.h"
#include "support/files.h"

namespace duende::adapters {
namespace {

using framework::CommandResult;
using framework::RunCommand;

using duende::testing::ReadFile;

const std::string kGolden = std::string(DUENDE_SOURCE_DIR) + "/tests/adapters/golden/";

CommandResult Duende(std::vector<std::string> args) {
  args.insert(args.begin(), DUENDE_CLI);
  auto r = RunCommand(args);
  EXPECT_TRUE(r.ok()) << r.error().Message();
  return r.ok() ? *r : CommandResult{};
}

TEST(AdapterCliTest, RenderPrintsTheArtefact) {
  // The golden files name the config as the test loads it ("full.toml"): run from golden/.
  struct Case {
    const char* platform;
    const char* golden;
  };
  for (const Case& c : {Case{"oci", "full.config.json"}, Case{"docker", "full.docker.sh"},
                        Case{"launchd", "full.plist"}, Case{"compose", "full.compose.yaml"}}) {
    auto r = Duende({"adapter", "render", "--platform", c.platform, kGolden + "full.toml"});
    EXPECT_EQ(r.status.code, 0) << r.err;
    EXPECT_EQ(r.out, ReadFile(kGolden + c.golden)) << c.platform;
  }
  auto unit = Duende({"adapter", "render", "-p", "systemd", "--systemd-version", "254", "-q",
                      kGolden + "minimal.toml"});
  EXPECT_EQ(unit.status.code, 0);
  EXPECT_EQ(unit.err, "");
  // Only the header names the file differently (the path as given).
  std::string golden = ReadFile(kGolden + "minimal.v254.service");
  EXPECT_EQ(unit.out.substr(unit.out.find('\n')), golden.substr(golden.find('\n')));
}

TEST(AdapterCliTest, RenderWarnsAboutWhatThePlatformCannotExpress) {
  auto r = Duende({"adapter", "render", "-p", "systemd", kGolden + "full.toml"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_NE(r.err.find("duende: warning: log.file = '/var/log/kvd.log': not expressed for "
                       "systemd"),
            std::string::npos)
      << r.err;
}

TEST(AdapterCliTest, BadConfigExitsTwoWithFileLineColumn) {
  auto scratch = framework::PrivateTempDir::Make("duende-adapter-cli-test");
  ASSERT_TRUE(scratch.ok()) << scratch.error().Message();
  std::string path = scratch->path() + "/adapter-bad.toml";
  std::ofstream(path) << "name = \"x\"\ncommand = [\"/bin/true\"]\n[resources]\nmemory_mx = 1\n";
  auto r = Duende({"adapter", "render", "-p", "systemd", path});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(path + ":4:1: unknown key 'memory_mx' in [resources]; did you mean "
                              "'memory_max'?"),
            std::string::npos)
      << r.err;
  std::ofstream(path) << "name = \"x\"\n";
  r = Duende({"adapter", "render", "-p", "systemd", path});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("'command' is missing"), std::string::npos) << r.err;
  r = Duende({"adapter", "render", "-p", "upstart", path});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("is not one of native|systemd|oci"), std::string::npos) << r.err;
  r = Duende({"adapter", "render", "-p", "systemd"});
  EXPECT_EQ(r.status.code, 2);
}

// The qemu command line of a microVM, with its private directory as $VM_DIR; without qemu on
// PATH the machine lacks something: exit 3 and the Debian package to install.
TEST(AdapterCliTest, RenderMicrovmPrintsTheQemuCommandLineOrNamesThePackage) {
  auto scratch = framework::PrivateTempDir::Make("duende-adapter-cli");
  ASSERT_TRUE(scratch.ok()) << scratch.error().Message();
  const std::string path = scratch->path() + "/kvd.toml";
  std::ofstream(path) << "name = \"kvd\"\ncommand = [\"/bin/true\", \"--port\", \"7000\"]\n"
                         "[health.readiness]\nkind = \"tcp\"\naddress = \"127.0.0.1:7000\"\n";
  if (framework::FindExecutable("qemu-system-x86_64").ok()) {
    auto r = Duende({"adapter", "render", "-p", "microvm", path});
    EXPECT_EQ(r.status.code, 0) << r.err;
    EXPECT_NE(r.out.find("-M microvm,isa-serial=on"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\"$VM_DIR/initramfs.cpio\""), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hostfwd=tcp:127.0.0.1:7000-10.0.2.15:1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("virtio-blk-device"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cache=none"), std::string::npos) << r.out;
  }
  auto r = RunCommand({"/usr/bin/env", "PATH=/nonexistent", DUENDE_CLI, "adapter", "render", "-p",
                       "microvm", path});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status.code, 3) << r->err;
  EXPECT_NE(r->err.find("apt-get install qemu-system-x86"), std::string::npos) << r->err;
}

TEST(AdapterCliTest, DetectListsThePlatformsThisMachineCanRun) {
  auto r = Duende({"adapter", "detect"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_NE(r.out.find("\nruns here:\n  native\tyes"), std::string::npos) << r.out;
  const bool qemu = framework::FindExecutable("qemu-system-x86_64").ok();
  EXPECT_NE(r.out.find(qemu ? "  microvm\tyes: qemu " : "  microvm\tno: "), std::string::npos)
      << r.out;
}

TEST(AdapterCliTest, DetectHonoursTheOverride) {
  auto r = Duende({"adapter", "detect", "--platform", "systemd"});
  EXPECT_EQ(r.status.code, 0);
  EXPECT_EQ(r.out.substr(0, 8), "systemd\t");
}

TEST(AdapterCliTest, WasiRendersTheRuntimeInvocationOrNamesTheMissingPackage) {
  auto r = Duende({"adapter", "render", "-p", "wasi", "--address", "127.0.0.1:7000", "--dir",
                   "/d=/var/lib/kvd", "-q", kGolden + "minimal.toml"});
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_NE(r.out.find("bridges 127.0.0.1:7000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--dir /d=/var/lib/kvd -- /usr/bin/sleep 1000"), std::string::npos) << r.out;
  // No Node: the environment cannot run it (exit 3), and the message says what to install.
  r = Duende({"adapter", "render", "-p", "wasi", "--node", "duende-no-such-node",
              kGolden + "minimal.toml"});
  EXPECT_EQ(r.status.code, 3);
  EXPECT_NE(r.err.find("Debian package nodejs"), std::string::npos) << r.err;
  // A bad preopen is bad input (exit 2).
  r = Duende({"adapter", "render", "-p", "wasi", "--dir", "nohost", kGolden + "minimal.toml"});
  EXPECT_EQ(r.status.code, 2);
  EXPECT_NE(r.err.find("GUEST=HOST"), std::string::npos) << r.err;
}

TEST(AdapterCliTest, DetectListsWhetherWasiRunsHere) {
  auto r = Duende({"adapter", "detect"});
  EXPECT_EQ(r.status.code, 0);
  const bool node = framework::FindExecutable("node").ok();
  EXPECT_NE(r.out.find(node ? "\n  wasi\tyes: node v" : "\n  wasi\tno: "), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace duende::adapters
