#include "duende/model/event_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace duende::model {
namespace {

using Json = nlohmann::json;

class TempFile {
 public:
  TempFile() {
    char tmpl[] = "/tmp/duende-evlog-XXXXXX";
    int fd = mkostemp(tmpl, O_CLOEXEC);
    EXPECT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  void Write(const std::string& text) const { std::ofstream(path_) << text; }
  std::string Read() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

Event Ev(int64_t ts, std::string type, std::string target, Json data = Json::object()) {
  return Event{ts, std::move(type), std::move(target), std::move(data)};
}

TEST(EventLogTest, LinePutsEnvelopeFirstAndRoundTrips) {
  Event e = Ev(1200, "target.exited", "kvd",
               {{"pid", 41}, {"signal", 9}, {"code", nullptr}, {"oom_kill", false}});
  std::string line = EventToJsonLine(e);
  EXPECT_EQ(line.rfind(R"({"ts_ns":1200,"type":"target.exited","target":"kvd",)", 0), 0u) << line;
  auto back = EventFromJson(Json::parse(line));
  ASSERT_TRUE(back.ok()) << back.error().Message();
  EXPECT_EQ(back->ts_ns, 1200);
  EXPECT_EQ(back->type, "target.exited");
  EXPECT_EQ(back->target, "kvd");
  EXPECT_EQ(back->data, e.data);
}

TEST(EventLogTest, EnvelopeWinsOverReservedDataKeys) {
  Event e = Ev(5, "probe.result", "p", {{"type", "sneaky"}, {"ok", true}});
  Json j = EventToJson(e);
  EXPECT_EQ(j["type"], "probe.result");
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(Json::parse(EventToJsonLine(e))["type"], "probe.result");
}

TEST(EventLogTest, InvalidUtf8IsReplacedNotThrown) {
  Event e = Ev(1, "fault.fired", "f", {{"evidence", std::string("bad \xff\xfe bytes")}});
  std::string line;
  ASSERT_NO_THROW(line = EventToJsonLine(e));
  Json j = Json::parse(line);
  EXPECT_EQ(j["evidence"], "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
}

TEST(EventLogTest, FromJsonRejectsMalformedEvents) {
  EXPECT_FALSE(EventFromJson(Json::array()).ok());
  EXPECT_FALSE(EventFromJson(Json{{"type", "x"}}).ok());
  EXPECT_FALSE(EventFromJson(Json{{"ts_ns", "12"}, {"type", "x"}}).ok());
  EXPECT_FALSE(EventFromJson(Json{{"ts_ns", 1}, {"type", ""}}).ok());
  EXPECT_FALSE(EventFromJson(Json{{"ts_ns", 1}, {"type", "x"}, {"target", 3}}).ok());
  EXPECT_TRUE(EventFromJson(Json{{"ts_ns", 1}, {"type", "x"}}).ok());
}

TEST(EventLogTest, WriterAppendsWholeLinesFromManyThreads) {
  TempFile f;
  auto w = EventLogWriter::Open(f.path());
  ASSERT_TRUE(w.ok()) << w.error().Message();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&w, t] {
      for (int i = 0; i < 250; ++i) {
        w->Append(Ev(i, "load.second", "load" + std::to_string(t),
                     {{"second", i}, {"pad", std::string(300, 'x')}}));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(w->error().has_value());
  auto events = ReadEventLog(f.path());
  ASSERT_TRUE(events.ok()) << events.error().Message();
  EXPECT_EQ(events->size(), 1000u);
}

TEST(EventLogTest, WriterReportsUnopenablePath) {
  auto w = EventLogWriter::Open("/nonexistent-dir/events.jsonl");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, std::errc::no_such_file_or_directory);
  EXPECT_NE(w.error().Message().find("unable to open /nonexistent-dir/events.jsonl"),
            std::string::npos);
}

TEST(EventLogTest, WriterKeepsFirstWriteError) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "/dev/full not available";
  auto w = EventLogWriter::Open("/dev/full");
  ASSERT_TRUE(w.ok());
  w->Append(Ev(1, "x", ""));
  ASSERT_TRUE(w->error().has_value());
  EXPECT_EQ(w->error()->code, std::errc::no_space_on_device);
}

TEST(EventLogTest, ReadNamesPathAndLineOfBadInput) {
  TempFile f;
  f.Write("{\"ts_ns\":1,\"type\":\"run.started\"}\n\n{\"ts_ns\":2,\"type\":\n");
  auto r = ReadEventLog(f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context.rfind(f.path() + ":3: invalid JSON", 0), 0u) << r.error().context;

  f.Write("{\"ts_ns\":1,\"type\":\"run.started\"}\n{\"ts_ns\":2}\n");
  r = ReadEventLog(f.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().context.rfind(f.path() + ":2: event has no 'type'", 0), 0u)
      << r.error().context;

  r = ReadEventLog("/nonexistent/events.jsonl");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, std::errc::no_such_file_or_directory);
}

TEST(EventLogTest, ScenarioFromEventsRebuildsHeaderChecksAndVerdict) {
  std::vector<Event> events = {
      Ev(1000, "run.started", "",
         {{"scenario", "kill-under-load"},
          {"file", "scenarios/kill-under-load.toml"},
          {"description", "d"},
          {"seed", 42},
          {"replay_command", "duende run x --seed 42"},
          {"wall_start_ns", 1700000000000000000}}),
      Ev(2000, "check.result", "no-lost-writes",
         {{"kind", "no_lost_writes"},
          {"verdict", "FAIL"},
          {"measured", 3},
          {"threshold", "0"},
          {"evidence", {"key k1 acked at 1.2s, missing"}},
          {"duration_s", 0.25}}),
      Ev(2100, "check.result", "restarts", {{"kind", "restarted"}, {"verdict", "PASS"}}),
      Ev(3000, "run.finished", "", {{"verdict", "FAIL"}}),
  };
  ScenarioResult s = ScenarioFromEvents(events);
  EXPECT_EQ(s.name, "kill-under-load");
  EXPECT_EQ(s.file, "scenarios/kill-under-load.toml");
  EXPECT_EQ(s.seed, 42u);
  EXPECT_EQ(s.replay_command, "duende run x --seed 42");
  EXPECT_EQ(s.start_ns, 1000);
  EXPECT_EQ(s.end_ns, 3000);
  EXPECT_EQ(s.wall_start_ns, 1700000000000000000);
  ASSERT_EQ(s.checks.size(), 2u);
  EXPECT_EQ(s.checks[0].name, "no-lost-writes");
  EXPECT_EQ(s.checks[0].verdict, Verdict::kFail);
  EXPECT_EQ(s.checks[0].measured, "3");
  EXPECT_EQ(s.checks[0].threshold, "0");
  ASSERT_EQ(s.checks[0].evidence.size(), 1u);
  EXPECT_DOUBLE_EQ(s.checks[0].duration_s, 0.25);
  EXPECT_EQ(s.checks[1].verdict, Verdict::kPass);
  EXPECT_EQ(s.verdict, Verdict::kFail);
  EXPECT_EQ(s.events.size(), 4u);
}

TEST(EventLogTest, LogWithoutFinishIsAborted) {
  ScenarioResult s = ScenarioFromEvents({Ev(1, "run.started", "", {{"scenario", "a"}}),
                                         Ev(9, "target.spawned", "kvd", {{"pid", 3}})});
  EXPECT_EQ(s.verdict, Verdict::kAborted);
  EXPECT_NE(s.error.find("before run.finished"), std::string::npos);
  EXPECT_EQ(s.end_ns, 9);
}

TEST(EventLogTest, FinishWithoutVerdictCombinesChecks) {
  ScenarioResult s = ScenarioFromEvents({Ev(1, "run.started", "", {{"scenario", "a"}}),
                                         Ev(2, "check.result", "c", {{"verdict", "FAIL"}}),
                                         Ev(3, "run.finished", "")});
  EXPECT_EQ(s.verdict, Verdict::kFail);
}

TEST(EventLogTest, SplitsSeveralRuns) {
  RunReport r = RunReportFromEvents(
      {Ev(1, "run.started", "", {{"scenario", "a"}, {"hostname", "h1"}, {"tool_version", "0.1"}}),
       Ev(2, "run.finished", "", {{"verdict", "PASS"}}),
       Ev(3, "run.started", "", {{"scenario", "b"}}),
       Ev(4, "run.finished", "", {{"verdict", "ERROR"}, {"error", "boom"}})});
  ASSERT_EQ(r.scenarios.size(), 2u);
  EXPECT_EQ(r.scenarios[0].name, "a");
  EXPECT_EQ(r.scenarios[1].name, "b");
  EXPECT_EQ(r.scenarios[1].error, "boom");
  EXPECT_EQ(r.verdict, Verdict::kError);
  EXPECT_EQ(r.hostname, "h1");
  EXPECT_EQ(r.tool_version, "0.1");
}

// Any event with printable or binary strings survives a write/read through the file format.
RC_GTEST_PROP(EventLogTest, LineRoundTripsAnyValidUtf8, (int64_t ts, std::string target)) {
  // Restrict to valid UTF-8 (ASCII here): invalid bytes are replaced on purpose.
  for (char& c : target) c = static_cast<char>(c & 0x7f);
  Event e{ts, "t.x", target, Json{{"s", target}, {"n", ts}}};
  auto back = EventFromJson(Json::parse(EventToJsonLine(e)));
  RC_ASSERT(back.ok());
  RC_ASSERT(back->ts_ns == ts);
  RC_ASSERT(back->target == target);
  RC_ASSERT(back->data == e.data);
}

}  // namespace
}  // namespace duende::model
