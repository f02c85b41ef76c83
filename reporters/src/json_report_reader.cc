// The JSON report read back (json_report.h) and the shard identity members it carries.
#include <limits>
#include <string>

#include "duende/framework/read_limits.h"
#include "duende/model/event_log.h"
#include "duende/reporters/json_report.h"

namespace duende::reporters {

using Json = nlohmann::json;
using model::Verdict;

namespace internal {

void AddShardIdentity(const model::RunReport& report, Json& doc) {
  if (!report.suite.empty()) {
    Json scenarios = Json::array();
    for (const auto& s : report.suite.scenarios) {
      scenarios.push_back({{"file", s.file}, {"name", s.name}, {"digest", s.digest}});
    }
    doc["suite"] = {{"scenarios", std::move(scenarios)}, {"overrides", report.suite.overrides}};
  }
  if (report.shard) doc["shard"] = {{"index", report.shard->index}, {"count", report.shard->count}};
}

}  // namespace internal

namespace {

// A problem in the document: where (a JSON path such as "scenarios[2].checks[0]") and what.
struct BadReport {
  std::string where;
  std::string what;
};

std::string At(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

const Json* Member(const Json& obj, const std::string& key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string String(const Json& obj, const std::string& where, const std::string& key,
                   bool required = false) {
  const Json* v = Member(obj, key);
  if (v == nullptr) {
    if (required) throw BadReport{where, "'" + key + "' is missing"};
    return "";
  }
  if (!v->is_string()) throw BadReport{At(where, key), "must be a string"};
  return v->get<std::string>();
}

template <typename T>
T Integer(const Json& obj, const std::string& where, const std::string& key) {
  const Json* v = Member(obj, key);
  if (v == nullptr) return T{};
  if (!v->is_number_integer()) throw BadReport{At(where, key), "must be an integer"};
  if constexpr (std::is_unsigned_v<T>) {
    if (!v->is_number_unsigned()) throw BadReport{At(where, key), "must not be negative"};
  }
  // In range, never truncated (a shard index of 2^32 + 1 is not shard 1).
  const bool fits =
      v->is_number_unsigned()
          ? v->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
          : v->get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                (std::is_unsigned_v<T> ||
                 v->get<int64_t>() <= static_cast<int64_t>(std::numeric_limits<T>::max()));
  if (!fits) throw BadReport{At(where, key), "is out of range"};
  return v->get<T>();
}

double Number(const Json& obj, const std::string& where, const std::string& key) {
  const Json* v = Member(obj, key);
  if (v == nullptr) return 0;
  if (!v->is_number()) throw BadReport{At(where, key), "must be a number"};
  return v->get<double>();
}

const Json& Array(const Json& obj, const std::string& where, const std::string& key) {
  static const Json kEmpty = Json::array();
  const Json* v = Member(obj, key);
  if (v == nullptr) return kEmpty;
  if (!v->is_array()) throw BadReport{At(where, key), "must be an array"};
  return *v;
}

Verdict VerdictOf(const Json& obj, const std::string& where) {
  const std::string v = String(obj, where, "verdict", true);
  for (Verdict x : {Verdict::kPass, Verdict::kFail, Verdict::kError, Verdict::kAborted}) {
    if (v == model::VerdictName(x)) return x;
  }
  throw BadReport{At(where, "verdict"),
                  "is \"" + v + "\"; it must be PASS, FAIL, ERROR or ABORTED"};
}

std::string Index(const std::string& where, const std::string& key, size_t i) {
  return At(where, key) + "[" + std::to_string(i) + "]";
}

const Json& Object(const Json& v, const std::string& where) {
  if (!v.is_object()) throw BadReport{where, "must be an object"};
  return v;
}

model::CheckResult CheckFrom(const Json& j, const std::string& where) {
  Object(j, where);
  model::CheckResult c;
  c.name = String(j, where, "name", true);
  c.kind = String(j, where, "kind");
  c.verdict = VerdictOf(j, where);
  c.measured = String(j, where, "measured");
  c.threshold = String(j, where, "threshold");
  const Json& evidence = Array(j, where, "evidence");
  for (size_t i = 0; i < evidence.size(); ++i) {
    if (!evidence[i].is_string()) throw BadReport{Index(where, "evidence", i), "must be a string"};
    c.evidence.push_back(evidence[i].get<std::string>());
  }
  c.duration_s = Number(j, where, "duration_s");
  return c;
}

model::ScenarioResult ScenarioFrom(const Json& j, const std::string& where) {
  Object(j, where);
  model::ScenarioResult s;
  s.name = String(j, where, "name", true);
  s.file = String(j, where, "file");
  s.description = String(j, where, "description");
  s.seed = Integer<uint64_t>(j, where, "seed");
  s.replay_command = String(j, where, "replay_command");
  s.start_ns = Integer<int64_t>(j, where, "start_ns");
  s.end_ns = Integer<int64_t>(j, where, "end_ns");
  s.wall_start_ns = Integer<int64_t>(j, where, "wall_start_ns");
  s.verdict = VerdictOf(j, where);
  s.error = String(j, where, "error");
  const Json& checks = Array(j, where, "checks");
  for (size_t i = 0; i < checks.size(); ++i) {
    s.checks.push_back(CheckFrom(checks[i], Index(where, "checks", i)));
  }
  const Json& events = Array(j, where, "events");
  for (size_t i = 0; i < events.size(); ++i) {
    auto e = model::EventFromJson(events[i]);
    if (!e.ok()) throw BadReport{Index(where, "events", i), e.error().context};
    s.events.push_back(std::move(e).value());
  }
  return s;
}

model::Suite SuiteFrom(const Json& j) {
  const std::string where = "suite";
  Object(j, where);
  model::Suite suite;
  const Json& scenarios = Array(j, where, "scenarios");
  for (size_t i = 0; i < scenarios.size(); ++i) {
    const std::string w = Index(where, "scenarios", i);
    const Json& e = Object(scenarios[i], w);
    suite.scenarios.push_back(
        {String(e, w, "file", true), String(e, w, "name", true), String(e, w, "digest", true)});
  }
  if (suite.scenarios.empty()) throw BadReport{At(where, "scenarios"), "names no scenario"};
  const Json& overrides = Array(j, where, "overrides");
  for (size_t i = 0; i < overrides.size(); ++i) {
    if (!overrides[i].is_string()) {
      throw BadReport{Index(where, "overrides", i), "must be a string"};
    }
    suite.overrides.push_back(overrides[i].get<std::string>());
  }
  return suite;
}

model::Shard ShardFrom(const Json& j) {
  Object(j, "shard");
  model::Shard s;
  s.index = Integer<uint32_t>(j, "shard", "index");
  s.count = Integer<uint32_t>(j, "shard", "count");
  auto parsed = model::ParseShard(std::to_string(s.index) + "/" + std::to_string(s.count));
  if (!parsed.ok()) throw BadReport{"shard", parsed.error().context};
  return s;
}

}  // namespace

framework::Result<model::RunReport> ParseJsonReport(std::string_view text,
                                                    const std::string& name) {
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded()) {
    return framework::MessageError(name +
                                   ": invalid JSON (not a JSON report of duende run --json)");
  }
  try {
    Object(doc, "the document");
    const std::string format = String(doc, "", "format");
    if (format != "duende-run/1") {
      throw BadReport{
          "", "not a duende JSON report (format is \"" + format + "\", expected \"duende-run/1\")"};
    }
    model::RunReport r;
    r.tool_version = String(doc, "", "tool_version");
    r.hostname = String(doc, "", "hostname");
    r.verdict = VerdictOf(doc, "");
    const Json& scenarios = Array(doc, "", "scenarios");
    for (size_t i = 0; i < scenarios.size(); ++i) {
      r.scenarios.push_back(ScenarioFrom(scenarios[i], Index("", "scenarios", i)));
    }
    if (const Json* suite = Member(doc, "suite")) r.suite = SuiteFrom(*suite);
    if (const Json* shard = Member(doc, "shard")) r.shard = ShardFrom(*shard);
    return r;
  } catch (const BadReport& bad) {
    return framework::MessageError(name + ": " + (bad.where.empty() ? "" : bad.where + ": ") +
                                   bad.what);
  } catch (const Json::exception& e) {
    return framework::MessageError(name + ": " + e.what());
  }
}

framework::Result<model::RunReport> ReadJsonReport(const std::string& path) {
  auto text = framework::ReadFileLimited(path, kMaxJsonReportBytes);
  if (!text.ok()) return text.error();
  return ParseJsonReport(text.value(), path);
}

}  // namespace duende::reporters
