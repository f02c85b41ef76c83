// The linearizability checker: hand histories for each model (indeterminate ops that must
// and must not have taken effect), a brute-force cross-check on small random histories, and
// properties: a history of a sequential execution with overlapping intervals is linearizable;
// a corrupted read makes it fail, with a failing sub-history that fails on its own.
#include "duende/harness/linearizability.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>

namespace duende::harness::linearizability {
namespace {

Operation Op(uint32_t client, int64_t invoke, int64_t complete, Function f, Value value,
             Outcome outcome = Outcome::kOk, Value new_value = {}) {
  Operation op;
  op.client = client;
  op.invoke_ns = invoke;
  op.complete_ns = complete;
  op.f = f;
  op.value = std::move(value);
  op.new_value = std::move(new_value);
  op.outcome = outcome;
  return op;
}
Operation W(uint32_t c, int64_t a, int64_t b, const char* v, Outcome o = Outcome::kOk) {
  return Op(c, a, b, Function::kWrite, v, o);
}
Operation R(uint32_t c, int64_t a, int64_t b, Value v, Outcome o = Outcome::kOk) {
  return Op(c, a, b, Function::kRead, std::move(v), o);
}
Operation Cas(uint32_t c, int64_t a, int64_t b, const char* from, const char* to,
              Outcome o = Outcome::kOk) {
  return Op(c, a, b, Function::kCas, from, o, to);
}
constexpr Outcome kInfo = Outcome::kInfo;
constexpr Outcome kFail = Outcome::kFail;

Verdict Check(const std::vector<Operation>& ops, Model model = Model::kCasRegister) {
  CheckOptions o;
  o.model = model;
  auto r = CheckHistory(ops, o);
  EXPECT_TRUE(r.ok()) << r.error().Message();
  return r.ok() ? r->verdict : Verdict::kUndecided;
}

TEST(LinearizabilityTest, SequentialWritesAndReadsAreLinearizable) {
  EXPECT_EQ(Check({W(0, 0, 10, "1"), R(1, 20, 30, "1"), W(1, 40, 50, "2"), R(0, 60, 70, "2")},
                  Model::kRegister),
            Verdict::kLinearizable);
  EXPECT_EQ(Check({R(0, 0, 10, std::nullopt), W(0, 20, 30, "1")}, Model::kRegister),
            Verdict::kLinearizable);
  EXPECT_EQ(Check({}, Model::kRegister), Verdict::kLinearizable);
}

TEST(LinearizabilityTest, StaleReadIsNotLinearizableAndIsExplained) {
  std::vector<Operation> h = {W(0, 0, 10, "1"), W(1, 20, 30, "2"), R(2, 40, 50, "1"),
                              R(0, 60, 70, "2"), R(1, 80, 90, "2")};
  CheckOptions o;
  o.model = Model::kRegister;
  auto r = CheckHistory(h, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->verdict, Verdict::kNotLinearizable);
  ASSERT_TRUE(r->violation.has_value());
  const Violation& v = *r->violation;
  // The two writes and the stale read; the later reads are not needed to fail.
  ASSERT_EQ(v.ops.size(), 3u);
  EXPECT_EQ(v.ops[0].value, "1");
  EXPECT_EQ(v.ops[1].value, "2");
  EXPECT_EQ(v.ops[2].f, Function::kRead);
  EXPECT_EQ(v.ops[2].client, 2u);
  EXPECT_TRUE(v.minimal);
  EXPECT_EQ(v.key_ops, 5u);
  ASSERT_EQ(v.stuck.size(), 1u);
  EXPECT_EQ(v.stuck[0], 2u);
  EXPECT_EQ(v.longest_order, (std::vector<size_t>{0, 1}));
  const std::string text = FormatViolation(v);
  EXPECT_NE(
      text.find("no order explains these 3 of the history's 5 operations (shrunk to 1-minimal)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("  * 2"), std::string::npos) << text;
  EXPECT_NE(text.find("read 1 ok"), std::string::npos) << text;
  EXPECT_NE(text.find("c0 write 1, c1 write 2"), std::string::npos) << text;
  EXPECT_FALSE(IsLinearizable(v.ops, Model::kRegister));
}

TEST(LinearizabilityTest, ConcurrentWriteMayTakeEffectAfterAnOverlappingRead) {
  // w2 overlaps both reads: r1 then w2 then r2 explains them.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), W(1, 15, 60, "2"), R(2, 20, 30, "1"), R(3, 40, 50, "2")},
                  Model::kRegister),
            Verdict::kLinearizable);
  // ...but not a read of 2 that ends before a read of 1 begins.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), W(1, 15, 60, "2"), R(2, 20, 30, "2"), R(3, 40, 50, "1")},
                  Model::kRegister),
            Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, ReadOfAValueNeverWrittenFails) {
  EXPECT_EQ(Check({W(0, 0, 10, "1"), R(1, 20, 30, "7")}, Model::kRegister),
            Verdict::kNotLinearizable);
  // The initial value is nil unless told otherwise.
  CheckOptions o;
  o.model = Model::kRegister;
  o.initial = "0";
  auto r = CheckHistory({R(0, 0, 10, "0")}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kLinearizable);
  EXPECT_EQ(Check({R(0, 0, 10, "0")}, Model::kRegister), Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, IndeterminateWriteThatMustHaveTakenEffect) {
  // Only the timed-out write of 2 explains the read of 2.
  EXPECT_EQ(
      Check({W(0, 0, 10, "1"), W(1, 15, 16, "2", kInfo), R(2, 40, 50, "2")}, Model::kRegister),
      Verdict::kLinearizable);
  // Failed definitely: then nothing wrote 2.
  EXPECT_EQ(
      Check({W(0, 0, 10, "1"), W(1, 15, 16, "2", kFail), R(2, 40, 50, "2")}, Model::kRegister),
      Verdict::kNotLinearizable);
  // An indeterminate op takes effect after its invocation, never before.
  EXPECT_EQ(
      Check({W(0, 0, 10, "1"), R(2, 20, 30, "2"), W(1, 40, 41, "2", kInfo)}, Model::kRegister),
      Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, IndeterminateWriteThatMustNotHaveTakenEffect) {
  // Reads of 1 long after the timed-out write of 2: it never took effect.
  EXPECT_EQ(
      Check({W(0, 0, 10, "1"), W(1, 15, 16, "2", kInfo), R(2, 40, 50, "1"), R(0, 60, 70, "1")},
            Model::kRegister),
      Verdict::kLinearizable);
  // Took effect (read 2), then 1 again with no write of 1 after: no order explains it.
  EXPECT_EQ(
      Check({W(0, 0, 10, "1"), W(1, 15, 16, "2", kInfo), R(2, 40, 50, "2"), R(0, 60, 70, "1")},
            Model::kRegister),
      Verdict::kNotLinearizable);
}

TEST(LinearizabilityTest, CasRegister) {
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 30, "1", "2"), R(2, 40, 50, "2")}),
            Verdict::kLinearizable);
  // A successful cas from a value the register did not hold.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 30, "3", "2"), R(2, 40, 50, "2")}),
            Verdict::kNotLinearizable);
  // An acknowledged cas lost.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 30, "1", "2"), R(2, 40, 50, "1")}),
            Verdict::kNotLinearizable);
  // A failed cas took no effect.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 30, "1", "2", kFail), R(2, 40, 50, "1")}),
            Verdict::kLinearizable);
  // Indeterminate cas: took effect (read 2), or not (read 1 then 2 when it lands late).
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 21, "1", "2", kInfo), R(2, 40, 50, "2")}),
            Verdict::kLinearizable);
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 21, "1", "2", kInfo), R(2, 40, 50, "1"),
                   R(2, 60, 70, "2")}),
            Verdict::kLinearizable);
  // ...but it can only set 2 when it found 1.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 21, "3", "2", kInfo), R(2, 40, 50, "2")}),
            Verdict::kNotLinearizable);
  // Chained: cas 1->2 ok then cas 2->3 indeterminate, read 3.
  EXPECT_EQ(Check({W(0, 0, 10, "1"), Cas(1, 20, 30, "1", "2"), Cas(2, 35, 36, "2", "3", kInfo),
                   R(0, 50, 60, "3")}),
            Verdict::kLinearizable);
}

TEST(LinearizabilityTest, KvChecksEachKeyOnItsOwn) {
  auto K = [](Operation op, const char* key) {
    op.key = key;
    return op;
  };
  EXPECT_EQ(Check({K(W(0, 0, 10, "1"), "x"), K(W(1, 0, 10, "2"), "y"), K(R(2, 20, 30, "1"), "x"),
                   K(R(3, 20, 30, "2"), "y")},
                  Model::kKv),
            Verdict::kLinearizable);
  CheckOptions o;
  o.model = Model::kKv;
  // y reads the 1 written to x: linearizable as a single register, not as a map.
  std::vector<Operation> h = {K(W(0, 0, 10, "1"), "x"), K(R(1, 20, 30, "1"), "y"),
                              K(R(2, 20, 30, "1"), "x")};
  auto r = CheckHistory(h, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r->violation->key, "y");
  EXPECT_EQ(r->stats.keys, 2u);
  EXPECT_NE(
      FormatViolation(*r->violation).find("key y: no order explains these 1 of its 1 operation"),
      std::string::npos);
  o.model = Model::kCasRegister;
  EXPECT_EQ(CheckHistory(h, o)->verdict, Verdict::kLinearizable);
}

TEST(LinearizabilityTest, BadInputIsAnErrorNamingTheLine) {
  CheckOptions o;
  o.model = Model::kRegister;
  Operation cas = Cas(0, 0, 10, "1", "2");
  cas.line = 7;
  auto r = CheckHistory({cas}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("line 7: "), std::string::npos) << r.error().context;
  EXPECT_NE(r.error().context.find("cas-register"), std::string::npos);
  o.model = Model::kCasRegister;
  r = CheckHistory({W(0, 10, 5, "1")}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().context.find("before its invocation"), std::string::npos);
}

TEST(LinearizabilityTest, BudgetExhaustedIsUndecided) {
  // Many concurrent indeterminate writes whose values are all read make a search that a
  // zero budget cannot finish.
  std::vector<Operation> h;
  for (uint32_t c = 0; c < 60; ++c) {
    h.push_back(W(c, 0, 1, std::to_string(c).c_str(), kInfo));
  }
  for (uint32_t c = 0; c < 60; ++c) {
    h.push_back(R(100 + c, 10 + 20 * c, 20 + 20 * c, std::to_string((c * 7) % 60)));
  }
  CheckOptions o;
  o.model = Model::kRegister;
  o.budget = std::chrono::nanoseconds(0);
  auto r = CheckHistory(h, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kUndecided);
  o.budget = std::chrono::seconds(60);
  o.max_states = 10;
  r = CheckHistory(h, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kUndecided);
}

// ---- brute force ---------------------------------------------------------------------------

// Tries every subset of the indeterminate ops and every order of the chosen ops that respects
// real time: the definition, for histories of a few ops.
bool BruteForce(const std::vector<Operation>& all, const Value& initial = {}) {
  std::vector<Operation> ops;
  for (const Operation& op : all) {
    if (op.outcome == kFail || (op.outcome == kInfo && op.f == Function::kRead)) continue;
    ops.push_back(op);
  }
  std::vector<size_t> info;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].outcome == kInfo) info.push_back(i);
  }
  for (uint32_t mask = 0; mask < (1u << info.size()); ++mask) {
    std::vector<size_t> chosen;
    for (size_t i = 0; i < ops.size(); ++i) {
      auto it = std::find(info.begin(), info.end(), i);
      if (it == info.end() || (mask >> (it - info.begin())) & 1) chosen.push_back(i);
    }
    std::sort(chosen.begin(), chosen.end());
    do {
      bool ok = true;
      for (size_t x = 0; x < chosen.size() && ok; ++x) {
        for (size_t y = x + 1; y < chosen.size() && ok; ++y) {
          const Operation& later = ops[chosen[x]];
          const Operation& earlier = ops[chosen[y]];
          // `earlier` is placed after `later` although it returned before `later` began.
          if (earlier.outcome != kInfo && earlier.complete_ns < later.invoke_ns) ok = false;
        }
      }
      Value state = initial;
      for (size_t i = 0; i < chosen.size() && ok; ++i) {
        const Operation& op = ops[chosen[i]];
        if (op.f == Function::kRead) {
          ok = state == op.value;
        } else if (op.f == Function::kWrite) {
          state = op.value;
        } else if (state == op.value) {
          state = op.new_value;
        } else {
          ok = op.outcome == kInfo;
        }
      }
      if (ok) return true;
    } while (std::next_permutation(chosen.begin(), chosen.end()));
  }
  return false;
}

rc::Gen<Operation> GenSmallOp() {
  return rc::gen::apply(
      [](uint32_t client, int64_t invoke, int64_t length, int f, int a, int b, int outcome) {
        Operation op;
        op.client = client;
        op.invoke_ns = invoke;
        op.complete_ns = invoke + length;
        op.f = static_cast<Function>(f);
        op.value = a == 0 ? Value() : Value(std::to_string(a));
        if (op.f == Function::kCas) op.new_value = std::to_string(b);
        op.outcome = outcome < 6 ? Outcome::kOk : outcome == 6 ? kFail : kInfo;
        return op;
      },
      rc::gen::inRange<uint32_t>(0, 4), rc::gen::inRange<int64_t>(0, 40),
      rc::gen::inRange<int64_t>(0, 15), rc::gen::inRange(0, 3), rc::gen::inRange(0, 3),
      rc::gen::inRange(1, 3), rc::gen::inRange(0, 8));
}

RC_GTEST_PROP(LinearizabilityTest, AgreesWithBruteForceOnSmallHistories, ()) {
  const auto ops =
      *rc::gen::container<std::vector<Operation>>(*rc::gen::inRange<size_t>(0, 7), GenSmallOp());
  const bool expected = BruteForce(ops);
  CheckOptions o;
  o.model = Model::kCasRegister;
  auto r = CheckHistory(ops, o);
  RC_ASSERT(r.ok());
  RC_ASSERT((r->verdict == Verdict::kLinearizable) == expected);
  if (!expected) {
    // The reported sub-history fails on its own, by the definition too.
    RC_ASSERT(!BruteForce(r->violation->ops));
    RC_ASSERT(r->violation->ops.size() <= ops.size());
  }
}

// Histories whose writes all write distinct values (as duende's {seq} does): the zone test
// decides them, and must agree with the search.
RC_GTEST_PROP(LinearizabilityTest, ZoneTestAgreesWithTheSearch, ()) {
  const auto n = *rc::gen::inRange<size_t>(0, 40);
  std::vector<Operation> ops;
  int written = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t invoke = *rc::gen::inRange<int64_t>(0, 200);
    const int64_t length = *rc::gen::inRange<int64_t>(0, 40);
    if (*rc::gen::inRange(0, 3) == 0) {
      ops.push_back(W(0, invoke, invoke + length, std::to_string(++written).c_str()));
    } else {
      const int v = *rc::gen::inRange(0, written + 2);  // 0: nil; past `written`: never written
      ops.push_back(R(1, invoke, invoke + length, v == 0 ? Value() : Value(std::to_string(v))));
    }
  }
  CheckOptions fast;
  fast.model = Model::kRegister;
  CheckOptions slow = fast;
  slow.zone_fast_path = false;
  auto a = CheckHistory(ops, fast);
  auto b = CheckHistory(ops, slow);
  RC_ASSERT(a.ok() && b.ok());
  RC_ASSERT(a->verdict == b->verdict);
  RC_ASSERT(a->verdict != Verdict::kUndecided);
  if (a->verdict == Verdict::kNotLinearizable) {
    RC_ASSERT(!IsLinearizable(a->violation->ops, Model::kRegister));
  }
}

// ---- properties over sequential executions -------------------------------------------------

// A sequential execution of a cas-register by `clients` clients, each op's interval drawn
// around its linearization point (10 ns apart), so intervals overlap freely. Some writes and
// cas are indeterminate, and whether they took effect is drawn too.
std::vector<Operation> GenSequentialHistory() {
  const auto n = *rc::gen::inRange<size_t>(1, 120);
  const auto clients = *rc::gen::inRange<uint32_t>(1, 8);
  std::vector<Operation> ops;
  Value state;
  int next_value = 1;
  for (size_t i = 0; i < n; ++i) {
    const int64_t point = static_cast<int64_t>(i) * 10;
    Operation op;
    op.client = *rc::gen::inRange<uint32_t>(0, clients);
    op.invoke_ns = point - *rc::gen::inRange<int64_t>(0, 40);
    op.complete_ns = point + *rc::gen::inRange<int64_t>(0, 40);
    const int kind = *rc::gen::inRange(0, 10);
    const bool info = *rc::gen::inRange(0, 10) == 0;
    const bool applied = !info || *rc::gen::arbitrary<bool>();
    if (kind < 4) {
      op.f = Function::kRead;
      op.value = state;
    } else if (kind < 7) {
      op.f = Function::kWrite;
      // Few distinct values, so that the search has choices to make.
      op.value = std::to_string(*rc::gen::inRange(0, 4) +
                                (*rc::gen::arbitrary<bool>() ? 0 : next_value++));
      if (applied) state = op.value;
    } else {
      op.f = Function::kCas;
      op.value =
          *rc::gen::arbitrary<bool>() ? state : Value(std::to_string(*rc::gen::inRange(0, 4)));
      op.new_value = std::to_string(*rc::gen::inRange(0, 4));
      if (state == op.value) {
        if (applied) state = op.new_value;
      } else if (!info) {
        op.outcome = kFail;
      }
    }
    if (info) {
      op.outcome = kInfo;
      // An op that did not take effect may also never have been applied: put its invocation
      // anywhere before the point (it could have landed later, or never).
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

RC_GTEST_PROP(LinearizabilityTest, SequentialExecutionsAreLinearizable, ()) {
  const auto ops = GenSequentialHistory();
  CheckOptions o;
  o.model = Model::kCasRegister;
  auto r = CheckHistory(ops, o);
  RC_ASSERT(r.ok());
  RC_ASSERT(r->verdict == Verdict::kLinearizable);
}

RC_GTEST_PROP(LinearizabilityTest, CorruptedReadFailsWithAFailingSubHistory, ()) {
  auto ops = GenSequentialHistory();
  std::vector<size_t> reads;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].f == Function::kRead && ops[i].outcome == Outcome::kOk) reads.push_back(i);
  }
  RC_PRE(!reads.empty());
  const size_t victim = *rc::gen::elementOf(reads);
  const bool never_written = *rc::gen::arbitrary<bool>();
  ops[victim].value =
      never_written ? Value("never-written") : Value(std::to_string(*rc::gen::inRange(0, 4)));
  CheckOptions o;
  o.model = Model::kCasRegister;
  auto r = CheckHistory(ops, o);
  RC_ASSERT(r.ok());
  RC_ASSERT(r->verdict != Verdict::kUndecided);
  if (never_written) RC_ASSERT(r->verdict == Verdict::kNotLinearizable);
  if (r->verdict == Verdict::kNotLinearizable) {
    const Violation& v = *r->violation;
    RC_LOG() << FormatViolation(v);
    for (const Operation& op : ops) {
      RC_LOG() << op.invoke_ns << ".." << op.complete_ns << " " << FormatOperation(op) << '\n';
    }
    RC_ASSERT(!v.ops.empty());
    RC_ASSERT(v.ops.size() <= ops.size());
    RC_ASSERT(!IsLinearizable(v.ops, Model::kCasRegister));
    RC_ASSERT(!v.stuck.empty());
    RC_ASSERT(v.longest_order.size() + v.stuck.size() == v.ops.size());
    if (never_written) {
      // Nothing explains a value nobody wrote: the read alone is the failing sub-history.
      RC_ASSERT(v.ops.size() == 1u);
      RC_ASSERT(v.ops[0].value == Value("never-written"));
    }
  }
}

}  // namespace
}  // namespace duende::harness::linearizability
