// [fault.select] in real runs of `duende run`: two kvd targets, of which a probe passes on one
// only (INFO says durable=false on b). The fault acts on the target the probe chose and leaves
// the other alone; pick = "all" acts on each that passed; no candidate passing is a fault that
// did not take effect (faults-took-effect FAILS, exit 1), not an error; a fault with a duration
// keeps it from the moment the probe let it fire.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "duende/model/event_log.h"
#include "support/cli.h"
#include "support/temp_dir.h"

namespace duende::harness {
namespace {

const std::string kDuende = std::string(DUENDE_BINARY_DIR) + "/harness/cli/duende";

// kvd a (durable) and kvd b (durable = false), then `faults`.
std::string TwoKvds(const std::string& faults) {
  return R"([scenario]
name = "select"
duration = "2s"

[[target]]
name = "a"
command = ["duende-fixture-kvd", "--port", "{port.a}", "--data-dir", "{run_dir}/a"]
address = "127.0.0.1:{port.a}"

[[target]]
name = "b"
command = ["duende-fixture-kvd", "--port", "{port.b}", "--data-dir", "{run_dir}/b",
           "--durable", "false"]
address = "127.0.0.1:{port.b}"
)" + faults;
}

struct Outcome {
  int code = -1;
  std::string out;
  std::vector<model::Event> events;

  std::vector<const model::Event*> Of(const std::string& type) const {
    std::vector<const model::Event*> out_events;
    for (const auto& e : events) {
      if (e.type == type) out_events.push_back(&e);
    }
    return out_events;
  }
  // target.spawned per target (2 = restarted once).
  std::map<std::string, int> Spawns() const {
    std::map<std::string, int> n;
    for (const auto* e : Of("target.spawned")) ++n[e->target];
    return n;
  }
  // Exits by SIGKILL per target.
  std::map<std::string, int> Killed() const {
    std::map<std::string, int> n;
    for (const auto* e : Of("target.exited")) {
      if (e->data.value("signal", nlohmann::json()) == 9) ++n[e->target];
    }
    return n;
  }
};

Outcome RunScenario(const testing::TempDir& dir, const std::string& text) {
  Outcome o;
  const std::string events = dir / "events.jsonl";
  auto r = testing::RunCli(kDuende + " run " + dir.Write("s.toml", text) + " --events " + events);
  o.code = r.code;
  o.out = r.out;
  auto ev = model::ReadEventLog(events);
  if (ev.ok()) o.events = std::move(ev).value();
  return o;
}

constexpr const char* kKillVolatile = R"(
[[fault]]
name = "kill-volatile"
kind = "kill"
signal = "SIGKILL"
at = "300ms"
[fault.select]
role = "volatile"
kind = "request"
send = "INFO"
expect = '.*durable=false.*'
)";

TEST(FaultSelectRunTest, KillsTheTargetTheProbeChoseAndLeavesTheOtherAlone) {
  testing::TempDir dir("select");
  auto o = RunScenario(dir, TwoKvds(kKillVolatile));
  ASSERT_EQ(o.code, 0) << o.out;
  auto injected = o.Of("fault.injected");
  ASSERT_EQ(injected.size(), 1u) << o.out;
  const auto& d = injected[0]->data;
  EXPECT_EQ(injected[0]->target, "kill-volatile");
  EXPECT_EQ(d.value("on", ""), "b");
  ASSERT_TRUE(d.contains("select")) << d.dump();
  EXPECT_EQ(d["select"]["passed"], nlohmann::json::array({"b"}));
  EXPECT_EQ(d["select"]["chosen"], "b");
  EXPECT_FALSE(d["select"]["candidates"]["a"].value("ok", true));
  EXPECT_NE(d["select"]["candidates"]["a"].value("detail", "").find("durable=true"),
            std::string::npos)
      << d.dump();
  // b died by the SIGKILL and was restarted; a kept its one process.
  EXPECT_EQ(o.Killed(), (std::map<std::string, int>{{"b", 1}})) << o.out;
  EXPECT_EQ(o.Spawns(), (std::map<std::string, int>{{"a", 1}, {"b", 2}})) << o.out;
  // The console says which target and why.
  EXPECT_NE(o.out.find("fault kill-volatile: kill on b injected (volatile by probe request "
                       "'INFO': b passed (reply 'INFO port="),
            std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("a did not"), std::string::npos) << o.out;
}

TEST(FaultSelectRunTest, PickAllActsOnEveryTargetThatPassed) {
  testing::TempDir dir("select");
  auto o = RunScenario(dir, TwoKvds(R"(
[[fault]]
name = "kill-each"
kind = "kill"
signal = "SIGKILL"
at = "300ms"
[fault.select]
kind = "request"
send = "INFO"
expect = '.*durable=.*'
pick = "all"
)"));
  ASSERT_EQ(o.code, 0) << o.out;
  std::vector<std::string> names, on;
  for (const auto* e : o.Of("fault.injected")) {
    names.push_back(e->target);
    on.push_back(e->data.value("on", ""));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"kill-each@a", "kill-each@b"}));
  EXPECT_EQ(on, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.Killed(), (std::map<std::string, int>{{"a", 1}, {"b", 1}})) << o.out;
  EXPECT_EQ(o.Spawns(), (std::map<std::string, int>{{"a", 2}, {"b", 2}})) << o.out;
}

TEST(FaultSelectRunTest, NoCandidatePassingIsAFaultThatDidNotTakeEffect) {
  testing::TempDir dir("select");
  auto o = RunScenario(dir, TwoKvds(R"(
[[fault]]
name = "kill-none"
kind = "kill"
at = "300ms"
[fault.select]
role = "leader"
kind = "request"
send = "INFO"
expect = '.*leader=yes.*'
within = "300ms"
)"));
  EXPECT_EQ(o.code, 1) << o.out;  // a check failed; the run itself went on to the end
  EXPECT_TRUE(o.Killed().empty()) << o.out;
  EXPECT_EQ(o.Spawns(), (std::map<std::string, int>{{"a", 1}, {"b", 1}})) << o.out;
  auto healed = o.Of("fault.healed");
  ASSERT_EQ(healed.size(), 1u) << o.out;
  EXPECT_FALSE(healed[0]->data.value("took_effect", true));
  EXPECT_EQ(healed[0]->data.value("effects", -1), 0);  // counted: no reaction makes it an effect
  const std::string why = healed[0]->data.value("evidence", "");
  EXPECT_NE(why.find("not injected: no candidate passed the leader probe (request 'INFO') within "
                     "300.0ms"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("; b: reply 'INFO port="), std::string::npos) << why;
  // Reported by the implicit check, with the reason.
  bool failed = false;
  for (const auto* e : o.Of("check.result")) {
    if (e->target != "faults-took-effect") continue;
    failed = e->data.value("verdict", "") == "FAIL" &&
             e->data.dump().find("no candidate passed the leader probe") != std::string::npos;
  }
  EXPECT_TRUE(failed) << o.out;
}

// An http probe whose expect has a capture group names the captured text as the reason (a long
// body, such as etcd's /metrics, says nothing in its first bytes).
TEST(FaultSelectRunTest, AnHttpProbeNamesWhatItsCaptureGroupMatched) {
  testing::TempDir dir("select");
  auto o = RunScenario(dir, R"([scenario]
name = "select-http"
duration = "1s"

[[target]]
name = "web"
command = ["duende-fixture-httpd", "--port", "{port.web}", "--threads", "1"]
address = "127.0.0.1:{port.web}"

[[fault]]
kind = "kill"
at = "200ms"
[fault.select]
kind = "http"
path = "/status"
expect = '(o)k'
)");
  ASSERT_EQ(o.code, 0) << o.out;
  auto injected = o.Of("fault.injected");
  ASSERT_EQ(injected.size(), 1u) << o.out;
  EXPECT_EQ(injected[0]->data["select"]["candidates"]["web"].value("detail", ""),
            "HTTP 200, matched 'o'")
      << injected[0]->data.dump();
  EXPECT_EQ(o.Spawns(), (std::map<std::string, int>{{"web", 2}})) << o.out;
}

// The probe passes only from its sixth call on (about 500 ms of rounds): the pause still lasts
// its full 400 ms from the injection, not until the heal its schedule had planned.
TEST(FaultSelectRunTest, AFaultKeepsItsDurationFromWhenTheProbeLetItFire) {
  testing::TempDir dir("select");
  auto o = RunScenario(dir, TwoKvds(R"(
[[fault]]
name = "pause-late"
kind = "pause"
at = "200ms"
duration = "400ms"
[fault.select]
kind = "command"
command = ["sh", "-c", "n=$(cat {run_dir}/calls 2>/dev/null || echo 0); echo $((n + 1)) > {run_dir}/calls; test $n -ge 5"]
targets = ["a"]
)"));
  ASSERT_EQ(o.code, 0) << o.out;
  auto injected = o.Of("fault.injected");
  auto healed = o.Of("fault.healed");
  ASSERT_EQ(injected.size(), 1u) << o.out;
  ASSERT_EQ(healed.size(), 1u) << o.out;
  EXPECT_EQ(injected[0]->data.value("on", ""), "a");
  EXPECT_GE(injected[0]->data["select"].value("rounds", 0), 6) << injected[0]->data.dump();
  EXPECT_GE(injected[0]->data.value("lag_ns", int64_t{0}), int64_t{400} * 1000000)
      << injected[0]->data.dump();
  EXPECT_GE(healed[0]->ts_ns - injected[0]->ts_ns, int64_t{400} * 1000000);
  EXPECT_TRUE(healed[0]->data.value("took_effect", false)) << o.out;
}

}  // namespace
}  // namespace duende::harness
