// The runner's list of the ports a target will listen on (checked free before it starts).
#include "duende/harness/target_tracking.h"

#include <gtest/gtest.h>

#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

TEST(TargetTrackingTest, PortVariablesComeFromCommandEnvAddressProbesAndRenderedFiles) {
  TargetSpec t;
  t.command = {"kvd", "--port", "{port.a}"};
  t.env = {{"PEER", "127.0.0.1:{port.b}"}};
  t.address = "127.0.0.1:{port.c}";
  t.daemon.health.readiness.address = "127.0.0.1:{port.d}";
  FileSpec f;
  f.name = "nginx.conf";
  f.text = "server { listen 127.0.0.1:{port.web}; }\nserver { listen {port.admin}; }\n";
  t.files.push_back(f);
  EXPECT_EQ(
      internal::PortVariables(t),
      (std::set<std::string>{"port.a", "port.b", "port.c", "port.d", "port.web", "port.admin"}));
}

TEST(TargetTrackingTest, NoPortVariablesWhenNoneAreUsed) {
  TargetSpec t;
  t.command = {"true"};
  FileSpec f;
  f.text = "server { listen 8080; } # {run_dir} and {file.x} are not ports";
  t.files.push_back(f);
  EXPECT_TRUE(internal::PortVariables(t).empty());
}

}  // namespace
}  // namespace duende::harness
