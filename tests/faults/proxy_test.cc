// The proxy and the network fault: forwarding, latency within 10%, bandwidth, down, reset,
// blackhole, slicing.
#include "duende/faults/proxy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "duende/faults/fault.h"
#include "support/fault_child.h"
#include "support/fault_make.h"

namespace duende::faults {
namespace {

using framework::MonotonicNs;

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    framework::SpawnOptions o;
    o.argv = {ECHO_SERVER_PATH};
    auto c = testing::StartChild(o);
    ASSERT_TRUE(c.ok()) << c.error().Message();
    echo_ = std::move(*c);
    port_ = testing::PortOf(echo_->WaitLine("listening on"));
    ASSERT_NE(port_, 0);
    auto p = Proxy::Start(0, port_, 1);
    ASSERT_TRUE(p.ok()) << p.error().Message();
    proxy_ = std::move(*p);
  }

  // Median round trip of `n` echo requests, in ns.
  static int64_t MedianRtt(testing::LineClient& c, int n) {
    std::vector<int64_t> v;
    for (int i = 0; i < n; ++i) {
      int64_t t0 = MonotonicNs();
      EXPECT_EQ(c.Request("ping " + std::to_string(i)), "ping " + std::to_string(i));
      v.push_back(MonotonicNs() - t0);
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

  std::unique_ptr<testing::TestChild> echo_;
  uint16_t port_ = 0;
  std::unique_ptr<Proxy> proxy_;
};

TEST_F(ProxyTest, ForwardsBothWays) {
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(proxy_->port()));
  EXPECT_EQ(c.Request("hello"), "hello");
  EXPECT_EQ(proxy_->Stats().connections, 1u);
  EXPECT_EQ(proxy_->Stats().bytes_up, 6u);
  EXPECT_EQ(proxy_->Stats().bytes_down, 6u);
}

TEST_F(ProxyTest, AddsTheConfiguredLatencyWithinTenPercent) {
  testing::LineClient direct, proxied;
  ASSERT_TRUE(direct.Connect(port_));
  ASSERT_TRUE(proxied.Connect(proxy_->port()));
  int64_t base = MedianRtt(proxied, 5);
  (void)MedianRtt(direct, 5);
  Toxics t;
  t.latency_ns = 30'000'000;
  proxy_->SetToxics(Direction::kUpstream, t);
  proxy_->SetToxics(Direction::kDownstream, t);
  int64_t slowed = MedianRtt(proxied, 9);
  double added = static_cast<double>(slowed - base);
  // Both directions: 60ms added per round trip.
  EXPECT_NEAR(added, 60e6, 6e6) << "base " << base << " slowed " << slowed;
}

TEST_F(ProxyTest, BandwidthLimitsThroughput) {
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(proxy_->port()));
  Toxics t;
  t.bandwidth_bps = 100 * 1024;
  proxy_->SetToxics(Direction::kDownstream, t);
  std::string big(20 * 1024, 'x');
  int64_t t0 = MonotonicNs();
  EXPECT_EQ(c.Request(big).size(), big.size());
  double secs = static_cast<double>(MonotonicNs() - t0) / 1e9;
  EXPECT_GT(secs, 0.18);  // 20 KiB at 100 KiB/s = 0.2 s
  EXPECT_LT(secs, 1.0);
}

TEST_F(ProxyTest, DownRefusesNewConnectionsAndClosesOpenOnes) {
  testing::LineClient before;
  ASSERT_TRUE(before.Connect(proxy_->port()));
  EXPECT_EQ(before.Request("a"), "a");
  ASSERT_TRUE(proxy_->SetDown(true).ok());
  EXPECT_EQ(before.Request("b"), "");
  testing::LineClient during;
  EXPECT_FALSE(during.Connect(proxy_->port()));
  ASSERT_TRUE(proxy_->SetDown(false).ok());
  testing::LineClient after;
  ASSERT_TRUE(after.Connect(proxy_->port()));
  EXPECT_EQ(after.Request("c"), "c");
}

TEST_F(ProxyTest, ResetToxicResetsTheConnection) {
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(proxy_->port()));
  Toxics t;
  t.reset = true;
  proxy_->SetToxics(Direction::kUpstream, t);
  EXPECT_EQ(c.Request("x"), "");
  EXPECT_EQ(proxy_->Stats().resets, 1u);
}

TEST_F(ProxyTest, BlackholeSwallowsBytesAndKeepsTheConnection) {
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(proxy_->port()));
  timeval tv{0, 300000};
  ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Toxics t;
  t.blackhole = true;
  proxy_->SetToxics(Direction::kUpstream, t);
  EXPECT_EQ(c.Request("lost"), "");
  EXPECT_EQ(proxy_->Stats().bytes_dropped, 5u);
}

TEST_F(ProxyTest, SlicerDeliversEverythingInSlices) {
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(proxy_->port()));
  Toxics t;
  t.slice_bytes = 10;
  t.slice_delay_ns = 2'000'000;
  proxy_->SetToxics(Direction::kUpstream, t);
  std::string msg(99, 'y');
  int64_t t0 = MonotonicNs();
  EXPECT_EQ(c.Request(msg), msg);
  EXPECT_GT(MonotonicNs() - t0, 18'000'000);  // 10 slices, 9 gaps of 2ms
}

TEST_F(ProxyTest, NetworkFaultUsesTheRunnersProxyAndRecordsTheEffect) {
  FaultEnv env;
  env.find_proxy = [this](const std::string&) { return proxy_.get(); };
  auto f = testing::MakeFault("network", "toxic = \"latency\"\nlatency = \"20ms\"", env);
  ASSERT_TRUE(f.ok()) << f.error().Message();
  ASSERT_TRUE((*f)->Inject({"echo", -1, -1, "", "", port_}).ok());
  EXPECT_FALSE((*f)->Record().took_effect);  // nothing went through yet
  testing::LineClient c;
  ASSERT_TRUE(c.Connect(proxy_->port()));
  int64_t t0 = MonotonicNs();
  EXPECT_EQ(c.Request("q"), "q");
  EXPECT_GT(MonotonicNs() - t0, 38'000'000);
  EXPECT_TRUE((*f)->Record().took_effect) << testing::Joined((*f)->Record());
  ASSERT_TRUE((*f)->Heal().ok());
  EXPECT_EQ(proxy_->GetToxics(Direction::kUpstream).latency_ns, 0);
}

TEST_F(ProxyTest, PartitionFaultRefusesUntilHealed) {
  FaultEnv env;
  auto f = testing::MakeFault("network", "toxic = \"partition\"", env);
  ASSERT_TRUE(f.ok());
  // No proxy from the runner: the fault starts its own in front of the echo server.
  ASSERT_TRUE((*f)->Inject({"echo", -1, -1, "", "", port_}).ok());
  EXPECT_TRUE((*f)->Record().took_effect) << testing::Joined((*f)->Record());
  ASSERT_TRUE((*f)->Heal().ok());
}

}  // namespace
}  // namespace duende::faults
