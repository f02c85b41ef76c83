// History files for the linearizability checker (duende JSONL, Jepsen history.edn, jepsen.util
// log lines): what each parses to, file:line:col errors for bad input, and `duende
// check-history`'s exit codes (0 linearizable, 1 not, 2 bad input, 3 undecided) and output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "duende/framework/read_limits.h"
#include "duende/harness/linearizability.h"
#include "duende/harness/linearizability_history.h"
#include "support/cli.h"
#include "support/temp_dir.h"

namespace duende::harness::linearizability {
namespace {

const std::string kHistories = DUENDE_SOURCE_DIR "/tests/harness/histories/";

History Parse(const std::string& text, const std::string& name, Model model = Model::kCasRegister,
              HistoryFormat format = HistoryFormat::kAuto) {
  auto h = ParseHistory(text, name, model, format);
  EXPECT_TRUE(h.ok()) << h.error().Message();
  return h.ok() ? *h : History{};
}

std::string ParseError(const std::string& text, const std::string& name,
                       Model model = Model::kCasRegister) {
  auto h = ParseHistory(text, name, model);
  EXPECT_FALSE(h.ok()) << text;
  return h.ok() ? std::string() : h.error().Message();
}

TEST(HistoryFileTest, JsonlOneOperationPerLine) {
  History h = Parse(
      "{\"client\":3,\"f\":\"cas\",\"value\":[1,\"b\"],\"invoke_ns\":5,\"complete_ns\":9,"
      "\"outcome\":\"fail\",\"key\":\"k1\"}\n"
      "\n"
      "{\"client\":0,\"f\":\"read\",\"value\":null,\"invoke_ns\":10,\"outcome\":\"info\"}\n",
      "h.jsonl");
  ASSERT_EQ(h.ops.size(), 2u);
  EXPECT_EQ(h.format, HistoryFormat::kJsonl);
  EXPECT_FALSE(h.times_are_positions);
  EXPECT_EQ(h.ops[0].client, 3u);
  EXPECT_EQ(h.ops[0].f, Function::kCas);
  EXPECT_EQ(h.ops[0].value, "1");
  EXPECT_EQ(h.ops[0].new_value, "b");
  EXPECT_EQ(h.ops[0].outcome, Outcome::kFail);
  EXPECT_EQ(h.ops[0].key, "k1");
  EXPECT_EQ(h.ops[0].line, 1u);
  EXPECT_EQ(h.ops[1].outcome, Outcome::kInfo);
  EXPECT_EQ(h.ops[1].line, 3u);
  EXPECT_FALSE(h.ops[1].value.has_value());
}

TEST(HistoryFileTest, JsonlErrorsNameLineColumnAndFix) {
  EXPECT_EQ(ParseError("{\"client\":0,\"f\":\"write\",\"value\":1,\"invoke_ns\":1,"
                       "\"complete_ns\":2,\"outcome\":\"ok\"}\n"
                       "{\"client\":0,\"f\":\"append\",\"value\":1}\n",
                       "x.jsonl"),
            "x.jsonl:2:13: \"f\" must be \"read\", \"write\" or \"cas\"");
  EXPECT_EQ(ParseError("{\"client\":0,\"f\":\"write\",\"value\":1,\"invoke_ns\":1,"
                       "\"outcome\":\"ok\"}\n",
                       "x.jsonl"),
            "x.jsonl:1:1: \"complete_ns\" is missing: only an \"info\" operation may leave it out");
  EXPECT_EQ(ParseError("{\"client\":0,\"f\":\"cas\",\"value\":3,\"invoke_ns\":1,"
                       "\"complete_ns\":2,\"outcome\":\"ok\"}\n",
                       "x.jsonl"),
            "x.jsonl:1:23: a cas \"value\" must be [expected, new], such as [1, 2]");
  EXPECT_EQ(ParseError("{\"client\":0,\"f\":\"cas\",\"value\":[1,2],\"invoke_ns\":1,"
                       "\"complete_ns\":2,\"outcome\":\"ok\"}\n",
                       "x.jsonl", Model::kRegister),
            "x.jsonl:1:13: a cas under model register: check it with --model cas-register");
  EXPECT_EQ(ParseError("{\"client\":0,\"f\":\"read\",\"invoke_ns\":1,\"complete_ns\":2,"
                       "\"outcome\":\"ok\"}\n",
                       "x.jsonl", Model::kKv),
            "x.jsonl:1:1: model kv needs the register's \"key\" on every operation");
  const std::string bad = ParseError("{\"client\":0,\n", "x.jsonl");
  EXPECT_EQ(bad.rfind("x.jsonl:1:", 0), 0u) << bad;
  EXPECT_NE(bad.find("not JSON"), std::string::npos) << bad;
}

TEST(HistoryFileTest, JepsenEdnVectorPairsInvocationsWithCompletions) {
  History h = Parse(framework::ReadFileLimited(kHistories + "cas-register-ok.edn", 1 << 20).value(),
                    "cas-register-ok.edn");
  EXPECT_EQ(h.format, HistoryFormat::kEdn);
  EXPECT_TRUE(h.times_are_positions);
  ASSERT_EQ(h.ops.size(), 5u);  // the nemesis is left out
  EXPECT_EQ(h.ops[0].f, Function::kWrite);
  EXPECT_EQ(h.ops[0].value, "1");
  EXPECT_EQ(h.ops[1].f, Function::kRead);
  EXPECT_EQ(h.ops[1].value, "1");  // a read's value is its completion's
  EXPECT_EQ(h.ops[2].f, Function::kCas);
  EXPECT_EQ(h.ops[2].outcome, Outcome::kInfo);
  EXPECT_EQ(h.ops[2].value, "1");
  EXPECT_EQ(h.ops[2].new_value, "4");
  EXPECT_EQ(h.ops[2].line, 7u);
  EXPECT_EQ(h.ops[3].outcome, Outcome::kFail);
  CheckOptions o;
  EXPECT_EQ(CheckHistory(h.ops, o)->verdict, Verdict::kLinearizable);
}

TEST(HistoryFileTest, JepsenEdnOneMapPerLineAndKvTuples) {
  History h =
      Parse(framework::ReadFileLimited(kHistories + "cas-register-stale.edn", 1 << 20).value(),
            "cas-register-stale.edn");
  ASSERT_EQ(h.ops.size(), 4u);
  CheckOptions o;
  EXPECT_EQ(CheckHistory(h.ops, o)->verdict, Verdict::kNotLinearizable);

  History kv = Parse(framework::ReadFileLimited(kHistories + "kv-independent.edn", 1 << 20).value(),
                     "kv-independent.edn", Model::kKv);
  ASSERT_EQ(kv.ops.size(), 5u);
  EXPECT_EQ(kv.ops[0].key, "1");
  EXPECT_EQ(kv.ops[1].key, ":b");
  EXPECT_EQ(kv.ops[3].key, ":b");
  EXPECT_EQ(kv.ops[3].value, "5");
  EXPECT_EQ(kv.ops[3].new_value, "6");
  EXPECT_EQ(kv.ops[4].value, "2");
  o.model = Model::kKv;
  auto r = CheckHistory(kv.ops, o);
  ASSERT_EQ(r->verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r->violation->key, ":b");
}

TEST(HistoryFileTest, JepsenLogLines) {
  History h =
      Parse(framework::ReadFileLimited(kHistories + "register-partition.log", 1 << 20).value(),
            "register-partition.log", Model::kRegister);
  EXPECT_EQ(h.format, HistoryFormat::kJepsenLog);
  ASSERT_EQ(h.ops.size(), 6u);
  EXPECT_EQ(h.ops[0].line, 2u);
  EXPECT_EQ(h.ops[2].outcome, Outcome::kInfo);
  EXPECT_EQ(h.ops[2].value, "4");
  // Newer Jepsen: "jepsen.util: 3 :invoke ...", found by content.
  History newer = Parse(
      "12:00:01 INFO [worker 0] jepsen.util: 0 :invoke :write 5\n"
      "12:00:01 INFO [worker 0] jepsen.util: 0 :ok :write 5\n",
      "run", Model::kRegister);
  ASSERT_EQ(newer.ops.size(), 1u);
  EXPECT_EQ(newer.ops[0].value, "5");
}

TEST(HistoryFileTest, JepsenErrorsNameLineColumnAndFix) {
  EXPECT_EQ(ParseError("[{:type :invoke, :f :read, :process 0}\n"
                       " {:type :ok, :f :write, :value 1, :process 0}]\n",
                       "h.edn"),
            "h.edn:2:17: process 0 completes :write but invoked :read at line 1");
  EXPECT_EQ(ParseError("[{:type :invoke, :f :read, :process 0}\n"
                       " {:type :invoke, :f :read, :process 0}]\n",
                       "h.edn"),
            "h.edn:2:2: process 0 invokes :read while its :read of line 1 has not completed (a "
            "process runs one operation at a time)");
  EXPECT_EQ(ParseError("[{:type :ok, :f :read, :value 1, :process 4}]", "h.edn"),
            "h.edn:1:2: process 4 completes :read with :ok but invoked nothing before");
  EXPECT_EQ(ParseError("[{:type :invoke, :f :append, :process 0}]", "h.edn"),
            "h.edn:1:21: unknown :f :append: the register models know :read, :write and :cas");
  EXPECT_EQ(ParseError("[{:type :invoke, :f :read, :process 0}", "h.edn"),
            "h.edn:1:1: this form is never closed: add ']'");
  EXPECT_EQ(ParseError("[{:type :invoke :f}]", "h.edn"),
            "h.edn:1:2: a map needs a value for every key (an odd number of forms)");
  EXPECT_EQ(ParseError("{:type :invoke, :f :write, :value 1, :process 0}\n"
                       "{:type :ok, :f :write, :value 1, :process 0}\n"
                       "{:type :invoke, :f :cas, :value 3, :process 1}\n"
                       "{:type :ok, :f :cas, :value 3, :process 1}\n",
                       "h.edn"),
            "h.edn:3:33: a :cas value must be [expected new], such as [1 2]; found 3");
  EXPECT_EQ(ParseError("[{:type :invoke, :f :write, :value 1, :process 0}]", "h.edn", Model::kKv),
            "h.edn:1:36: model kv needs each value as a [key value] tuple (jepsen.independent), "
            "such as [:x 3] or [1 [2 3]] for a cas; found 1");
  EXPECT_EQ(ParseError("[{:type :invoke, :f :read, :process -1}]", "h.edn"),
            "h.edn:1:37: a process must be a client's number (0, 1, ...) or a keyword such as "
            ":nemesis, not -1");
  EXPECT_EQ(ParseError("INFO  jepsen.util - 3 :invoke\n", "j.log"),
            "j.log:1:30: a jepsen.util line needs PROCESS :TYPE :F [VALUE], such as \"INFO  "
            "jepsen.util - 3 :invoke :read nil\"");
  // Deep nesting is refused, not a stack overflow.
  EXPECT_NE(ParseError(std::string(100000, '['), "deep.edn").find("nest deeper"),
            std::string::npos);
}

TEST(HistoryFileTest, InvokedAndNeverCompletedIsIndeterminate) {
  History h = Parse("[{:type :invoke, :f :write, :value 2, :process 0}]", "h.edn");
  ASSERT_EQ(h.ops.size(), 1u);
  EXPECT_EQ(h.ops[0].outcome, Outcome::kInfo);
}

// ---- duende check-history ------------------------------------------------------------------

std::string Duende() { return DUENDE_PATH; }

TEST(CheckHistoryCliTest, ExitCodesFollowTheVerdict) {
  auto ok = testing::RunCli(Duende() + " check-history " + kHistories +
                            "cas-register-ok.edn --model cas-register");
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("linearizable: 5 operations of 3 clients, model cas-register"),
            std::string::npos)
      << ok.out;

  auto stale = testing::RunCli(Duende() + " check-history " + kHistories +
                               "register-stale.jsonl --model register");
  EXPECT_EQ(stale.code, 1) << stale.out;
  EXPECT_NE(stale.out.find("not linearizable: 3 operations of 3 clients"), std::string::npos)
      << stale.out;
  EXPECT_NE(stale.out.find("  * 2       +4us"), std::string::npos) << stale.out;
  EXPECT_NE(stale.out.find("read a ok  (line 3)"), std::string::npos) << stale.out;

  auto log = testing::RunCli(Duende() + " check-history " + kHistories +
                             "register-partition.log --model register");
  EXPECT_EQ(log.code, 1) << log.out;
  EXPECT_NE(log.out.find("#"), std::string::npos) << log.out;  // positions, not times

  auto kv =
      testing::RunCli(Duende() + " check-history " + kHistories + "kv-independent.edn --model kv");
  EXPECT_EQ(kv.code, 1) << kv.out;
  EXPECT_NE(kv.out.find("key :b:"), std::string::npos) << kv.out;

  auto good = testing::RunCli(Duende() + " check-history " + kHistories +
                              "register-ok.jsonl --model register --budget 5");
  EXPECT_EQ(good.code, 0) << good.out;
}

TEST(CheckHistoryCliTest, UndecidedWithinTheBudgetExitsThree) {
  // 40 concurrent indeterminate writes whose values are all read later: a large search.
  auto r = testing::RunCli(Duende() + " check-history " + kHistories + "undecided.jsonl" +
                           " --model register --budget 0.2s");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("undecided"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("raise --budget"), std::string::npos) << r.out;
}

TEST(CheckHistoryCliTest, BadInputExitsTwoWithFileLineColumn) {
  testing::TempDir dir("check-history");
  const std::string bad = dir.Write("bad.edn",
                                    "[{:type :invoke, :f :read, :process 0}\n"
                                    " {:type :ok, :f :read, :process 0, :value }");
  auto r = testing::RunCli(Duende() + " check-history " + bad + " --model register");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("duende: error: " + bad + ":2:2: "), std::string::npos) << r.out;

  r = testing::RunCli(Duende() + " check-history " + kHistories +
                      "cas-register-ok.edn --model cas-register-of-doom");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("it must be register, cas-register or kv"), std::string::npos);

  r = testing::RunCli(Duende() + " check-history " + kHistories +
                      "cas-register-ok.edn --model register");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("cas-register-ok.edn:7:21: a :cas under model register"), std::string::npos)
      << r.out;

  r = testing::RunCli(Duende() + " check-history " + dir.path() + "/missing.edn --model kv");
  EXPECT_EQ(r.code, 2) << r.out;
  r = testing::RunCli(Duende() + " check-history " + kHistories +
                      "register-ok.jsonl --model register --budget soon");
  EXPECT_EQ(r.code, 2) << r.out;
  r = testing::RunCli(Duende() + " check-history " + kHistories + "register-ok.jsonl");
  EXPECT_EQ(r.code, 2) << r.out;  // --model is required
}

TEST(CheckHistoryCliTest, JsonOutput) {
  auto r = testing::RunArgv({Duende(), "check-history", kHistories + "register-stale.jsonl",
                             "--model", "register", "--json"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "not linearizable");
  EXPECT_EQ(j["model"], "register");
  EXPECT_EQ(j["format"], "jsonl");
  EXPECT_EQ(j["operations"], 3);
  ASSERT_EQ(j["violation"]["operations"].size(), 3u);
  EXPECT_EQ(j["violation"]["operations"][2]["value"], "a");
  EXPECT_EQ(j["violation"]["operations"][2]["stuck"], true);
  EXPECT_EQ(j["violation"]["operations"][2]["line"], 3);
  EXPECT_EQ(j["violation"]["minimal"], true);
}

}  // namespace
}  // namespace duende::harness::linearizability
