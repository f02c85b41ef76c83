#include "duende/adapters/platform.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

namespace duende::adapters {
namespace {

class FakeRoot {
 public:
  FakeRoot() {
    std::string t = ::testing::TempDir() + "/duende-root.XXXXXX";
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back('\0');
    root_ = ::mkdtemp(buf.data());
  }
  ~FakeRoot() { std::system(("rm -rf '" + root_ + "'").c_str()); }
  void Mkdir(const std::string& p) { std::system(("mkdir -p '" + root_ + p + "'").c_str()); }
  void Touch(const std::string& p, const std::string& text = "") {
    std::ofstream(root_ + p) << text;
  }
  DetectOptions Options() const {
    DetectOptions o;
    o.root = root_;
    o.use_environment = false;
    return o;
  }

 private:
  std::string root_;
};

TEST(PlatformTest, NamesRoundTrip) {
  for (Platform p : {Platform::kNative, Platform::kSystemd, Platform::kOci, Platform::kDocker,
                     Platform::kPodman, Platform::kCompose, Platform::kLaunchd}) {
    EXPECT_EQ(ParsePlatform(PlatformName(p)), p);
  }
  EXPECT_FALSE(ParsePlatform("sytemd").has_value());
}

TEST(PlatformTest, NothingFoundMeansNative) {
  FakeRoot r;
  Detection d = DetectPlatform(r.Options());
  EXPECT_EQ(d.platform, Platform::kNative);
  EXPECT_FALSE(d.in_container);
}

TEST(PlatformTest, SystemdAsPid1IsDetected) {
  FakeRoot r;
  r.Mkdir("/run/systemd/system");
  Detection d = DetectPlatform(r.Options());
  EXPECT_EQ(d.platform, Platform::kSystemd) << d.reason;
}

TEST(PlatformTest, ContainerMarkersWinOverSystemdAndMeanNative) {
  for (const char* marker : {"/.dockerenv", "/run/.containerenv"}) {
    FakeRoot r;
    r.Mkdir("/run/systemd/system");
    r.Touch(marker);
    Detection d = DetectPlatform(r.Options());
    EXPECT_EQ(d.platform, Platform::kNative) << marker;
    EXPECT_TRUE(d.in_container);
    EXPECT_NE(d.reason.find(marker), std::string::npos);
  }
  FakeRoot r;
  r.Mkdir("/proc/1");
  r.Touch("/proc/1/environ", std::string("HOME=/\0container=podman\0", 24));
  Detection d = DetectPlatform(r.Options());
  EXPECT_TRUE(d.in_container);
  EXPECT_NE(d.reason.find("container=podman"), std::string::npos) << d.reason;
}

TEST(PlatformTest, ExplicitOverrideWins) {
  FakeRoot r;
  r.Touch("/.dockerenv");
  DetectOptions o = r.Options();
  o.override_platform = "oci";
  EXPECT_EQ(DetectPlatform(o).platform, Platform::kOci);
  o.override_platform = "";
  o.use_environment = true;
  ::setenv("DUENDE_PLATFORM", "systemd", 1);
  EXPECT_EQ(DetectPlatform(o).platform, Platform::kSystemd);
  ::setenv("DUENDE_PLATFORM", "bogus", 1);
  Detection d = DetectPlatform(o);
  EXPECT_EQ(d.platform, Platform::kNative);
  EXPECT_NE(d.reason.find("\"bogus\" is not one of"), std::string::npos) << d.reason;
  ::unsetenv("DUENDE_PLATFORM");
}

TEST(PlatformTest, ThisMachineIsAContainerWithoutSystemd) {
  // platform.md: PID 1 is not systemd here and /.dockerenv exists.
  DetectOptions o;
  o.use_environment = false;
  Detection d = DetectPlatform(o);
  EXPECT_EQ(d.platform, Platform::kNative) << d.reason;
}

}  // namespace
}  // namespace duende::adapters
