// The model checks (counter, set, register/kv, queue) over hand-built histories: each passes on
// a history the model allows, including concurrent and indeterminate operations, and fails
// with the operations cited on one it does not. Also the history format of mixed workloads
// (f, value, read) and the reply capture that fills `read`.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "duende/harness/checks.h"
#include "duende/harness/load_history.h"
#include "duende/harness/load_protocol.h"
#include "duende/harness/scenario.h"

namespace duende::harness {
namespace {

using model::Event;
using model::Verdict;
constexpr int64_t kMs = 1000000;

// One op: client, invoke and completion in ms, outcome, f, value written, value read.
LoadOp Op(uint32_t client, int64_t from_ms, int64_t to_ms, OpOutcome outcome, std::string f,
          std::string value = "", std::optional<std::string> read = std::nullopt,
          uint64_t key = 0) {
  LoadOp op;
  op.client = client;
  op.invoke_ns = from_ms * kMs;
  op.complete_ns = to_ms * kMs;
  op.outcome = outcome;
  op.key = key;
  op.f = std::move(f);
  op.value = std::move(value);
  op.read = std::move(read);
  return op;
}

constexpr OpOutcome kOk = OpOutcome::kOk;
constexpr OpOutcome kTimeout = OpOutcome::kTimeout;
constexpr OpOutcome kNotSent = OpOutcome::kNotSent;

model::CheckResult Judge(const std::string& kind, const std::vector<LoadOp>& ops) {
  const std::string text = R"([scenario]
name = "t"
[[target]]
name = "d"
command = ["d"]
[load]
[[load.op]]
f = "x"
request = "X"
[[check]]
kind = ")" + kind + "\"\n";
  auto s = ParseScenario(text, "t.toml");
  EXPECT_TRUE(s.ok()) << s.error().Message();
  if (!s.ok()) return {};
  std::vector<Event> events = {Event{0, "run.started", "", nlohmann::json::object()}};
  // Two batches, as the recorder writes them (a batch every ~200 ms).
  const size_t half = ops.size() / 2;
  events.push_back(Event{1, model::events::kLoadOps, "load",
                         EncodeOps({ops.begin(), ops.begin() + static_cast<long>(half)})});
  events.push_back(Event{2, model::events::kLoadOps, "load",
                         EncodeOps({ops.begin() + static_cast<long>(half), ops.end()})});
  return EvaluateCheck(s->checks.at(0), *s, events);
}

std::string Joined(const model::CheckResult& r) {
  std::string out = r.measured;
  for (const auto& e : r.evidence) out += "\n  " + e;
  return out;
}

TEST(ModelHistoryTest, MixedOpsRoundTripAndOldRowsStillRead) {
  std::vector<LoadOp> ops = {Op(1, 10, 12, kOk, "read", "", "41"), Op(2, 11, 13, kOk, "incr"),
                             Op(0, 12, 15, kTimeout, "write", "v7"),
                             Op(3, 13, 14, kOk, "read", "", "")};
  ops[2].text = "no reply within 300ms";
  auto json = EncodeOps(ops);
  EXPECT_EQ(json["ops"][0].size(), 10u) << json.dump();
  EXPECT_TRUE(json["ops"][1][9].is_null()) << json.dump();
  size_t bad = 0;
  auto back = DecodeOps(json, false, &bad);
  EXPECT_EQ(bad, 0u);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[0].f, "read");
  EXPECT_EQ(back[0].read, std::optional<std::string>("41"));
  EXPECT_FALSE(back[1].read.has_value());
  EXPECT_EQ(back[2].value, "v7");
  EXPECT_EQ(back[2].text, "no reply within 300ms");
  EXPECT_EQ(back[3].read, std::optional<std::string>(""));
  // A log written before ops had kinds: 6 and 7 fields.
  // (parsed from text, as the event log is: JSON numbers >= 0 read as unsigned)
  auto old = nlohmann::json::parse(R"({"base_ns":5,"ops":[[0,1,2,"o",3,4],[1,1,2,"e",3,5,"x"]]})");
  back = DecodeOps(old, false, &bad);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].text, "x");
  EXPECT_TRUE(back[1].f.empty());
  // Malformed mixed rows are skipped and counted.
  nlohmann::json broken = {{"base_ns", 5},
                           {"ops",
                            {{0, 1, 2, "o", 3, 4, "", "incr"},
                             {0, 1, 2, "o", 3, 4, "", "", "", nullptr},
                             {0, 1, 2, "o", 3, 4, "", "read", "", 7}}}};
  bad = 0;
  EXPECT_TRUE(DecodeOps(broken, false, &bad).empty());
  EXPECT_EQ(bad, 3u);
}

TEST(ModelHistoryTest, ExpectCaptureIsTheValueRead) {
  auto m = ReplyMatcher::Create("VALUE (\\d+)");
  ASSERT_TRUE(m.ok());
  std::string cap;
  bool captured = false;
  EXPECT_TRUE(m->Matches("VALUE 17", &cap, &captured));
  EXPECT_TRUE(captured);
  EXPECT_EQ(cap, "17");
  EXPECT_FALSE(m->Matches("VALUE x", &cap, &captured));
  EXPECT_FALSE(captured);
  // A group that takes no part in the match reads as "".
  auto either = ReplyMatcher::Create("VALUE (\\d+)|NOTFOUND");
  ASSERT_TRUE(either.ok());
  EXPECT_TRUE(either->Matches("NOTFOUND", &cap, &captured));
  EXPECT_TRUE(captured);
  EXPECT_EQ(cap, "");
  // No group, or a literal: nothing is read.
  auto plain = ReplyMatcher::Create("OK");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->Matches("OK", &cap, &captured));
  EXPECT_FALSE(captured);
  EXPECT_EQ(RequestTemplate("SET {key} {value}", "v{seq}").WrittenValue({12, 3}), "v12");
  EXPECT_EQ(RequestTemplate("ADD s {seq}").WrittenValue({12, 3}), "12");
  EXPECT_EQ(RequestTemplate("INCR {key}").WrittenValue({12, 3}), "");
}

TEST(ModelChecksTest, CounterBoundsEachReadByItsConcurrentIncrements) {
  // Two acknowledged increments before the read; one concurrent with it; one timed out
  // (may count); the read may see 2, 3 or 4.
  std::vector<LoadOp> base = {Op(0, 0, 5, kOk, "incr"), Op(1, 6, 9, kOk, "incr"),
                              Op(2, 9, 30, kOk, "incr"), Op(3, 12, 400, kTimeout, "incr"),
                              Op(4, 90, 95, kNotSent, "incr")};
  for (const char* seen : {"2", "3", "4"}) {
    auto ops = base;
    ops.push_back(Op(5, 20, 25, kOk, "read", "", seen));
    auto r = Judge("counter", ops);
    EXPECT_EQ(r.verdict, Verdict::kPass) << seen << ": " << Joined(r);
  }
  auto low = base;
  low.push_back(Op(5, 20, 25, kOk, "read", "", "1"));
  auto r = Judge("counter", low);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("lost increments: client 5 read k0 +20.0ms..+25.0ms (ok, read '1'), "
                           "but 2 was acknowledged before the read began (1 missing); the last "
                           "of them: client 1 incr k0 +6.0ms..+9.0ms (ok)"),
            std::string::npos)
      << Joined(r);
  auto high = base;
  high.push_back(Op(5, 20, 25, kOk, "read", "", "5"));
  r = Judge("counter", high);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("phantom increments"), std::string::npos) << Joined(r);
  // Deltas other than 1 come from the value written ("INCRBY {key} {value}").
  r = Judge("counter", {Op(0, 0, 5, kOk, "incr", "5"), Op(1, 10, 12, kOk, "read", "", "5")});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  // Keys are separate counters.
  r = Judge("counter", {Op(0, 0, 5, kOk, "incr", "", std::nullopt, 1),
                        Op(1, 10, 12, kOk, "read", "", "0", 2)});
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  // Nothing to judge.
  r = Judge("counter", {Op(0, 0, 5, kOk, "incr")});
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_NE(Joined(r).find("no read succeeded"), std::string::npos) << Joined(r);
  r = Judge("counter", {Op(0, 0, 5, kOk, "write", "1")});
  EXPECT_NE(Joined(r).find("[[load.op]]"), std::string::npos) << Joined(r);
}

TEST(ModelChecksTest, SetWantsEveryAcknowledgedAddInTheFinalRead) {
  std::vector<LoadOp> ops = {Op(0, 0, 5, kOk, "add", "1"), Op(1, 1, 6, kOk, "add", "2"),
                             Op(2, 2, 500, kTimeout, "add", "3"),
                             Op(3, 8, 9, kOk, "read", "", "1")};  // stale, not final: fine
  auto good = ops;
  good.push_back(Op(3, 20, 21, kOk, "read", "", "1 2 3"));
  auto r = Judge("set", good);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  auto lost = ops;
  lost.push_back(Op(3, 20, 21, kOk, "read", "", "1,3"));
  r = Judge("set", lost);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("1 acknowledged add(s) missing from the final read"), std::string::npos)
      << Joined(r);
  EXPECT_NE(Joined(r).find("the first: client 1 add k0 2 +1.0ms..+6.0ms (ok)"), std::string::npos)
      << Joined(r);
  auto unknown = ops;
  unknown.push_back(Op(3, 20, 21, kOk, "read", "", "1 2 9"));
  r = Judge("set", unknown);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("unexpected element '9'"), std::string::npos) << Joined(r);
}

TEST(ModelChecksTest, RegisterReadsAWriteNotOverwrittenBeforeItBegan) {
  std::vector<LoadOp> ops = {Op(0, 0, 5, kOk, "write", "a"), Op(1, 10, 15, kOk, "write", "b"),
                             Op(2, 20, 600, kTimeout, "write", "c")};
  for (const char* seen : {"b", "c"}) {
    auto w = ops;
    w.push_back(Op(3, 30, 31, kOk, "read", "", seen));
    auto r = Judge("register", w);
    EXPECT_EQ(r.verdict, Verdict::kPass) << seen << ": " << Joined(r);
  }
  // Concurrent with the second write: either value.
  auto w = ops;
  w.push_back(Op(3, 12, 13, kOk, "read", "", "a"));
  EXPECT_EQ(Judge("kv", w).verdict, Verdict::kPass);
  for (const char* seen : {"a", "", "z"}) {
    auto bad = ops;
    bad.push_back(Op(3, 30, 31, kOk, "read", "", seen));
    auto r = Judge("kv", bad);
    EXPECT_EQ(r.verdict, Verdict::kFail) << seen << ": " << Joined(r);
    EXPECT_NE(Joined(r).find(std::string(seen) == "z" ? "never written" : "lost write"),
              std::string::npos)
        << Joined(r);
  }
  // Before any acknowledged write, reading nothing is fine.
  EXPECT_EQ(
      Judge("register", {Op(0, 0, 5, kOk, "write", "a"), Op(1, 1, 2, kOk, "read", "", "")}).verdict,
      Verdict::kPass);
}

TEST(ModelChecksTest, QueueLosesNothingAndDeliversOnce) {
  std::vector<LoadOp> ops = {Op(0, 0, 5, kOk, "enqueue", "1"), Op(1, 1, 6, kOk, "enqueue", "2"),
                             Op(2, 10, 11, kOk, "dequeue", "", "1")};
  auto good = ops;
  good.push_back(Op(2, 12, 13, kOk, "dequeue", "", "2"));
  good.push_back(Op(2, 14, 15, kOk, "dequeue", "", ""));
  auto r = Judge("queue", good);
  EXPECT_EQ(r.verdict, Verdict::kPass) << Joined(r);
  auto lost = ops;
  lost.push_back(Op(2, 14, 15, kOk, "dequeue", "", ""));
  r = Judge("queue", lost);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("lost enqueues"), std::string::npos) << Joined(r);
  // An indeterminate dequeue may have taken it.
  auto maybe = lost;
  maybe.push_back(Op(3, 12, 500, kTimeout, "dequeue"));
  EXPECT_EQ(Judge("queue", maybe).verdict, Verdict::kPass);
  auto twice = ops;
  twice.push_back(Op(3, 12, 13, kOk, "dequeue", "", "1"));
  r = Judge("queue", twice);
  EXPECT_EQ(r.verdict, Verdict::kFail) << Joined(r);
  EXPECT_NE(Joined(r).find("dequeued twice"), std::string::npos) << Joined(r);
}

TEST(ModelChecksTest, ScenarioNeedsMixedOpsForAModelCheck) {
  auto s = ParseScenario(R"([scenario]
name = "t"
[[target]]
name = "d"
command = ["d"]
[load]
request = "INCR x"
[[check]]
kind = "counter"
)",
                         "t.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().Message().find("t.toml:9:"), std::string::npos) << s.error().Message();
  EXPECT_NE(s.error().Message().find("[[load.op]]"), std::string::npos) << s.error().Message();
  s = ParseScenario(R"([scenario]
name = "t"
[[target]]
name = "d"
command = ["d"]
[load]
request = "INCR x"
[[load.op]]
f = "incr"
request = "INCR x"
)",
                    "t.toml");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().Message().find("replaces 'request'"), std::string::npos)
      << s.error().Message();
}

}  // namespace
}  // namespace duende::harness
