// JSON (the whole run as one document, "duende-run/1") and JSON Lines (events as they come).
#include <memory>

#include "duende/model/event_log.h"
#include "duende/reporters/json_report.h"
#include "duende/reporters/reporter.h"
#include "report_util.h"
#include "trace_report.h"

namespace duende::reporters {

using Json = nlohmann::json;

namespace {

Json CheckToJson(const CheckResult& c) {
  return Json{{"name", c.name},
              {"kind", c.kind},
              {"verdict", VerdictName(c.verdict)},
              {"measured", c.measured},
              {"threshold", c.threshold},
              {"evidence", c.evidence},
              {"duration_s", c.duration_s}};
}

Json ScenarioToJson(const ScenarioResult& s) {
  Json checks = Json::array();
  for (const auto& c : s.checks) checks.push_back(CheckToJson(c));
  Json events = Json::array();
  for (const auto& e : s.events) events.push_back(model::EventToJson(e));
  Json out{{"name", s.name},
           {"file", s.file},
           {"description", s.description},
           {"seed", s.seed},
           {"replay_command", s.replay_command},
           {"start_ns", s.start_ns},
           {"end_ns", s.end_ns},
           {"duration_s", internal::DurationSeconds(s)},
           {"wall_start_ns", s.wall_start_ns},
           {"wall_start", internal::IsoTime(s.wall_start_ns)},
           {"verdict", VerdictName(s.verdict)},
           {"error", s.error},
           {"checks", std::move(checks)},
           {"events", std::move(events)}};
  // Syscall traces and request trace ids, when the run had them (docs/tracing.md).
  if (Json t = internal::TraceJson(s); !t.is_null()) out["trace"] = std::move(t);
  return out;
}

// Appends each event to the file as it arrives, so a run killed half-way leaves its log.
class JsonLinesReporter : public Reporter {
 public:
  explicit JsonLinesReporter(model::EventLogWriter writer) : writer_(std::move(writer)) {}
  void OnEvent(const Event& event) override { writer_.Append(event); }
  std::optional<framework::Error> error() const override { return writer_.error(); }

 private:
  model::EventLogWriter writer_;
};

}  // namespace

std::string RenderJson(const RunReport& report) {
  Json scenarios = Json::array();
  for (const auto& s : report.scenarios) scenarios.push_back(ScenarioToJson(s));
  Json doc{{"format", "duende-run/1"},
           {"tool_version", report.tool_version},
           {"hostname", report.hostname},
           {"verdict", VerdictName(report.verdict)},
           {"scenarios", std::move(scenarios)}};
  internal::AddShardIdentity(report, doc);
  return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

framework::Result<std::unique_ptr<Reporter>> MakeJsonReporter(const std::string& path) {
  return internal::FileReporter::Open(path, RenderJson);
}

framework::Result<std::unique_ptr<Reporter>> MakeJsonLinesReporter(const std::string& path) {
  auto writer = model::EventLogWriter::Open(path);
  if (!writer) return writer.error();
  return std::unique_ptr<Reporter>(new JsonLinesReporter(std::move(writer.value())));
}

}  // namespace duende::reporters
